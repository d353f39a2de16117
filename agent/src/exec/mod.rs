//! The exec supervisor (DESIGN §7): starts the child with the rendered environment, forwards every
//! signal in order, reaps orphans, restarts or signals the child when its secrets change, and exits with
//! its status. The child is supervised on its own: nothing here waits on the backend.
//!
//! - `child`: starting and signalling one child (env, stdio, process group, death signal), and the files
//!   its output may go to (`child_process_stdout` / `child_process_stderr`).
//! - `mask`: output masking.
//! - `reap`: waiting for every process that ends below sidekey.
//! - `refs`: `sidekey:PATH#FIELD` references in inherited env values.
//! - `signals`: the ordered signal queue.
//! - `supervise`: the supervision loop and its restart policy.
//! - `sys`: the only `unsafe` code (pre-exec and signal handlers).

mod child;
pub mod mask;
pub mod reap;
pub mod refs;
pub mod signals;
mod supervise;
mod sys;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::{ExecConfig, ExecEnvConfig, RestartMode};
use crate::lease::EnvMap;
use crate::output::env::child_env;

pub use child::ChildOutput;
pub use supervise::supervise;
pub use sys::restore_original;

/// How the child is run (the `exec` stanza, resolved).
#[derive(Clone, Debug)]
pub struct ExecSpec {
    /// argv of the child.
    pub argv: Vec<String>,
    /// What a change of the rendered env does.
    pub restart_mode: RestartMode,
    /// Signal sent to stop the child before a restart.
    pub stop_signal: Signal,
    /// Signal sent when `restart_mode` is `signal`.
    pub reload_signal: Signal,
    /// How long to wait after `stop_signal` before SIGKILL.
    pub kill_timeout: Duration,
    /// Upper bound of the random delay before acting on a change.
    pub splay: Duration,
    /// Start the child again when it exits, instead of exiting with its status.
    pub restart_on_exit: bool,
    /// Pipe the child's output through the masker.
    pub mask_output: bool,
    /// Run the child in its own process group and signal the whole group.
    pub process_group: bool,
    /// Which inherited variables the child sees.
    pub env_filter: ExecEnvConfig,
    /// `exec { notify = "child" }`: the child gets `NOTIFY_SOCKET`.
    pub notify_child: bool,
    /// Forward SIGHUP to the child (`sidekey exec`); `sidekey run` with an exec stanza reloads instead.
    pub forward_hup: bool,
    /// Where the child's stdout and stderr go when not inherited (opened by [`ChildOutput::open`]).
    pub output: ChildOutput,
}

impl ExecSpec {
    /// The spec for `argv` under the `exec` stanza `cfg`; `mask` is `--mask`.
    pub fn new(argv: Vec<String>, cfg: &ExecConfig, mask: bool) -> Self {
        let sig = |n: i32, default| Signal::try_from(n).unwrap_or(default);
        Self {
            argv,
            restart_mode: cfg.restart_mode,
            stop_signal: sig(cfg.restart_stop_signal, Signal::SIGTERM),
            reload_signal: sig(cfg.reload_signal, Signal::SIGHUP),
            kill_timeout: cfg.kill_timeout,
            splay: cfg.splay,
            restart_on_exit: cfg.restart_on_exit,
            mask_output: cfg.mask_output || mask,
            process_group: cfg.signal_process_group,
            env_filter: cfg.env.clone(),
            notify_child: cfg.notify_child,
            forward_hup: true,
            output: ChildOutput::default(),
        }
    }
}

/// Why the child could not be run. Names the program, never its environment.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The child could not be started.
    #[error("exec {program:?}: {source}")]
    Spawn {
        /// argv\[0].
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Signal handling could not be set up.
    #[error("exec: cannot handle signals: {0}")]
    Signals(std::io::Error),
    /// `child_process_stdout` / `child_process_stderr` cannot be opened, or the child's output cannot be
    /// pointed at it.
    #[error("exec: {key} {path:?}: {source}")]
    Output {
        /// The config key.
        key: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An argument or variable holds a NUL byte, which exec cannot pass.
    #[error("exec {program:?}: an argument or environment variable contains a NUL byte")]
    Nul {
        /// argv\[0].
        program: String,
    },
}

impl ExecError {
    /// The exit code a shell uses: 127 when the program is not found, 126 when it cannot be run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }
}

/// `--no-supervise`: replace sidekey with the child (execve), with the same environment the supervisor
/// would give it. Returns only on failure.
pub fn hand_over(spec: &ExecSpec, inherited: Vec<(OsString, OsString)>, env: &EnvMap) -> ExecError {
    let program = spec.argv.first().cloned().unwrap_or_default();
    let nul = || ExecError::Nul {
        program: program.clone(),
    };
    let argv: Result<Vec<CString>, _> =
        spec.argv.iter().map(|a| CString::new(a.as_str())).collect();
    let socket = inherited
        .iter()
        .find(|(k, _)| spec.notify_child && k == "NOTIFY_SOCKET")
        .cloned();
    let envp: Result<Vec<CString>, _> = child_env(inherited, env, &spec.env_filter)
        .into_iter()
        .chain(socket)
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect();
    let (Ok(argv), Ok(envp)) = (argv, envp) else {
        return nul();
    };
    let Some(file) = argv.first() else {
        return nul();
    };
    if let Err(e) = spec.output.redirect_own() {
        return e;
    }
    crate::runtime::harden::restore_own();
    match nix::unistd::execvpe(file, &argv, &envp) {
        Err(e) => ExecError::Spawn {
            program,
            source: e.into(),
        },
        Ok(never) => match never {},
    }
}

/// Whether two rendered envs hold the same names and values.
pub fn same_env(a: &EnvMap, b: &EnvMap) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && va.as_str() == vb.as_str())
}
