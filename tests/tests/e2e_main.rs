//! End-to-end tests of the sidekey command-line contract (DESIGN §3, §4, §8), run as a user would:
//! a Vault Agent HCL config on disk, the built binary, a real OpenBao (and PostgreSQL).

// Test helpers outside `#[test]` fns fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sidekey_tests::hcl;
use sidekey_tests::{Fixture, MintedJwt, Setup, ShmDir, Sidekey, SidekeyOutput, sidekey_bin};

const KV_PASSWORD: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;
const DB_CREDS: &str =
    r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .Data.password }}{{ end }}"#;
const PKI_CERT: &str = r#"{{ with secret "pki/issue/app" "common_name=web.example.test" }}{{ .Data.certificate }}{{ end }}"#;
const PKI_KEY: &str = r#"{{ with secret "pki/issue/app" "common_name=web.example.test" }}{{ .Data.private_key }}{{ end }}"#;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The contents of an output file sidekey should have written; panics naming it and showing sidekey's
/// output if it is missing.
fn read_output(path: &Path, out: &SidekeyOutput) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), out.show()))
}

/// Build sidekey before starting servers (a cold build can take minutes), then set up.
fn fixture(setup: Setup) -> Fixture {
    sidekey_bin();
    setup.start()
}

/// `vault` + JWT `auto_auth` with a fresh `app` JWT (token sink at `sink`, if any) + `rest`, written
/// to `<fixture>/name`. Returns the config path and the JWT.
fn agent_config(fx: &Fixture, name: &str, sink: Option<&Path>, rest: &str) -> (PathBuf, MintedJwt) {
    let jwt = fx.app_jwt();
    let text = format!(
        "{}{}{}",
        hcl::vault(&fx.addr()),
        hcl::jwt_auto_auth(&jwt.path, "app", sink),
        rest
    );
    (fx.write_file(name, &text), jwt)
}

/// The public key of a PEM certificate or private key, as `openssl` prints it.
fn public_key(kind: &str, path: &Path) -> String {
    let args: &[&str] = match kind {
        "cert" => &["x509", "-noout", "-pubkey", "-in"],
        _ => &["pkey", "-pubout", "-in"],
    };
    let out = Command::new("openssl")
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn run_once_renders_kv_database_and_pki_templates() {
    let fx = fixture(Setup::new().jwt().database().pki());
    let shm = ShmDir::new();
    let sink = shm.join("token");
    let (password, db, cert, key) = (
        shm.join("password"),
        shm.join("db"),
        shm.join("cert.pem"),
        shm.join("key.pem"),
    );
    let templates = [
        hcl::template(KV_PASSWORD, &password, &[r#"perms = "0400""#]),
        hcl::template(DB_CREDS, &db, &[]),
        hcl::template(PKI_CERT, &cert, &[]),
        hcl::template(PKI_KEY, &key, &[]),
    ]
    .concat();
    let (config, _) = agent_config(&fx, "agent.hcl", Some(&sink), &templates);

    let out = Sidekey::new(["run", "--once", "-c"]).args([&config]).run();
    assert_eq!(out.code(), 0, "{}", out.show());

    assert_eq!(read_output(&password, &out), fx.sentinel);
    assert_eq!(mode(&password), 0o400);

    let db_line = read_output(&db, &out);
    let (user, pass) = db_line
        .split_once(' ')
        .expect("\"USER PASSWORD\" in the db file");
    assert!(
        fx.postgres().can_login(user, pass),
        "rendered DB credential cannot log in"
    );
    assert_eq!(mode(&db), 0o600, "default perms are 0600");

    assert!(read_output(&cert, &out).starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        public_key("cert", &cert),
        public_key("key", &key),
        "certificate and private key come from different issues"
    );
    assert_eq!(mode(&cert), 0o600);
    assert_eq!(mode(&key), 0o600);

    assert!(sink.is_file(), "no token sink file");
    assert_eq!(mode(&sink), 0o600);
    assert!(!read_output(&sink, &out).trim().is_empty());
}

#[test]
fn run_once_fails_on_an_unreadable_secret_and_leaves_no_file() {
    let fx = fixture(Setup::new().jwt());
    let shm = ShmDir::new();
    let out_dir = shm.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dest = out_dir.join("forbidden.txt");
    let template = hcl::template(
        r#"{{ with secret "secret/data/forbidden/x" }}{{ .Data.data.value }}{{ end }}"#,
        &dest,
        &[],
    );
    let (config, _) = agent_config(&fx, "agent.hcl", None, &template);

    let out = Sidekey::new(["run", "--once", "-c"]).args([&config]).run();
    assert_ne!(out.code(), 0, "{}", out.show());
    assert!(
        out.stderr.contains(&dest.to_string_lossy().into_owned()),
        "stderr does not name the destination {}:\n{}",
        dest.display(),
        out.show()
    );
    assert!(
        out.stderr.contains("secret/data/forbidden/x"),
        "stderr does not name the secret path:\n{}",
        out.show()
    );
    let entries: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(
        entries.is_empty(),
        "left behind in {}: {entries:?}",
        out_dir.display()
    );
}

/// As with Vault Agent, a failing `command` in a one-shot run (an init container's `exit_after_auth`) is
/// reported but does not fail the run: the file is delivered, and the command is run once, not retried.
#[test]
fn a_failing_command_does_not_fail_a_one_shot_run() {
    let fx = fixture(Setup::new().jwt());
    let shm = ShmDir::new();
    let dest = shm.join("app.txt");
    let runs = shm.join("runs");
    let command = format!("echo ran >> {} ; exit 3", runs.display());
    let template = hcl::template(
        r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
        &dest,
        &[&format!("command = {}", hcl::quote(&command))],
    );
    let (config, _) = agent_config(
        &fx,
        "agent.hcl",
        None,
        &format!("exit_after_auth = true\n{template}"),
    );
    let out = Sidekey::new(["run", "-c"]).args([&config]).run();
    assert_eq!(out.code(), 0, "{}", out.show());
    assert!(out.stderr.contains("command failed"), "{}", out.show());
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        sidekey_tests::setup::KV_USERNAME
    );
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "ran\n");
}

fn exec_config(fx: &Fixture) -> PathBuf {
    agent_config(
        fx,
        "exec.hcl",
        None,
        &hcl::env_template("DB_PASSWORD", KV_PASSWORD),
    )
    .0
}

#[test]
fn exec_passes_rendered_env_and_not_tokens_and_exit_code() {
    let fx = fixture(Setup::new().jwt());
    let config = exec_config(&fx);
    let check =
        r#"test "$DB_PASSWORD" = "$EXPECTED" && test -z "$VAULT_TOKEN" && test -z "$BAO_TOKEN""#;
    let exec = |script: &str| {
        Sidekey::new(["exec", "-c"])
            .args([config.as_os_str()])
            .args(["--", "sh", "-c", script])
            .env("EXPECTED", &fx.sentinel)
            .env("VAULT_TOKEN", fx.bao.root_token())
            .env("BAO_TOKEN", fx.bao.root_token())
            .run()
    };

    let out = exec(check);
    assert_eq!(
        out.code(),
        0,
        "child did not see the right env:\n{}",
        out.show()
    );

    let out = exec("exit 7");
    assert_eq!(
        out.code(),
        7,
        "exit code not passed through:\n{}",
        out.show()
    );
}

/// `run` refuses a destination outside tmpfs/ramfs; `check` says so beforehand (a warning: the file system
/// at deploy time may differ).
#[test]
fn check_warns_when_a_destination_is_not_on_tmpfs() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let fs = std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir.path())
        .output()
        .unwrap();
    if String::from_utf8_lossy(&fs.stdout).trim() == "tmpfs" {
        return; // nothing to warn about where the build directory is itself on tmpfs
    }
    let dest = dir.path().join("app.txt");
    let cfg = dir.path().join("agent.hcl");
    std::fs::write(&cfg, hcl::template("x", &dest, &[])).unwrap();
    let out = Sidekey::new(["check", "-c"]).args([&cfg]).run();
    assert_eq!(out.code(), 0, "{}", out.show());
    assert!(
        out.stderr.contains("not on tmpfs/ramfs") && out.stderr.contains("allow_non_tmpfs"),
        "{}",
        out.show()
    );
}

#[test]
fn check_reports_file_line_and_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "vault {",
        "  address = \"http://127.0.0.1:1\"",
        "}",
        "template {",
        "  contents   = \"hello\"",
        "  destinaton = \"/dev/shm/sidekey-never-written\"",
        "}",
    ];
    let line = lines.iter().position(|l| l.contains("destinaton")).unwrap() + 1;
    let bad = dir.path().join("bad.hcl");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();

    let out = Sidekey::new(["check", "-c"]).args([&bad]).run();
    assert_eq!(out.code(), 78, "{}", out.show());
    assert!(
        out.stderr.contains(&format!("bad.hcl:{line}")),
        "{}",
        out.show()
    );
    assert!(out.stderr.contains("destinaton"), "{}", out.show());
}

#[test]
fn check_accepts_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt");
    std::fs::write(&jwt, "not-read-by-check").unwrap();
    let text = format!(
        "{}{}{}",
        hcl::vault("http://127.0.0.1:1"),
        hcl::jwt_auto_auth(&jwt, "app", None),
        hcl::template(
            KV_PASSWORD,
            Path::new("/dev/shm/sidekey-never-written"),
            &[]
        ),
    );
    let good = dir.path().join("good.hcl");
    std::fs::write(&good, text).unwrap();
    let out = Sidekey::new(["check", "-c"]).args([&good]).run();
    assert_eq!(out.code(), 0, "{}", out.show());
}

/// `(event, secret.path)` → how many audit lines.
fn count_events(events: &[Value]) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for e in events {
        let event = e["event"].as_str().unwrap_or_default().to_owned();
        let path = e
            .pointer("/secret/path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        *counts.entry((event, path)).or_insert(0) += 1;
    }
    counts
}

#[test]
fn audit_has_one_event_per_retrieval_and_no_secret_values() {
    let fx = fixture(Setup::all());
    let shm = ShmDir::new();
    let audit = fx.dir.path().join("audit.log");
    let db = shm.join("db");
    let rest = [
        hcl::audit(&audit, &[]),
        hcl::template(KV_PASSWORD, &shm.join("password"), &[]),
        hcl::template(DB_CREDS, &db, &[]),
        hcl::template(PKI_CERT, &shm.join("cert.pem"), &[]),
    ]
    .concat();
    let sink = shm.join("token");
    let (config, jwt) = agent_config(&fx, "agent.hcl", Some(&sink), &rest);

    let out = Sidekey::new(["run", "--once", "-c"])
        .args([&config])
        .env("RUST_LOG", "trace")
        .run();
    assert_eq!(out.code(), 0, "{}", out.show());

    let text = read_output(&audit, &out);
    let events: Vec<Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line not JSON ({e}): {l}"))
        })
        .collect();
    for e in &events {
        assert_eq!(e["v"], 1, "schema version: {e}");
        assert!(e["outcome"].is_string(), "no outcome: {e}");
    }
    let counts = count_events(&events);
    let one = |event: &str, path: &str| {
        assert_eq!(
            counts.get(&(event.to_owned(), path.to_owned())),
            Some(&1),
            "expected exactly one {event} of {path}; events: {counts:?}"
        );
    };
    one("secret.read", "secret/data/app/config");
    one("secret.read", "database/creds/app");
    one("secret.write", "pki/issue/app");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "auth.login" && e["outcome"] == "success"),
        "no successful auth.login: {counts:?}"
    );
    let db_event = events
        .iter()
        .find(|e| {
            e["event"] == "secret.read"
                && e.pointer("/secret/path") == Some(&"database/creds/app".into())
        })
        .unwrap();
    assert_eq!(db_event["outcome"], "success");
    assert!(
        db_event
            .pointer("/secret/lease_id")
            .and_then(Value::as_str)
            .is_some_and(|l| l.starts_with("database/creds/app/")),
        "database read without its lease_id: {db_event}"
    );
    let kv_event = events
        .iter()
        .find(|e| e.pointer("/secret/path") == Some(&"secret/data/app/config".into()))
        .unwrap();
    assert!(
        kv_event["secret"].get("lease_id").is_some(),
        "no secret.lease_id field: {kv_event}"
    );

    // The server saw exactly one request per retrieval too.
    let server: Vec<String> = fx
        .bao
        .audit_log_lines()
        .iter()
        .filter(|l| l["type"] == "request")
        // Only sidekey's requests: the fixture's own setup runs with the root token.
        .filter(|l| {
            !l.pointer("/auth/policies")
                .and_then(Value::as_array)
                .is_some_and(|p| p.iter().any(|p| p == "root"))
        })
        .filter_map(|l| {
            l.pointer("/request/path")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    for path in [
        "secret/data/app/config",
        "database/creds/app",
        "pki/issue/app",
    ] {
        assert_eq!(
            server.iter().filter(|p| *p == path).count(),
            1,
            "server requests for {path}: {server:?}"
        );
    }

    // No secret value anywhere: not the KV sentinel, the DB password, the JWT, or the client token.
    let db_password = read_output(&db, &out);
    let db_password = db_password
        .split_once(' ')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    let token = read_output(&sink, &out).trim().to_owned();
    let secrets = [
        ("KV sentinel", fx.sentinel.clone()),
        ("DB password", db_password),
        ("JWT", jwt.token),
        ("client token", token),
    ];
    for (what, value) in &secrets {
        assert!(!value.is_empty());
        for (place, hay) in [
            ("audit log", &text),
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
        ] {
            assert!(!hay.contains(value.as_str()), "{what} appears in {place}");
        }
    }
}

#[test]
fn version_exits_zero() {
    let out = Sidekey::new(["version"]).run();
    assert_eq!(out.code(), 0, "{}", out.show());
    assert!(
        out.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        out.show()
    );
}
