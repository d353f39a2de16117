//! The systemd files in `packaging/systemd/` as systemd itself reads them, without systemd running and
//! without touching the host: every unit (and drop-in) is checked by `systemd-analyze verify`, the
//! sysusers.d and tmpfiles.d files are applied to a scratch root, and the sample config passes `sidekey
//! check`.
//!
//! `systemd-analyze verify` refuses a unit whose `Exec*=` binary does not exist, so it runs on copies of the
//! units whose `ExecStart` (and `ExecStartPre`, `ExecReload`) point at the built binary instead of
//! `/usr/bin/sidekey`; the example application's stand-in binary `/usr/local/bin/app` becomes `/bin/true`.
//! All the copies sit in one directory, which `verify` adds to its unit search path: the drop-ins in
//! `NAME.service.d/` beside them are applied, and the units they name (`sidekey.service`) are found.
//!
//! Needs Debian's `systemd` package (`systemd-analyze`, `systemd-sysusers`, `systemd-tmpfiles`); tests/run.sh
//! installs it when it is missing. Without it these tests fail, saying so.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sidekey_tests::process::{Finished, run_with_timeout};
use sidekey_tests::sidekey_bin;

/// Unit types that may appear in `packaging/systemd/` (and `examples/`).
const UNIT_SUFFIXES: &[&str] = &["service", "path", "socket", "timer", "target"];

/// The binary the shipped units run, replaced by the built one in the copies.
const INSTALLED_BIN: &str = "/usr/bin/sidekey";

/// The example application's binary (`examples/app.service`), a stand-in that exists nowhere.
const EXAMPLE_APP_BIN: &str = "/usr/local/bin/app";

/// Settings whose values are unit names.
const DEPENDENCY_KEYS: &[&str] = &[
    "Wants",
    "Requires",
    "Requisite",
    "BindsTo",
    "PartOf",
    "After",
    "Before",
    "Unit",
    "WantedBy",
    "RequiredBy",
    "Also",
];

/// An unknown key appended to every drop-in of the second `verify` run; systemd names the file and the
/// key in a warning, which proves the drop-in was read.
const CANARY: &str = "SidekeyTestCanary";

fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("packaging/systemd")
}

/// `name` from `PATH` (or the usual sbin/bin directories); fails the test when systemd is not installed.
fn systemd_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: these tests need Debian's `systemd` package \
                 (`apt-get install systemd`; tests/run.sh installs it when systemd-analyze is missing)"
            )
        })
}

fn run(cmd: Command) -> Finished {
    run_with_timeout(cmd, Duration::from_secs(60))
}

fn show(out: &Finished) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.code(),
        out.stdout,
        out.stderr
    )
}

fn is_unit(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| UNIT_SUFFIXES.contains(&e))
}

/// A drop-in directory: `UNIT.service.d/` and the like.
fn is_dropin_dir(p: &Path) -> bool {
    p.is_dir()
        && p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".d"))
            .and_then(|u| u.rsplit_once('.'))
            .is_some_and(|(_, suffix)| UNIT_SUFFIXES.contains(&suffix))
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The units and drop-ins of `packaging/systemd/` and `examples/`, as (relative name, text) pairs, e.g.
/// `sidekey.service`, `app.service.d/sidekey.conf`. Any other file there must be one this test knows.
fn unit_files() -> Vec<(String, String)> {
    let root = packaging_dir();
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("examples")] {
        for p in entries(&dir) {
            let n = name(&p);
            if is_unit(&p) {
                files.push((n, std::fs::read_to_string(&p).unwrap()));
            } else if is_dropin_dir(&p) {
                for conf in entries(&p) {
                    assert!(
                        conf.extension().is_some_and(|e| e == "conf"),
                        "{}: a drop-in must end in .conf",
                        conf.display()
                    );
                    let text = std::fs::read_to_string(&conf).unwrap();
                    files.push((format!("{n}/{}", name(&conf)), text));
                }
            } else {
                let known = (dir == root
                    && ["examples", "sysusers.d", "tmpfiles.d", "agent.hcl"].contains(&n.as_str()))
                    || (dir != root && n.ends_with(".conf"));
                assert!(
                    known,
                    "{}: not a unit, drop-in directory or a file this test checks; add it to tests/tests/packaging.rs",
                    p.display()
                );
            }
        }
    }
    assert!(
        files.iter().any(|(n, _)| n == "sidekey.service")
            && files.iter().any(|(n, _)| n == "sidekey@.service"),
        "sidekey.service and sidekey@.service must be in {}",
        root.display()
    );
    files
}

/// `text` with the installed binaries of its `Exec*=` lines replaced by ones that exist here.
fn rewrite_exec(text: &str, bin: &Path) -> String {
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with("Exec") {
                line.replace(INSTALLED_BIN, &bin.to_string_lossy())
                    .replace(EXAMPLE_APP_BIN, "/bin/true")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `Key=value` settings of a unit file (comments and section headers skipped).
fn settings(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// Copy the units into `dir` (rewritten as above), optionally with a canary key in each drop-in.
fn lay_out(dir: &Path, files: &[(String, String)], bin: &Path, canary: bool) -> Vec<PathBuf> {
    let mut units = Vec::new();
    for (rel, text) in files {
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut text = rewrite_exec(text, bin);
        if rel.contains('/') {
            if canary {
                text.push_str(&format!("{CANARY}=1\n"));
            }
        } else {
            units.push(dest.clone());
        }
        std::fs::write(&dest, text).unwrap();
    }
    units
}

fn verify(units: &[PathBuf]) -> Finished {
    let mut cmd = Command::new(systemd_tool("systemd-analyze"));
    // Errors of the host's own units (network-online.target, ...) are not ours to judge: every unit of
    // packaging/systemd is named here, so each is checked itself.
    cmd.arg("verify").arg("--recursive-errors=no").args(units);
    run(cmd)
}

/// Lines of `out` that are about our files: they name the scratch directory or one of our units.
fn lines_about<'a>(out: &'a Finished, dir: &Path, files: &[(String, String)]) -> Vec<&'a str> {
    let dir = dir.to_string_lossy();
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| {
            l.contains(dir.as_ref())
                || files
                    .iter()
                    .filter(|(rel, _)| !rel.contains('/'))
                    .any(|(unit, _)| l.contains(unit.as_str()))
        })
        .collect()
}

/// The pinned check: `systemd-analyze verify` accepts every unit, run on copies whose `ExecStart` points at
/// the built binary, and says nothing about any of them (unknown keys, bad values and missing binaries are
/// warnings there: its exit code alone would let them through).
#[test]
fn systemd_analyze_verify_accepts_every_unit() {
    let bin = sidekey_bin();
    let files = unit_files();
    let scratch = tempfile::tempdir().unwrap();
    let units = lay_out(scratch.path(), &files, &bin, false);

    for (unit, text) in files.iter().filter(|(rel, _)| !rel.contains('/')) {
        let copy = std::fs::read_to_string(scratch.path().join(unit)).unwrap();
        assert!(
            !copy.contains(INSTALLED_BIN),
            "{unit}: {INSTALLED_BIN} left in the copy:\n{copy}"
        );
        if text.contains(INSTALLED_BIN) {
            let exec_start = settings(&copy)
                .find(|(k, _)| *k == "ExecStart")
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("{unit}: no ExecStart="));
            assert!(
                exec_start.starts_with(&*bin.to_string_lossy()),
                "{unit}: ExecStart={exec_start} does not run the built binary {}",
                bin.display()
            );
        }
    }

    let out = verify(&units);
    let about = lines_about(&out, scratch.path(), &files);
    assert!(
        out.status.success() && about.is_empty(),
        "systemd-analyze verify {} failed or warned about our units:\n{}\n{}",
        units.iter().map(|u| name(u)).collect::<Vec<_>>().join(" "),
        about.join("\n"),
        show(&out)
    );
}

/// `verify` reads the drop-ins: with an unknown key added to each, it names every one of them.
#[test]
fn systemd_analyze_verify_reads_every_drop_in() {
    let bin = sidekey_bin();
    let files = unit_files();
    let scratch = tempfile::tempdir().unwrap();
    let units = lay_out(scratch.path(), &files, &bin, true);
    let out = verify(&units);
    let all = format!("{}{}", out.stdout, out.stderr);
    for (rel, _) in files.iter().filter(|(rel, _)| rel.contains('/')) {
        let path = scratch.path().join(rel);
        let named = all
            .lines()
            .any(|l| l.contains(&*path.to_string_lossy()) && l.contains(CANARY));
        assert!(
            named,
            "systemd-analyze verify did not read the drop-in {rel} (no warning about {CANARY} in it):\n{}",
            show(&out)
        );
    }
}

/// Every unit a unit or drop-in depends on, orders itself against or triggers exists: ours, or the host's
/// (`verify` loads a missing `Wants=`/`After=` unit as "not found" without a word).
#[test]
fn every_unit_named_in_a_dependency_exists() {
    let files = unit_files();
    let ours: BTreeSet<&str> = files
        .iter()
        .filter(|(rel, _)| !rel.contains('/'))
        .map(|(rel, _)| rel.as_str())
        .collect();
    let host_dirs = [
        "/etc/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ];
    for (rel, text) in &files {
        for (key, value) in settings(text) {
            if !DEPENDENCY_KEYS.contains(&key) {
                continue;
            }
            for unit in value.split_whitespace() {
                let exists = ours.contains(unit)
                    || host_dirs.iter().any(|d| Path::new(d).join(unit).exists());
                assert!(
                    exists,
                    "{rel}: {key}={unit}: no such unit here or on the host"
                );
            }
        }
    }
}

/// The sysusers.d file creates the static system user and group `sidekey` (in a scratch root: the host's
/// /etc is not touched), and the tmpfiles.d file creates the parents of the per-config directories, owned
/// by root, mode 0755, resolving the user from that root.
#[test]
fn sysusers_and_tmpfiles_apply_to_a_scratch_root() {
    let root = tempfile::tempdir().unwrap();
    // systemd-sysusers takes its lock in ROOT/etc.
    std::fs::create_dir(root.path().join("etc")).unwrap();
    let packaging = packaging_dir();

    let mut sysusers = Command::new(systemd_tool("systemd-sysusers"));
    sysusers
        .arg(format!("--root={}", root.path().display()))
        .arg(packaging.join("sysusers.d/sidekey.conf"));
    let out = run(sysusers);
    assert!(out.status.success(), "systemd-sysusers:\n{}", show(&out));
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("sidekey:"))
        .unwrap_or_else(|| panic!("no sidekey user in the scratch /etc/passwd:\n{passwd}"))
        .split(':')
        .collect();
    let uid: u32 = user[2].parse().unwrap();
    assert!(
        (1..1000).contains(&uid),
        "sidekey must be a system user (uid {uid})"
    );
    assert!(
        user[6].ends_with("nologin"),
        "sidekey must not have a login shell: {user:?}"
    );
    let group = std::fs::read_to_string(root.path().join("etc/group")).unwrap();
    assert!(
        group.lines().any(|l| l.starts_with("sidekey:")),
        "no sidekey group in the scratch /etc/group:\n{group}"
    );

    let mut tmpfiles = Command::new(systemd_tool("systemd-tmpfiles"));
    tmpfiles
        .arg(format!("--root={}", root.path().display()))
        .arg("--create")
        .arg(packaging.join("tmpfiles.d/sidekey.conf"));
    let out = run(tmpfiles);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-tmpfiles --create:\n{}",
        show(&out)
    );
    for dir in ["run/sidekey", "var/lib/sidekey", "var/log/sidekey"] {
        let meta = std::fs::metadata(root.path().join(dir))
            .unwrap_or_else(|e| panic!("tmpfiles.d did not create /{dir}: {e}"));
        assert!(meta.is_dir(), "/{dir} is not a directory");
        assert_eq!(meta.mode() & 0o7777, 0o755, "/{dir} mode");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "/{dir} owner");
    }
}

/// The sample config written for the units loads: `sidekey check` (the units' `ExecStartPre=`) accepts it.
#[test]
fn the_sample_config_passes_sidekey_check() {
    let config = packaging_dir().join("agent.hcl");
    let mut cmd = Command::new(sidekey_bin());
    cmd.arg("check").arg("-c").arg(&config).env_clear();
    let out = run(cmd);
    assert!(
        out.status.success(),
        "sidekey check -c {}:\n{}",
        config.display(),
        show(&out)
    );
}
