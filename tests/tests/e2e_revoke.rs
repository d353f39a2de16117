//! End-to-end tests of incident response (issue 14): what an operator revokes on the server is replaced
//! by the agent within `lease_check_interval` (+ 10 s), not at its next renewal; `POST /agent/v1/refresh`
//! on the admin listener rotates every output now. Against a real OpenBao and PostgreSQL, with long TTLs,
//! so that it is the check (or the refresh), never a renewal, that acts.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_tests::audit::{events_so_far, summary};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl;
use sidekey_tests::ports::free_port;
use sidekey_tests::{Fixture, Setup, ShmDir};

/// How often the agents here check what they hold.
const CHECK: &str = "lease_check_interval = \"2s\"\n";
/// The interval plus the 10 s the acceptance allows.
const WITHIN: Duration = Duration::from_secs(12);

/// An agent config: JWT auto-auth as role `app` with a token sink, an audit file, and `body`.
fn config(fx: &Fixture, out: &ShmDir, body: &str) -> PathBuf {
    fx.jwt_agent_config(out.path(), body)
}

/// A template rendering a database credential as `username password` into `out/db`.
fn db_template(out: &ShmDir) -> String {
    hcl::template(
        r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .Data.password }}{{ end }}"#,
        &out.join("db"),
        &[],
    )
}

fn read_cred(path: &Path) -> Option<(String, String)> {
    let s = std::fs::read_to_string(path).ok()?;
    let (u, p) = s.split_once(' ')?;
    Some((u.to_string(), p.to_string()))
}

/// A running agent and what it runs against; fields drop in order (the agent first).
struct Running {
    agent: Background,
    /// Its first database credential: (username, password).
    cred: (String, String),
    out: ShmDir,
    fx: Fixture,
}

/// Start an agent rendering a database credential into `out/db`, with `body(out)` in its config, and
/// wait for the first credential, which must log in.
fn start(body: impl FnOnce(&ShmDir) -> String) -> Running {
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let cfg = config(&fx, &out, &[db_template(&out), body(&out)].concat());
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let db = out.join("db");
    assert!(
        wait_until(Duration::from_secs(20), || read_cred(&db).is_some()),
        "no credential rendered:\n{}",
        agent.stderr()
    );
    assert!(agent.running(), "{}", agent.stderr());
    let cred = read_cred(&db).unwrap();
    assert!(fx.postgres().can_login(&cred.0, &cred.1));
    Running {
        agent,
        cred,
        out,
        fx,
    }
}

/// The successful `event`s of the audit trail whose secret path contains `path`.
fn events(out: &ShmDir, event: &str, path: &str) -> Vec<Value> {
    events_so_far(&out.join("audit.log"))
        .into_iter()
        .filter(|e| e["event"] == event && e["outcome"] == "success")
        .filter(|e| e["secret"]["path"].as_str().unwrap_or("").contains(path))
        .collect()
}

/// The lease id of the last database credential the agent read.
fn last_db_lease(out: &ShmDir) -> String {
    let reads = events(out, "secret.read", "database/creds/app");
    let last = reads.last().expect("a secret.read of the credential");
    last["secret"]["lease_id"].as_str().unwrap().to_string()
}

/// Wait for a credential other than `old` in `out/db`; it must log in, and `old` must not any more.
fn wait_for_new_credential(
    fx: &Fixture,
    out: &ShmDir,
    agent: &Background,
    old: &(String, String),
) -> (String, String) {
    let db = out.join("db");
    assert!(
        wait_until(WITHIN, || read_cred(&db).is_some_and(|c| c.0 != old.0)),
        "the credential was not replaced within {WITHIN:?}:\n{}\n{}",
        summary(&events_so_far(&out.join("audit.log"))),
        agent.stderr()
    );
    let new = read_cred(&db).unwrap();
    let pg = fx.postgres();
    assert!(pg.can_login(&new.0, &new.1), "the new credential logs in");
    assert!(
        !pg.can_login(&old.0, &old.1),
        "the revoked credential is gone"
    );
    new
}

/// Acceptance 5: a database lease behind a template, revoked on the server directly, is replaced within
/// `lease_check_interval` + 10 s — a lease with an hour to live, so no renewal is near. OpenBao answers
/// the lookup of a revoked lease with 400 "invalid lease". The same credential in an exec child's env
/// restarts the child with the new one.
#[test]
fn a_lease_revoked_on_the_server_is_replaced_within_the_check_interval() {
    let mut r = start(|out| {
        let child = format!(
            "echo \"$DB_USER\" >> {}; exec sleep 1000",
            out.join("child.log").display()
        );
        [
            CHECK.to_owned(),
            hcl::env_template(
                "DB_USER",
                r#"{{ with secret "database/creds/app" }}{{ .Data.username }}{{ end }}"#,
            ),
            hcl::exec(
                &["sh", "-c", &child],
                &["restart_on_secret_changes = \"always\""],
            ),
        ]
        .concat()
    });
    let child_log = || std::fs::read_to_string(r.out.join("child.log")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || child_log()
            == format!("{}\n", r.cred.0)),
        "the child started with the credential: {:?}",
        child_log()
    );
    let lease_id = last_db_lease(&r.out);

    r.fx.bao
        .write("sys/leases/revoke", json!({ "lease_id": lease_id }));
    assert!(!r.fx.bao.lease_alive(&lease_id));
    let lookup = r.fx.bao.request(
        "PUT",
        "sys/leases/lookup",
        Some(r.fx.bao.root_token()),
        Some(&json!({ "lease_id": lease_id })),
    );
    assert_eq!(
        (lookup.status, lookup.body["errors"][0].as_str()),
        (400, Some("invalid lease")),
        "what the check reads as revoked"
    );

    wait_for_new_credential(&r.fx, &r.out, &r.agent, &r.cred);
    assert!(r.agent.running(), "{}", r.agent.stderr());
    assert_eq!(events(&r.out, "secret.read", "database/creds/app").len(), 2);
    assert!(
        events(&r.out, "secret.renew", "database/creds/app").is_empty(),
        "it was the check, not a renewal"
    );
    assert!(
        events(&r.out, "secret.revoke", "").is_empty(),
        "a revoked lease is not revoked again"
    );
    let new_lease = last_db_lease(&r.out);
    assert!(r.fx.bao.lease_alive(&new_lease));
    let new_user = read_cred(&r.out.join("db")).unwrap().0;
    assert!(
        wait_until(WITHIN, || child_log()
            == format!("{}\n{new_user}\n", r.cred.0)),
        "the child was restarted once, with the new credential: {:?}",
        child_log()
    );
    r.agent.stop();
    let log = r.agent.stderr();
    assert!(
        log.contains("revoked on the server") && log.contains(&lease_id),
        "the revocation is in the log: {log}"
    );
    assert!(!log.contains(&r.cred.1) && !log.contains(&r.fx.sentinel));
}

/// `POST /agent/v1/refresh` on the admin listener rotates every output now: a new database credential
/// (the old lease revoked once the new one is delivered), the KV secret read again; audited as
/// `agent.refresh`. The check is left at its default (5 min), so it is the refresh that acts.
#[test]
fn refresh_on_the_admin_listener_rotates_every_output() {
    let admin = free_port();
    let mut r = start(|out| {
        let kv = hcl::template(
            r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            &out.join("kv"),
            &[],
        );
        hcl::admin_listener(&format!("127.0.0.1:{admin}")) + &kv
    });
    let old_lease = last_db_lease(&r.out);
    assert_eq!(
        std::fs::read_to_string(r.out.join("kv")).unwrap(),
        sidekey_tests::setup::KV_USERNAME
    );
    r.fx.bao.write(
        "secret/data/app/config",
        json!({ "data": { "username": "rotated", "password": r.fx.sentinel } }),
    );

    let client = sidekey_tests::bao::http_client();
    let url = format!("http://127.0.0.1:{admin}/agent/v1/refresh");
    let reply = client.get(&url).send().unwrap();
    assert_eq!(reply.status().as_u16(), 405, "a refresh is a POST");
    let reply = client.post(&url).send().unwrap();
    assert_eq!(reply.status().as_u16(), 202);

    wait_for_new_credential(&r.fx, &r.out, &r.agent, &r.cred);
    assert!(
        wait_until(WITHIN, || std::fs::read_to_string(r.out.join("kv"))
            .is_ok_and(|s| s == "rotated")),
        "the KV secret was read again"
    );
    assert!(
        wait_until(WITHIN, || !r.fx.bao.lease_alive(&old_lease)),
        "the old lease is revoked:\n{}",
        r.agent.stderr()
    );
    assert!(r.fx.bao.lease_alive(&last_db_lease(&r.out)));

    let trail = events_so_far(&r.out.join("audit.log"));
    let seq = |pred: &dyn Fn(&Value) -> bool| {
        trail
            .iter()
            .filter(|e| pred(e))
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let refreshed = seq(&|e| e["event"] == "agent.refresh" && e["outcome"] == "success");
    assert_eq!(refreshed.len(), 1, "{}", summary(&trail));
    let revoked = seq(&|e| e["event"] == "secret.revoke" && e["secret"]["lease_id"] == old_lease);
    let delivered = seq(&|e| {
        e["event"] == "output.write"
            && e["output"]["destination"]
                .as_str()
                .is_some_and(|d| d.ends_with("/db"))
    });
    assert_eq!(revoked.len(), 1, "{}", summary(&trail));
    assert!(
        delivered
            .iter()
            .any(|d| *d > refreshed[0] && *d < revoked[0]),
        "the new credential is delivered before the old one is revoked: {}",
        summary(&trail)
    );
    assert!(r.agent.running(), "{}", r.agent.stderr());
    r.agent.stop();
}

/// A revoked auto-auth token is noticed by the check: the agent logs in again, writes the new token to
/// its sink, and replaces the credential that died with the old token.
#[test]
fn a_revoked_token_is_noticed_and_the_agent_logs_in_again() {
    let mut r = start(|_| CHECK.to_owned());
    let token = std::fs::read_to_string(r.out.join("token")).unwrap();
    let logins = || {
        events_so_far(&r.out.join("audit.log"))
            .iter()
            .filter(|e| e["event"] == "auth.login" && e["outcome"] == "success")
            .count()
    };
    assert_eq!(logins(), 1);

    r.fx.bao
        .write("auth/token/revoke", json!({ "token": token }));
    assert!(
        wait_until(WITHIN, || logins() == 2),
        "no new login within {WITHIN:?}:\n{}",
        r.agent.stderr()
    );
    assert!(
        wait_until(WITHIN, || std::fs::read_to_string(r.out.join("token"))
            .is_ok_and(|t| !t.is_empty() && t != token)),
        "the sink holds the new token"
    );
    wait_for_new_credential(&r.fx, &r.out, &r.agent, &r.cred);
    assert!(r.agent.running(), "{}", r.agent.stderr());
    r.agent.stop();
    assert!(
        r.agent
            .stderr()
            .contains("the token was revoked on the server")
    );
}
