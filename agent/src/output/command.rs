//! The template's `command`: run after its destination changed, in a process group of its own, with a
//! timeout that kills the whole group (a `sh -c 'sleep 60; …'` leaves no orphan `sleep` behind).

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

use crate::runtime::reaped;

/// Why a post-render command failed. Names the command's program, never its environment.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command list is empty.
    #[error("command is empty")]
    Empty,
    /// It could not be started.
    #[error("command {program:?}: cannot start: {source}")]
    Spawn {
        /// argv\[0].
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It exited with a non-zero status.
    #[error("command {program:?}: exit status {code}")]
    Failed {
        /// argv\[0].
        program: String,
        /// The exit code (128+N when killed by signal N).
        code: i32,
    },
    /// It ran longer than `command_timeout`; its process group was killed.
    #[error("command {program:?}: timeout after {secs} s (its process group was killed)")]
    Timeout {
        /// argv\[0].
        program: String,
        /// The timeout in seconds.
        secs: u64,
    },
    /// sidekey is stopping; the command's process group was killed.
    #[error("command {program:?}: stopped with the agent")]
    Stopped {
        /// argv\[0].
        program: String,
    },
}

/// Run `argv` with inherited stderr (stdout goes to stderr too: in exec mode stdout is the child's) and
/// wait up to `timeout`, or until `stop` is cancelled; either kills its whole process group.
///
/// # Errors
/// [`CommandError`].
pub async fn run(
    argv: &[String],
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<(), CommandError> {
    let (program, args) = argv.split_first().ok_or(CommandError::Empty)?;
    // consul-template's `command_timeout = 0`: start the command and do not wait for it.
    let detached = timeout.is_zero();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    // The service manager's socket is sidekey's: a command must not report READY or feed the watchdog.
    for var in crate::runtime::NOTIFY_VARS {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(std::io::stderr())
        .process_group(0)
        .kill_on_drop(!detached);
    crate::exec::restore_original(cmd.as_std_mut());
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        program: program.clone(),
        source,
    })?;
    if detached {
        // Tokio reaps a dropped child in the background (in exec mode the supervisor's reaper does).
        return Ok(());
    }
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    reaped::watch(pid);
    let waited = tokio::select! {
        r = wait(&mut child, pid) => Some(r),
        () = tokio::time::sleep(timeout) => None,
        () = stop.cancelled() => {
            kill_group(pid);
            reaped::forget(pid);
            return Err(CommandError::Stopped { program: program.clone() });
        }
    };
    reaped::forget(pid);
    match waited {
        Some(Ok(0)) => Ok(()),
        Some(Ok(code)) => Err(CommandError::Failed {
            program: program.clone(),
            code,
        }),
        Some(Err(source)) => Err(CommandError::Spawn {
            program: program.clone(),
            source,
        }),
        None => {
            kill_group(pid);
            let _ = child.wait().await;
            Err(CommandError::Timeout {
                program: program.clone(),
                secs: timeout.as_secs(),
            })
        }
    }
}

/// SIGKILL the command's process group: the shell and everything it started.
fn kill_group(pid: i32) {
    if pid > 0 {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Wait for the command's exit code. In exec mode the supervisor's reaper may collect it first (then
/// our own wait fails with ECHILD): take the status it kept for us.
async fn wait(child: &mut tokio::process::Child, pid: i32) -> std::io::Result<i32> {
    match child.wait().await {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
        }
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => loop {
            if let Some(code) = reaped::status(pid) {
                return Ok(code);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        },
        Err(e) => Err(e),
    }
}
