//! The revocation check's schedule and what a revocation or a refresh makes due, with tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, advance};

use super::super::store::{Action, Replacing};
use super::super::tests::{engine, engine_at, engine_with, entry, lease, token};
use crate::backend::secret::{Secret, SecretRequest};
use crate::config::{Config, LeaseCheck};
use crate::lease::fetch::Fetched;

fn every(secs: u64) -> Config {
    Config {
        lease_check_interval: LeaseCheck(Some(Duration::from_secs(secs))),
        ..Config::default()
    }
}

/// Whether `at` is `every` ±15% after `from`.
fn within(at: Instant, from: Instant, every: u64) -> bool {
    let d = at - from;
    d >= Duration::from_secs(every).mul_f64(0.85) && d <= Duration::from_secs(every).mul_f64(1.15)
}

#[tokio::test(start_paused = true)]
async fn the_check_comes_every_interval_with_jitter() {
    let mut e = engine_with(every(60));
    e.schedule_check();
    let start = Instant::now();
    let at = e.check.map(|c| c.at).expect("scheduled");
    assert!(within(at, start, 60), "{:?}", at - start);
    // Nothing else is held: the check is what wakes the loop.
    assert_eq!(e.next_due(), Some(at));
    assert!(!e.check_due(Instant::now()));
    // Scheduling again keeps the time drawn (the loop calls it at every turn).
    e.schedule_check();
    assert_eq!(e.check.map(|c| c.at), Some(at));
    advance(at - start).await;
    let now = Instant::now();
    assert!(e.check_due(now));
    let next = e.check.map(|c| c.at).expect("rescheduled");
    assert!(within(next, now, 60), "{:?}", next - now);
    assert!(!e.check_due(now));
}

#[tokio::test(start_paused = true)]
async fn a_fleet_started_together_spreads_its_checks() {
    let start = Instant::now();
    let mut ats = Vec::new();
    for _ in 0..50 {
        let mut e = engine_with(every(300));
        e.schedule_check();
        ats.push(e.check.map(|c| c.at - start).expect("scheduled"));
    }
    ats.sort();
    let spread = ats[ats.len() - 1] - ats[0];
    assert!(spread >= Duration::from_secs(30), "{ats:?}");
}

#[tokio::test(start_paused = true)]
async fn zero_turns_the_check_off_and_the_default_is_five_minutes() {
    let mut e = engine_with(Config {
        lease_check_interval: LeaseCheck(None),
        ..Config::default()
    });
    e.schedule_check();
    assert!(e.check.is_none());
    assert_eq!(e.next_due(), None);
    assert!(!e.check_due(Instant::now() + Duration::from_secs(86_400)));
    let mut e = engine();
    e.schedule_check();
    let at = e.check.map(|c| c.at).expect("on by default");
    assert!(within(at, Instant::now(), 300));
}

#[tokio::test(start_paused = true)]
async fn a_reload_that_changes_the_interval_reschedules_the_check() {
    let mut e = engine_with(every(600));
    e.schedule_check();
    e.cfg = Arc::new(every(10));
    e.schedule_check();
    let at = e.check.map(|c| c.at).expect("scheduled");
    assert!(within(at, Instant::now(), 10));
    e.cfg = Arc::new(Config {
        lease_check_interval: LeaseCheck(None),
        ..Config::default()
    });
    e.schedule_check();
    assert!(e.check.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_revoked_token_ends_its_leases_now_and_a_login_is_due() {
    let mut e = engine();
    e.tokens.adopt(token("a", 3600, true));
    let r = lease(&mut e, "database/creds/app", 3600);
    let now = Instant::now();
    e.tokens.revoked(now);
    assert!(e.tokens.is_due(now));
    assert_eq!(e.entry_due(&r, entry(&e, &r)), (now, Action::Refetch));
    // After the login the old token's leases still end now, not at its nominal expiry.
    e.tokens.adopt(token("b", 3600, true));
    assert_eq!(e.tokens.old.get("a"), Some(&Some(now)));
    assert_eq!(e.entry_due(&r, entry(&e, &r)), (now, Action::Refetch));
    assert!(
        e.tokens.flags.revoked_at.is_none(),
        "the new token is alive"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refresh_makes_every_secret_due_now() {
    let mut e = engine();
    e.tokens.adopt(token("a", 3600, true));
    let db = lease(&mut e, "database/creds/app", 3600);
    let kv = SecretRequest::read("secret/data/app");
    e.insert(
        kv.clone(),
        Fetched {
            secret: Arc::new(Secret::default()),
            api_path: "secret/data/app".into(),
            mount: None,
        },
    );
    e.on_refresh();
    let now = Instant::now();
    for r in [&db, &kv] {
        let en = entry(&e, r);
        assert_eq!((en.due, en.action), (now, Action::Refetch));
        assert_eq!(en.replacing, Some(Replacing::Refresh));
    }
    assert_eq!(e.next_due(), Some(now));
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_server_never_counts_as_a_revocation() {
    let mut e = engine_with(every(60));
    e.tokens.adopt(token("a", 3600, true));
    let r = lease(&mut e, "database/creds/app", 3600);
    let due = entry(&e, &r).due;
    let now = Instant::now();
    e.check_held(now).await.expect("no login needed");
    let en = entry(&e, &r);
    assert_eq!(
        (en.due, en.action, en.replacing),
        (due, Action::Renew, None)
    );
    assert!(e.tokens.flags.revoked_at.is_none());
}

/// A stand-in for the server's lookups, as OpenBao answers them: `sys/leases/lookup` is 400 "invalid
/// lease" for a lease id containing `gone`, 403 for one containing `denied`, 200 otherwise;
/// `auth/token/lookup-self` is 403 for the token `revoked`, 200 otherwise. Returns its address.
async fn lookups() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then as many body bytes as `content-length` says.
                loop {
                    let text = String::from_utf8_lossy(&req).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if req.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).to_lowercase();
                let (status, body) = if text.contains("sys/leases/lookup") {
                    if text.contains("gone") {
                        ("400 Bad Request", r#"{"errors":["invalid lease"]}"#)
                    } else if text.contains("denied") {
                        ("403 Forbidden", r#"{"errors":["permission denied"]}"#)
                    } else {
                        ("200 OK", r#"{"data":{"ttl":3000,"renewable":true}}"#)
                    }
                } else if text.contains("x-vault-token: revoked") {
                    ("403 Forbidden", r#"{"errors":["permission denied"]}"#)
                } else {
                    (
                        "200 OK",
                        r#"{"data":{"ttl":3000,"renewable":true,"accessor":"x"}}"#,
                    )
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// The check looks up every lease and token the cache holds with the token that created it: a lease the
/// server no longer knows, and a token it refuses (with what was created under it), are evicted; a lease
/// it exists but the token may not look up stays.
#[tokio::test]
async fn the_check_evicts_what_the_cache_holds_that_is_gone() {
    use secrecy::SecretString;

    use crate::lease::proxied::{HeldKind, NewHeld, Parent};

    let mut e = engine_at(&lookups().await, every(60));
    let held = |kind: HeldKind, token: &str, parent: Parent| NewHeld {
        kind,
        renew_with: SecretString::from(token.to_string()),
        parent,
        path: "database/creds/app".into(),
        ttl: Duration::from_secs(3600),
        renewable: true,
    };
    let lease = |id: &str| HeldKind::Lease {
        lease_id: id.into(),
    };
    let leases = e.proxy_leases();
    let (alive, gone, denied, child) = {
        let mut t = leases.lock();
        let token = t.hold(held(
            HeldKind::Token {
                accessor: "acc".into(),
                print: leases.token_print(&SecretString::from("revoked".to_string())),
            },
            "revoked",
            Parent::None,
        ));
        (
            t.hold(held(lease("database/creds/app/alive"), "t", Parent::None)),
            t.hold(held(lease("database/creds/app/gone"), "t", Parent::None)),
            t.hold(held(lease("database/creds/app/denied"), "t", Parent::None)),
            t.hold(held(
                lease("database/creds/app/child"),
                "revoked",
                Parent::Held(token),
            )),
        )
    };
    e.check_held(Instant::now()).await.expect("no login");
    let t = leases.lock();
    assert!(t.get(alive).is_some() && t.get(denied).is_some());
    assert!(t.get(gone).is_none(), "the revoked lease is evicted");
    assert!(
        t.get(child).is_none(),
        "the revoked token goes with its leases"
    );
    assert_eq!(t.len(), 2);
}
