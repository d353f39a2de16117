//! The template's `command`: run after its destination changed, with a timeout.

use std::process::Stdio;
use std::time::Duration;

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
    #[error("command {program:?}: exited with {status}")]
    Failed {
        /// argv\[0].
        program: String,
        /// The exit status.
        status: std::process::ExitStatus,
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
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(CommandError::Failed {
            program: program.clone(),
            status,
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
