//! Runtime: the top-level flows (`run`, `run --once`, `exec`), their exit codes and shutdown token, and the
//! process plumbing they share; the
//! process environment is read through a small trait so tests inject values instead of mutating it.

use std::ffi::OsString;

/// Where environment variables come from.
pub trait EnvSource: Send + Sync {
    /// The value of `name`, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// Every variable, for building a child's environment.
    fn vars_os(&self) -> Vec<(OsString, OsString)>;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn vars_os(&self) -> Vec<(OsString, OsString)> {
        std::env::vars_os().collect()
    }
}

mod evidence;
mod exit;
mod flows;
pub mod harden;
pub mod logfile;
mod notify;
pub mod reaped;
pub mod rotate;
mod session;
mod watch;

pub use exit::ExitCode;
pub use flows::{ConfigSource, ExecOptions, apply_env_overrides, exec, once, run};
pub use notify::{NOTIFY_VARS, Notifier};
pub(crate) use session::open_state;
pub use watch::FileWatch;

/// A token cancelled at the first SIGINT or SIGTERM: how a flow is asked to stop. The handlers are
/// installed before this returns, so a signal sent right after start is not lost.
pub fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    use tokio::signal::unix::{SignalKind, signal};
    let token = tokio_util::sync::CancellationToken::new();
    // SIGHUP's default action ends the process: take it over now, so a reload signal sent during start-up
    // (before the reload handler exists) is harmless. Tokio keeps the handler for the process's life.
    if let Err(e) = signal(SignalKind::hangup()) {
        tracing::warn!(error = %e, "cannot handle SIGHUP");
    }
    let (term, int) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let (Ok(mut term), Ok(mut int)) = (term, int) else {
        tracing::warn!("cannot handle SIGTERM/SIGINT; the agent stops only when killed");
        return token;
    };
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        t.cancel();
    });
    token
}
