//! Self-tests of the harness against the real OpenBao and PostgreSQL, without sidekey: if these fail,
//! the end-to-end tests' failures say nothing about sidekey.

use std::time::Duration;

use serde_json::json;
use sidekey_tests::jwt::{APP_SUBJECT, AUDIENCE};
use sidekey_tests::setup::{DENIED_SUBJECT, KV_USERNAME, str_at};
use sidekey_tests::{Bao, DevOptions, Setup};

#[test]
fn kv_v2_and_v1_read_with_root_token() {
    let fx = Setup::new().start();
    let body = fx.bao.read("secret/data/app/config");
    assert_eq!(str_at(&body, "/data/data/username"), KV_USERNAME);
    assert_eq!(str_at(&body, "/data/data/password"), fx.sentinel);
    let v1 = fx.bao.read("kv/app");
    assert_eq!(str_at(&v1, "/data/api_key"), "kv1-api-key");
}

#[test]
fn jwt_login_accepts_the_right_token_and_rejects_wrong_aud_or_sub() {
    let fx = Setup::new().jwt().start();
    let jwt = fx.app_jwt();
    assert_eq!(std::fs::read_to_string(&jwt.path).unwrap(), jwt.token);

    let ok = fx.jwt_login("app", &jwt.token);
    assert!(ok.is_success(), "login failed: {} {}", ok.status, ok.body);
    let token = str_at(&ok.body, "/auth/client_token");
    let policies = ok.body.pointer("/auth/token_policies").unwrap();
    assert!(
        policies.as_array().unwrap().contains(&json!("app")),
        "{policies}"
    );
    // The token reads what policy `app` grants.
    let read = fx
        .bao
        .request("GET", "secret/data/app/config", Some(&token), None);
    assert_eq!(read.status, 200, "{}", read.body);

    let ttl = Duration::from_secs(600);
    let wrong_aud = fx.jwt().mint_token(APP_SUBJECT, "someone-else", ttl);
    let r = fx.jwt_login("app", &wrong_aud);
    assert!(!r.is_success(), "wrong aud accepted: {}", r.body);

    let wrong_sub = fx
        .jwt()
        .mint_token("system:serviceaccount:default:other", AUDIENCE, ttl);
    let r = fx.jwt_login("app", &wrong_sub);
    assert!(!r.is_success(), "wrong sub accepted: {}", r.body);
}

#[test]
fn denied_policy_cannot_read_the_config_secret() {
    let fx = Setup::new().jwt().start();
    let jwt = fx
        .jwt()
        .mint_token(DENIED_SUBJECT, AUDIENCE, Duration::from_secs(600));
    let login = fx.jwt_login("denied", &jwt);
    assert!(login.is_success(), "{}", login.body);
    let token = str_at(&login.body, "/auth/client_token");
    let r = fx
        .bao
        .request("GET", "secret/data/app/config", Some(&token), None);
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn approle_login_works() {
    let fx = Setup::new().approle().start();
    let creds = fx.approle();
    assert_eq!(
        std::fs::read_to_string(&creds.role_id_path).unwrap(),
        creds.role_id
    );
    assert_eq!(
        std::fs::read_to_string(&creds.secret_id_path).unwrap(),
        creds.secret_id
    );
    let r = fx.bao.request(
        "POST",
        "auth/approle/login",
        None,
        Some(&json!({ "role_id": creds.role_id, "secret_id": creds.secret_id })),
    );
    assert!(r.is_success(), "{} {}", r.status, r.body);
    let policies = r.body.pointer("/auth/token_policies").unwrap();
    assert!(
        policies.as_array().unwrap().contains(&json!("app")),
        "{policies}"
    );
}

#[test]
fn database_creds_log_in_until_revoked() {
    let fx = Setup::new()
        .database()
        .db_ttls(Duration::from_secs(300), Duration::from_secs(600))
        .start();
    let creds = fx.bao.read("database/creds/app");
    let user = str_at(&creds, "/data/username");
    let password = str_at(&creds, "/data/password");
    let lease_id = str_at(&creds, "/lease_id");
    assert_eq!(creds["lease_duration"], json!(300), "{creds}");
    assert!(
        fx.postgres().can_login(&user, &password),
        "fresh credential cannot log in"
    );
    assert!(!fx.postgres().can_login(&user, "wrong-password"));

    fx.bao
        .write("sys/leases/revoke", json!({ "lease_id": lease_id }));
    assert!(
        !fx.postgres().can_login(&user, &password),
        "revoked credential still logs in"
    );
}

#[test]
fn pki_issue_returns_certificate_key_and_expiration() {
    let fx = Setup::new().pki().start();
    let r = fx.bao.write(
        "pki/issue/app",
        json!({ "common_name": "web.example.test", "ttl": "10m" }),
    );
    assert!(str_at(&r, "/data/certificate").starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(str_at(&r, "/data/private_key").contains("PRIVATE KEY-----"));
    assert!(
        r.pointer("/data/expiration")
            .and_then(|v| v.as_u64())
            .is_some(),
        "{r}"
    );
    assert!(r["warnings"].is_null(), "issue warns: {}", r["warnings"]);
    // Outside the allowed domains: refused.
    let bad = fx.bao.request(
        "POST",
        "pki/issue/app",
        Some(fx.bao.root_token()),
        Some(&json!({ "common_name": "web.example.com" })),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[test]
fn audit_log_records_requests() {
    let bao = Bao::start_with_audit();
    bao.read("sys/mounts");
    let lines = bao.audit_log_lines();
    let paths: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.pointer("/request/path").and_then(|p| p.as_str()))
        .collect();
    assert!(
        paths.contains(&"sys/mounts"),
        "no sys/mounts in audit log: {paths:?}"
    );
    assert!(lines.iter().any(|l| l["type"] == "response"));
    // Without an audit device there are no lines.
    assert!(Bao::start().audit_log_lines().is_empty());
}

#[test]
fn a_dev_server_takes_an_audit_device_with_plain_accessors_and_more_config() {
    let bao = Bao::start_with(&DevOptions {
        audit: true,
        plain_accessor: true,
        extra_config: Some("cluster_name = \"from-extra-config\"\n".into()),
    });
    let root = bao.read("auth/token/lookup-self");
    let accessor = root
        .pointer("/data/accessor")
        .and_then(|a| a.as_str())
        .unwrap();
    let lines = bao.audit_log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.pointer("/auth/accessor").and_then(|a| a.as_str()) == Some(accessor)),
        "accessor {accessor} not in plain in {lines:?}"
    );
    // The extra file is read.
    let health = bao.request("GET", "sys/health", None, None);
    assert_eq!(
        health.body["cluster_name"], "from-extra-config",
        "{}",
        health.body
    );
}

#[test]
fn setup_all_starts_everything() {
    let fx = Setup::all().start();
    assert!(fx.postgres.is_some() && fx.jwt.is_some() && fx.approle.is_some());
    let mounts = fx.bao.read("sys/mounts");
    for m in ["secret/", "kv/", "database/", "pki/"] {
        assert!(mounts["data"].get(m).is_some(), "{m} not mounted");
    }
    assert!(!fx.bao.audit_log_lines().is_empty());
}

#[test]
fn run_with_timeout_reports_exit_codes_and_signals() {
    use sidekey_tests::process::run_with_timeout;
    use std::process::Command;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
    let out = run_with_timeout(cmd, Duration::from_secs(10));
    assert_eq!(
        (out.code(), out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "kill -TERM $$"]);
    assert_eq!(
        run_with_timeout(cmd, Duration::from_secs(10)).code(),
        128 + 15
    );
}

#[test]
fn shm_dir_is_on_tmpfs_and_removed_on_drop() {
    let shm = sidekey_tests::ShmDir::new();
    let path = shm.path().to_path_buf();
    assert!(path.starts_with("/dev/shm"));
    std::fs::write(shm.join("f"), "x").unwrap();
    assert_eq!(shm.entries(), ["f"]);
    drop(shm);
    assert!(!path.exists());
}

#[test]
fn background_reports_codes_controls_the_env_and_ends_its_whole_group() {
    use sidekey_tests::background::{Background, wait_until};
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild");
    // Exits 3 on SIGTERM, prints its environment, and leaves a grandchild behind (its pid file says ready).
    let script = format!(
        "trap 'exit 3' TERM; env; echo err >&2; sleep 600 & echo $! > {}; while :; do sleep 0.05; done",
        pid_file.display()
    );
    let mut bg = Background::command("sh")
        .args(["-c", &script])
        .env("ONLY", "this")
        .clean_env()
        .start();
    let grandchild = || std::fs::read_to_string(&pid_file).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(10), || grandchild().ends_with('\n')));
    assert!(bg.running());
    bg.signal(libc::SIGTERM);
    let (code, out, err) = bg.finish(Duration::from_secs(10));
    assert_eq!((code, err.as_str()), (3, "err\n"));
    let mut names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
    names.sort_unstable();
    // `sh` adds PWD (and SHLVL, `_` in some shells); nothing else comes from this process.
    names.retain(|n| !["PWD", "SHLVL", "_"].contains(n));
    assert_eq!(names, ["HOME", "ONLY", "PATH"], "{out}");
    let stat = format!("/proc/{}/stat", grandchild().trim());
    let gone = || std::fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "));
    assert!(
        wait_until(Duration::from_secs(5), gone),
        "the grandchild outlived the group"
    );

    let mut bg = Background::command("sh")
        .args(["-c", "kill -KILL $$"])
        .start();
    assert_eq!(bg.wait_timeout(Duration::from_secs(10)), Some(128 + 9));
    assert_eq!(bg.stop(), Some(137), "stop reports the code it already had");
}
