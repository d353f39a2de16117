//! How a flow wires an engine before and while it runs: telemetry, the service manager, reload requests,
//! the credential-file wake-up, and what changes once an exec child runs on its env.

use std::sync::Arc;

use super::engine::Engine;
use super::outcome::{Announce, Reloads};
use crate::admin::Telemetry;
use crate::audit::Auditor;
use crate::runtime::Notifier;

impl Engine {
    /// Report deliveries and lease expiries to `telemetry` (metrics and readiness).
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Report to the service manager (systemd) from the loop: status lines and the watchdog.
    pub fn notify(&mut self, notifier: Notifier) {
        self.notifier = notifier;
    }

    /// Never start over on a reload (an exec run: its child keeps running on this engine's env); server
    /// changes apply at the next start.
    pub fn keep_server(&mut self) {
        self.can_start_over = false;
    }

    /// Take reload requests from now on.
    pub fn reloads(&mut self, reloads: Reloads) {
        self.reloads = Some(reloads);
    }

    /// The notification a file watch sends when a credential file changes.
    pub fn credentials(&self) -> Arc<tokio::sync::Notify> {
        self.tokens.credentials.clone()
    }

    /// Be woken by `n` when a credential file changes (the watch of an engine this one replaces).
    pub fn set_credentials(&mut self, n: Arc<tokio::sync::Notify>) {
        self.tokens.credentials = n;
    }

    /// Give back the reload requests (to hand them to the engine that starts over).
    pub fn take_reloads(&mut self) -> Option<Reloads> {
        self.reloads.take()
    }

    /// End the run at once when one of these env outputs fails (`sidekey:` references).
    pub fn fail_fast(&mut self, names: Vec<String>) {
        self.fail_fast = names;
    }

    /// The exec child runs from now on: announce deliveries to its supervisor, and let no output
    /// failure end the run any more (the child keeps its last good env, as before it started).
    pub fn supervising(&mut self, announce: Announce) {
        self.announce = announce;
        self.fail_fast.clear();
        self.may_give_up = false;
        self.can_start_over = false;
    }

    /// The auditor events go to (shared with the exec supervisor).
    pub fn auditor(&self) -> Auditor {
        self.auditor.clone()
    }
}
