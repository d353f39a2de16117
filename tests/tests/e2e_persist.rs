//! End-to-end tests of the state file (issue 14, acceptance 4; docs/persistence.md) against a real
//! OpenBao dev server and PostgreSQL: an init container's `run --once` hands its token and database lease
//! to the sidecar's `run` through an encrypted file (no second login, the same lease), the file is useless
//! without its key, a wrong key means a warning and a fresh login (or an exit with `exit_on_err`), and the
//! older `lease_state_file` still works, plain or encrypted (key file or systemd credential).

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// The database credential's username and its lease id: a new lease shows as a new line.
const DB_TEMPLATE: &str =
    r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .LeaseID }}{{ end }}"#;

/// An agent config: JWT auto-auth as role `app` with a token sink, the audit file, the database
/// template, and `body`.
fn config(fx: &Fixture, out: &ShmDir, body: &str) -> PathBuf {
    let db = hcl::template(DB_TEMPLATE, &out.join("db"), &[]);
    fx.jwt_agent_config(out.path(), &(db + body))
}

/// `cache { persist "TYPE" { LINES } }`.
fn persist(kind: &str, lines: &[&str]) -> String {
    hcl::block("cache", &[&hcl::block(&format!("persist {kind:?}"), lines)])
}

/// A key file of 32 random bytes in `dir`: raw, or as text in `form` (`hex`, `base64`).
fn key_file(dir: &Path, name: &str, form: &str) -> PathBuf {
    let hex = sidekey_tests::random_hex(32);
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let contents = match form {
        "hex" => format!("{hex}\n").into_bytes(),
        "base64" => {
            use base64::Engine as _;
            format!(
                "{}\n",
                base64::engine::general_purpose::STANDARD.encode(&bytes)
            )
            .into_bytes()
        }
        _ => bytes,
    };
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn run_once(cfg: &Path, envs: &[(&str, &Path)]) -> (i32, String) {
    let mut cmd = Sidekey::new(["run", "--once", "-c", cfg.to_str().unwrap()]);
    for (k, v) in envs {
        cmd = cmd.env(*k, v.as_os_str());
    }
    let r = cmd.run();
    (r.code(), r.stderr)
}

fn audit_events(out: &ShmDir) -> Vec<Value> {
    std::fs::read_to_string(out.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Successful events of kind `event` in sidekey's audit trail (both runs append to it).
fn count(out: &ShmDir, event: &str) -> usize {
    audit_events(out)
        .iter()
        .filter(|e| e["event"] == event && e["outcome"] == "success")
        .count()
}

/// The database file: (username, lease id).
fn db(out: &ShmDir) -> (String, String) {
    let text = std::fs::read_to_string(out.join("db")).unwrap();
    let (user, lease) = text.split_once(' ').unwrap();
    (user.to_owned(), lease.to_owned())
}

/// The file's bytes hold none of `secrets`.
fn assert_opaque(file: &Path, secrets: &[&str]) {
    let bytes = std::fs::read(file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for s in secrets {
        assert!(
            !s.is_empty() && !text.contains(s),
            "{s:?} in clear in {text}"
        );
    }
    assert!(!text.contains("database/creds"), "a path in clear: {text}");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Vault Agent's injector shape: `run --once` in the init container writes the encrypted file in the
/// shared memory volume; the sidecar's `run` resumes the token and the same lease without a login, then
/// deletes the file (`keep_after_import = false`) and writes it no more.
#[test]
fn the_sidecar_resumes_the_init_containers_token_and_lease() {
    let fx = Setup::new().jwt().database().audit().start();
    let out = ShmDir::new();
    let cache_dir = out.join("agent-cache");
    std::fs::create_dir(&cache_dir).unwrap();
    let key = key_file(fx.dir.path(), "state.key", "base64");
    let body = persist(
        "kubernetes",
        &[
            &hcl::attr_path("path", &cache_dir),
            &hcl::attr_path("key_file", &key),
        ],
    );
    let cfg = config(&fx, &out, &body);
    let (code, stderr) = run_once(&cfg, &[]);
    assert_eq!(code, 0, "{stderr}");
    let state = cache_dir.join("sidekey-state");
    assert_eq!(mode(&state), 0o600);
    let token = std::fs::read_to_string(out.join("token")).unwrap();
    let (user, lease) = db(&out);
    assert_opaque(&state, &[token.trim(), &user, &lease]);

    let mut sidecar = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(Duration::from_secs(10), || sidecar
            .stderr()
            .contains("resumed leases from the state file")),
        "{}",
        sidecar.stderr()
    );
    assert!(!state.exists(), "the file was not removed after import");
    // A delivery later, the sidecar still writes no file (Vault Agent's keep_after_import = false).
    std::thread::sleep(Duration::from_secs(2));
    assert!(sidecar.running(), "{}", sidecar.stderr());
    assert_eq!(sidecar.stop(), Some(0));
    assert!(!state.exists(), "written again after import");

    assert_eq!(
        db(&out),
        (user, lease.clone()),
        "the same lease is delivered"
    );
    assert!(fx.bao.lease_alive(&lease));
    assert_eq!(std::fs::read_to_string(out.join("token")).unwrap(), token);
    assert_eq!(count(&out, "auth.login"), 1, "the sidecar logged in");
    assert_eq!(
        count(&out, "secret.read"),
        1,
        "a second credential was issued"
    );
    let logins = fx
        .bao
        .audit_log_lines()
        .iter()
        .filter(|l| l["type"] == "request" && l["request"]["path"] == "auth/jwt/login")
        .count();
    assert_eq!(logins, 1, "the server saw a second login");
}

/// A file that does not open with the configured key is a clear warning and a fresh login, and the
/// outputs are delivered; the file is then written with the new key, which the next restart resumes.
/// With `exit_on_err = true` the run stops instead.
#[test]
fn a_wrong_key_means_a_warning_and_a_fresh_login_or_an_exit_with_exit_on_err() {
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let state = out.join("state");
    let key_a = key_file(fx.dir.path(), "a.key", "raw");
    let key_b = key_file(fx.dir.path(), "b.key", "hex");
    let with_key = |key: &Path, extra: &[&str]| {
        let path = hcl::attr_path("path", &state);
        let key = hcl::attr_path("key_file", key);
        let mut lines = vec![path.as_str(), key.as_str()];
        lines.extend_from_slice(extra);
        config(&fx, &out, &persist("file", &lines))
    };
    let (code, stderr) = run_once(&with_key(&key_a, &[]), &[]);
    assert_eq!(code, 0, "{stderr}");
    let first = db(&out);

    let cfg_b = with_key(&key_b, &[]);
    let (code, stderr) = run_once(&cfg_b, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("cannot be decrypted (written with another key")
            && stderr.contains(&state.display().to_string())
            && stderr.contains("logging in"),
        "{stderr}"
    );
    assert_eq!(count(&out, "auth.login"), 2);
    let second = db(&out);
    assert_ne!(second.1, first.1, "a new lease after a fresh login");

    // persist "file" keeps its file: rewritten with key B, resumed by the next run.
    let (code, stderr) = run_once(&cfg_b, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&out, "auth.login"), 2, "{stderr}");
    assert_eq!(db(&out), second);

    let (code, stderr) = run_once(&with_key(&key_a, &["exit_on_err = true"]), &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot be decrypted") && stderr.contains("exit_on_err"),
        "{stderr}"
    );
    assert_eq!(
        count(&out, "auth.login"),
        2,
        "logged in despite exit_on_err"
    );
}

/// `lease_state_file` still works as before without a key (plain, with a warning), and becomes the
/// encrypted store with `lease_state_key_file` or a systemd credential; a plain file is not trusted once
/// a key is configured.
#[test]
fn lease_state_file_works_plain_and_encrypted() {
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let state = out.join("state.json");
    let plain_cfg = config(&fx, &out, &hcl::attr_path("lease_state_file", &state));
    let (code, stderr) = run_once(&plain_cfg, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("lease_state_file: the token and leases are kept unencrypted"),
        "{stderr}"
    );
    let token = std::fs::read_to_string(out.join("token")).unwrap();
    let plain = std::fs::read_to_string(&state).unwrap();
    assert!(plain.contains(token.trim()), "the plain file as before");
    let (code, stderr) = run_once(&plain_cfg, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        count(&out, "auth.login"),
        1,
        "the plain file was not resumed"
    );
    let first = db(&out);

    // A key now: the plain file is refused (anyone who could write it could plant a token).
    let key = key_file(fx.dir.path(), "state.key", "hex");
    let keyed = [
        hcl::attr_path("lease_state_file", &state),
        hcl::attr_path("lease_state_key_file", &key),
    ]
    .concat();
    let keyed_cfg = config(&fx, &out, &keyed);
    let (code, stderr) = run_once(&keyed_cfg, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("not encrypted"), "{stderr}");
    assert_eq!(count(&out, "auth.login"), 2);
    let token = std::fs::read_to_string(out.join("token")).unwrap();
    let second = db(&out);
    assert_ne!(second, first);
    assert_opaque(&state, &[token.trim(), &second.0, &second.1]);
    assert_eq!(mode(&state), 0o600);

    // The same key as a systemd credential, with no key in the config: resumed.
    let creds = fx.dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::copy(&key, creds.join("sidekey-state-key")).unwrap();
    let (code, stderr) = run_once(&plain_cfg, &[("CREDENTIALS_DIRECTORY", &creds)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("unencrypted"), "{stderr}");
    assert_eq!(count(&out, "auth.login"), 2, "{stderr}");
    assert_eq!(db(&out), second);
}

/// Key problems are configuration errors naming file:line, found by `sidekey check` and `run` alike;
/// Vault Agent's `persist "kubernetes"` without a key loads with a warning.
#[test]
fn key_problems_are_configuration_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, sidekey_tests::random_hex(16)).unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!("vault {{\n  address = \"http://127.0.0.1:1\"\n}}\n{body}"),
        )
        .unwrap();
        p
    };
    let state = "/dev/shm/sidekey-never-written";
    for (name, body, line, says) in [
        (
            "short.hcl",
            persist(
                "file",
                &[
                    &hcl::attr("path", state),
                    &hcl::attr_path("key_file", &short),
                ],
            ),
            7,
            "key_file: the key in ",
        ),
        (
            "none.hcl",
            persist("file", &[&hcl::attr("path", state)]),
            5,
            "cache.persist \"file\": no key to encrypt the state file with",
        ),
        (
            "missing.hcl",
            [
                hcl::attr("lease_state_file", state),
                hcl::attr("lease_state_key_file", "/nonexistent/state.key"),
            ]
            .concat(),
            5,
            "lease_state_key_file: the key in /nonexistent/state.key: cannot read it",
        ),
    ] {
        let cfg = write(name, &body);
        for cmd in ["check", "run"] {
            let r = Sidekey::new([cmd, "-c", cfg.to_str().unwrap()]).run();
            assert_eq!(r.code(), 78, "{cmd} {name}: {}", r.stderr);
            let want = format!("{}:{line}: {says}", cfg.display());
            assert!(
                r.stderr.contains(&want),
                "{cmd} {name}: no {want:?} in {}",
                r.stderr
            );
            if name == "short.hcl" {
                assert!(r.stderr.contains("16 bytes written as hex"), "{}", r.stderr);
            }
        }
    }
    let cfg = write(
        "k8s.hcl",
        &persist("kubernetes", &[&hcl::attr("path", "/dev/shm")]),
    );
    let r = Sidekey::new(["check", "-c", cfg.to_str().unwrap()]).run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}:5: cache.persist \"kubernetes\": not served",
            cfg.display()
        )),
        "{}",
        r.stderr
    );
}
