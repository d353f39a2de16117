//! A long-running `sidekey` (`run` or `exec`), or another workspace binary, in the background, stopped with
//! SIGTERM when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sidekey::sidekey_bin;

/// A background sidekey process with its stdout/stderr going to files.
pub struct Background {
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    /// Start `sidekey ARGS` with `env` added, logs into `dir`.
    pub fn start(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Background {
        Background::start_bin(&sidekey_bin(), args, env, dir)
    }

    /// Start `bin ARGS` with `env` added, logs into `dir`.
    pub fn start_bin(bin: &Path, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Background {
        let name = bin
            .file_name()
            .map_or("bin".into(), |n| n.to_string_lossy());
        let stdout = dir.join(format!("{name}-{}.out", crate::random_hex(4)));
        let stderr = stdout.with_extension("err");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .envs(env.iter().copied())
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        Background {
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Send `sig` (e.g. `libc::SIGHUP`) to the process.
    pub fn signal(&self, sig: i32) {
        // libc::kill is `unsafe` and the workspace denies unsafe code; the kill(1) command does the same.
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Wait up to `timeout` for it to exit; its exit code (128+N for signal N), or `None` if still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop it with SIGTERM (SIGKILL after 10 s) and return its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let code = self.wait_timeout(Duration::from_secs(10));
        if code.is_none()
            && let Some(c) = self.child.as_mut()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.child = None;
        code
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.is_some() {
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
