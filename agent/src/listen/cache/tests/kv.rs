//! Static secrets: served only to tokens that read them, for `static_secret_ttl`; then checked again;
//! evicted by a write through the proxy; a different version is a different entry.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::advance;

use super::*;
use crate::backend::MountInfo;

fn statics() -> (Cache, ProxyLeases) {
    let (c, l) = cache(CacheConfig {
        cache_static_secrets: true,
        static_secret_ttl: Duration::from_secs(30),
        ..CacheConfig::default()
    });
    for (path, v) in [("secret/", 2), ("kv/", 1)] {
        c.mounts.learn(
            "",
            MountInfo {
                path: path.into(),
                kind: "kv".into(),
                kv_version: Some(v),
            },
        );
    }
    (c, l)
}

/// A KV server: `secret/` (v2) answers with the current version of each path; `kv/` (v1) likewise;
/// writes bump the version. Tokens in `denied` get 403.
struct Kv {
    version: Mutex<u64>,
    denied: Vec<&'static str>,
}

impl Kv {
    fn answer(&self, r: &ProxyRequest) -> ProxyResponse {
        if r.token.as_ref().is_some_and(|t| {
            use secrecy::ExposeSecret;
            self.denied.contains(&t.expose_secret())
        }) {
            return reply(403, &json!({"errors": ["permission denied"]}));
        }
        let mut v = self.version.lock().unwrap();
        if r.method != Method::GET {
            *v += 1;
            return reply(200, &json!({"data": {"version": *v}}));
        }
        let asked = r
            .query
            .as_deref()
            .and_then(|q| q.strip_prefix("version="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(*v);
        if r.path.starts_with("kv/") {
            return reply(
                200,
                &json!({"lease_duration": 2764800, "data": {"k": format!("v{asked}")}}),
            );
        }
        reply(
            200,
            &json!({"data": {"data": {"k": format!("v{asked}")}, "metadata": {"version": asked}}}),
        )
    }
}

fn value_of(resp: &ProxyResponse) -> String {
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    v.pointer("/data/data/k")
        .or_else(|| v.pointer("/data/k"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn kv_server(denied: Vec<&'static str>) -> Kv {
    Kv {
        version: Mutex::new(1),
        denied,
    }
}

#[tokio::test(start_paused = true)]
async fn a_static_secret_is_served_only_to_tokens_that_read_it_and_only_for_its_ttl() {
    let (c, _) = statics();
    let kv = kv_server(vec![]);
    let s = Server::new(|r: &ProxyRequest, _| kv.answer(r));
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (resp, st) = s
        .send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(value_of(&resp), "v1");
    // Another token never read it through the proxy: its request goes to the server.
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("b"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("b"), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    let (_, st) = s.send(&c, req("GET", "secret/data/app", None, "")).await;
    assert_eq!(st, CacheStatus::Miss, "no token, no cache");
    // Past the TTL the version must be checked; with no metadata to read here, the read goes through.
    advance(Duration::from_secs(31)).await;
    let calls = s.calls();
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    assert_eq!(s.calls(), calls + 1);
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
}

#[tokio::test]
async fn versions_are_never_answered_from_each_other() {
    let (c, _) = statics();
    let kv = kv_server(vec![]);
    let s = Server::new(|r: &ProxyRequest, _| kv.answer(r));
    s.send(
        &c,
        req(
            "PUT",
            "secret/data/app",
            Some("a"),
            r#"{"data":{"k":"v2"}}"#,
        ),
    )
    .await;
    for _ in 0..2 {
        for (target, want) in [
            ("secret/data/app?version=1", "v1"),
            ("secret/data/app?version=2", "v2"),
            ("secret/data/app", "v2"),
        ] {
            let (resp, _) = s.send(&c, req("GET", target, Some("a"), "")).await;
            assert_eq!(value_of(&resp), want, "{target}");
        }
    }
    assert_eq!(s.calls(), 4, "one write, three distinct reads");
}

#[tokio::test]
async fn a_write_through_the_proxy_evicts_the_secret_at_once() {
    let (c, _) = statics();
    let kv = kv_server(vec![]);
    let s = Server::new(|r: &ProxyRequest, _| kv.answer(r));
    for (read, write) in [
        ("secret/data/app", "secret/data/app"),
        ("secret/data/app", "secret/destroy/app"),
        ("kv/app", "kv/app"),
    ] {
        s.send(&c, req("GET", read, Some("a"), "")).await;
        let (_, st) = s.send(&c, req("GET", read, Some("a"), "")).await;
        assert_eq!(st, CacheStatus::Hit);
        s.send(&c, req("POST", write, Some("a"), r#"{"data":{}}"#))
            .await;
        let (resp, st) = s.send(&c, req("GET", read, Some("a"), "")).await;
        assert_eq!(st, CacheStatus::Miss, "{write} evicts {read}");
        assert_eq!(value_of(&resp), format!("v{}", kv.version.lock().unwrap()));
    }
    // A write elsewhere leaves it alone.
    s.send(&c, req("POST", "secret/data/other", Some("a"), "{}"))
        .await;
    let (_, st) = s.send(&c, req("GET", "kv/app", Some("a"), "")).await;
    assert_eq!(st, CacheStatus::Hit);
}

#[tokio::test(start_paused = true)]
async fn a_token_refused_on_its_recheck_is_no_longer_a_reader() {
    let (c, _) = statics();
    let open = kv_server(vec![]);
    let shut = kv_server(vec!["a"]);
    let s = Server::new(|r: &ProxyRequest, _| open.answer(r));
    let refusing = Server::new(|r: &ProxyRequest, _| shut.answer(r));
    s.send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    s.send(&c, req("GET", "secret/data/app", Some("b"), ""))
        .await;
    advance(Duration::from_secs(31)).await;
    let (resp, st) = refusing
        .send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    assert_eq!((resp.status.as_u16(), st), (403, CacheStatus::Miss));
    // Even once "b" has refreshed the entry, "a" is not served from it.
    s.send(&c, req("GET", "secret/data/app", Some("b"), ""))
        .await;
    let (resp, _) = refusing
        .send(&c, req("GET", "secret/data/app", Some("a"), ""))
        .await;
    assert_eq!(resp.status.as_u16(), 403);
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("b"), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    // A token revoked through the proxy is forgotten as a reader at once.
    let gone = Server::new(|_: &ProxyRequest, _| no_content());
    gone.send(&c, req("PUT", "auth/token/revoke-self", Some("b"), ""))
        .await;
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some("b"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
}
