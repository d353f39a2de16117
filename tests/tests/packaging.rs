//! The systemd files in `packaging/systemd/` as systemd itself reads them, without systemd running and
//! without touching the host: every unit (and drop-in) is checked by `systemd-analyze verify`, the
//! sysusers.d and tmpfiles.d files are applied to a scratch root, and the sample configs pass `sidekey
//! check`. The Kubernetes manifests in `packaging/kubernetes/` are read as the API server reads them, and
//! the per-host examples (systemd and Kubernetes) are checked to fit together: the units and the pod reach
//! the sockets the config binds, as the users its workloads match.
//!
//! `systemd-analyze verify` refuses a unit whose `Exec*=` binary does not exist, so it runs on copies of the
//! units whose `ExecStart` (and `ExecStartPre`, `ExecReload`) point at the built binary instead of
//! `/usr/bin/sidekey`; the example applications' stand-in binaries (`/usr/local/bin/app`, ...) become
//! `/bin/true`. All the copies sit in one directory, which `verify` adds to its unit search path: the
//! drop-ins in `NAME.service.d/` beside them are applied, and the units they name (`sidekey.service`) are
//! found. A drop-in for an instance of a template (`sidekey@perhost.service.d/`) is checked by verifying
//! that instance, which `verify` loads from the template beside it.
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

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, Pod, PodSpec, Service, ServiceAccount, Volume,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sidekey_tests::process::{Finished, run_with_timeout};
use sidekey_tests::sidekey_bin;

/// Unit types that may appear in `packaging/systemd/` (and `examples/`).
const UNIT_SUFFIXES: &[&str] = &["service", "path", "socket", "timer", "target"];

/// The binary the shipped units run, replaced by the built one in the copies.
const INSTALLED_BIN: &str = "/usr/bin/sidekey";

/// Where the example applications' binaries are (`examples/app.service`: `/usr/local/bin/app`): stand-ins
/// that exist nowhere.
const EXAMPLE_BIN_DIR: &str = "/usr/local/bin/";

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

fn packaging_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("packaging")
}

fn packaging_dir() -> PathBuf {
    packaging_root().join("systemd")
}

/// `examples/` and each directory in it that is not a drop-in directory (`examples/per-host/`).
fn example_dirs() -> Vec<PathBuf> {
    let examples = packaging_dir().join("examples");
    let mut dirs = vec![examples.clone()];
    dirs.extend(
        entries(&examples)
            .into_iter()
            .filter(|p| p.is_dir() && !is_dropin_dir(p)),
    );
    dirs
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

/// The files in `dirs` whose names end in `.ext`; there must be some.
fn files_with_extension(dirs: &[PathBuf], ext: &str) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| entries(d))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert!(!files.is_empty(), "no .{ext} file in {dirs:?}");
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The units and drop-ins of `packaging/systemd/` and the example directories, as (relative name, text)
/// pairs, e.g. `sidekey.service`, `app.service.d/sidekey.conf`. Any other file there must be one this test
/// knows. The copies share one directory, so no two may have the same name.
fn unit_files() -> Vec<(String, String)> {
    let root = packaging_dir();
    let examples = example_dirs();
    let mut files = Vec::new();
    for dir in std::iter::once(&root).chain(&examples) {
        for p in entries(dir) {
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
                let known = if *dir == root {
                    ["examples", "sysusers.d", "tmpfiles.d", "agent.hcl"].contains(&n.as_str())
                } else {
                    examples.contains(&p) || n.ends_with(".conf") || n.ends_with(".hcl")
                };
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
    let mut seen = BTreeSet::new();
    for (rel, _) in &files {
        assert!(
            seen.insert(rel),
            "{rel}: two files of that name under {} (the test copies them into one directory)",
            root.display()
        );
    }
    files
}

/// `foo@bar.service` → `foo@.service`; `None` for a unit that is not an instance.
fn template_of(unit: &str) -> Option<String> {
    let (prefix, rest) = unit.split_once('@')?;
    let (instance, suffix) = rest.rsplit_once('.')?;
    (!instance.is_empty()).then(|| format!("{prefix}@.{suffix}"))
}

/// The units to verify: every unit file, and every instance a drop-in is written for
/// (`sidekey@perhost.service.d/` → `sidekey@perhost.service`), which `verify` loads from its template.
fn our_units(files: &[(String, String)]) -> BTreeSet<String> {
    let mut units: BTreeSet<String> = files
        .iter()
        .filter(|(rel, _)| !rel.contains('/'))
        .map(|(rel, _)| rel.clone())
        .collect();
    let instances: Vec<String> = files
        .iter()
        .filter_map(|(rel, _)| rel.split_once(".d/").map(|(unit, _)| unit.to_string()))
        .filter(|unit| !units.contains(unit))
        .collect();
    for instance in instances {
        let template = template_of(&instance).unwrap_or_else(|| {
            panic!("{instance}.d/: a drop-in for a unit that is neither ours nor an instance of our template")
        });
        assert!(
            units.contains(&template),
            "{instance}.d/: its template {template} is not in packaging/systemd"
        );
        units.insert(instance);
    }
    units
}

/// `text` with the installed binaries of its `Exec*=` lines replaced by ones that exist here.
fn rewrite_exec(text: &str, bin: &Path) -> String {
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with("Exec") {
                line.replace(INSTALLED_BIN, &bin.to_string_lossy())
                    .split(' ')
                    .map(|word| match word.find(EXAMPLE_BIN_DIR) {
                        Some(at) => format!("{}/bin/true", &word[..at]),
                        None => word.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
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

/// Copy the units into `dir` (rewritten as above), optionally with a canary key in each drop-in; the paths
/// of [`our_units`] there (an instance's path names no file: `verify` finds its template beside it).
fn lay_out(dir: &Path, files: &[(String, String)], bin: &Path, canary: bool) -> Vec<PathBuf> {
    for (rel, text) in files {
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let mut text = rewrite_exec(text, bin);
        if rel.contains('/') && canary {
            text.push_str(&format!("{CANARY}=1\n"));
        }
        std::fs::write(&dest, text).unwrap();
    }
    our_units(files).iter().map(|u| dir.join(u)).collect()
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
    let units = our_units(files);
    out.stdout
        .lines()
        .chain(out.stderr.lines())
        .filter(|l| l.contains(dir.as_ref()) || units.iter().any(|u| l.contains(u.as_str())))
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
    let ours = our_units(&files);
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
                    || template_of(unit).is_some_and(|t| ours.contains(&t))
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

/// `sidekey check -c config` (the units' `ExecStartPre=`) accepts `config`.
fn assert_check_passes(config: &Path) {
    let mut cmd = Command::new(sidekey_bin());
    cmd.arg("check").arg("-c").arg(config).env_clear();
    let out = run(cmd);
    assert!(
        out.status.success(),
        "sidekey check -c {}:\n{}",
        config.display(),
        show(&out)
    );
}

/// The sample config written for the units loads.
#[test]
fn the_sample_config_passes_sidekey_check() {
    assert_check_passes(&packaging_dir().join("agent.hcl"));
}

/// Every example config (`examples/per-host/sidekey-perhost.hcl`, ...) loads.
#[test]
fn every_example_config_passes_sidekey_check() {
    for config in files_with_extension(&example_dirs(), "hcl") {
        assert_check_passes(&config);
    }
}

// === The per-host examples ===

/// What the per-host checks read from an agent config: its sockets and its workloads.
#[derive(Debug, Default)]
struct PerHostConfig {
    /// `listener "unix"` addresses.
    unix_listeners: Vec<String>,
    /// `listener "credentials"`'s address.
    credentials_listener: Option<String>,
    workloads: Vec<Workload>,
}

/// One `workload` stanza: its `match` keys the examples use, and its credentials as (id, unit).
#[derive(Debug, Default)]
struct Workload {
    name: String,
    uid: Option<u64>,
    user: Option<String>,
    unit: Option<String>,
    credentials: Vec<(String, String)>,
}

fn string_attr(body: &hcl_edit::structure::Body, key: &str) -> Option<String> {
    body.get_attribute(key)
        .and_then(|a| a.value.as_str())
        .map(str::to_string)
}

fn first_label(block: &hcl_edit::structure::Block) -> String {
    block
        .labels
        .first()
        .map(|l| l.as_str().to_string())
        .unwrap_or_default()
}

impl PerHostConfig {
    fn parse(text: &str, source: &str) -> Self {
        let body = hcl_edit::parser::parse_body(text).unwrap_or_else(|e| panic!("{source}: {e}"));
        let mut cfg = Self::default();
        for listener in body.get_blocks("listener") {
            let address = string_attr(&listener.body, "address");
            match first_label(listener).as_str() {
                "unix" => cfg.unix_listeners.extend(address),
                "credentials" => cfg.credentials_listener = address,
                _ => {}
            }
        }
        for w in body.get_blocks("workload") {
            let name = first_label(w);
            let matcher = &w
                .body
                .get_blocks("match")
                .next()
                .unwrap_or_else(|| panic!("{source}: workload \"{name}\" has no match block"))
                .body;
            let credentials = w
                .body
                .get_blocks("credential")
                .map(|c| {
                    let unit = string_attr(&c.body, "unit");
                    (first_label(c), unit.unwrap_or_default())
                })
                .collect();
            cfg.workloads.push(Workload {
                uid: matcher
                    .get_attribute("uid")
                    .and_then(|a| a.value.as_number())
                    .and_then(|n| n.as_u64()),
                user: string_attr(matcher, "user"),
                unit: string_attr(matcher, "unit"),
                credentials,
                name,
            });
        }
        cfg
    }
}

/// The per-host systemd example fits together: each service unit is matched by exactly one workload, as
/// the unit's `User=`; it reaches the API socket the config binds (`BAO_ADDR`/`VAULT_ADDR=unix://...`) or
/// loads credentials the config serves it from the credentials socket; and the sockets are in the
/// runtime directory of the sidekey instance the drop-in is for, which every caller may enter.
#[test]
fn the_per_host_units_reach_the_configs_sockets_as_their_workloads() {
    let dir = packaging_dir().join("examples/per-host");
    let config = dir.join("sidekey-perhost.hcl");
    let cfg = PerHostConfig::parse(
        &std::fs::read_to_string(&config).unwrap(),
        &config.display().to_string(),
    );

    let dropin_dir = entries(&dir)
        .into_iter()
        .find(|p| is_dropin_dir(p))
        .expect("the per-host example has a drop-in for its sidekey instance");
    let instance = name(&dropin_dir);
    let instance = instance.strip_suffix(".service.d").unwrap();
    let runtime_dir = format!(
        "/run/sidekey/{}/",
        instance
            .split_once('@')
            .expect("an instance of sidekey@.service")
            .1
    );
    let sockets = cfg.unix_listeners.iter().chain(&cfg.credentials_listener);
    for socket in sockets {
        assert!(
            socket.starts_with(&runtime_dir),
            "{socket}: not in {runtime_dir}, the RuntimeDirectory of {instance}.service"
        );
    }
    let dropin: String = entries(&dropin_dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mode = settings(&dropin)
        .find(|(k, _)| *k == "RuntimeDirectoryMode")
        .map(|(_, v)| u32::from_str_radix(v, 8).unwrap())
        .expect("the drop-in sets RuntimeDirectoryMode (the template's 0750 keeps callers out)");
    assert_eq!(
        mode & 0o001,
        0o001,
        "RuntimeDirectoryMode={mode:o}: callers cannot reach the sockets"
    );

    let services: Vec<PathBuf> = entries(&dir).into_iter().filter(|p| is_unit(p)).collect();
    assert!(
        !services.is_empty(),
        "no service units in {}",
        dir.display()
    );
    for path in services {
        let unit = name(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let matching: Vec<&Workload> = cfg
            .workloads
            .iter()
            .filter(|w| w.unit.as_deref() == Some(unit.as_str()))
            .collect();
        let [workload] = matching.as_slice() else {
            panic!(
                "{unit}: {} workloads match it in {}",
                matching.len(),
                config.display()
            );
        };
        let user = settings(&text).find(|(k, _)| *k == "User").map(|(_, v)| v);
        assert_eq!(
            workload.user.as_deref(),
            user,
            "{unit}: User= is not the user workload \"{}\" matches",
            workload.name
        );

        let mut doors = 0;
        for (key, value) in settings(&text) {
            if key == "Environment" {
                let addresses = value.split_whitespace().filter_map(|a| {
                    a.strip_prefix("BAO_ADDR=")
                        .or_else(|| a.strip_prefix("VAULT_ADDR="))
                });
                for address in addresses {
                    let path = address
                        .strip_prefix("unix://")
                        .unwrap_or_else(|| panic!("{unit}: {address}: not a unix:// address"));
                    assert!(
                        cfg.unix_listeners.iter().any(|l| l == path),
                        "{unit}: {path} is no listener \"unix\" of the config ({:?})",
                        cfg.unix_listeners
                    );
                    doors += 1;
                }
            } else if key == "LoadCredential" {
                let (id, path) = value.split_once(':').expect("LoadCredential=ID:PATH");
                assert_eq!(
                    Some(path),
                    cfg.credentials_listener.as_deref(),
                    "{unit}: LoadCredential= does not name the credentials socket"
                );
                assert!(
                    workload
                        .credentials
                        .contains(&(id.to_string(), unit.clone())),
                    "{unit}: workload \"{}\" serves no credential \"{id}\" to it",
                    workload.name
                );
                doors += 1;
            }
        }
        assert!(
            doors > 0,
            "{unit}: neither reaches the API socket nor loads a credential"
        );
    }
}

// === Kubernetes ===

fn kubernetes_dir() -> PathBuf {
    packaging_root().join("kubernetes")
}

/// Every document of a YAML manifest, as JSON.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// `doc` read as its kind's API type and written back: what the API server keeps of it. A key the type
/// does not have (misspelled, or at the wrong level) is dropped there, so it shows as a difference.
fn as_the_api_server_reads(doc: &Value) -> Result<Value, String> {
    match doc["kind"].as_str().unwrap_or_default() {
        "Namespace" => round_trip::<Namespace>(doc),
        "ServiceAccount" => round_trip::<ServiceAccount>(doc),
        "ConfigMap" => round_trip::<ConfigMap>(doc),
        "Pod" => round_trip::<Pod>(doc),
        "Service" => round_trip::<Service>(doc),
        "DaemonSet" => round_trip::<DaemonSet>(doc),
        "Deployment" => round_trip::<Deployment>(doc),
        "MutatingWebhookConfiguration" => round_trip::<MutatingWebhookConfiguration>(doc),
        other => Err(format!(
            "kind {other:?}: not one this test knows; add its type"
        )),
    }
}

/// Where `a` and `b` first differ, as a path (`.spec.template.spec.hostPID`), or `None`.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| {
            first_difference(
                &x[k],
                y.get(k).unwrap_or(&Value::Null),
                &format!("{at}.{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        _ => (a != b).then(|| format!("{at}: {a} in the manifest, {b} as read")),
    }
}

/// Every document of every manifest in `packaging/kubernetes/` is a valid object of its kind, with no key
/// the API server would drop.
#[test]
fn every_kubernetes_manifest_reads_as_its_api_types() {
    for path in files_with_extension(&[kubernetes_dir()], "yaml") {
        for doc in documents(&path) {
            let what = format!(
                "{}: {} {}",
                path.display(),
                doc["kind"],
                doc["metadata"]["name"]
            );
            let read = as_the_api_server_reads(&doc).unwrap_or_else(|e| panic!("{what}: {e}"));
            if let Some(diff) = first_difference(&doc, &read, "") {
                panic!("{what}: {diff}");
            }
        }
    }
}

/// The per-host manifest's objects.
struct PerHostManifest {
    config: PerHostConfig,
    /// The `agent.hcl` of the ConfigMap, as written.
    config_text: String,
    daemonset: DaemonSet,
    pod: Pod,
}

impl PerHostManifest {
    fn read() -> Self {
        let path = kubernetes_dir().join("per-host-daemonset.yaml");
        let docs = documents(&path);
        let one = |kind: &str| -> Value {
            let mut of_kind = docs.iter().filter(|d| d["kind"] == kind);
            let doc = of_kind
                .next()
                .unwrap_or_else(|| panic!("{}: no {kind}", path.display()));
            assert!(
                of_kind.next().is_none(),
                "{}: more than one {kind}",
                path.display()
            );
            doc.clone()
        };
        let config_map: ConfigMap = serde_json::from_value(one("ConfigMap")).unwrap();
        let config_text = config_map
            .data
            .unwrap_or_default()
            .remove("agent.hcl")
            .expect("the ConfigMap holds agent.hcl");
        Self {
            config: PerHostConfig::parse(&config_text, "the ConfigMap's agent.hcl"),
            config_text,
            daemonset: serde_json::from_value(one("DaemonSet")).unwrap(),
            pod: serde_json::from_value(one("Pod")).unwrap(),
        }
    }
}

/// Where `path` inside a container is on the node: under a hostPath volume the container mounts, or `None`.
fn node_path(pod: &PodSpec, container: &Container, path: &str) -> Option<(String, Volume)> {
    container.volume_mounts.iter().flatten().find_map(|m| {
        let rest = path.strip_prefix(m.mount_path.trim_end_matches('/'))?;
        let volume = pod.volumes.iter().flatten().find(|v| v.name == m.name)?;
        let host = volume.host_path.as_ref()?;
        Some((
            format!("{}{rest}", host.path.trim_end_matches('/')),
            volume.clone(),
        ))
    })
}

/// The per-host DaemonSet's config loads.
#[test]
fn the_per_host_daemonset_config_passes_sidekey_check() {
    let manifest = PerHostManifest::read();
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("agent.hcl");
    std::fs::write(&config, &manifest.config_text).unwrap();
    assert_check_passes(&config);
}

/// The per-host DaemonSet can do what docs/per-host.md says: it sees every process of the node (hostPID),
/// reads the config it is given, binds the API socket in a node directory (created if missing), with no
/// capability; and the example pod reaches that socket through the same node directory, as a uid a
/// workload matches.
#[test]
fn the_per_host_daemonset_serves_the_example_pod() {
    let m = PerHostManifest::read();
    let agent_pod = m.daemonset.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        agent_pod.host_pid,
        Some(true),
        "the DaemonSet needs hostPID: true for caller lookups"
    );
    let [agent] = agent_pod.containers.as_slice() else {
        panic!("the DaemonSet runs one container");
    };

    let args = agent.args.clone().unwrap_or_default();
    let config_path = args
        .windows(2)
        .find(|w| w[0] == "-c")
        .map(|w| w[1].clone())
        .expect("the agent is given -c CONFIG");
    let config_mount = agent
        .volume_mounts
        .iter()
        .flatten()
        .find(|mount| config_path.starts_with(&format!("{}/", mount.mount_path)))
        .unwrap_or_else(|| panic!("{config_path}: in no volume the agent mounts"));
    let config_volume = agent_pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == config_mount.name)
        .unwrap();
    assert!(
        config_volume.config_map.is_some() && config_path.ends_with("/agent.hcl"),
        "{config_path}: not the ConfigMap's agent.hcl"
    );

    let [socket] = m.config.unix_listeners.as_slice() else {
        panic!(
            "the config has one listener \"unix\": {:?}",
            m.config.unix_listeners
        );
    };
    let (on_node, volume) = node_path(&agent_pod, agent, socket)
        .unwrap_or_else(|| panic!("{socket}: not in a hostPath volume of the DaemonSet"));
    assert_eq!(
        volume.host_path.unwrap().type_.as_deref(),
        Some("DirectoryOrCreate"),
        "the agent creates the node directory of its socket"
    );

    let security = agent.security_context.clone().unwrap_or_default();
    let caps = security.capabilities.unwrap_or_default();
    assert_eq!(
        caps.drop,
        Some(vec!["ALL".to_string()]),
        "the agent drops every capability"
    );
    assert!(
        caps.add.unwrap_or_default().is_empty(),
        "the agent adds no capability"
    );
    assert_ne!(
        security.privileged,
        Some(true),
        "the agent is not privileged"
    );
    assert_eq!(security.allow_privilege_escalation, Some(false));

    let app_pod = m.pod.spec.unwrap();
    let [app] = app_pod.containers.as_slice() else {
        panic!("the example pod runs one container");
    };
    let address = app
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "BAO_ADDR")
        .and_then(|e| e.value.clone())
        .expect("the example pod sets BAO_ADDR");
    let path = address
        .strip_prefix("unix://")
        .expect("BAO_ADDR is a unix:// address");
    let (app_on_node, _) = node_path(&app_pod, app, path)
        .unwrap_or_else(|| panic!("{path}: not in a hostPath volume of the example pod"));
    assert_eq!(
        app_on_node, on_node,
        "the pod's BAO_ADDR is not the agent's socket on the node"
    );

    let uid = app
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        .or_else(|| {
            app_pod
                .security_context
                .as_ref()
                .and_then(|s| s.run_as_user)
        })
        .expect("the example pod sets runAsUser");
    let workloads: Vec<&str> = m
        .config
        .workloads
        .iter()
        .filter(|w| w.uid == u64::try_from(uid).ok())
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(
        workloads.len(),
        1,
        "uid {uid}: matched by workloads {workloads:?}"
    );
}
