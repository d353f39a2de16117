//! A long-running process in the background: `sidekey run` or `exec`, another workspace binary, or a server
//! a test needs. It runs in its own process group with stdout and stderr going to files; dropping it stops
//! it with SIGTERM and then kills what is left of its group, so no child it started outlives the test.
//!
//! ```no_run
//! use std::time::Duration;
//! use sidekey_tests::background::Background;
//!
//! let mut agent = Background::sidekey()
//!     .args(["run", "-c", "/tmp/agent.hcl"])
//!     .clean_env()
//!     .env("SIDEKEY_LOG", "debug")
//!     .start();
//! agent.signal(libc::SIGHUP);
//! assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::process::{clean_env, exit_code, kill_group};
use crate::sidekey::sidekey_bin;

/// How long [`Background::stop`] waits after SIGTERM before it kills the process group.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A background process in its own process group, with its stdout/stderr going to files.
#[derive(Debug)]
pub struct Background {
    program: PathBuf,
    child: Child,
    /// Its exit code once it has been waited for; from then on its pid is no longer ours to signal.
    reaped: Option<i32>,
    stdout: PathBuf,
    stderr: PathBuf,
    /// The log files' directory when the test gave none, removed with the process.
    _logs: Option<TempDir>,
}

/// What to start as a [`Background`]: the program, its arguments and environment, where its output goes.
#[derive(Debug)]
#[must_use = "nothing runs until `start`"]
pub struct Builder {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    clean_env: bool,
    logs: Option<PathBuf>,
}

// === impl Builder ===

impl Builder {
    /// Append one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Builder {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Builder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set an environment variable; it is kept whatever the order of this and [`Builder::clean_env`].
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Builder {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Set environment variables.
    pub fn envs<I, K, V>(self, envs: I) -> Builder
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        envs.into_iter().fold(self, |b, (k, v)| b.env(k, v))
    }

    /// Start from an empty environment plus `PATH` and `HOME` instead of this process's environment, so
    /// the test controls every variable the process (and an exec child) sees.
    pub fn clean_env(mut self) -> Builder {
        self.clean_env = true;
        self
    }

    /// Write the stdout/stderr files into `dir` (by default a temporary directory removed on drop).
    pub fn logs_in(mut self, dir: &Path) -> Builder {
        self.logs = Some(dir.to_path_buf());
        self
    }

    /// Start it in its own process group, stdin closed.
    pub fn start(self) -> Background {
        let (logs, dir) = match self.logs {
            Some(dir) => (None, dir),
            None => {
                let tmp = tempfile::tempdir().expect("temp dir for the logs");
                let dir = tmp.path().to_path_buf();
                (Some(tmp), dir)
            }
        };
        let name = self
            .program
            .file_name()
            .map_or("bin".into(), |n| n.to_string_lossy());
        let stdout = dir.join(format!("{name}-{}.out", crate::random_hex(4)));
        let stderr = stdout.with_extension("err");
        let mut cmd = Command::new(&self.program);
        if self.clean_env {
            clean_env(&mut cmd);
        } else {
            // A token from the developer's shell must not log sidekey in: tests pass the ones they mean.
            cmd.env_remove("VAULT_TOKEN").env_remove("BAO_TOKEN");
        }
        cmd.args(&self.args)
            .envs(self.envs)
            // Its own group, so stopping it also ends the children it started (exec mode, commands).
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.program.display()));
        Background {
            program: self.program,
            child,
            reaped: None,
            stdout,
            stderr,
            _logs: logs,
        }
    }
}

// === impl Background ===

impl Background {
    /// Start `sidekey ARGS` with `env` added, logs into `dir`.
    pub fn start(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Background {
        Background::start_bin(&sidekey_bin(), args, env, dir)
    }

    /// Start `bin ARGS` with `env` added, logs into `dir`.
    pub fn start_bin(bin: &Path, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Background {
        Background::command(bin)
            .args(args)
            .envs(env.iter().copied())
            .logs_in(dir)
            .start()
    }

    /// A [`Builder`] for the workspace's `sidekey`, built first if needed.
    pub fn sidekey() -> Builder {
        Background::command(sidekey_bin())
    }

    /// A [`Builder`] for `program` (a path, or a name looked up in `PATH`), with this process's environment
    /// minus `VAULT_TOKEN` and `BAO_TOKEN` unless [`Builder::clean_env`] is asked for.
    pub fn command(program: impl Into<PathBuf>) -> Builder {
        Builder {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            clean_env: false,
            logs: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `sig` (e.g. `libc::SIGHUP`) to the process (not its group); nothing once it has been stopped.
    pub fn signal(&self, sig: i32) {
        let sig = Signal::try_from(sig).unwrap_or_else(|e| panic!("signal {sig}: {e}"));
        if self.reaped.is_none() {
            kill(self.nix_pid(), sig)
                .unwrap_or_else(|e| panic!("send {sig} to pid {}: {e}", self.pid()));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// Wait up to `timeout` for it to exit; its exit code (128+N for signal N), or `None` if still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let code = self.exited();
            if code.is_some() || Instant::now() > deadline {
                return code;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stop it: SIGTERM, up to 10 s for it to exit, then SIGKILL to its whole group (which also ends what it
    /// left running). Its exit code, or `None` if it had to be killed.
    pub fn stop(&mut self) -> Option<i32> {
        if self.reaped.is_none() {
            // The pid is still ours until `reap`, so the signal cannot reach another process.
            let _ = kill(self.nix_pid(), Signal::SIGTERM);
        }
        let code = self.wait_timeout(STOP_GRACE);
        self.reap();
        code
    }

    /// Wait up to `timeout` for it to exit, kill what is left of its group, and return its exit code
    /// (128+N for signal N), stdout and stderr. Panics, showing stderr, if it is still running then.
    pub fn finish(&mut self, timeout: Duration) -> (i32, String, String) {
        let code = self.wait_timeout(timeout);
        self.reap();
        let stderr = self.stderr();
        let code = code.unwrap_or_else(|| {
            panic!(
                "{} still running after {timeout:?}; killed. stderr:\n{stderr}",
                self.program.display()
            )
        });
        (code, self.stdout(), stderr)
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits in i32"))
    }

    /// Its exit code (128+N for signal N) once it has exited. A process that exited is not waited for here
    /// (`WNOWAIT`): as a zombie it keeps its pid, and so its process group id, until [`Background::reap`].
    fn exited(&self) -> Option<i32> {
        if self.reaped.is_some() {
            return self.reaped;
        }
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(self.nix_pid()), flags) {
            Ok(WaitStatus::Exited(_, code)) => Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
            _ => None,
        }
    }

    /// Kill its whole group (it, if still running, and whatever it left behind) and wait for it.
    fn reap(&mut self) {
        if self.reaped.is_none() {
            kill_group(&self.child);
            self.reaped = Some(self.child.wait().map_or(-1, exit_code));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.stop();
        }
    }
}

/// Poll `f` every 100 ms until it returns true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
