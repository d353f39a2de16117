//! The revocation check's schedule and what a revocation or a refresh makes due, with tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, advance};

use super::super::store::{Action, Replacing};
use super::super::tests::{engine, engine_with, entry, lease, token};
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
    assert_eq!(e.entry_due(entry(&e, &r)), (now, Action::Refetch));
    // After the login the old token's leases still end now, not at its nominal expiry.
    e.tokens.adopt(token("b", 3600, true));
    assert_eq!(e.tokens.old.get("a"), Some(&Some(now)));
    assert_eq!(e.entry_due(entry(&e, &r)), (now, Action::Refetch));
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
