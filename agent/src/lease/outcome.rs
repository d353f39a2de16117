//! What a run of the engine is asked for and how it ends: [`Until`], [`Outcome`], [`Fatal`], and where
//! deliveries are announced ([`Announce`]).

use tokio::sync::watch;

use crate::auth::AuthError;
use crate::output::{Delivery, OutputFailure, RenderedEnv};

/// Until when [`Engine::run`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// One delivery (and its commands), then [`Outcome::Delivered`] whatever failed (`--once`).
    Once,
    /// The first delivery in which every output was delivered (`exec`, before the child starts).
    Delivered,
    /// Until shutdown or a fatal condition (the agent; `exec` once its child runs).
    Stopped,
}

/// Why the engine cannot go on.
#[derive(Debug)]
pub enum Fatal {
    /// Logging in failed for good (no retries left, or `exit_on_err` with a permanent failure).
    Login(AuthError),
    /// Outputs failed and may not be retried (`exit_on_retry_failure`, a `sidekey:` reference).
    Outputs(Vec<OutputFailure>),
    /// `exit_on_retry_failure`: the backend stayed unreachable through every retry.
    Unreachable(u32),
    /// `persist { exit_on_err = true }`: the state file could not be imported (what and why).
    Persist(String),
    /// A one-shot run did not finish within its deadline (see [`super::schedule::once_deadline`]):
    /// after how long, and what was pending then.
    Deadline(std::time::Duration, Stage),
}

/// Where a one-shot run is: what its deadline cuts, and what a cut names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Logging in (or looking up the token it was given).
    Login,
    /// Fetching secrets (and writing sinks): no template output is written yet.
    Fetch,
    /// Outputs written; their commands run under their own `command_timeout`, which the deadline does
    /// not cut.
    Commands,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Login => "logging in",
            Self::Fetch => "fetching secrets",
            Self::Commands => "running template commands",
        })
    }
}

/// How a run of the engine ended.
#[derive(Debug)]
pub enum Outcome {
    /// The delivery asked for by [`Until`].
    Delivered(Delivery),
    /// Shutdown was requested.
    Stopped,
    /// See [`Fatal`].
    Fatal(Fatal),
    /// A reload changed the server: the caller starts over with this config.
    StartOver(Box<crate::config::Config>),
}

/// Where reload requests come from (SIGHUP, watched files) and how the config is read again.
pub struct Reloads {
    /// One message per request.
    pub requests: tokio::sync::mpsc::UnboundedReceiver<()>,
    /// Read the config files again (with the environment's overrides), or say why they cannot be used.
    pub load: Box<dyn Fn() -> Result<crate::config::Config, String> + Send>,
    /// The files watched for the current config, re-targeted after each reload.
    pub watch: Option<crate::runtime::FileWatch>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The env map holds secret values: show only what failed.
        f.debug_list().entries(self.failures()).finish()
    }
}

/// Where each delivery is announced besides telemetry (the exec supervisor).
#[derive(Default)]
pub struct Announce {
    /// The rendered env (and the secrets it came from), when it changed.
    pub env: Option<watch::Sender<RenderedEnv>>,
    /// Bumped whenever a template file was rewritten.
    pub files: Option<watch::Sender<u64>>,
}
