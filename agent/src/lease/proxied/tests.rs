//! The scheduling rule of the cache's leases, with tokio's paused clock: renewal at the threshold,
//! effective expiry under the parent token, capped leases dropped a third of their life before the end,
//! eviction of a token's tree, and the engine's next due time.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::{Instant, advance};

use super::{HeldKind, NewHeld, Parent, ProxyLeases, Renewal, Step, Table};
use crate::lease::schedule::Backoff;

const BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn lease(id: &str, parent: Parent, ttl: u64, renewable: bool) -> NewHeld {
    NewHeld {
        kind: HeldKind::Lease {
            lease_id: id.into(),
        },
        renew_with: SecretString::from("t".to_string()),
        parent,
        path: "database/creds/app".into(),
        ttl: secs(ttl),
        renewable,
    }
}

/// A table whose agent token (fingerprint returned) lives `ttl` seconds, final or not.
fn with_auto(l: &ProxyLeases, ttl: Option<u64>, is_final: bool) -> (Table, super::Fingerprint) {
    let print = l.token_print(&SecretString::from("agent".to_string()));
    let mut t = Table::new(2.0 / 3.0);
    let exp = ttl.map(|s| Instant::now() + secs(s));
    t.set_auto(
        Some((print, "acc".into(), exp, is_final)),
        &HashMap::new(),
        Instant::now(),
    );
    (t, print)
}

#[tokio::test(start_paused = true)]
async fn a_cached_lease_is_renewed_at_two_thirds_of_its_ttl() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, Some(3600), false);
    let id = t.hold(lease("database/creds/app/a", Parent::Auto(auto), 30, true));
    let (at, step) = t.due(id).unwrap();
    assert_eq!(step, Step::Renew);
    let after = at - Instant::now();
    assert!(after >= secs(18) && after <= secs(22), "{after:?}");
    assert_eq!(t.next_due(), Some(at));
    assert!(t.due_now(Instant::now()).is_empty());
    advance(after).await;
    assert_eq!(t.due_now(Instant::now()), vec![(id, Step::Renew)]);
    // Renewed for the whole TTL again: next renewal two thirds later, still served.
    t.apply(
        id,
        Renewal::Granted {
            ttl: secs(30),
            renewable: true,
            asked: None,
        },
        Instant::now(),
        &BACKOFF,
    );
    let (at, step) = t.due(id).unwrap();
    assert_eq!(step, Step::Renew);
    assert!(at - Instant::now() >= secs(18));
    assert!(t.servable(id, Instant::now() + secs(29)));
    assert!(!t.servable(id, Instant::now() + secs(30)));
}

#[tokio::test(start_paused = true)]
async fn a_capped_renewal_ends_serving_a_third_of_the_life_before_the_end() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, Some(3600), false);
    let id = t.hold(lease("database/creds/app/b", Parent::Auto(auto), 30, true));
    advance(secs(20)).await;
    // The max TTL allows only 24 s more: a success that is final.
    t.apply(
        id,
        Renewal::Granted {
            ttl: secs(24),
            renewable: true,
            asked: None,
        },
        Instant::now(),
        &BACKOFF,
    );
    let (at, step) = t.due(id).unwrap();
    assert_eq!(step, Step::Drop);
    assert_eq!(
        at,
        Instant::now() + secs(14),
        "24 s left minus a third of 30 s"
    );
    assert!(t.servable(id, Instant::now() + secs(13)));
    assert!(!t.servable(id, Instant::now() + secs(14)));
}

#[tokio::test(start_paused = true)]
async fn the_parent_token_bounds_the_effective_expiry() {
    let l = ProxyLeases::new(2.0 / 3.0);
    // The agent's token cannot be extended and dies in 60 s: a 300 s lease under it dies then too.
    let (mut t, auto) = with_auto(&l, Some(60), true);
    let id = t.hold(lease("database/creds/app/c", Parent::Auto(auto), 300, true));
    let (at, step) = t.due(id).unwrap();
    assert_eq!(step, Step::Drop);
    assert_eq!(
        at,
        Instant::now(),
        "60 s left is less than a third of 300 s"
    );
    // A renewable agent token bounds nothing: the lease is renewed on its own schedule.
    let (mut t, auto) = with_auto(&l, Some(60), false);
    let id = t.hold(lease("database/creds/app/d", Parent::Auto(auto), 30, true));
    assert_eq!(t.due(id).unwrap().1, Step::Renew);
}

#[tokio::test(start_paused = true)]
async fn a_replaced_agent_token_ends_its_leases_and_an_expired_one_drops_them() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, old) = with_auto(&l, Some(120), false);
    let id = t.hold(lease("database/creds/app/e", Parent::Auto(old), 30, true));
    let new = l.token_print(&SecretString::from("agent-2".to_string()));
    let start = Instant::now();
    let replaced = HashMap::from([("acc".to_string(), Some(start + secs(45)))]);
    t.set_auto(
        Some((new, "acc2".into(), None, false)),
        &replaced,
        Instant::now(),
    );
    assert_eq!(t.manager_of(old), Some(Parent::Auto(old)));
    // Until renewed, the lease's own expiry comes first.
    assert_eq!(t.serve_until(id), Some(start + secs(30)));
    advance(secs(20)).await;
    t.apply(
        id,
        Renewal::Granted {
            ttl: secs(30),
            renewable: true,
            asked: None,
        },
        Instant::now(),
        &BACKOFF,
    );
    // Renewed to 50 s, but the replaced token dies at 45 s: served until a third of 30 s before that.
    assert_eq!(t.serve_until(id), Some(start + secs(35)));
    assert_eq!(t.due(id), Some((start + secs(35), Step::Drop)));
    advance(secs(26)).await;
    t.set_auto(
        Some((new, "acc2".into(), None, false)),
        &replaced,
        Instant::now(),
    );
    assert_eq!(t.manager_of(old), None, "an expired token manages nothing");
    assert!(!t.servable(id, Instant::now()));
    assert_eq!(t.due_now(Instant::now()), vec![(id, Step::Drop)]);
}

#[tokio::test(start_paused = true)]
async fn a_lease_gone_on_the_server_is_evicted_and_a_transient_failure_backs_off() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, None, false);
    let id = t.hold(lease("database/creds/app/f", Parent::Auto(auto), 30, true));
    advance(secs(21)).await;
    t.apply(id, Renewal::Transient, Instant::now(), &BACKOFF);
    let (at, step) = t.due(id).unwrap();
    assert_eq!(step, Step::Renew);
    let wait = at - Instant::now();
    assert!(
        wait >= secs(1) && wait <= Duration::from_millis(1250),
        "{wait:?}"
    );
    let before = t.evictions();
    t.apply(id, Renewal::Gone, Instant::now(), &BACKOFF);
    assert!(t.get(id).is_none());
    assert!(!t.servable(id, Instant::now()));
    assert_eq!(t.lease_id("database/creds/app/f"), None);
    assert!(t.evictions() > before);
    assert_eq!(t.next_due(), None);
}

#[tokio::test(start_paused = true)]
async fn revoking_a_token_evicts_everything_created_under_it() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, None, false);
    let child = l.token_print(&SecretString::from("child".to_string()));
    let tok = t.hold(NewHeld {
        kind: HeldKind::Token {
            accessor: "child-acc".into(),
            print: child,
        },
        renew_with: SecretString::from("child".to_string()),
        parent: Parent::Auto(auto),
        path: "auth/token/create".into(),
        ttl: secs(600),
        renewable: true,
    });
    assert_eq!(t.manager_of(child), Some(Parent::Held(tok)));
    let a = t.hold(lease("database/creds/app/g", Parent::Held(tok), 30, true));
    let b = t.hold(lease("database/creds/app/h", Parent::Auto(auto), 30, true));
    // The lease under the child token lives no longer than it.
    assert!(t.serve_until(a) <= t.serve_until(tok));
    assert_eq!(t.evict_token(None, Some("child-acc")), 2);
    assert!(t.get(a).is_none() && t.get(tok).is_none());
    assert!(t.get(b).is_some());
    // The agent's own token revoked through the proxy: what is held under it goes.
    assert_eq!(t.evict_token(Some(auto), None), 1);
    assert_eq!(t.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn revoke_prefix_matches_a_lease_id_or_a_path_prefix() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, None, false);
    let a = t.hold(lease("database/creds/app/1", Parent::Auto(auto), 30, true));
    let b = t.hold(lease(
        "database/creds/apple/2",
        Parent::Auto(auto),
        30,
        true,
    ));
    assert_eq!(t.evict_prefix("database/creds/app"), 1);
    assert!(t.get(a).is_none() && t.get(b).is_some());
    assert_eq!(t.evict_prefix("database/creds/apple/2"), 1);
    assert_eq!(t.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_renewal_by_a_caller_moves_the_schedule_without_making_it_final() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, None, false);
    let id = t.hold(lease("database/creds/app/i", Parent::Auto(auto), 30, true));
    advance(secs(10)).await;
    // `increment=10` granted in full: not capped.
    t.apply(
        id,
        Renewal::Granted {
            ttl: secs(10),
            renewable: true,
            asked: Some(secs(10)),
        },
        Instant::now(),
        &BACKOFF,
    );
    let (at, step) = t.due(id).unwrap();
    assert_eq!(step, Step::Renew);
    assert!(at - Instant::now() <= secs(8));
    assert_eq!(t.serve_until(id), Some(Instant::now() + secs(10)));
}

#[tokio::test(start_paused = true)]
async fn clearing_the_cache_keeps_the_workloads_tokens() {
    let l = ProxyLeases::new(2.0 / 3.0);
    let (mut t, auto) = with_auto(&l, Some(3600), false);
    let secret = SecretString::from("s.billing".to_string());
    let token = NewHeld {
        kind: HeldKind::Token {
            accessor: "acc-billing".into(),
            print: l.token_print(&secret),
        },
        renew_with: secret,
        parent: Parent::Auto(auto),
        path: "auth/token/create/workloads".into(),
        ttl: secs(3600),
        renewable: true,
    };
    let kept = t.hold_workload_token(token, "billing", l.fingerprint(&[b"settings"]));
    let cached = t.hold(lease("database/creds/app/a", Parent::Auto(auto), 300, true));
    t.clear();
    assert!(t.get(cached).is_none(), "the cache's lease is dropped");
    assert!(t.get(kept).is_some());
    let (_, accessor) = t.workload_token("billing", None, Instant::now()).unwrap();
    assert_eq!(
        accessor, "acc-billing",
        "the workload's token is still served"
    );
    assert_eq!(t.token_id(None, Some("acc-billing")), Some(kept));
}

// === the engine's loop ===

mod saved;

mod engine {
    use std::sync::Arc;

    use super::*;
    use crate::audit::{Auditor, Identity};
    use crate::auth::Token;
    use crate::backend::Client;
    use crate::config::Config;
    use crate::lease::engine::Engine;
    use crate::lease::token::Reach;
    use crate::runtime::ProcessEnv;

    /// An engine whose backend is unreachable (nothing listens on port 9), with a token of an hour.
    pub(super) fn engine() -> Engine {
        let client = Client::plain("http://127.0.0.1:9");
        let mut e = Engine::new(
            Arc::new(Config::default()),
            client,
            Vec::new(),
            Vec::new(),
            Auditor::disabled(),
            Arc::new(ProcessEnv),
            false,
        );
        e.tokens.adopt(Token {
            secret: SecretString::from("agent".to_string()),
            accessor: "acc".into(),
            ttl: secs(3600),
            renewable: true,
            issued_at: Instant::now(),
            identity: Identity::default(),
            policies: Vec::new(),
            request_id: String::new(),
        });
        e
    }

    #[tokio::test(start_paused = true)]
    async fn the_engine_schedules_a_cached_lease_and_backs_off_when_its_renewal_cannot_reach_the_server()
     {
        let mut e = engine();
        let leases = e.proxy_leases();
        e.sync_proxied();
        let agent = leases.token_print(&SecretString::from("agent".to_string()));
        assert_eq!(leases.lock().manager_of(agent), Some(Parent::Auto(agent)));
        let token_due = e.tokens.due.unwrap();
        let id = leases
            .lock()
            .hold(lease("database/creds/app/1", Parent::Auto(agent), 30, true));
        // The one loop's next wake-up is the cached lease's renewal, not a timer of its own.
        let due = e.next_due().unwrap();
        assert!(due < token_due);
        let wait = due - Instant::now();
        assert!(wait >= secs(18) && wait <= secs(22), "{wait:?}");
        advance(wait).await;
        let reach = e.maintain_proxied(Instant::now()).await;
        assert_eq!(reach, Reach::Unreachable);
        // Kept (an outage is not a revocation) and tried again after a backoff, well before it expires.
        assert!(leases.lock().servable(id, Instant::now()));
        let (at, step) = leases.lock().due(id).unwrap();
        assert_eq!(step, Step::Renew);
        assert!(
            at > Instant::now() && at < Instant::now() + secs(5),
            "{:?}",
            at - Instant::now()
        );
    }
}
