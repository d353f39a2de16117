//! End-to-end tests of files per workload (issue 15): `template` stanzas inside `workload` stanzas,
//! rendered by one sidekey against a real OpenBao. Each workload's secrets are read with its own token
//! (the server enforces its policies and its audit log names the workload), and its files are owned by
//! the workload's user. A workload reading another's secret gets the server's 403 for that file only.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::ports::free_port;
use sidekey_tests::users::TestUser;
use sidekey_tests::{Setup, ShmDir, random_hex};

/// `{{ with secret "secret/data/files/W" }}{{ .Data.data.value }}{{ end }}`.
fn reads(w: &str) -> String {
    format!(
        "{{{{ with secret \"secret/data/files/{w}\" }}}}{{{{ .Data.data.value }}}}{{{{ end }}}}"
    )
}

/// Two workloads, `a` (matched by uid and gid, its token from a role) and `b` (matched by user name, a
/// child of the agent's token), each with a template reading its own secret; `a` has a second template
/// reading `b`'s. Both files of its own land, owned by the workload's user, mode 0600; the other is the
/// server's 403 for that file alone: the agent neither logs in again nor stops. Every read is made with
/// the workload's token, as the server's audit log and sidekey's show.
#[test]
fn each_workload_s_files_are_read_with_its_token_and_owned_by_its_user() {
    let fx = Setup::new().audit().start();
    let mut values = BTreeMap::new();
    for w in ["a", "b"] {
        let value = format!("files-{w}-{}", random_hex(6));
        fx.bao.write(
            &format!("secret/data/files/{w}"),
            json!({ "data": { "value": value } }),
        );
        let policy = format!("path \"secret/data/files/{w}\" {{ capabilities = [\"read\"] }}");
        fx.bao.write(
            &format!("sys/policies/acl/files-{w}"),
            json!({ "policy": policy }),
        );
        values.insert(w, value);
    }
    fx.bao.write(
        "sys/policies/acl/files-agent",
        json!({ "policy": "path \"auth/token/create/files-role\" { capabilities = [\"update\"] }\n\
                           path \"auth/token/create\" { capabilities = [\"update\"] }" }),
    );
    fx.bao.write(
        "auth/token/roles/files-role",
        json!({ "allowed_policies": ["files-a"], "orphan": true, "token_period": "1h",
                "renewable": true }),
    );
    // The agent holds files-b (a child token's policies are within its parent's), not files-a.
    let agent_token = fx.bao.write(
        "auth/token/create",
        json!({ "policies": ["files-agent", "files-b"], "ttl": "1h", "renewable": true }),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let agent_token = fx.write_file("agent-token", &agent_token);
    let (a, b) = (TestUser::create("skt-pf-a"), TestUser::create("skt-pf-b"));

    let out = ShmDir::new();
    let (file_a, file_b, stolen) = (out.join("a.txt"), out.join("b.txt"), out.join("stolen.txt"));
    let admin = format!("127.0.0.1:{}", free_port());
    let text = [
        hcl::vault(&fx.addr()),
        hcl::admin_listener(&admin),
        AutoAuth::token_file(&agent_token).to_string(),
        hcl::audit(&out.join("audit.log"), &[]),
        hcl::block(
            "workload \"a\"",
            &[
                &hcl::block(
                    "match",
                    &[&format!("uid = {}", a.uid), &format!("gid = {}", a.gid)],
                ),
                "token_role = \"files-role\"",
                "policies = [\"files-a\"]",
                &hcl::template(&reads("a"), &file_a, &[]),
                &hcl::template(&reads("b"), &stolen, &[]),
            ],
        ),
        hcl::block(
            "workload \"b\"",
            &[
                &hcl::block("match", &[&hcl::attr("user", &b.name)]),
                "policies = [\"files-b\"]",
                &hcl::template(&reads("b"), &file_b, &[]),
            ],
        ),
    ]
    .concat();
    let cfg = fx.write_config(&text);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    let delivered = wait_until(Duration::from_secs(10), || {
        file_a.exists() && file_b.exists()
    });
    assert!(delivered, "files not delivered:\n{}", agent.stderr());

    // --- The files: contents, owner, mode. ---
    for (file, w, user, group) in [(&file_a, "a", &a, a.gid), (&file_b, "b", &b, 0)] {
        assert_eq!(std::fs::read_to_string(file).unwrap(), values[w], "{w}");
        let meta = std::fs::metadata(file).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (user.uid, group),
            "{w}: owned by the workload's user (and by its group when the match names one)"
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{w}");
    }
    // --- A's template reading b's secret: the server's 403, for that file alone. ---
    assert!(!stolen.exists(), "a read b's secret");
    let refused = wait_until(Duration::from_secs(10), || {
        agent.stderr().contains("secret/data/files/b")
            && agent.stderr().contains("permission denied")
    });
    assert!(refused, "no 403 reported:\n{}", agent.stderr());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(agent.running(), "the agent stopped:\n{}", agent.stderr());
    // One workload's failing file holds back neither the agent's readiness nor the other workloads.
    let ready = sidekey_tests::bao::http_client()
        .get(format!("http://{admin}/readyz"))
        .send()
        .unwrap();
    assert_eq!(
        ready.status().as_u16(),
        200,
        "/readyz: {}",
        ready.text().unwrap_or_default()
    );
    agent.stop();

    // --- The server's audit log: each read with its workload's token. ---
    let requests: Vec<Value> = fx
        .bao
        .audit_log_lines()
        .into_iter()
        .filter(|e| e["type"] == "response")
        .collect();
    let read_by = |path: &str, w: &str| {
        requests
            .iter()
            .find(|e| e["request"]["path"] == path && e["auth"]["metadata"]["workload"] == w)
    };
    let by_a = read_by("secret/data/files/a", "a").expect("a's read with a's token");
    assert!(by_a["error"].is_null(), "{by_a}");
    let by_b = read_by("secret/data/files/b", "b").expect("b's read with b's token");
    assert!(by_b["error"].is_null(), "{by_b}");
    let denied = read_by("secret/data/files/b", "a").expect("a's try at b's with a's token");
    assert!(
        denied["error"]
            .as_str()
            .is_some_and(|e| e.contains("permission denied")),
        "{denied}"
    );
    assert_ne!(by_a["auth"]["accessor"], by_b["auth"]["accessor"]);
    // The agent's own token read nothing (the test's writes are the root token's).
    let without = requests.iter().find(|e| {
        e["request"]["operation"] == "read"
            && e["request"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("secret/"))
            && e["auth"]["metadata"]["workload"].is_null()
    });
    assert!(
        without.is_none(),
        "a secret read without a workload's token: {without:?}"
    );

    // --- sidekey's audit: the caller block names the workload and its token. ---
    let events = sidekey_tests::audit::events_so_far(&out.join("audit.log"));
    let read = |path: &str, w: &str, outcome: &str| {
        events
            .iter()
            .find(|e| {
                e["event"] == "secret.read"
                    && e["secret"]["path"] == path
                    && e["caller"]["workload"] == w
                    && e["outcome"] == outcome
            })
            .unwrap_or_else(|| panic!("no {outcome} read of {path} by {w}: {events:#?}"))
    };
    for (path, w, outcome) in [
        ("secret/data/files/a", "a", "success"),
        ("secret/data/files/b", "b", "success"),
        ("secret/data/files/b", "a", "failure"),
    ] {
        let ev = read(path, w, outcome);
        assert!(
            ev["caller"]["token_accessor"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{ev}"
        );
        assert!(ev["caller"].get("pid").is_none(), "no caller process: {ev}");
        assert_eq!(ev["identity"]["subject"], w, "{ev}");
    }
    // One login of the agent's own (no re-login on a workload's 403), and one token per workload.
    let logins = |method_token: bool| {
        events
            .iter()
            .filter(|e| {
                e["event"] == "auth.login"
                    && e["outcome"] == "success"
                    && (e["identity"]["method"] == "token") == method_token
            })
            .count()
    };
    assert_eq!(logins(false), 1, "{events:#?}");
    assert_eq!(logins(true), 2, "{events:#?}");
    let trail = std::fs::read_to_string(out.join("audit.log")).unwrap();
    for v in values.values() {
        assert!(!trail.contains(v.as_str()));
    }
}
