//! End-to-end test of a workload with its own login (issue 15: `workload { auto_auth { method ... } }`)
//! against a real OpenBao: the caller's requests go with a token of the workload's AppRole login, not
//! one the agent's token created; once that token reaches its max TTL, the next caller logs the
//! workload in again with the rotated secret_id file; a login the server refuses is the caller's 503.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::users::TestUser;
use sidekey_tests::{Fixture, Setup, ShmDir, random_hex};

/// The workload's AppRole role; its tokens live 6 s and cannot be renewed past that.
const ROLE: &str = "ph-login";

/// The server's audit entries that are requests for `path`.
fn requests_for(fx: &Fixture, path: &str) -> Vec<Value> {
    fx.bao
        .audit_log_lines()
        .into_iter()
        .filter(|e| e["type"] == "request" && e["request"]["path"] == path)
        .collect()
}

/// `input` as the server's audit device `a` writes it.
fn audit_hash(fx: &Fixture, input: &str) -> String {
    fx.bao.write("sys/audit-hash/a", json!({ "input": input }))["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A new secret_id of [`ROLE`].
fn secret_id(fx: &Fixture) -> String {
    fx.bao
        .write(&format!("auth/approle/role/{ROLE}/secret-id"), json!({}))["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `GET /v1/<path>` through `sock` with curl running as `user`: (status, body).
fn get_as(user: &TestUser, sock: &Path, path: &str) -> (u16, Value) {
    let out = user
        .command("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
        ])
        .arg(sock)
        .arg(format!("http://localhost/v1/{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or_default();
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn a_workload_logs_in_with_its_own_approle_and_again_with_the_rotated_secret_id() {
    let fx = Setup::new().audit().start();
    let value = format!("value-c-{}", random_hex(6));
    fx.bao.write(
        "secret/data/perhost/c",
        json!({ "data": { "value": value } }),
    );
    fx.bao.write(
        "sys/policies/acl/pc",
        json!({ "policy": "path \"secret/data/perhost/c\" { capabilities = [\"read\"] }\n\
                           path \"secret/metadata/perhost/c\" { capabilities = [\"read\"] }" }),
    );
    fx.bao
        .write("sys/auth/approle", json!({ "type": "approle" }));
    fx.bao.write(
        &format!("auth/approle/role/{ROLE}"),
        json!({ "token_policies": ["pc"], "token_ttl": "6s", "token_max_ttl": "6s" }),
    );
    let role_id = fx.bao.read(&format!("auth/approle/role/{ROLE}/role-id"))["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_string();
    let role_id_file = fx.write_file("c-role-id", &role_id);
    let first_secret = secret_id(&fx);
    let secret_id_file = fx.write_file("c-secret-id", &first_secret);
    // The agent's own token: it may do nothing for the workload.
    let agent = fx.bao.write(
        "auth/token/create",
        json!({ "policies": ["default"], "ttl": "1h" }),
    );
    let agent_token = fx.write_file(
        "agent-token",
        agent["auth"]["client_token"].as_str().unwrap(),
    );
    let agent_accessor = audit_hash(&fx, agent["auth"]["accessor"].as_str().unwrap());

    let user = TestUser::create("skt-phl-c");
    let dir = tempfile::Builder::new()
        .prefix("sidekey-perhost-login-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.path().join("api.sock");
    let out = ShmDir::new();
    let method = hcl::block(
        "method \"approle\"",
        &[&hcl::block(
            "config =",
            &[
                &hcl::attr_path("role_id_file_path", &role_id_file),
                &hcl::attr_path("secret_id_file_path", &secret_id_file),
            ],
        )],
    );
    let workload = hcl::block(
        "workload \"c\"",
        &[
            &hcl::block("match", &[&format!("uid = {}", user.uid)]),
            &hcl::block("auto_auth", &[&method]),
        ],
    );
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::token_file(&agent_token).to_string(),
        hcl::audit(&out.join("audit.log"), &[]),
        hcl::block("listener \"unix\"", &[&hcl::attr_path("address", &sock)]),
        workload,
    ]
    .concat();
    let cfg = fx.write_config(&text);
    let mut process = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(Duration::from_secs(10), || sock.exists()) && process.running(),
        "the socket never appeared:\n{}",
        process.stderr()
    );

    // --- The caller reads its secret with the workload's own AppRole token. ---
    let path = "secret/data/perhost/c";
    let (status, body) = get_as(&user, &sock, path);
    assert_eq!(status, 200, "{body}\n{}", process.stderr());
    assert_eq!(body["data"]["data"]["value"], value.as_str());
    let logged_in = Instant::now();
    assert!(
        !secret_id_file.exists(),
        "the secret_id file is removed after reading, as by default"
    );
    let reads = requests_for(&fx, path);
    let read = reads.last().unwrap();
    assert_eq!(read["auth"]["metadata"]["role_name"], ROLE, "{read}");
    assert!(read["auth"]["metadata"]["workload"].is_null(), "{read}");
    assert_ne!(read["auth"]["accessor"], agent_accessor.as_str());
    assert_eq!(requests_for(&fx, "auth/approle/login").len(), 1);

    // --- Rotation: a new secret_id in the file, the old one destroyed on the server. Once the token
    // reaches its max TTL, the next caller logs the workload in again, with the new secret_id. ---
    let second_secret = secret_id(&fx);
    sidekey_tests::replace_file(&secret_id_file, &second_secret);
    fx.bao.write(
        &format!("auth/approle/role/{ROLE}/secret-id/destroy"),
        json!({ "secret_id": first_secret }),
    );
    let accessors = |fx: &Fixture| -> BTreeSet<String> {
        requests_for(fx, path)
            .iter()
            .filter(|e| e["request"]["operation"] == "read")
            .map(|e| e["auth"]["accessor"].as_str().unwrap().to_string())
            .collect()
    };
    let relogged = wait_until(Duration::from_secs(10), || {
        let (status, body) = get_as(&user, &sock, path);
        assert_eq!(status, 200, "{body}\n{}", process.stderr());
        accessors(&fx).len() == 2
    });
    assert!(relogged, "no second login:\n{}", process.stderr());
    assert!(
        logged_in.elapsed() >= Duration::from_secs(2),
        "the first token was served while it could"
    );
    let logins = requests_for(&fx, "auth/approle/login");
    assert_eq!(logins.len(), 2, "{logins:#?}");
    assert!(!secret_id_file.exists(), "the rotated file was read");
    let last = requests_for(&fx, path).pop().unwrap();
    assert_eq!(last["auth"]["metadata"]["role_name"], ROLE, "{last}");

    // --- A login the server refuses (the secret_id destroyed): the caller's 503 names the workload and
    // the method, never a credential. ---
    fx.bao.write(
        &format!("auth/approle/role/{ROLE}/secret-id/destroy"),
        json!({ "secret_id": second_secret }),
    );
    let mut refused = (0, Value::Null);
    let failed = wait_until(Duration::from_secs(10), || {
        refused = get_as(&user, &sock, path);
        refused.0 != 200
    });
    assert!(failed, "still served:\n{}", process.stderr());
    let (status, body) = refused;
    assert_eq!(status, 503, "{body}");
    let message = body["errors"][0].as_str().unwrap_or_default();
    for named in ["workload \"c\"", "approle", "auth/approle"] {
        assert!(message.contains(named), "{message}");
    }
    for secret in [&first_secret, &second_secret, &role_id] {
        assert!(!message.contains(secret.as_str()), "{message}");
    }

    // --- The agent's audit: each login an auth.login naming the method, its mount and role, and the
    // workload; the failed one too. ---
    process.stop();
    let events = sidekey_tests::audit::events_so_far(&out.join("audit.log"));
    let logins: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "auth.login" && e["caller"]["workload"] == "c")
        .collect();
    assert_eq!(logins.len(), 3, "{events:#?}");
    for (e, outcome) in logins.iter().zip(["success", "success", "failure"]) {
        assert_eq!(e["outcome"], outcome, "{e}");
        assert_eq!(e["identity"]["method"], "approle", "{e}");
        assert_eq!(e["identity"]["mount"], "auth/approle", "{e}");
        assert_eq!(e["caller"]["uid"], user.uid, "{e}");
    }
    assert_eq!(logins[0]["identity"]["role"], ROLE);
    let trail = std::fs::read_to_string(out.join("audit.log")).unwrap();
    for secret in [&first_secret, &second_secret, &role_id] {
        assert!(!trail.contains(secret.as_str()));
    }
}
