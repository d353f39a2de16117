//! Real-world agent configs (`tests/fixtures/compat/configs/`), shaped like the OpenBao and Vault Agent
//! docs examples, the vault-k8s injector's generated JSON, tutorials and configs people posted in issues,
//! load unchanged and render what `bao agent` renders.
//!
//! Fixture conventions: `configs/*.hcl` and `configs/*.json` run in both agents against one dev server
//! (with `BAO_ADDR` set, as in an injected pod; the corpus's `seed.json` data, PKI and a database) and
//! must render the same bytes: every file under `@OUT@` (subdirectories, `writeToFile` files and
//! command outputs included) except token sinks (files named `*token*`), which must exist; `configs/load-only/*` need what a dev server cannot give (a cluster,
//! a cloud) and must pass `sidekey check`; `configs/exec/*` (process supervisor mode) run under
//! `bao agent` and `sidekey exec`, whose child writes what it got to `@OUT@/env.txt`; `configs/dir/` is
//! one config split over a directory, given as `-config=DIR` / `-c DIR`. Only addresses and file paths are placeholders, filled in per
//! agent: `@ADDR@` (server), `@DIR@` (scratch dir), `@OUT@` (output dir), `@FIXTURES@`, `@JWT@`,
//! `@ROLE_ID@`, `@SECRET_ID@`, `@PORT@` (a free loopback port), `@TOKEN_FILE@` (holds the root token).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use sidekey_tests::compat::{
    differences, files_under, fill, fixtures, run_bao_agent, run_bao_agent_with, run_sidekey, seed,
};
use sidekey_tests::{Setup, ShmDir, Sidekey};

/// The config files of `dir` (`.hcl` and `.json`), sorted.
fn configs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hcl" || x == "json"))
        .collect();
    v.sort();
    v
}

/// `sidekey check -c FILE` exits 0; its stderr.
fn check_ok(name: &str, config: &Path) -> String {
    let check = Sidekey::new(["check", "-c"]).args([config]).run();
    assert_eq!(check.code(), 0, "{name}: sidekey check: {}", check.stderr);
    check.stderr
}

/// Vault Agent's API proxy stanzas (`api_proxy`, `listener "tcp"` / `"unix"`, `cache`) are served: `log`
/// (the output of `sidekey check` or `sidekey run`) has no "not served" warning about them.
fn assert_proxy_served(name: &str, log: &str) {
    for needle in [
        "api_proxy",
        "listener \"tcp\"",
        "listener \"unix\"",
        "cache",
    ] {
        assert!(
            !log.lines()
                .any(|l| l.contains(&format!(": {needle}: not served"))
                    || l.contains(&format!(": {needle} (")) && l.contains("not served")),
            "{name}: {needle} is reported as not served:\n{log}"
        );
    }
}

#[test]
fn real_world_configs_load_unchanged_and_render_like_bao_agent() {
    let fx = Setup::new().jwt().approle().database().pki().start();
    seed(&fx);
    let found = configs(&fixtures().join("configs"));
    assert!(found.len() >= 10, "{} runnable configs", found.len());
    // As in an injected pod, the server's address is in the environment too: `bao agent` skips the
    // `openbao` stanza the OpenBao injector writes (sidekey reads it as `vault`).
    let addr = fx.addr();
    let env = [("BAO_ADDR", addr.as_str())];
    for path in found {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let ext = path.extension().unwrap().to_string_lossy();

        let bao_out = tempfile::tempdir().expect("temp dir");
        let bao_cfg = fx.write_file(
            &format!("bao-{name}"),
            &fill(&fx, &text, bao_out.path()).replace(".pid\"", ".bao.pid\""),
        );
        run_bao_agent(&bao_cfg, fx.dir.path(), &env);

        let sk_out = ShmDir::new();
        let sk_cfg = fx.write_file(&format!("sk.{ext}"), &fill(&fx, &text, sk_out.path()));
        let check = check_ok(&name, &sk_cfg);
        assert_proxy_served(&name, &check);
        let log = run_sidekey(&sk_cfg, fx.dir.path(), &env);
        assert_proxy_served(&name, &log);

        // Token sinks hold different tokens by nature: both agents must write them, and everything
        // else must be the same bytes.
        let (sinks, names): (Vec<String>, Vec<String>) = files_under(bao_out.path())
            .into_iter()
            .partition(|n| n.contains("token"));
        assert!(!names.is_empty(), "{name}: bao agent rendered nothing");
        let mut diffs = differences(&names, bao_out.path(), sk_out.path());
        for extra in files_under(sk_out.path()) {
            if !names.contains(&extra) && !sinks.contains(&extra) {
                diffs.push(format!("{extra}: sidekey wrote it, bao agent did not"));
            }
        }
        assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n\n"));
        for sink in &sinks {
            assert!(
                sk_out.path().join(sink).is_file(),
                "{name}: sidekey wrote no token sink {sink}"
            );
        }
        eprintln!(
            "{name}: {} files, same bytes as bao agent; {} token sinks",
            names.len(),
            sinks.len()
        );
    }
}

/// Configs that need what a dev server cannot give (a cluster, client certificates, a child process)
/// load with `sidekey check` as they are.
#[test]
fn load_only_configs_pass_check_unchanged() {
    let found = configs(&fixtures().join("configs/load-only"));
    assert!(found.len() >= 4, "{} load-only configs", found.len());
    for path in found {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let log = check_ok(&name, &path);
        assert_proxy_served(&name, &log);
    }
}

/// Process-supervisor configs (`env_template` + `exec`): the child started by `sidekey exec` gets the
/// same variables as the one `bao agent` starts.
#[test]
fn exec_configs_give_the_child_what_bao_agent_gives() {
    let fx = Setup::new().jwt().approle().database().start();
    seed(&fx);
    let found = configs(&fixtures().join("configs/exec"));
    assert!(found.len() >= 2, "{} exec configs", found.len());
    for path in found {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let ext = path.extension().unwrap().to_string_lossy();

        let bao_out = tempfile::tempdir().expect("temp dir");
        let bao_cfg = fx.write_file(&format!("bao-{name}"), &fill(&fx, &text, bao_out.path()));
        run_bao_agent_with(&bao_cfg, fx.dir.path(), &[], &[]);

        // The config runs unchanged both ways: `sidekey exec -c` and, as `bao agent -config`, `sidekey run -c`.
        let mut got = String::new();
        for subcommand in ["exec", "run"] {
            let sk_out = tempfile::tempdir().expect("temp dir");
            let sk_cfg = fx.write_file(&format!("sk.{ext}"), &fill(&fx, &text, sk_out.path()));
            check_ok(&name, &sk_cfg);
            let done = Sidekey::new([subcommand, "-c"])
                .args([&sk_cfg])
                .current_dir(fx.dir.path())
                .run();
            assert_eq!(
                done.code(),
                0,
                "{name}: sidekey {subcommand}: {}",
                done.stderr
            );
            let names = ["env.txt".to_string()];
            let diffs = differences(&names, bao_out.path(), sk_out.path());
            assert!(
                diffs.is_empty(),
                "{name} ({subcommand}):\n{}",
                diffs.join("\n\n")
            );
            got = std::fs::read_to_string(sk_out.path().join("env.txt")).unwrap_or_default();
        }
        assert!(got.lines().count() >= 2, "{name}: the child got {got:?}");
        eprintln!(
            "{name}: the child got the same {} variables",
            got.lines().count()
        );
    }
}

/// A config directory (`bao agent -config=DIR`, `sidekey run -c DIR`) renders the same bytes.
#[test]
fn a_config_directory_renders_like_bao_agent() {
    let fx = Setup::new().jwt().approle().start();
    let source = fixtures().join("configs/dir");
    // Each agent gets its own filled-in copy of the directory.
    let copy = |out: &Path, to: &Path| {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(&source).expect("read configs/dir") {
            let path = entry.expect("dir entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let text = fill(&fx, &text, out);
            std::fs::write(to.join(path.file_name().unwrap()), text).expect("write");
        }
    };
    let bao_out = tempfile::tempdir().expect("temp dir");
    let bao_dir = fx.dir.path().join("bao-conf.d");
    copy(bao_out.path(), &bao_dir);
    run_bao_agent(&bao_dir, fx.dir.path(), &[]);

    let sk_out = ShmDir::new();
    let sk_dir = fx.dir.path().join("sidekey-conf.d");
    copy(sk_out.path(), &sk_dir);
    check_ok("configs/dir", &sk_dir);
    run_sidekey(&sk_dir, fx.dir.path(), &[]);

    let names = ["region".to_string(), "user".to_string()];
    let diffs = differences(&names, bao_out.path(), sk_out.path());
    assert!(diffs.is_empty(), "configs/dir:\n{}", diffs.join("\n\n"));
}
