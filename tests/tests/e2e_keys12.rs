//! End to end, against a real OpenBao: the Vault Agent keys that used to load with an "ignored" warning
//! and are now acted on (issue 12): `exec { child_process_stdout, child_process_stderr }`, `log_file`
//! with `log_rotate_*`, `template { error_fatal = false }`, and `disable_keep_alives` /
//! `disable_idle_connections`.

// Test helpers: a failed expectation is a failed test, and wall-clock time is what a user sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::hcl::{self, attr_path};
use sidekey_tests::proxy::TcpProxy;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// The KV v2 secret the templates read.
const KV_PATH: &str = "secret/data/app/config";
/// Its `password`.
const PASSWORD: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;
/// A secret that is not there.
const MISSING: &str = r#"{{ with secret "secret/data/app/missing" }}{{ .Data.data.x }}{{ end }}"#;

fn setup() -> (Fixture, String) {
    let fx = Setup::new().start();
    let password = format!("pw-{}", sidekey_tests::random_hex(8));
    fx.bao
        .write(KV_PATH, json!({ "data": { "password": password } }));
    (fx, password)
}

/// A config that logs in with the root token from a file, with `body` after the `vault` stanza.
fn config(fx: &Fixture, addr: &str, body: &str) -> PathBuf {
    let token = fx.write_file("token", fx.bao.root_token());
    let text = hcl::vault(addr) + &hcl::token_file_auto_auth(&token) + body;
    fx.write_config(&text)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Poll until `pred` holds; panics with `what` after `timeout`.
fn wait_until(timeout: Duration, what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "{what}: not seen in {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// === exec { child_process_stdout, child_process_stderr } ===

/// A child that writes one line to each stream (the second with the secret it was given) and exits 3.
const CHILD: &str = "#!/bin/sh\necho \"to stdout\"\necho \"to stderr $PW\" >&2\nexit 3\n";

fn child(fx: &Fixture) -> PathBuf {
    let p = fx.write_file("child.sh", CHILD);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn the_childs_output_is_appended_to_the_configured_files() {
    let (fx, password) = setup();
    let (out, err) = (
        fx.dir.path().join("child.out"),
        fx.dir.path().join("child.err"),
    );
    // An existing file is appended to, as Vault Agent opens it (O_APPEND); a missing one is created.
    std::fs::write(&out, "earlier\n").unwrap();
    let exec = hcl::exec(
        &[],
        &[
            &attr_path("child_process_stdout", &out),
            &attr_path("child_process_stderr", &err),
        ],
    );
    let cfg = config(
        &fx,
        &fx.addr(),
        &(hcl::env_template("PW", PASSWORD) + &exec),
    );
    let child = child(&fx);
    let r = Sidekey::new(["exec", "-c"])
        .args([cfg.as_os_str(), "--".as_ref(), child.as_os_str()])
        .run();
    assert_eq!(r.code(), 3, "the child's status; stderr:\n{}", r.stderr);
    assert_eq!(read(&out), "earlier\nto stdout\n");
    assert_eq!(read(&err), format!("to stderr {password}\n"));
    assert!(!r.stdout.contains("to stdout"), "stdout: {}", r.stdout);
    assert!(!r.stderr.contains("to stderr"), "stderr: {}", r.stderr);
    // Vault Agent's mode for a new file (0644 before the umask; the test runs with umask 022 or stricter).
    assert_eq!(mode(&err) & !0o644, 0, "{:o}", mode(&err));

    // `sidekey run` with the command in the exec stanza (Vault Agent's process supervisor mode) does the
    // same, and masking still applies to what goes into the files.
    let exec = hcl::exec(
        &[child.to_str().unwrap()],
        &[
            &attr_path("child_process_stdout", &out),
            &attr_path("child_process_stderr", &err),
            "mask_output = true",
        ],
    );
    let cfg = config(
        &fx,
        &fx.addr(),
        &(hcl::env_template("PW", PASSWORD) + &exec),
    );
    let r = Sidekey::new(["run", "-c"]).args([&cfg]).run();
    assert_eq!(r.code(), 3, "stderr:\n{}", r.stderr);
    assert_eq!(read(&out), "earlier\nto stdout\nto stdout\n");
    assert_eq!(
        read(&err),
        format!("to stderr {password}\nto stderr ****\n")
    );
}

#[test]
fn an_output_file_that_cannot_be_opened_stops_the_start_naming_it() {
    let (fx, _) = setup();
    let bad = fx.dir.path().join("no-such-dir/child.out");
    let exec = hcl::exec(&[], &[&attr_path("child_process_stdout", &bad)]);
    let cfg = config(
        &fx,
        &fx.addr(),
        &(hcl::env_template("PW", PASSWORD) + &exec),
    );
    let r = Sidekey::new(["exec", "-c"])
        .args([cfg.as_os_str(), "--".as_ref(), "/bin/true".as_ref()])
        .run();
    assert_eq!(r.code(), 78, "stderr:\n{}", r.stderr);
    assert!(
        r.stderr.contains("child_process_stdout") && r.stderr.contains("no-such-dir"),
        "{}",
        r.stderr
    );
}

// === log_file, log_rotate_* ===

/// The rotated files (`stem-<digits>ext`) in `dir`, oldest first.
fn rotated(dir: &Path, stem: &str, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<(u128, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stamp = name
                .strip_prefix(&format!("{stem}-"))?
                .strip_suffix(ext)?
                .parse()
                .ok()?;
            Some((stamp, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

#[test]
fn logs_also_go_to_the_log_file_which_rotates_at_its_size_and_keeps_max_files() {
    let (fx, _) = setup();
    let logs = tempfile::tempdir().unwrap();
    let out = ShmDir::new();
    let body = [
        attr_path("log_file", &logs.path().join("agent.log")),
        "log_rotate_bytes = 300\n".into(),
        "log_rotate_max_files = 2\n".into(),
        "log_format = \"json\"\n".into(),
        hcl::template(PASSWORD, &out.join("pw"), &[]),
    ]
    .concat();
    let cfg = config(&fx, &fx.addr(), &body);
    let r = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .env("SIDEKEY_LOG", "debug")
        .run();
    assert_eq!(r.code(), 0, "{}", r.stderr);

    let current = logs.path().join("agent.log");
    let old = rotated(logs.path(), "agent", ".log");
    assert_eq!(old.len(), 2, "max_files rotated files kept: {old:?}");
    assert_eq!(mode(&current) & !0o640, 0, "{:o}", mode(&current));
    // Each rotated file reached the size before it was rotated, and holds whole lines (a line is never
    // split: one line may take a file past the size).
    for p in &old {
        let text = read(p);
        assert!(text.len() >= 300, "{}: {} bytes", p.display(), text.len());
        assert!(text.ends_with('\n'));
    }
    // The same lines as stderr, in the config's format: the newest ones, since older files were pruned.
    let file_lines: Vec<String> = old
        .iter()
        .chain([&current])
        .flat_map(|p| read(p).lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert!(!file_lines.is_empty());
    for line in &file_lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    let stderr_lines: Vec<&str> = r.stderr.lines().collect();
    let last = file_lines.last().unwrap();
    assert!(
        stderr_lines.contains(&last.as_str()),
        "the file's last line {last:?} is not on stderr:\n{}",
        r.stderr
    );
    assert!(
        file_lines.len() < stderr_lines.len(),
        "older lines were rotated away and pruned"
    );
}

#[test]
fn a_log_file_path_ending_in_a_slash_writes_bao_log_there() {
    let (fx, _) = setup();
    let logs = tempfile::tempdir().unwrap();
    let out = ShmDir::new();
    let dir = format!("{}/", logs.path().display());
    let body = hcl::attr("log_file", &dir) + &hcl::template(PASSWORD, &out.join("pw"), &[]);
    let cfg = config(&fx, &fx.addr(), &body);
    let r = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let log = read(&logs.path().join("bao.log"));
    assert!(
        !log.is_empty() && r.stderr.contains(log.lines().next().unwrap()),
        "{log}"
    );
    // `sidekey check` only reads the config: it writes no log file.
    let checked = tempfile::tempdir().unwrap();
    let cfg = config(
        &fx,
        &fx.addr(),
        &hcl::attr("log_file", &format!("{}/", checked.path().display())),
    );
    let r = Sidekey::new(["check", "-c"]).args([&cfg]).run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(std::fs::read_dir(checked.path()).unwrap().count(), 0);
}

// === template { error_fatal = false } ===

/// A template that reads a secret that is not there (with `extra` lines), and one that renders.
fn bad_and_good(out: &ShmDir, extra: &[&str]) -> String {
    hcl::template(MISSING, &out.join("bad"), extra)
        + &hcl::template(PASSWORD, &out.join("good"), &[])
}

#[test]
fn a_failing_non_fatal_template_is_logged_audited_and_the_others_go_on() {
    let (fx, password) = setup();
    let out = ShmDir::new();
    let audit = fx.dir.path().join("audit.log");
    // exit_on_retry_failure would end the run after a few failed tries: not for a non-fatal template.
    let body = [
        hcl::template_config(&["exit_on_retry_failure = true"]),
        bad_and_good(&out, &["error_fatal = false"]),
        hcl::audit(&audit, &[]),
    ]
    .concat();
    let token = fx.write_file("token", fx.bao.root_token());
    let auth = hcl::AutoAuth::token_file(&token)
        .backoff("100ms", "200ms")
        .to_string();
    let cfg = fx.write_config(&(hcl::vault(&fx.addr()) + &auth + &body));
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    wait_until(Duration::from_secs(20), "the good template", || {
        read(&out.join("good")) == password
    });
    // Well past the retries exit_on_retry_failure allows (5 at 100-200 ms).
    std::thread::sleep(Duration::from_secs(4));
    assert!(agent.running(), "stopped:\n{}", agent.stderr());
    assert!(!out.join("bad").exists());
    let failures: Vec<Value> = sidekey_tests::audit::events_so_far(&audit)
        .into_iter()
        .filter(|e| e["outcome"] == "failure" && e.to_string().contains("app/missing"))
        .collect();
    assert!(
        failures.len() >= 2,
        "the failure is audited at each try: {failures:?}"
    );
    let stderr = agent.stderr();
    assert!(stderr.contains("error_fatal = false"), "{stderr}");
    assert_eq!(agent.stop(), Some(0), "{stderr}");

    // The same config with error_fatal = true (the default) ends the run, as before.
    let cfg = fx.write_config(
        &(hcl::vault(&fx.addr())
            + &auth
            + &hcl::template_config(&["exit_on_retry_failure = true"])
            + &bad_and_good(&ShmDir::new(), &[])),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let (code, _, stderr) = agent.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{stderr}");
}

#[test]
fn once_renders_the_others_and_reports_the_non_fatal_failure() {
    let (fx, password) = setup();
    let out = ShmDir::new();
    let cfg = config(
        &fx,
        &fx.addr(),
        &bad_and_good(&out, &["error_fatal = false"]),
    );
    let r = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    // As Vault Agent (exit_after_auth) never reports success while a template has not rendered, `--once`
    // exits 1; every other output was delivered.
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert_eq!(read(&out.join("good")), password);
    assert!(!out.join("bad").exists());
    assert!(r.stderr.contains("app/missing"), "{}", r.stderr);
}

#[test]
fn a_non_fatal_template_does_not_hold_the_exec_child_back() {
    let (fx, password) = setup();
    let out = ShmDir::new();
    let seen = fx.dir.path().join("seen");
    let body = hcl::template(MISSING, &out.join("bad"), &["error_fatal = false"])
        + &hcl::env_template("PW", PASSWORD)
        + &hcl::exec(
            &[
                "/bin/sh",
                "-c",
                &format!("echo \"$PW\" > {}", seen.display()),
            ],
            &[],
        );
    let cfg = config(&fx, &fx.addr(), &body);
    let r = Sidekey::new(["run", "-c"]).args([&cfg]).run();
    assert_eq!(r.code(), 0, "the child's status; stderr:\n{}", r.stderr);
    assert_eq!(read(&seen).trim(), password);
}

// === disable_keep_alives, disable_idle_connections ===

/// Ten KV secrets read one at a time (`max_connections_per_host = 1`) through a proxy that counts
/// connections; `top` are the connection keys. The connections opened.
fn connections(fx: &Fixture, top: &str) -> usize {
    let proxy = TcpProxy::start(fx.bao.port());
    let out = ShmDir::new();
    let many = r#"{{ range $i := loop 10 }}{{ with secret (printf "secret/data/app/s%d" $i) }}{{ .Data.data.v }}{{ end }}{{ end }}"#;
    let body = [
        top.to_owned(),
        hcl::template_config(&["max_connections_per_host = 1"]),
        hcl::template(many, &out.join("many"), &[]),
    ]
    .concat();
    let cfg = config(fx, &proxy.addr(), &body);
    let r = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_eq!(r.code(), 0, "{top}: {}", r.stderr);
    assert_eq!(read(&out.join("many")), "0123456789", "{top}");
    proxy.accepted()
}

#[test]
fn a_part_without_keep_alives_opens_a_connection_per_request() {
    let (fx, _) = setup();
    for i in 0..10 {
        fx.bao.write(
            &format!("secret/data/app/s{i}"),
            json!({ "data": { "v": i.to_string() } }),
        );
    }
    let reused = connections(&fx, "");
    assert!(reused <= 2, "connections are reused by default: {reused}");
    // Ten reads and the KV mount's lookup, each on its own connection.
    let templating = connections(&fx, "disable_keep_alives = [\"templating\"]\n");
    assert!(templating >= 11, "one connection per request: {templating}");
    let idle = connections(&fx, "disable_idle_connections = [\"templating\"]\n");
    assert!(idle >= 11, "no idle connection is kept: {idle}");
    // The login's part has its own connections; the reads still share one.
    let auth = connections(&fx, "disable_keep_alives = [\"auto-auth\"]\n");
    eprintln!(
        "connections: default {reused}, templating {templating}, idle {idle}, auto-auth {auth}"
    );
    assert!(
        auth > reused && auth < templating,
        "auto-auth alone: {auth} (default {reused}, templating {templating})"
    );
}
