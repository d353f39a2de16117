//! One child process: started with the filtered and rendered environment, the death signal and, when
//! masking, its stdout/stderr piped through the masker; signalled alone or with its process group.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::sync::Arc;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::mask::{Masker, pump};
use super::{ExecError, ExecSpec, sys};
use crate::lease::EnvMap;
use crate::output::env::child_env;

/// A started child.
pub struct Child {
    /// Its pid (and process group id when it leads one).
    pub pid: Pid,
    /// The rendered env it was started with.
    pub env: EnvMap,
    /// The tasks copying its masked output.
    pub pumps: Vec<JoinHandle<()>>,
    group: bool,
}

impl Child {
    /// Start the child of `spec` with `inherited` (filtered) plus `env`.
    ///
    /// # Errors
    /// [`ExecError::Spawn`].
    pub fn start(
        spec: &ExecSpec,
        inherited: &[(OsString, OsString)],
        env: &EnvMap,
    ) -> Result<Self, ExecError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let mut cmd = Command::new(&program);
        cmd.args(spec.argv.iter().skip(1))
            .env_clear()
            .envs(child_env(inherited.iter().cloned(), env, &spec.env_filter));
        if spec.notify_child
            && let Some((k, v)) = inherited.iter().find(|(k, _)| k == "NOTIFY_SOCKET")
        {
            cmd.env(k, v);
        }
        if spec.process_group {
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        if spec.mask_output {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        sys::die_with_parent(&mut cmd);
        let spawn_err = |source| ExecError::Spawn {
            program: program.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let pid = Pid::from_raw(child.id().cast_signed());
        let mut pumps = Vec::new();
        if spec.mask_output {
            let masker = Arc::new(Masker::new(env));
            if let Some(out) = child.stdout.take()
                && let Ok(rx) = pipe::Receiver::from_owned_fd(out.into())
            {
                pumps.push(tokio::spawn(pump(rx, tokio::io::stdout(), masker.clone())));
            }
            if let Some(err) = child.stderr.take()
                && let Ok(rx) = pipe::Receiver::from_owned_fd(err.into())
            {
                pumps.push(tokio::spawn(pump(rx, tokio::io::stderr(), masker)));
            }
        }
        // The std handle is dropped: the child is waited for by `reap`, by pid.
        Ok(Self {
            pid,
            env: env.clone(),
            pumps,
            group: spec.process_group,
        })
    }

    /// Send `sig` to the child (or its process group). A child that is already gone is not an error.
    pub fn signal(&self, sig: Signal) {
        let r = if self.group {
            killpg(self.pid, sig)
        } else {
            kill(self.pid, sig)
        };
        if let Err(e) = r {
            tracing::debug!(signal = %sig, error = %e, "signal not delivered");
        }
    }
}

#[cfg(test)]
impl Child {
    /// A child that does not exist (a pid above the kernel's maximum), for testing decisions.
    pub fn stub(env: EnvMap) -> Self {
        Self {
            pid: Pid::from_raw(i32::MAX),
            env,
            pumps: Vec::new(),
            group: false,
        }
    }
}
