//! Differential runs against the real `bao agent`: the fixture directory, running each agent once on a
//! config, and comparing what the two rendered.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Sidekey;
use crate::bao::bao_bin;
use crate::process::{Finished, clean_env, run_with_timeout};

/// `tests/fixtures/compat`: the template corpus, the real-world configs and the seed data.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat")
}

/// Run `bao agent -config=FILE -exit-after-auth` in `cwd` with only `PATH`, `HOME=cwd` and `env`; panics
/// with its log if it fails.
pub fn run_bao_agent(config: &Path, cwd: &Path, env: &[(&str, &str)]) {
    run_bao_agent_with(config, cwd, env, &["-exit-after-auth"]);
}

/// Run `bao agent -config=FILE ARGS...` as [`run_bao_agent`] does (without `-exit-after-auth`, an agent
/// with an `exec` stanza exits when its child does).
pub fn run_bao_agent_with(config: &Path, cwd: &Path, env: &[(&str, &str)], args: &[&str]) {
    let done = bao_agent(config, cwd, env, args);
    assert_eq!(
        done.code(),
        0,
        "bao agent failed:\n{}\n{}",
        done.stdout,
        done.stderr
    );
}

/// Run `bao agent -config=FILE ARGS...` in `cwd` with only `PATH`, `HOME=cwd` and `env`, whatever the outcome.
pub fn bao_agent(config: &Path, cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Finished {
    let mut cmd = Command::new(bao_bin());
    clean_env(&mut cmd)
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .args(args)
        .env("HOME", cwd)
        .envs(env.iter().copied())
        .current_dir(cwd);
    run_with_timeout(cmd, Duration::from_secs(30))
}

/// Run `sidekey run --once -c FILE` in `cwd` with `env` added; panics with its log if it fails, else
/// returns its log (stderr).
pub fn run_sidekey(config: &Path, cwd: &Path, env: &[(&str, &str)]) -> String {
    let done = sidekey_once(config, cwd, env);
    assert_eq!(done.code(), 0, "sidekey failed:\n{}", done.stderr);
    done.stderr
}

/// Run `sidekey run --once -c FILE` in `cwd` with `env` added, whatever the outcome.
pub fn sidekey_once(config: &Path, cwd: &Path, env: &[(&str, &str)]) -> Finished {
    let mut sk = Sidekey::new(["run", "--once", "-c"])
        .args([config])
        .current_dir(cwd);
    for (k, v) in env {
        sk = sk.env(k, v);
    }
    sk.run()
}

/// Compare every file of `names` in the two directories; one readable report per difference.
pub fn differences(names: &[String], bao_out: &Path, sk_out: &Path) -> Vec<String> {
    let mut diffs = Vec::new();
    for name in names {
        let want = std::fs::read(bao_out.join(name));
        let got = std::fs::read(sk_out.join(name));
        match (want, got) {
            (Ok(w), Ok(g)) if w == g => {}
            (Ok(w), Ok(g)) => diffs.push(format!(
                "{name}:\n--- bao agent ---\n{}\n--- sidekey ---\n{}",
                String::from_utf8_lossy(&w),
                String::from_utf8_lossy(&g)
            )),
            (w, g) => diffs.push(format!(
                "{name}: bao agent {:?}, sidekey {:?}",
                w.map(|_| "wrote it"),
                g.map(|_| "wrote it")
            )),
        }
    }
    diffs
}
