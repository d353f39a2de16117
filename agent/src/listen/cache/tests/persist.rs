//! The cache across a restart (`cache { persist }`): its part of the state document written, read into
//! a new table and cache, and the same response served again; what expired meanwhile is dropped, and a
//! part of another version is ignored.

use std::time::{Duration, SystemTime};

use super::*;

/// A cache that answered one `database/creds/app` (lease `database/creds/app/1`, 30 s) and its part of
/// the state document, as the JSON text the document holds, written at `wall`.
async fn saved_after_one_read(wall: SystemTime) -> (String, ProxyResponse) {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(creds);
    let (first, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let part = leases.export_at(Instant::now(), wall).unwrap();
    (serde_json::to_string(&part).unwrap(), first)
}

#[tokio::test]
async fn a_restored_cache_serves_the_same_lease_without_asking_the_server() {
    let wall = SystemTime::now();
    let (text, first) = saved_after_one_read(wall).await;
    let later = wall + Duration::from_secs(5);
    // The restart: the engine restores before the proxy makes its cache, and the other way round.
    for cache_first in [false, true] {
        let leases = ProxyLeases::new(2.0 / 3.0);
        let c = cache_first.then(|| cache_over(CacheConfig::default(), &leases));
        leases.restore_at(serde_json::from_str(&text).unwrap(), Instant::now(), later);
        let c = c.unwrap_or_else(|| cache_over(CacheConfig::default(), &leases));
        let s = Server::new(creds);
        let (again, st) = s
            .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
            .await;
        assert_eq!(st, CacheStatus::Hit, "cache made first: {cache_first}");
        assert_eq!(s.calls(), 0);
        assert_eq!(lease_of(&again), lease_of(&first));
        assert_eq!(again.body, first.body);
        // Held again, renewed by the engine from what was left of it.
        let table = leases.lock();
        let id = table.lease_id("database/creds/app/1").unwrap();
        let left = table.get(id).unwrap().expires_at - Instant::now();
        assert!(left <= Duration::from_secs(25), "{left:?}");
        assert!(table.servable(id, Instant::now()));
    }
}

#[tokio::test]
async fn a_lease_that_expired_while_the_agent_was_down_is_dropped() {
    let wall = SystemTime::now();
    let (text, first) = saved_after_one_read(wall).await;
    let leases = ProxyLeases::new(2.0 / 3.0);
    let c = cache_over(CacheConfig::default(), &leases);
    let later = wall + Duration::from_secs(31);
    leases.restore_at(serde_json::from_str(&text).unwrap(), Instant::now(), later);
    assert_eq!(leases.lock().len(), 0);
    // The server issues the next lease.
    let s = Server::new(|r: &ProxyRequest, n| creds(r, n + 1));
    let (again, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    assert_eq!(s.calls(), 1);
    assert_eq!(lease_of(&again), "database/creds/app/2");
    assert_ne!(lease_of(&again), lease_of(&first));
}

#[tokio::test]
async fn a_cache_part_of_another_version_or_garbled_is_ignored() {
    let wall = SystemTime::now();
    let (text, _) = saved_after_one_read(wall).await;
    let mut newer: Value = serde_json::from_str(&text).unwrap();
    newer["v"] = json!(2);
    let mut no_key: Value = serde_json::from_str(&text).unwrap();
    no_key["key"] = json!("00");
    for part in [newer, no_key, json!({"held": "garbled"})] {
        let leases = ProxyLeases::new(2.0 / 3.0);
        let c = cache_over(CacheConfig::default(), &leases);
        leases.restore_at(part, Instant::now(), wall);
        assert_eq!(leases.lock().len(), 0);
        let s = Server::new(creds);
        let (_, st) = s
            .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
            .await;
        assert_eq!(st, CacheStatus::Miss);
    }
}

#[tokio::test]
async fn a_token_made_through_the_proxy_comes_back_with_its_leases_and_the_same_key() {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(|r: &ProxyRequest, n| match r.path.as_str() {
        "auth/approle/login" => reply(
            200,
            &json!({"auth": {"client_token": "login-token", "accessor": "acc-1",
                "lease_duration": 600, "renewable": true, "orphan": true}}),
        ),
        _ => creds(r, n),
    });
    let login = r#"{"role_id":"r","secret_id":"s"}"#;
    s.send(&c, req("POST", "auth/approle/login", None, login))
        .await;
    s.send(
        &c,
        req("GET", "database/creds/app", Some("login-token"), ""),
    )
    .await;
    let wall = SystemTime::now();
    let text = serde_json::to_string(&leases.export_at(Instant::now(), wall).unwrap()).unwrap();
    // Nothing of the responses' secrets is in what a log or a dump could show.
    assert!(!format!("{leases:?}{c:?}").contains("login-token"));

    let restored = ProxyLeases::new(2.0 / 3.0);
    let c2 = cache_over(CacheConfig::default(), &restored);
    restored.restore_at(serde_json::from_str(&text).unwrap(), Instant::now(), wall);
    assert_eq!(
        restored.token_print(&token("login-token")),
        leases.token_print(&token("login-token"))
    );
    let s2 = Server::new(creds);
    let (_, st) = s2
        .send(&c2, req("POST", "auth/approle/login", None, login))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    let (lease, st) = s2
        .send(
            &c2,
            req("GET", "database/creds/app", Some("login-token"), ""),
        )
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(lease_of(&lease), "database/creds/app/2");
    // The lease still dies with its token: revoking the token through the proxy evicts both.
    assert_eq!(
        restored
            .lock()
            .evict_token(Some(restored.token_print(&token("login-token"))), None),
        2
    );
}
