//! The workspace's `sidekey` binary (and `sidekey-injector`), built once per test process, and a runner for
//! `sidekey`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{Finished, clean_env, run_with_timeout};

/// Path of `target/debug/sidekey`, building it first (once per test process) with
/// `$CARGO build -p sidekey --bin sidekey`. Panics with cargo's output if the build fails.
pub fn sidekey_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| build("sidekey", "sidekey"))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Path of `target/debug/sidekey-injector`, built like [`sidekey_bin`] (`-p sidekey-injector`).
pub fn injector_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| build("sidekey-injector", "sidekey-injector"))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Path of the release `sidekey` the benchmarks measure: `$SIDEKEY_BIN`, else `target/release/sidekey`
/// (which `tests/bench.sh` builds first). Panics, saying so, if it does not exist.
pub fn release_bin() -> PathBuf {
    let p = std::env::var_os("SIDEKEY_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sidekey"),
        PathBuf::from,
    );
    assert!(
        p.exists(),
        "{} missing: run tests/bench.sh (it builds the release binary)",
        p.display()
    );
    p
}

/// Variables cargo sets for a test process that must not reach the nested `cargo build`.
const CARGO_TEST_VARS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// `.../target/debug/deps/<test>` → `.../target`.
fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let deps = exe.parent().filter(|d| d.ends_with("deps"));
    deps.and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cannot find the target dir from {}", exe.display()))
}

fn build(package: &str, bin: &str) -> Result<PathBuf, String> {
    let target = target_dir()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("tests/ has no parent")?;
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        package,
        "--bin",
        bin,
        "--target-dir",
    ])
    .arg(&target)
    .current_dir(workspace);
    // Cargo gives a test process its own package's variables; build scripts that watch one (ring
    // watches CARGO_MANIFEST_DIR) would otherwise see a change and rebuild half the tree every run.
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if CARGO_TEST_VARS.contains(&name.as_ref())
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
        {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cargo:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build -p {package} --bin {bin}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let path = target.join("debug").join(bin);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("built {bin} but {} does not exist", path.display()))
    }
}

/// Output of a finished `sidekey` run.
pub type SidekeyOutput = Finished;

/// A `sidekey` invocation: arguments, environment (the only place for secrets) and a timeout.
///
/// The child starts from an empty environment plus `PATH` and `HOME`, so nothing from the developer's
/// shell (`VAULT_ADDR`, `VAULT_TOKEN`, ...) leaks in; add what the test needs with [`Sidekey::env`].
#[derive(Debug)]
pub struct Sidekey {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    timeout: Duration,
}

impl Sidekey {
    /// `sidekey ARGS...` with a 30 s timeout.
    pub fn new<I, S>(args: I) -> Sidekey
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Sidekey {
            args: args.into_iter().map(Into::into).collect(),
            envs: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Sidekey
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for sidekey.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Sidekey {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Sidekey {
        self.cwd = Some(dir.into());
        self
    }

    /// Kill sidekey (and its process group) and fail the test after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Sidekey {
        self.timeout = timeout;
        self
    }

    /// Run to completion.
    pub fn run(self) -> SidekeyOutput {
        let mut cmd = Command::new(sidekey_bin());
        clean_env(cmd.args(&self.args)).envs(self.envs);
        if let Some(cwd) = self.cwd {
            cmd.current_dir(cwd);
        }
        run_with_timeout(cmd, self.timeout)
    }
}
