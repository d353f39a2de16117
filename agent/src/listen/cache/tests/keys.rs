//! Keys by meaning: the same request spelled differently hits; a different parameter or token misses.

use super::*;

#[tokio::test]
async fn reordered_query_parameters_and_json_keys_hit_the_same_entry() {
    let (c, _) = cache(CacheConfig::default());
    let s = Server::new(creds);
    let (a, st) = s
        .send(
            &c,
            req("GET", "database/creds/app?b=2&a=1", Some(AGENT), ""),
        )
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (b, st) = s
        .send(
            &c,
            req("GET", "database/creds/app?a=1&b=2", Some(AGENT), ""),
        )
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(lease_of(&a), lease_of(&b));
    // A write's JSON body compared as canonical JSON: key order and spacing do not matter.
    let (x, _) = s
        .send(
            &c,
            req(
                "PUT",
                "database/creds/app",
                Some(AGENT),
                r#"{"ttl":"1h","role":"r"}"#,
            ),
        )
        .await;
    let (y, st) = s
        .send(
            &c,
            req(
                "POST",
                "database/creds/app",
                Some(AGENT),
                r#"{ "role": "r", "ttl": "1h" }"#,
            ),
        )
        .await;
    assert_eq!(st, CacheStatus::Hit, "PUT and POST mean the same write");
    assert_eq!(lease_of(&x), lease_of(&y));
    assert_eq!(s.calls(), 2);
}

#[tokio::test]
async fn a_different_version_or_parameter_is_a_different_entry() {
    let (c, _) = cache(CacheConfig::default());
    let s = Server::new(creds);
    let (v1, _) = s
        .send(&c, req("GET", "secret/data/app?version=1", Some(AGENT), ""))
        .await;
    let (v2, st) = s
        .send(&c, req("GET", "secret/data/app?version=2", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    assert_ne!(lease_of(&v1), lease_of(&v2));
    let (_, st) = s
        .send(&c, req("GET", "secret/data/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss, "no version is not version 1 or 2");
    let (w, st) = s
        .send(&c, req("GET", "secret/data/app?version=1", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(lease_of(&w), lease_of(&v1));
    let (_, st) = s
        .send(
            &c,
            req("PUT", "database/creds/app", Some(AGENT), r#"{"ttl":"2h"}"#),
        )
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (_, st) = s
        .send(
            &c,
            req("PUT", "database/creds/app", Some(AGENT), r#"{"ttl":"3h"}"#),
        )
        .await;
    assert_eq!(st, CacheStatus::Miss);
}

#[tokio::test]
async fn another_token_never_gets_an_entry_it_did_not_create() {
    let (c, leases) = cache(CacheConfig::default());
    // A second managed token: created through the proxy by the agent's token.
    let s = Server::new(|r: &ProxyRequest, n| {
        if r.path == "auth/token/create" {
            reply(
                200,
                &json!({"auth": {"client_token": "child", "accessor": "child-acc",
                    "lease_duration": 600, "renewable": true, "orphan": false}}),
            )
        } else {
            creds(r, n)
        }
    });
    s.send(&c, req("POST", "auth/token/create", Some(AGENT), "{}"))
        .await;
    assert!(
        leases
            .lock()
            .manager_of(leases.token_print(&token("child")))
            .is_some()
    );
    let (a, _) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    let (b, st) = s
        .send(&c, req("GET", "database/creds/app", Some("child"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    assert_ne!(lease_of(&a), lease_of(&b));
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some("stranger"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (_, st) = s.send(&c, req("GET", "database/creds/app", None, "")).await;
    assert_eq!(st, CacheStatus::Miss);
}

#[tokio::test]
async fn paths_are_compared_normalized_and_dot_segments_pass_through() {
    let (c, _) = cache(CacheConfig::default());
    let s = Server::new(creds);
    s.send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    for same in [
        "/database//creds///app",
        "database/cred%73/app",
        "database/creds/app?",
    ] {
        let (_, st) = s.send(&c, req("GET", same, Some(AGENT), "")).await;
        assert_eq!(st, CacheStatus::Hit, "{same}");
    }
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app/", Some(AGENT), ""))
        .await;
    assert_eq!(
        st,
        CacheStatus::Miss,
        "a trailing slash is another path to Vault"
    );
    let (_, st) = s
        .send(&c, req("GET", "database/creds/x/../app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Bypass);
    let (_, st) = s
        .send(&c, req("GET", "database/creds/%2e%2e/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Bypass);
}

#[tokio::test]
async fn a_list_is_never_a_read() {
    let (c, _) = cache(CacheConfig::default());
    let s = Server::new(creds);
    let (_, st) = s
        .send(
            &c,
            req("GET", "database/creds/app?list=true", Some(AGENT), ""),
        )
        .await;
    assert_eq!(st, CacheStatus::Bypass);
    let (_, st) = s
        .send(&c, req("LIST", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Bypass);
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
}

#[tokio::test(start_paused = true)]
async fn identical_requests_made_together_are_forwarded_once() {
    let (c, _) = cache(CacheConfig::default());
    let calls = AtomicUsize::new(0);
    let send = || {
        c.handle(
            req("GET", "database/creds/app", Some(AGENT), ""),
            |r| async {
                let r = r;
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok::<_, Infallible>(creds(&r, n))
            },
        )
    };
    let (a, b) = tokio::join!(send(), send());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(lease_of(&a.0), lease_of(&b.0));
    assert_eq!(
        [a.1, b.1]
            .iter()
            .filter(|s| **s == CacheStatus::Hit)
            .count(),
        1
    );
    assert!(
        c.inflight.lock().unwrap().is_empty(),
        "the per-key locks are forgotten"
    );
}

#[tokio::test]
async fn the_cache_is_shared_across_tasks() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(t: T) -> T {
        t
    }
    let (c, _) = cache(CacheConfig {
        cache_static_secrets: true,
        ..CacheConfig::default()
    });
    send_sync(&c);
    let c = std::sync::Arc::new(c);
    let task = send(async move {
        let s = Server::new(creds);
        s.send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
            .await
            .1
    });
    assert_eq!(tokio::spawn(task).await.unwrap(), CacheStatus::Miss);
}

#[test]
fn the_cache_sees_what_it_may_hold_and_lease_operations_but_not_other_sys_paths() {
    use hyper::Method;
    let sees = super::super::sees;
    assert!(sees(&Method::GET, "database/creds/app"));
    assert!(sees(&Method::POST, "auth/token/create"));
    assert!(sees(&Method::PUT, "sys/leases/renew"));
    assert!(sees(&Method::PUT, "sys/revoke-prefix/database/"));
    assert!(!sees(&Method::GET, "sys/health"));
    assert!(!sees(&Method::PUT, "sys/wrapping/unwrap"));
    assert!(!sees(&Method::HEAD, "secret/data/app"));
}
