//! The exec supervisor: starts the child with the rendered environment, forwards signals, restarts it
//! when its secrets change, and exits with its status (DESIGN §7).

use std::ffi::OsString;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::audit::{Auditor, EventKind, Outcome, OutputMeta, Record};
use crate::lease::EnvMap;
use crate::output::env::child_env;

/// How the child is run.
#[derive(Clone, Debug)]
pub struct ExecSpec {
    /// argv of the child.
    pub argv: Vec<String>,
    /// Restart the child when its rendered env changes.
    pub restart_on_change: bool,
    /// Signal sent to stop the child before a restart.
    pub stop_signal: Signal,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub kill_timeout: Duration,
}

/// Why the child could not be run.
#[derive(Debug, thiserror::Error)]
#[error("exec {program:?}: {source}")]
pub struct ExecError {
    /// argv\[0].
    pub program: String,
    /// The OS error.
    pub source: std::io::Error,
}

/// Signals forwarded to the child.
const FORWARDED: &[(i32, Signal)] = &[
    (libc::SIGHUP, Signal::SIGHUP),
    (libc::SIGINT, Signal::SIGINT),
    (libc::SIGQUIT, Signal::SIGQUIT),
    (libc::SIGTERM, Signal::SIGTERM),
    (libc::SIGUSR1, Signal::SIGUSR1),
    (libc::SIGUSR2, Signal::SIGUSR2),
    (libc::SIGWINCH, Signal::SIGWINCH),
    (libc::SIGCONT, Signal::SIGCONT),
    (libc::SIGALRM, Signal::SIGALRM),
];

/// The exit code a shell would report: the child's code, or 128+N when killed by signal N.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Run and supervise the child until it exits; returns the exit code for sidekey.
///
/// # Errors
/// [`ExecError`] when the child cannot be started.
pub async fn supervise(
    spec: &ExecSpec,
    inherited: Vec<(OsString, OsString)>,
    mut env_rx: watch::Receiver<EnvMap>,
    auditor: Auditor,
) -> Result<i32, ExecError> {
    // Orphans of the child are re-parented to us so they can be reaped (we are not always PID 1).
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut streams = Vec::new();
    for (n, sig) in FORWARDED {
        if let Ok(s) = signal(SignalKind::from_raw(*n)) {
            streams.push((s, *sig));
        }
    }
    let env = env_rx.borrow_and_update().clone();
    let mut child = start(spec, &inherited, &env, &auditor, EventKind::ExecStart)?;
    loop {
        let recv_any = futures_util::future::select_all(streams.iter_mut().map(|(s, sig)| {
            let sig = *sig;
            Box::pin(async move { s.recv().await.map(|()| sig) })
        }));
        tokio::select! {
            status = child.wait() => {
                let code = status.map(exit_code).unwrap_or(1);
                let mut r = Record::new(EventKind::ExecExit, if code == 0 { Outcome::Success } else { Outcome::Failure });
                r.error = (code != 0).then(|| format!("child exited with code {code}"));
                auditor.record(r);
                auditor.flush();
                return Ok(code);
            }
            (sig, _, _) = recv_any => {
                if let (Some(sig), Some(pid)) = (sig, child.id()) {
                    let _ = kill(Pid::from_raw(pid.cast_signed()), sig);
                }
            }
            changed = env_rx.changed(), if spec.restart_on_change => {
                if changed.is_err() {
                    continue;
                }
                let env = env_rx.borrow_and_update().clone();
                stop(spec, &mut child).await;
                child = start(spec, &inherited, &env, &auditor, EventKind::ExecRestart)?;
            }
        }
    }
}

fn start(
    spec: &ExecSpec,
    inherited: &[(OsString, OsString)],
    env: &EnvMap,
    auditor: &Auditor,
    kind: EventKind,
) -> Result<Child, ExecError> {
    let program = spec.argv.first().cloned().unwrap_or_default();
    let mut cmd = Command::new(&program);
    cmd.args(spec.argv.iter().skip(1))
        .env_clear()
        .envs(child_env(inherited.iter().cloned(), env));
    let r = cmd.spawn();
    let names = env.keys().cloned().collect();
    auditor.record(Record::result(kind, r.as_ref().err()).output(OutputMeta::Env { names }));
    auditor.flush();
    r.map_err(|source| ExecError { program, source })
}

/// Stop the child: stop signal, wait up to kill_timeout, SIGKILL, reap.
async fn stop(spec: &ExecSpec, child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid.cast_signed()), spec.stop_signal);
    }
    if tokio::time::timeout(spec.kill_timeout, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
