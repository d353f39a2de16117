//! End-to-end tests of the API proxy's cache (issue 14, acceptance 2, 3 and 4) against a real OpenBao and
//! PostgreSQL: `sidekey run` with a `listener "tcp"`, `api_proxy { use_auto_auth_token = true }` and
//! `cache {}`, driven over plain HTTP as an application's Vault SDK would drive it.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::ports::free_port;
use sidekey_tests::{Fixture, Setup, ShmDir};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An agent serving the API proxy on a free loopback port with `cache_body` inside `cache { }`.
struct Proxy {
    agent: Background,
    base: String,
    http: reqwest::blocking::Client,
    out: ShmDir,
}

impl Proxy {
    fn start(fx: &Fixture, cache_body: &[&str]) -> Proxy {
        Self::start_in(fx, ShmDir::new(), cache_body)
    }

    /// The same, its token sink and audit trail in `out` (a restart passes the first run's).
    fn start_in(fx: &Fixture, out: ShmDir, cache_body: &[&str]) -> Proxy {
        let jwt = fx.app_jwt();
        let port = free_port();
        let text = [
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app")
                .backoff("1s", "4s")
                .sink(&out.join("token"), &[])
                .to_string(),
            hcl::audit(&out.join("audit.log"), &[]),
            hcl::block(
                "listener \"tcp\"",
                &[
                    &hcl::attr("address", &format!("127.0.0.1:{port}")),
                    "tls_disable = true",
                ],
            ),
            hcl::block("api_proxy", &["use_auto_auth_token = true"]),
            hcl::block("cache", cache_body),
        ]
        .concat();
        let cfg: PathBuf = fx.write_config(&text);
        let agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
        let proxy = Proxy {
            agent,
            base: format!("http://127.0.0.1:{port}/v1"),
            http: sidekey_tests::bao::http_client(),
            out,
        };
        let up = wait_until(secs(20), || {
            proxy
                .http
                .get(format!("{}/sys/health", proxy.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        assert!(up, "the proxy never answered: {}", proxy.agent.stderr());
        proxy
    }

    /// Stop the agent (SIGTERM) and hand back its directory.
    fn stop(mut self) -> ShmDir {
        self.agent.stop();
        self.out
    }

    /// `method` `/v1/<path>` through the proxy (no token: the agent adds its own), with `body`.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send_as(None, method, path, body)
    }

    fn send_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .header("X-Vault-Request", "true");
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body)
    }

    /// A database credential through the proxy: (lease id, username, password).
    fn creds(&self) -> (String, String, String) {
        let (status, body) = self.send("GET", "database/creds/app", None);
        assert_eq!(status, 200, "{body}\n{}", self.agent.stderr());
        let s = |p: &str| body.pointer(p).and_then(Value::as_str).unwrap().to_string();
        (s("/lease_id"), s("/data/username"), s("/data/password"))
    }
}

/// The seconds `lease_id` has left on the server (looked up with the root token).
fn ttl_on_server(fx: &Fixture, lease_id: &str) -> u64 {
    let r = fx.bao.request(
        "PUT",
        "sys/leases/lookup",
        Some(fx.bao.root_token()),
        Some(&json!({ "lease_id": lease_id })),
    );
    assert!(r.is_success(), "lookup {lease_id}: {}", r.body);
    r.body["data"]["ttl"].as_u64().unwrap()
}

/// Acceptance 2: identical requests share a lease; a renewal through the proxy extends it on the server
/// and it keeps working; a revocation through the proxy evicts it; a lease revoked on the server directly
/// is not served again after one renewal interval.
#[test]
fn leases_are_shared_renewed_and_evicted_through_the_proxy() {
    let fx = Setup::new()
        .jwt()
        .database()
        .db_ttls(secs(6), secs(120))
        .start();
    let proxy = Proxy::start(&fx, &[]);
    let pg = fx.postgres();

    let (lease, user, pass) = proxy.creds();
    let (again, user2, _) = proxy.creds();
    assert_eq!(again, lease, "two identical requests, one lease");
    assert_eq!(user2, user);
    assert!(pg.can_login(&user, &pass));

    // A renewal through the proxy reaches the server and extends the lease there.
    let (status, body) = proxy.send(
        "PUT",
        "sys/leases/renew",
        Some(json!({ "lease_id": lease, "increment": 30 })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lease_id"], lease.as_str(), "the same lease, renewed");
    assert!(ttl_on_server(&fx, &lease) > 20);
    // Past the lease's first TTL the same credential is served, and still logs in.
    std::thread::sleep(secs(8));
    let (later, user3, pass3) = proxy.creds();
    assert_eq!(later, lease);
    assert!(
        pg.can_login(&user3, &pass3),
        "the cached credential still works"
    );

    // A revocation through the proxy evicts it.
    let (status, body) = proxy.send(
        "PUT",
        "sys/leases/revoke",
        Some(json!({ "lease_id": lease })),
    );
    assert!((200..300).contains(&status), "{status} {body}");
    let (fresh, fresh_user, fresh_pass) = proxy.creds();
    assert_ne!(fresh, lease, "a revoked lease is never served");
    assert!(pg.can_login(&fresh_user, &fresh_pass));

    // Revoked on the server directly: noticed at its next renewal (~4 s into a 6 s lease), then a new one.
    let r = fx.bao.request(
        "PUT",
        "sys/leases/revoke",
        Some(fx.bao.root_token()),
        Some(&json!({ "lease_id": fresh })),
    );
    assert!(r.is_success(), "{}", r.body);
    let start = Instant::now();
    let replaced = wait_until(secs(10), || proxy.creds().0 != fresh);
    assert!(
        replaced,
        "a lease revoked on the server was still served: {}",
        proxy.agent.stderr()
    );
    assert!(start.elapsed() <= secs(8), "after {:?}", start.elapsed());
    let (_, u, p) = proxy.creds();
    assert!(pg.can_login(&u, &p));
}

/// Acceptance 3: requests that differ only in a parameter (KV `version`) are never answered from each
/// other's entry; a new version written on the server is seen once `static_secret_ttl` has passed; another
/// token is not served what the agent's token read.
#[test]
fn kv_versions_are_never_answered_from_each_other() {
    let fx = Setup::new().jwt().start();
    let path = "secret/data/app/versioned";
    fx.bao.write(path, json!({ "data": { "k": "one" } }));
    fx.bao.write(path, json!({ "data": { "k": "two" } }));
    let proxy = Proxy::start(
        &fx,
        &["cache_static_secrets = true", "static_secret_ttl = \"2s\""],
    );
    let k = |body: &Value| {
        body["data"]["data"]["k"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for _ in 0..3 {
        for (query, want) in [("?version=1", "one"), ("?version=2", "two"), ("", "two")] {
            let (status, body) = proxy.send("GET", &format!("{path}{query}"), None);
            assert_eq!(status, 200, "{body}");
            assert_eq!(k(&body), want, "{path}{query}");
        }
    }
    // A new version written on the server directly: served once the TTL has passed, never version 2 for
    // version 3 or the other way round.
    fx.bao.write(path, json!({ "data": { "k": "three" } }));
    let seen = wait_until(secs(6), || k(&proxy.send("GET", path, None).1) == "three");
    assert!(seen, "the new version was never served");
    let (_, body) = proxy.send("GET", &format!("{path}?version=2"), None);
    assert_eq!(k(&body), "two");
    // Another token (policy `app` too) reads through the server, not from the agent token's entry; a
    // token the server refuses gets the server's 403, never the cached secret.
    let (token, _) = fx.app_token();
    let (status, body) = proxy.send_as(Some(&token), "GET", path, None);
    assert_eq!((status, k(&body).as_str()), (200, "three"));
    let (status, _) = proxy.send_as(Some("s.not-a-token"), "GET", path, None);
    assert_eq!(status, 403);
}

/// Acceptance 4: a restart with `cache { persist "file" { path, key_file } }` serves the same lease
/// again, without a new login or a new lease; the state file holds none of it in clear.
#[test]
fn a_restart_with_persist_serves_the_same_lease_without_a_new_login() {
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let key = fx.dir.path().join("state.key");
    std::fs::write(&key, sidekey_tests::random_hex(32)).unwrap();
    let state = out.join("state");
    let persist = hcl::block(
        "persist \"file\"",
        &[
            &hcl::attr_path("path", &state),
            &hcl::attr_path("key_file", &key),
        ],
    );
    let proxy = Proxy::start_in(&fx, out, &[&persist]);
    let before = std::fs::read(&state).unwrap_or_default();
    let (lease, user, pass) = proxy.creds();
    // The cache's change is written within a second of the request.
    let written = wait_until(secs(5), || {
        std::fs::read(&state).is_ok_and(|now| now != before)
    });
    assert!(
        written,
        "the state file was not rewritten: {}",
        proxy.agent.stderr()
    );
    let out = proxy.stop();

    let text = String::from_utf8_lossy(&std::fs::read(&state).unwrap()).into_owned();
    for clear in [
        lease.as_str(),
        user.as_str(),
        pass.as_str(),
        "database/creds",
    ] {
        assert!(
            !text.contains(clear),
            "{clear:?} in clear in the state file"
        );
    }

    let proxy = Proxy::start_in(&fx, out, &[&persist]);
    let (again, user2, pass2) = proxy.creds();
    assert_eq!(again, lease, "the same lease after the restart");
    assert_eq!(
        (user2.as_str(), pass2.as_str()),
        (user.as_str(), pass.as_str())
    );
    assert!(fx.postgres().can_login(&user2, &pass2));
    assert!(ttl_on_server(&fx, &lease) > 0);
    let logins = std::fs::read_to_string(proxy.out.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "auth.login" && e["outcome"] == "success")
        .count();
    assert_eq!(
        logins,
        1,
        "the restart logged in again: {}",
        proxy.agent.stderr()
    );
}
