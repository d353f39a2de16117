//! The systemd notify protocol (`Type=notify` / `Type=notify-reload`), through the `sd-notify` crate:
//! `READY=1` once every output was delivered the first time (and the exec child started), `RELOADING=1`
//! with `MONOTONIC_USEC` then `READY=1` around a reload, `STOPPING=1` at shutdown, `WATCHDOG=1` at half of
//! `WATCHDOG_USEC` from inside the run loop (so a stuck loop stops the pings), and `STATUS=` lines for
//! `systemctl status`. Without `NOTIFY_SOCKET` every call is a no-op. A status line never holds a secret:
//! it is built from counts and durations only.

use std::time::Duration;

use sd_notify::NotifyState;

/// Variables of the notify protocol that belong to sidekey, not to its children (the exec child and
/// template commands), unless `exec { notify = "child" }` hands `NOTIFY_SOCKET` over.
pub const NOTIFY_VARS: &[&str] = &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Talks to the service manager, if there is one.
#[derive(Clone, Copy, Debug)]
pub struct Notifier {
    enabled: bool,
    /// `false` with `exec { notify = "child" }`: the child sends READY itself.
    sends_ready: bool,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the process environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`/`WATCHDOG_PID`), as systemd sets it.
    /// `sends_ready`: false when the exec child is the one to report readiness.
    pub fn from_env(env: &dyn super::EnvSource, sends_ready: bool) -> Self {
        Self {
            enabled: env.var("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty()),
            sends_ready,
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// A notifier that sends nothing.
    pub fn none() -> Self {
        Self {
            enabled: false,
            sends_ready: false,
            watchdog: None,
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!(error = %e, "systemd notification not sent");
        }
    }

    /// `READY=1` with a status line (after the first full delivery, and after each reload).
    pub fn ready(&self, status: &str) {
        if self.sends_ready {
            self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
        } else {
            self.status(status);
        }
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`, as `Type=notify-reload` requires. Not when the exec child
    /// reports readiness: it would never be followed by sidekey's READY=1.
    pub fn reloading(&self) {
        if !self.sends_ready {
            self.status("reloading the configuration");
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading the configuration"),
            ]),
            Err(e) => tracing::debug!(error = %e, "no monotonic clock for RELOADING=1"),
        }
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// A `STATUS=` line for people.
    pub fn status(&self, text: &str) {
        self.send(&[NotifyState::Status(text)]);
    }

    /// How often the run loop must send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.enabled).map(|d| d / 2)
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}
