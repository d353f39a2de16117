//! The template's `command`: run after its destination changed, with a timeout.

use std::process::Stdio;
use std::time::Duration;

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
    #[error("command {program:?}: exited with code {code}")]
    Failed {
        /// argv\[0].
        program: String,
        /// The exit code (128+N when killed by signal N).
        code: i32,
    },
    /// It ran longer than `command_timeout` and was killed.
    #[error("command {program:?}: timed out after {secs} s")]
    Timeout {
        /// argv\[0].
        program: String,
        /// The timeout in seconds.
        secs: u64,
    },
}

/// Run `argv` with inherited stdio (stdout redirected to stderr: in exec mode stdout is the child's) and
/// wait up to `timeout`.
///
/// # Errors
/// [`CommandError`].
pub async fn run(argv: &[String], timeout: Duration) -> Result<(), CommandError> {
    let (program, args) = argv.split_first().ok_or(CommandError::Empty)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| CommandError::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    reaped::watch(pid);
    let waited = tokio::time::timeout(timeout, wait(&mut child, pid)).await;
    reaped::forget(pid);
    match waited {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(code)) => Err(CommandError::Failed {
            program: program.clone(),
            code,
        }),
        Ok(Err(source)) => Err(CommandError::Spawn {
            program: program.clone(),
            source,
        }),
        Err(_) => {
            let _ = child.kill().await;
            Err(CommandError::Timeout {
                program: program.clone(),
                secs: timeout.as_secs(),
            })
        }
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
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        },
        Err(e) => Err(e),
    }
}
