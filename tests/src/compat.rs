//! Differential runs against the real `bao agent`: the fixture directory, running each agent once on a
//! config, and comparing what the two rendered.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::bao::bao_bin;
use crate::process::{Finished, clean_env, run_with_timeout};
use crate::{Fixture, Sidekey};

/// `tests/fixtures/compat`: the template corpus, the real-world configs and the seed data.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/compat")
}

/// Write the extra data the corpus and the configs read (`seed.json`: a list of `{path, body}` writes).
pub fn seed(fx: &Fixture) {
    let text = std::fs::read_to_string(fixtures().join("seed.json")).expect("read seed.json");
    let writes: Vec<Value> = serde_json::from_str(&text).expect("seed.json is JSON");
    for w in writes {
        let path = w["path"].as_str().expect("seed entry has a path");
        fx.bao.write(path, w["body"].clone());
    }
}

/// `text` with its placeholders filled for one agent writing into `out`.
pub fn fill(fx: &Fixture, text: &str, out: &Path) -> String {
    // bao agent's jwt method deletes the token file after reading it (remove_jwt_after_reading): each
    // agent gets a fresh one.
    let jwt = fx.app_jwt();
    text.replace("@ADDR@", &fx.addr())
        .replace("@DIR@", &fx.dir.path().display().to_string())
        .replace("@OUT@", &out.display().to_string())
        .replace("@FIXTURES@", &fixtures().display().to_string())
        .replace("@JWT@", &jwt.path.display().to_string())
        .replace("@PORT@", &crate::ports::free_port().to_string())
        .replace(
            "@TOKEN_FILE@",
            &fx.write_file("root-token", fx.bao.root_token())
                .display()
                .to_string(),
        )
        .replace(
            "@ROLE_ID@",
            &fx.approle().role_id_path.display().to_string(),
        )
        .replace(
            "@SECRET_ID@",
            &fx.approle().secret_id_path.display().to_string(),
        )
}

/// Every file under `dir`, as paths relative to it (subdirectories walked), sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
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
