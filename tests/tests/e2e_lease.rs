//! End-to-end tests of the lease engine (issue 3) against a real OpenBao and PostgreSQL, with TTLs scaled
//! down so the suite stays short: the rules are the same at any scale (renew at ~2/3, replace a third of a
//! lease's life before its effective end, back off during outages).

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::jwt::{APP_SUBJECT, AUDIENCE};
use sidekey_tests::proxy::TcpProxy;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// The KV secret's `username`.
const KV_USERNAME: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#;

/// An agent config: JWT auto-auth as role `app` against `addr`, audit file, and `body` (templates etc.).
fn config(fx: &Fixture, addr: &str, jwt: &Path, out: &ShmDir, body: &str) -> PathBuf {
    config_as(fx, "app", addr, jwt, out, body)
}

/// [`config`] logging in as `role`.
fn config_as(
    fx: &Fixture,
    role: &str,
    addr: &str,
    jwt: &Path,
    out: &ShmDir,
    body: &str,
) -> PathBuf {
    let text = [
        hcl::vault(addr),
        AutoAuth::jwt(jwt, role)
            .backoff("1s", "8s")
            .sink(&out.join("token"), &[])
            .to_string(),
        hcl::audit(&out.join("audit.log"), &[]),
        body.to_owned(),
    ]
    .concat();
    fx.write_file(
        &format!("agent-{}.hcl", sidekey_tests::random_hex(4)),
        &text,
    )
}

fn db_template(out: &ShmDir) -> String {
    hcl::template(
        r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .Data.password }}{{ end }}"#,
        &out.join("db"),
        &[],
    )
}

fn audit_events(out: &ShmDir) -> Vec<Value> {
    std::fs::read_to_string(out.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn count(events: &[Value], event: &str, path_contains: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"] == event && e["outcome"] == "success")
        .filter(|e| {
            e["secret"]["path"]
                .as_str()
                .unwrap_or("")
                .contains(path_contains)
        })
        .count()
}

fn read_cred(path: &Path) -> Option<(String, String)> {
    let s = std::fs::read_to_string(path).ok()?;
    let (u, p) = s.split_once(' ')?;
    Some((u.to_string(), p.to_string()))
}

/// Watch the rendered credential every second for `total`: it must always log in to PostgreSQL.
/// Returns the distinct usernames seen.
fn watch_credential(fx: &Fixture, file: &Path, total: Duration) -> BTreeSet<String> {
    let pg = fx.postgres();
    let mut seen = BTreeSet::new();
    let end = Instant::now() + total;
    while Instant::now() < end {
        let (user, pass) = read_cred(file).expect("credential file present");
        assert!(
            pg.can_login(&user, &pass),
            "rendered credential {user} cannot log in"
        );
        seen.insert(user);
        std::thread::sleep(Duration::from_secs(1));
    }
    seen
}

/// Run an agent rendering a database credential under `token` and `db` TTLs (default, max) for `total`,
/// checking every second that the rendered credential logs in. Returns the audit events and the distinct
/// credentials seen.
fn run_db_agent(
    token: (u64, u64),
    db: (u64, u64),
    total: Duration,
) -> (Vec<Value>, BTreeSet<String>) {
    let secs = Duration::from_secs;
    let fx = Setup::new()
        .jwt()
        .database()
        .token_ttls(secs(token.0), secs(token.1))
        .db_ttls(secs(db.0), secs(db.1))
        .start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let cfg = config(&fx, &fx.addr(), &jwt.path, &out, &db_template(&out));
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(secs(20), || out.join("db").exists()),
        "{}",
        agent.stderr()
    );
    let seen = watch_credential(&fx, &out.join("db"), total);
    assert!(agent.running(), "agent died: {}", agent.stderr());
    agent.stop();
    (audit_events(&out), seen)
}

/// Acceptance 1 (scaled from ttl 30 s / max 120 s over 6 min): the rendered credential always works, and
/// each max-TTL cycle brings exactly one new credential and one re-render.
#[test]
fn database_credential_is_replaced_once_per_max_ttl_and_always_works() {
    let (events, seen) = run_db_agent((600, 3600), (9, 27), Duration::from_secs(66));
    let issued = count(&events, "secret.read", "database/creds/app");
    // The template's own writes (token sink writes are output.write events of kind "sink").
    let writes = events
        .iter()
        .filter(|e| e["event"] == "output.write" && e["output"]["kind"] == "file")
        .count();
    // 66 s over a 27 s max TTL: the first credential plus two (or, at a cycle boundary, three) more.
    assert!(
        (3..=4).contains(&issued),
        "issued {issued} credentials; seen {seen:?}"
    );
    assert_eq!(
        seen.len(),
        issued,
        "every issued credential was delivered, once"
    );
    assert_eq!(writes, issued, "one re-render per new credential");
    assert!(
        count(&events, "secret.renew", "database/creds/app") >= issued,
        "leases were renewed in between"
    );
}

/// Acceptance 2 (scaled from token 60 s / max 300 s): across re-authentication the file never holds a
/// credential revoked with the old token, and no more credentials are issued than the leases need.
#[test]
fn reauthentication_never_leaves_a_revoked_credential_behind() {
    let (events, seen) = run_db_agent((12, 36), (9, 27), Duration::from_secs(80));
    let logins = events
        .iter()
        .filter(|e| e["event"] == "auth.login" && e["outcome"] == "success")
        .count();
    assert!(
        logins >= 2,
        "the token reached its max TTL, so the agent logged in again ({logins} logins)"
    );
    let issued = count(&events, "secret.read", "database/creds/app");
    // 80 s with a 27 s lease max and a 36 s token max: each credential dies at the first of the two.
    assert!(issued <= 6, "{issued} credentials issued in 80 s");
    assert_eq!(seen.len(), issued);
}

/// Acceptance 3 (scaled from a 90 s outage): while the backend is cut off and the token is still valid,
/// outputs stay as they are, the token and leases are kept, and the agent backs off.
#[test]
fn an_outage_keeps_token_leases_and_outputs_and_backs_off() {
    let fx = Setup::new()
        .jwt()
        .database()
        .token_ttls(Duration::from_secs(120), Duration::from_secs(3600))
        .db_ttls(Duration::from_secs(60), Duration::from_secs(600))
        .start();
    let proxy = TcpProxy::start(fx.bao.port());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let body = [
        db_template(&out),
        hcl::template_config(&["static_secret_render_interval = \"3s\""]),
        hcl::template(KV_USERNAME, &out.join("kv"), &[]),
    ]
    .concat();
    let cfg = config(&fx, &proxy.addr(), &jwt.path, &out, &body);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(Duration::from_secs(20), || out.join("db").exists()
            && out.join("kv").exists()),
        "{}",
        agent.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    let db_before = std::fs::read(out.join("db")).unwrap();
    let kv_before = std::fs::metadata(out.join("kv"))
        .unwrap()
        .modified()
        .unwrap();

    proxy.down();
    let refused_before = proxy.refused();
    std::thread::sleep(Duration::from_secs(25));
    let attempts = proxy.refused() - refused_before;
    assert_eq!(
        std::fs::read(out.join("db")).unwrap(),
        db_before,
        "outputs untouched during the outage"
    );
    assert_eq!(
        std::fs::metadata(out.join("kv"))
            .unwrap()
            .modified()
            .unwrap(),
        kv_before
    );
    // Backoff 1, 2, 4, 8, 8 … s: about six tries in 25 s, not one per KV refresh (every 3 s).
    assert!(
        attempts <= 10,
        "{attempts} connection attempts during a 25 s outage"
    );
    proxy.up();

    // Refreshes and renewals resume with the same token and the same lease.
    let renewed = wait_until(Duration::from_secs(40), || {
        let ev = audit_events(&out);
        ev.iter()
            .rev()
            .take(20)
            .any(|e| e["event"] == "secret.read" && e["outcome"] == "success")
    });
    assert!(
        renewed,
        "no successful request after the backend came back: {}",
        agent.stderr()
    );
    assert!(agent.running());
    agent.stop();
    let events = audit_events(&out);
    let logins = events
        .iter()
        .filter(|e| e["event"] == "auth.login" && e["outcome"] == "success")
        .count();
    assert_eq!(logins, 1, "an outage never forces a new login");
    assert_eq!(
        count(&events, "secret.read", "database/creds/app"),
        1,
        "the lease was kept"
    );
    assert_eq!(std::fs::read(out.join("db")).unwrap(), db_before);
}

/// Acceptance 4: a token whose policy forbids renew-self is not asked to renew again and again.
#[test]
fn a_forbidden_renew_self_is_not_retried_in_a_storm() {
    let fx = Setup::new().audit().jwt().start();
    // A role like `app` whose policy has no auth/token/renew-self.
    let policy = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;
    fx.bao
        .write("sys/policies/acl/norenew", json!({ "policy": policy }));
    fx.bao.write(
        "auth/jwt/role/norenew",
        json!({
            "role_type": "jwt", "bound_audiences": [AUDIENCE], "bound_subject": APP_SUBJECT,
            "user_claim": "sub", "token_policies": ["norenew"], "token_ttl": "9s", "token_max_ttl": "1h",
            // The default policy allows renew-self; leave it out so the refusal is real.
            "token_no_default_policy": true,
        }),
    );
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let body = hcl::template(KV_USERNAME, &out.join("kv"), &[]);
    let cfg_path = config_as(&fx, "norenew", &fx.addr(), &jwt.path, &out, &body);
    let mut agent = Background::start(
        &["run", "-c", cfg_path.to_str().unwrap()],
        &[],
        fx.dir.path(),
    );
    assert!(
        wait_until(Duration::from_secs(20), || out.join("kv").exists()),
        "{}",
        agent.stderr()
    );
    std::thread::sleep(Duration::from_secs(30));
    assert!(agent.running(), "{}", agent.stderr());
    agent.stop();
    let log = agent.stderr();
    let renew_self = fx
        .bao
        .audit_log_lines()
        .iter()
        .filter(|l| l["type"] == "request" && l["request"]["path"] == "auth/token/renew-self")
        .map(|l| format!("{} {}", l["time"], l["auth"]["accessor"]))
        .collect::<Vec<_>>();
    let log = format!("{renew_self:#?}\n{log}");
    let renew_self = renew_self.len();
    // One refusal is enough: later logins of the same role are not asked to renew either.
    assert!(
        renew_self <= 2,
        "{renew_self} renew-self requests in 30 s; agent log:\n{log}"
    );
    let logins = audit_events(&out)
        .iter()
        .filter(|e| e["event"] == "auth.login" && e["outcome"] == "success")
        .count();
    assert!(
        logins >= 3,
        "the agent logs in again before each 9 s token expires ({logins} logins)"
    );
}

/// Acceptance 5: 1,000 KV secrets in one template never open more than `max_connections_per_host`.
#[test]
fn a_thousand_secrets_stay_within_the_connection_cap() {
    let fx = Setup::new().jwt().start();
    for i in 0..1000 {
        fx.bao.write(
            &format!("secret/data/app/s{i}"),
            json!({ "data": { "v": format!("{i}") } }),
        );
    }
    let proxy = TcpProxy::start(fx.bao.port());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let body = hcl::template_config(&["max_connections_per_host = 4"])
        + &hcl::template(
            r#"{{ range $i := loop 1000 }}{{ with secret (printf "secret/data/app/s%d" $i) }}{{ .Data.data.v }},{{ end }}{{ end }}"#,
            &out.join("many"),
            &[],
        );
    let cfg = config(&fx, &proxy.addr(), &jwt.path, &out, &body);
    let r = Sidekey::new(["run", "--once", "-c", cfg.to_str().unwrap()])
        .timeout(Duration::from_secs(120))
        .run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let rendered = std::fs::read_to_string(out.join("many")).unwrap();
    assert_eq!(rendered.split(',').filter(|s| !s.is_empty()).count(), 1000);
    assert!(
        proxy.max_open() <= 4,
        "{} connections open at once",
        proxy.max_open()
    );
    assert!(
        proxy.accepted() <= 8,
        "connections are reused: {} opened",
        proxy.accepted()
    );
}

/// Acceptance 6: a rotated JWT file is read again at the next login.
#[test]
fn a_rotated_jwt_file_is_used_at_the_next_login() {
    let fx = Setup::new()
        .jwt()
        .token_ttls(Duration::from_secs(4), Duration::from_secs(4))
        .start();
    let out = ShmDir::new();
    // The first JWT expires soon; logins after that only work if the rotated file is read.
    let first = fx.mint_jwt(APP_SUBJECT, AUDIENCE, Duration::from_secs(6));
    let body = hcl::template(KV_USERNAME, &out.join("kv"), &[]);
    let cfg = config(&fx, &fx.addr(), &first.path, &out, &body);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(Duration::from_secs(20), || out.join("kv").exists()),
        "{}",
        agent.stderr()
    );
    let rotated = fx.mint_jwt(APP_SUBJECT, AUDIENCE, Duration::from_secs(600));
    std::fs::copy(&rotated.path, &first.path).unwrap();
    std::thread::sleep(Duration::from_secs(16));
    assert!(agent.running(), "{}", agent.stderr());
    agent.stop();
    let events = audit_events(&out);
    let logins: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "auth.login")
        .collect();
    assert!(
        logins.len() >= 4,
        "a 4 s token means a login every few seconds: {}",
        logins.len()
    );
    assert!(
        logins.iter().all(|e| e["outcome"] == "success"),
        "every login succeeded with the rotated JWT"
    );
}

/// A token revoked on the server (by an operator, or a revoked parent) is noticed at the next 403: sidekey
/// logs in again at once instead of failing until the token's scheduled renewal.
#[test]
fn a_revoked_token_is_replaced_at_the_next_refusal() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let body = hcl::template_config(&["static_secret_render_interval = \"1s\""])
        + &hcl::template(KV_USERNAME, &out.join("kv"), &[]);
    let cfg = config(&fx, &fx.addr(), &jwt.path, &out, &body);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(Duration::from_secs(20), || out.join("kv").exists()),
        "{}",
        agent.stderr()
    );
    let first = std::fs::read_to_string(out.join("token")).unwrap();
    fx.bao
        .write("auth/token/revoke", json!({ "token": first.trim() }));
    fx.bao.write(
        "secret/data/app/config",
        json!({ "data": { "username": "after-revoke", "password": "p" } }),
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::fs::read_to_string(out.join("kv")).unwrap_or_default() == "after-revoke"
        }),
        "the new value was not rendered after the token was revoked:\n{}",
        agent.stderr()
    );
    let second = std::fs::read_to_string(out.join("token")).unwrap();
    assert_ne!(second, first, "no new token in the sink");
    assert!(agent.running(), "{}", agent.stderr());
    agent.stop();
}

/// A restarted agent with a token sink and a lease state file resumes the token and the leases of the
/// run before it (an init container's `--once` handing over to the sidecar) instead of issuing new ones.
#[test]
fn a_restart_resumes_leases_from_the_state_file() {
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let body = hcl::attr_path("lease_state_file", &out.join("state.json")) + &db_template(&out);
    let cfg = config(&fx, &fx.addr(), &jwt.path, &out, &body);
    let r = Sidekey::new(["run", "--once", "-c", cfg.to_str().unwrap()]).run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let first = std::fs::read(out.join("db")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(out.join("state.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    std::thread::sleep(Duration::from_secs(4));
    assert!(agent.running(), "{}", agent.stderr());
    agent.stop();
    assert_eq!(
        std::fs::read(out.join("db")).unwrap(),
        first,
        "the same credential is still delivered"
    );
    let events = audit_events(&out);
    assert_eq!(
        count(&events, "secret.read", "database/creds/app"),
        1,
        "no second credential was issued"
    );
    let logins = events.iter().filter(|e| e["event"] == "auth.login").count();
    assert_eq!(logins, 1, "the saved token was resumed");
}

/// A failing post-render command is retried with backoff without fetching the secret again.
#[test]
fn a_failing_command_is_retried_without_fetching_again() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let counter = out.join("attempts");
    let command = format!("echo x >> {} ; exit 1", counter.display());
    let body = hcl::template(
        KV_USERNAME,
        &out.join("kv"),
        &[&hcl::attr("command", &command)],
    );
    let cfg = config(&fx, &fx.addr(), &jwt.path, &out, &body);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    let retried = wait_until(Duration::from_secs(20), || {
        std::fs::read_to_string(&counter)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            >= 3
    });
    assert!(retried, "the command was retried: {}", agent.stderr());
    agent.stop();
    assert_eq!(
        count(&audit_events(&out), "secret.read", "secret/data/app/config"),
        1
    );
}

/// `revoke_on_shutdown`: stopping the agent revokes its leases; `remove_on_exit` removes the files.
#[test]
fn shutdown_revokes_leases_and_removes_files_when_asked() {
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let body = hcl::template_config(&["revoke_on_shutdown = true", "remove_on_exit = true"])
        + &db_template(&out);
    let cfg = config(&fx, &fx.addr(), &jwt.path, &out, &body);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    assert!(
        wait_until(Duration::from_secs(20), || out.join("db").exists()),
        "{}",
        agent.stderr()
    );
    let (user, pass) = read_cred(&out.join("db")).unwrap();
    assert!(fx.postgres().can_login(&user, &pass));
    assert_eq!(agent.stop(), Some(0));
    assert!(!out.join("db").exists(), "rendered file removed");
    assert!(
        wait_until(Duration::from_secs(5), || !fx
            .postgres()
            .can_login(&user, &pass)),
        "lease revoked"
    );
}
