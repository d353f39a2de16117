//! One child process: started with the filtered and rendered environment, the death signal, its
//! stdout/stderr inherited, appended to the `child_process_stdout` / `child_process_stderr` files, or
//! (when masking) piped through the masker to either; signalled alone or with its process group.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;

use super::mask::{Masker, pump};
use super::{ExecError, ExecSpec, sys};
use crate::config::ExecConfig;
use crate::lease::EnvMap;
use crate::output::env::child_env;

/// The mode a new `child_process_stdout` / `child_process_stderr` file gets, less the umask sidekey
/// started with: Vault Agent's, so a log shipper running as another user can read the child's output as
/// it does there.
const OUTPUT_MODE: u32 = 0o644;

/// The files the child's stdout and stderr are appended to; `None`: inherited from sidekey. Opened once,
/// so every restarted child writes on at the end of the same file, as with Vault Agent.
#[derive(Clone, Debug, Default)]
pub struct ChildOutput {
    /// `child_process_stdout`, and its path.
    pub stdout: Option<(PathBuf, Arc<File>)>,
    /// `child_process_stderr`, and its path.
    pub stderr: Option<(PathBuf, Arc<File>)>,
}

impl ChildOutput {
    /// Open (append, create if missing) the files the `exec` stanza names.
    ///
    /// # Errors
    /// [`ExecError::Output`] naming the key and the path.
    pub fn open(cfg: &ExecConfig) -> Result<Self, ExecError> {
        let open = |key: &'static str, path: &Option<PathBuf>| {
            path.as_ref()
                .map(|p| {
                    let mode = OUTPUT_MODE & !crate::runtime::harden::original().umask.bits();
                    crate::runtime::harden::open_with_mode(OpenOptions::new().append(true), p, mode)
                        .map(|f| (p.clone(), Arc::new(f)))
                        .map_err(|source| ExecError::Output {
                            key,
                            path: p.clone(),
                            source,
                        })
                })
                .transpose()
        };
        Ok(Self {
            stdout: open("child_process_stdout", &cfg.child_stdout)?,
            stderr: open("child_process_stderr", &cfg.child_stderr)?,
        })
    }

    /// Point sidekey's own stdout/stderr at the files, for `--no-supervise`, where the child takes
    /// sidekey's place (and its file descriptors).
    ///
    /// # Errors
    /// [`ExecError::Output`].
    pub fn redirect_own(&self) -> Result<(), ExecError> {
        let redirect = |key: &'static str, (path, file): &(PathBuf, Arc<File>), to_stdout: bool| {
            let r = if to_stdout {
                nix::unistd::dup2_stdout(file.as_ref())
            } else {
                nix::unistd::dup2_stderr(file.as_ref())
            };
            r.map_err(|e| ExecError::Output {
                key,
                path: path.clone(),
                source: e.into(),
            })
        };
        if let Some(f) = &self.stdout {
            redirect("child_process_stdout", f, true)?;
        }
        if let Some(f) = &self.stderr {
            redirect("child_process_stderr", f, false)?;
        }
        Ok(())
    }
}

/// A second handle on an output file, for one child (or one masking pump).
fn handle(key: &'static str, (path, file): &(PathBuf, Arc<File>)) -> Result<File, ExecError> {
    file.try_clone().map_err(|source| ExecError::Output {
        key,
        path: path.clone(),
        source,
    })
}

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
        // Handles on the output files are taken before the child exists: a failure leaves nothing running.
        let out = &spec.output;
        let mut out_file = out
            .stdout
            .as_ref()
            .map(|f| handle("child_process_stdout", f))
            .transpose()?;
        let mut err_file = out
            .stderr
            .as_ref()
            .map(|f| handle("child_process_stderr", f))
            .transpose()?;
        if spec.mask_output {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            if let Some(f) = out_file.take() {
                cmd.stdout(f);
            }
            if let Some(f) = err_file.take() {
                cmd.stderr(f);
            }
        }
        sys::die_with_parent(&mut cmd);
        sys::restore_original(&mut cmd);
        let spawn_err = |source| ExecError::Spawn {
            program: program.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let pid = Pid::from_raw(child.id().cast_signed());
        let mut pumps = Vec::new();
        if spec.mask_output {
            let masker = Arc::new(Masker::new(env));
            if let Some(stream) = child.stdout.take()
                && let Ok(rx) = pipe::Receiver::from_owned_fd(stream.into())
            {
                let task = match out_file {
                    Some(f) => tokio::spawn(pump(rx, tokio::fs::File::from_std(f), masker.clone())),
                    None => tokio::spawn(pump(rx, tokio::io::stdout(), masker.clone())),
                };
                pumps.push(task);
            }
            if let Some(stream) = child.stderr.take()
                && let Ok(rx) = pipe::Receiver::from_owned_fd(stream.into())
            {
                let task = match err_file {
                    Some(f) => tokio::spawn(pump(rx, tokio::fs::File::from_std(f), masker)),
                    None => tokio::spawn(pump(rx, tokio::io::stderr(), masker)),
                };
                pumps.push(task);
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
