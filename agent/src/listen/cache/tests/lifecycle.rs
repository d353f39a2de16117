//! What is stored and for how long: leases and tokens under managed tokens, renewals that update (never
//! add), revocations and evictions that are never served again, and the cache-clear API.

use std::time::Duration;

use tokio::time::advance;

use super::*;
use crate::lease::proxied::Renewal;
use crate::lease::schedule::Backoff;

const BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(1),
};

#[tokio::test]
async fn only_leases_under_managed_tokens_and_tokens_made_through_the_proxy_are_stored() {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(|r: &ProxyRequest, n| match r.path.as_str() {
        "auth/approle/login" => reply(
            200,
            &json!({"auth": {"client_token": format!("login-{n}"), "accessor": format!("acc-{n}"),
                "lease_duration": 600, "renewable": true, "orphan": true}}),
        ),
        "secret/data/app" => reply(
            200,
            &json!({"data": {"data": {"k": "v"}, "metadata": {"version": 1}}}),
        ),
        "database/creds/denied" => reply(403, &json!({"errors": ["permission denied"]})),
        "sys/wrapping/wrap" | "database/creds/wrapped" => {
            reply(200, &json!({"wrap_info": {"token": "w", "ttl": 60}}))
        }
        _ => creds(r, n),
    });
    // A login is an orphan token: stored whoever asks.
    let (a, st) = s
        .send(
            &c,
            req(
                "POST",
                "auth/approle/login",
                None,
                r#"{"role_id":"r","secret_id":"s"}"#,
            ),
        )
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (b, st) = s
        .send(
            &c,
            req(
                "POST",
                "auth/approle/login",
                None,
                r#"{"secret_id":"s","role_id":"r"}"#,
            ),
        )
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(a.body, b.body);
    // A lease created with that token is held under it.
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some("login-1"), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some("login-1"), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    // Leases under an unmanaged token, KV without cache_static_secrets, errors, wrapped answers: never.
    for (path, tok) in [
        ("database/creds/app", "stranger"),
        ("secret/data/app", AGENT),
        ("database/creds/denied", AGENT),
        ("database/creds/wrapped", AGENT),
    ] {
        for _ in 0..2 {
            let (_, st) = s.send(&c, req("GET", path, Some(tok), "")).await;
            assert_eq!(st, CacheStatus::Miss, "{path} with {tok}");
        }
    }
    assert_eq!(leases.lock().len(), 2, "the login and its lease");
}

#[tokio::test]
async fn disable_caching_dynamic_secrets_stores_no_lease() {
    let cfg = CacheConfig {
        cache_static_secrets: true,
        disable_caching_dynamic_secrets: true,
        ..CacheConfig::default()
    };
    let (c, leases) = cache(cfg);
    let s = Server::new(creds);
    for _ in 0..2 {
        let (_, st) = s
            .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
            .await;
        assert_eq!(st, CacheStatus::Miss);
    }
    assert_eq!(leases.lock().len(), 0);
}

#[tokio::test]
async fn a_renewal_passes_through_and_extends_the_held_lease_without_a_new_entry() {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(|r: &ProxyRequest, n| match r.path.as_str() {
        "sys/leases/renew" => reply(
            200,
            &json!({"lease_id": "database/creds/app/1", "lease_duration": 45, "renewable": true}),
        ),
        _ => creds(r, n),
    });
    let (first, _) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    let id = leases.lock().lease_id(&lease_of(&first)).unwrap();
    let before = leases.lock().get(id).unwrap().expires_at;
    let body = r#"{"lease_id":"database/creds/app/1","increment":45}"#;
    for _ in 0..2 {
        let (resp, st) = s
            .send(&c, req("PUT", "sys/leases/renew", Some(AGENT), body))
            .await;
        assert_eq!(st, CacheStatus::Bypass);
        assert_eq!(lease_of(&resp), "database/creds/app/1");
    }
    assert_eq!(s.calls(), 3, "both renewals reached the server");
    assert_eq!(
        leases.lock().len(),
        1,
        "a renewal's answer is not a new lease"
    );
    let after = leases.lock().get(id).unwrap().expires_at;
    assert!(
        after > before,
        "the held lease's expiry follows the renewal"
    );
    let (again, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(lease_of(&again), lease_of(&first));
}

#[tokio::test]
async fn a_revocation_through_the_proxy_evicts_what_it_covers() {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(|r: &ProxyRequest, n| match r.path.as_str() {
        "auth/token/create" => reply(
            200,
            &json!({"auth": {"client_token": "child", "accessor": "child-acc",
                "lease_duration": 600, "renewable": true, "orphan": false}}),
        ),
        p if p.starts_with("sys/") || p.starts_with("auth/token/revoke") => no_content(),
        _ => creds(r, n),
    });
    let miss = |st| assert_eq!(st, CacheStatus::Miss);
    // One lease by id (body), then by prefix (path).
    let (a, _) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    let body = format!(r#"{{"lease_id":"{}"}}"#, lease_of(&a));
    let (_, st) = s
        .send(&c, req("PUT", "sys/leases/revoke", Some(AGENT), &body))
        .await;
    assert_eq!(st, CacheStatus::Bypass);
    let (b, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    miss(st);
    assert_ne!(lease_of(&a), lease_of(&b));
    s.send(
        &c,
        req(
            "PUT",
            "sys/leases/revoke-prefix/database/creds",
            Some(AGENT),
            "",
        ),
    )
    .await;
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    miss(st);
    // A child token and its lease go together.
    s.send(&c, req("POST", "auth/token/create", Some(AGENT), ""))
        .await;
    s.send(&c, req("GET", "database/creds/app", Some("child"), ""))
        .await;
    let held = leases.lock().len();
    s.send(
        &c,
        req(
            "PUT",
            "auth/token/revoke-accessor",
            Some(AGENT),
            r#"{"accessor":"child-acc"}"#,
        ),
    )
    .await;
    assert_eq!(leases.lock().len(), held - 2);
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some("child"), ""))
        .await;
    miss(st);
    // A revocation the server refused evicts nothing.
    let refused =
        Server::new(|_: &ProxyRequest, _| reply(403, &json!({"errors": ["permission denied"]})));
    let (resp, _) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    let body = format!(r#"{{"lease_id":"{}"}}"#, lease_of(&resp));
    refused
        .send(&c, req("PUT", "sys/leases/revoke", Some(AGENT), &body))
        .await;
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
}

#[tokio::test]
async fn a_lease_the_engine_found_gone_is_never_served_again() {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(creds);
    let (a, _) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    let id = leases.lock().lease_id(&lease_of(&a)).unwrap();
    // What the engine does when a renewal (confirmed by a lookup) says the lease is gone.
    leases
        .lock()
        .apply(id, Renewal::Gone, Instant::now(), &BACKOFF);
    let (b, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    assert_ne!(lease_of(&a), lease_of(&b));
}

#[tokio::test(start_paused = true)]
async fn an_entry_past_its_effective_expiry_is_never_served() {
    let (c, _) = cache(CacheConfig::default());
    let s = Server::new(creds);
    s.send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    advance(Duration::from_secs(29)).await;
    let (resp, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Hit);
    assert_eq!(resp.headers.get(header::AGE).unwrap(), "29");
    // Not renewed (no engine here): at 30 s the lease is over.
    advance(Duration::from_secs(1)).await;
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
}

#[tokio::test]
async fn cache_clear_takes_vaults_body_and_evicts_by_each_type() {
    let (c, leases) = cache(CacheConfig::default());
    let s = Server::new(|r: &ProxyRequest, n| match r.path.as_str() {
        "auth/token/create" => reply(
            200,
            &json!({"auth": {"client_token": "child", "accessor": "child-acc",
                "lease_duration": 600, "renewable": true, "orphan": false}}),
        ),
        _ => creds(r, n),
    });
    let fill = || async {
        s.send(&c, req("POST", "auth/token/create", Some(AGENT), ""))
            .await;
        let (a, _) = s
            .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
            .await;
        s.send(&c, req("GET", "database/creds/other", Some("child"), ""))
            .await;
        lease_of(&a)
    };
    let lease = fill().await;
    assert_eq!(leases.lock().len(), 3);
    c.clear(format!(r#"{{"type":"lease","value":"{lease}"}}"#).as_bytes())
        .await
        .unwrap();
    assert_eq!(leases.lock().len(), 2);
    c.clear(br#"{"type":"token","value":"child"}"#)
        .await
        .unwrap();
    assert_eq!(
        leases.lock().len(),
        0,
        "the token and the lease made with it"
    );
    fill().await;
    c.clear(br#"{"type":"token_accessor","value":"child-acc"}"#)
        .await
        .unwrap();
    assert_eq!(leases.lock().len(), 1);
    c.clear(br#"{"type":"request_path","value":"/v1/database/creds/"}"#)
        .await
        .unwrap();
    assert_eq!(leases.lock().len(), 0);
    let (_, st) = s
        .send(&c, req("GET", "database/creds/app", Some(AGENT), ""))
        .await;
    assert_eq!(st, CacheStatus::Miss);
    // A request path in another namespace is another path.
    c.clear(br#"{"type":"request_path","value":"database","namespace":"team"}"#)
        .await
        .unwrap();
    assert_eq!(leases.lock().len(), 1);
    fill().await;
    c.clear(br#"{"type":"all"}"#).await.unwrap();
    assert_eq!(leases.lock().len(), 0);
    assert!(c.lock_entries().map.is_empty());
    for (body, why) in [
        (&br#"{"type":"everything"}"#[..], "invalid type"),
        (br#"{"type":"lease"}"#, "lease not provided"),
        (br#"{"value":"x"}"#, "no type"),
        (b"not json", "failed to parse JSON"),
    ] {
        let e = c.clear(body).await.unwrap_err();
        assert!(e.contains(why), "{e}");
    }
}
