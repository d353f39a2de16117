//! Issue 17, "every delivery says what it delivered", end to end against a real OpenBao (and
//! PostgreSQL): an `output.write` names the secrets that fed the file (KV v2 path and version, the
//! database lease, the certificate serial) and carries the HMAC, keyed with `hmac_key_file`, of exactly
//! the bytes in the file; `exec.start` does the same for the child's env; without a key there is no HMAC.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::Path;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sidekey_tests::audit::{assert_verifies, events_so_far, field, summary};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl;
use sidekey_tests::{Setup, ShmDir, Sidekey};

/// The audit key: the key file holds it with a trailing newline, which is not part of the key.
const KEY: &str = "delivery-audit-key";

/// The KV v2 secret every test reads (set up by the fixture at version 1).
const KV_PATH: &str = "secret/data/app/config";

fn hmac_hex(bytes: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    m.update(bytes);
    hex::encode(m.finalize().into_bytes())
}

/// `audit { file { path } hmac_key_file = KEY }` (no key file when `keyed` is false).
fn audit(fx: &sidekey_tests::Fixture, trail: &Path, keyed: bool) -> String {
    let key = fx.write_file("audit.key", &format!("{KEY}\n"));
    let key_line = hcl::attr_path("hmac_key_file", &key);
    let more: &[&str] = if keyed { &[&key_line] } else { &[] };
    hcl::audit(trail, more)
}

/// The `output.write` events (successes) for `destination` so far.
fn writes_of(trail: &Path, destination: &Path) -> Vec<Value> {
    let destination = destination.display().to_string();
    events_so_far(trail)
        .into_iter()
        .filter(|e| field(e, "/event") == "output.write" && field(e, "/outcome") == "success")
        .filter(|e| field(e, "/output/destination") == destination)
        .collect()
}

/// `sidekey ARGS CFG REST` in the background with the root token and nothing else of this environment.
fn start(fx: &sidekey_tests::Fixture, args: &[&str], cfg: &Path, rest: &[&str]) -> Background {
    Background::sidekey()
        .args(args)
        .arg(cfg)
        .args(rest)
        .clean_env()
        .env("BAO_TOKEN", fx.bao.root_token())
        .start()
}

fn wait_for(limit: Duration, what: &str, f: impl FnMut() -> bool) {
    assert!(wait_until(limit, f), "timed out waiting for: {what}");
}

/// KV v2 at version 1, then 2; database credentials; a certificate split into two files: each file's
/// event names what fed it, and its HMAC is that of the file as it is on disk.
#[test]
fn file_writes_name_their_secrets_and_the_keyed_hash_of_the_bytes() {
    let fx = Setup::new().database().pki().start();
    let out = ShmDir::new();
    let trail = fx.dir.path().join("audit.log");
    let issue = r#"secret "pki/issue/app" "common_name=svc.example.test" "ttl=1h""#;
    let text = [
        hcl::vault(&fx.addr()),
        hcl::template_config(&["static_secret_render_interval = \"1s\""]),
        hcl::template(
            r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#,
            &out.join("kv"),
            &[],
        ),
        hcl::template(
            r#"{{ with secret "database/creds/app" }}{{ .Data.username }}:{{ .Data.password }}{{ end }}"#,
            &out.join("db"),
            &[],
        ),
        hcl::template(
            &format!("{{{{ with {issue} }}}}{{{{ .Data.certificate }}}}{{{{ end }}}}"),
            &out.join("cert.pem"),
            &[],
        ),
        hcl::template(
            &format!("{{{{ with {issue} }}}}{{{{ .Data.private_key }}}}{{{{ end }}}}"),
            &out.join("key.pem"),
            &[],
        ),
        audit(&fx, &trail, true),
    ]
    .concat();
    let cfg = fx.write_file("agent.hcl", &text);
    let mut agent = start(&fx, &["run", "-c"], &cfg, &[]);
    let kv = out.join("kv");
    wait_for(Duration::from_secs(10), "every file written", || {
        ["kv", "db", "cert.pem", "key.pem"]
            .iter()
            .all(|f| !writes_of(&trail, &out.join(f)).is_empty())
    });

    // KV v2, version 1: the path as called, the version, the HMAC of the file's bytes.
    let first = writes_of(&trail, &kv).remove(0);
    let bytes = std::fs::read(&kv).unwrap();
    assert_eq!(bytes, fx.sentinel.as_bytes());
    assert_eq!(
        first["output"]["secrets"],
        json!([{ "path": KV_PATH, "version": 1 }])
    );
    assert_eq!(first["output"]["content_hmac"], hmac_hex(&bytes));

    // Version 2 with a new value: a new write names version 2, with a different HMAC.
    fx.bao.write(
        KV_PATH,
        json!({ "data": { "username": "app", "password": "rotated-value-2" } }),
    );
    wait_for(Duration::from_secs(10), "version 2 written", || {
        writes_of(&trail, &kv).len() >= 2
    });
    let second = writes_of(&trail, &kv).remove(1);
    let bytes = std::fs::read(&kv).unwrap();
    assert_eq!(bytes, b"rotated-value-2");
    assert_eq!(
        second["output"]["secrets"],
        json!([{ "path": KV_PATH, "version": 2 }])
    );
    assert_eq!(second["output"]["content_hmac"], hmac_hex(&bytes));
    assert_ne!(
        second["output"]["content_hmac"],
        first["output"]["content_hmac"]
    );

    // Database credentials: the lease the secret.read event got.
    let db = writes_of(&trail, &out.join("db")).remove(0);
    let lease = events_so_far(&trail)
        .into_iter()
        .find(|e| field(e, "/secret/path") == "database/creds/app")
        .map(|e| field(&e, "/secret/lease_id").to_string())
        .unwrap();
    assert!(lease.starts_with("database/creds/app/"), "{lease}");
    assert_eq!(
        db["output"]["secrets"],
        json!([{ "path": "database/creds/app", "lease_id": lease }])
    );
    assert_eq!(
        db["output"]["content_hmac"],
        hmac_hex(&std::fs::read(out.join("db")).unwrap())
    );

    // PKI: certificate and key name the same serial, which the server knows as this certificate.
    let cert = writes_of(&trail, &out.join("cert.pem")).remove(0);
    let key = writes_of(&trail, &out.join("key.pem")).remove(0);
    let serial = field(&cert, "/output/secrets/0/serial").to_string();
    assert_eq!(
        cert["output"]["secrets"],
        json!([{ "path": "pki/issue/app", "serial": serial }])
    );
    assert_eq!(key["output"]["secrets"], cert["output"]["secrets"]);
    let pem = std::fs::read_to_string(out.join("cert.pem")).unwrap();
    let on_server = fx.bao.read(&format!("pki/cert/{serial}"));
    assert_eq!(field(&on_server, "/data/certificate").trim(), pem.trim());
    assert_eq!(cert["output"]["content_hmac"], hmac_hex(pem.as_bytes()));

    agent.stop();
    let all = events_so_far(&trail);
    let text = std::fs::read_to_string(&trail).unwrap();
    assert!(!text.contains(&fx.sentinel), "{}", summary(&all));
    assert!(!text.contains("rotated-value-2"));
    assert_verifies_keyed(&trail, &fx.write_file("verify.key", KEY));
}

/// `sidekey audit verify --hmac-key-file` must accept the trail.
fn assert_verifies_keyed(trail: &Path, key: &Path) {
    let r = Sidekey::new(["audit", "verify", "--hmac-key-file"])
        .args([key, trail])
        .run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
}

/// Exec mode: `exec.start` names the env's secrets and the HMAC of its `NAME=value` lines.
#[test]
fn exec_start_names_the_env_secrets_and_their_keyed_hash() {
    let fx = Setup::new().start();
    let trail = fx.dir.path().join("audit.log");
    let text = [
        hcl::vault(&fx.addr()),
        hcl::env_template(
            "PW",
            r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#,
        ),
        hcl::env_template(
            "API_KEY",
            r#"{{ with secret "kv/app" }}{{ .Data.api_key }}{{ end }}"#,
        ),
        audit(&fx, &trail, true),
    ]
    .concat();
    let cfg = fx.write_file("exec.hcl", &text);
    let mut agent = start(&fx, &["exec", "-c"], &cfg, &["--", "sleep", "30"]);
    let start = || {
        events_so_far(&trail)
            .into_iter()
            .find(|e| field(e, "/event") == "exec.start")
    };
    wait_for(Duration::from_secs(10), "exec.start", || start().is_some());
    agent.stop();
    let start = start().unwrap();
    // Names in byte order: `API_KEY` before `PW`.
    let lines = format!("API_KEY=kv1-api-key\nPW={}\n", fx.sentinel);
    assert_eq!(
        start["output"],
        json!({
            "kind": "env",
            "names": ["API_KEY", "PW"],
            "secrets": [{ "path": "kv/app" }, { "path": KV_PATH, "version": 1 }],
            "content_hmac": hmac_hex(lines.as_bytes()),
        })
    );
}

/// Without `hmac_key_file` the secrets are named and no hash of the content is written.
#[test]
fn without_a_key_there_is_no_content_hmac() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    let trail = fx.dir.path().join("audit.log");
    let text = [
        hcl::vault(&fx.addr()),
        hcl::template(
            r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#,
            &out.join("kv"),
            &[],
        ),
        audit(&fx, &trail, false),
    ]
    .concat();
    let cfg = fx.write_file("once.hcl", &text);
    let r = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .env("BAO_TOKEN", fx.bao.root_token())
        .run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let w = writes_of(&trail, &out.join("kv")).remove(0);
    assert_eq!(
        w["output"],
        json!({
            "kind": "file",
            "destination": out.join("kv").display().to_string(),
            "secrets": [{ "path": KV_PATH, "version": 1 }],
        })
    );
    assert_verifies(&trail);
}
