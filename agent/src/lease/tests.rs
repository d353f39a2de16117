//! Schedule decisions of the engine, with tokio's paused clock: renew vs replace, effective expiry under
//! a parent token, old tokens after re-authentication, outage backoff.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::{Instant, advance};

use super::engine::Engine;
use super::fetch::Fetched;
use super::store::{Action, Entry};
use crate::audit::{Auditor, Identity};
use crate::auth::Token;
use crate::backend::Client;
use crate::backend::secret::{Secret, SecretRequest};
use crate::config::Config;
use crate::runtime::ProcessEnv;

mod deadline;

pub(super) fn engine() -> Engine {
    engine_with(Config::default())
}

/// An engine for `cfg` whose server cannot be reached (nothing listens on port 9).
pub(super) fn engine_with(cfg: Config) -> Engine {
    engine_at("http://127.0.0.1:9", cfg)
}

/// An engine for `cfg` talking to the server at `address`.
pub(super) fn engine_at(address: &str, cfg: Config) -> Engine {
    let client = Client::plain(address);
    Engine::new(
        Arc::new(cfg),
        client,
        Vec::new(),
        Vec::new(),
        Auditor::disabled(),
        Arc::new(ProcessEnv),
        false,
    )
}

pub(super) fn token(accessor: &str, ttl: u64, renewable: bool) -> Token {
    Token {
        secret: SecretString::from("t".to_string()),
        accessor: accessor.into(),
        ttl: Duration::from_secs(ttl),
        renewable,
        issued_at: Instant::now(),
        identity: Identity::default(),
        policies: Vec::new(),
        request_id: String::new(),
    }
}

pub(super) fn lease(e: &mut Engine, path: &str, ttl: u64) -> SecretRequest {
    let req = SecretRequest::read(path);
    let secret = Secret {
        lease_id: format!("{path}/id"),
        lease_duration: ttl,
        renewable: true,
        ..Secret::default()
    };
    e.insert(
        req.clone(),
        Fetched {
            secret: Arc::new(secret),
            api_path: path.into(),
            mount: None,
        },
    );
    req
}

pub(super) fn entry<'a>(e: &'a Engine, r: &SecretRequest) -> &'a Entry {
    e.store.get(r).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_renewable_lease_under_a_renewable_token_is_renewed_at_two_thirds() {
    let mut e = engine();
    e.tokens.adopt(token("a", 600, true));
    let r = lease(&mut e, "database/creds/app", 30);
    let (at, action) = e.entry_due(&r, entry(&e, &r));
    assert_eq!(action, Action::Renew);
    let after = at - Instant::now();
    assert!(
        after >= Duration::from_secs(18) && after <= Duration::from_secs(22),
        "{after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_final_parent_token_brings_the_replacement_forward() {
    let mut e = engine();
    e.tokens.adopt(token("a", 60, true));
    let r = lease(&mut e, "database/creds/app", 300);
    // The token's renewal came back capped: it ends in 60 s, so must the lease.
    e.tokens.flags.capped = true;
    let (at, action) = e.entry_due(&r, entry(&e, &r));
    assert_eq!(action, Action::Refetch);
    let exp = e.tokens.token.as_ref().unwrap().expires_at().unwrap();
    assert_eq!(
        at,
        exp.checked_sub(Duration::from_secs(100))
            .unwrap()
            .max(Instant::now())
    );
}

#[tokio::test(start_paused = true)]
async fn leases_of_a_replaced_token_are_replaced_before_it_expires() {
    let mut e = engine();
    e.tokens.adopt(token("old", 60, true));
    let r = lease(&mut e, "database/creds/app", 30);
    advance(Duration::from_secs(10)).await;
    e.tokens.adopt(token("new", 600, true));
    let (at, action) = e.entry_due(&r, entry(&e, &r));
    // Old token expires 50 s from now; a 30 s lease is replaced 10 s before that, unless renewal comes
    // first (at ~20 s after it was fetched, i.e. ~10 s from now).
    assert!(at <= Instant::now() + Duration::from_secs(40));
    if action == Action::Refetch {
        assert_eq!(at, Instant::now() + Duration::from_secs(40));
    }
}

#[tokio::test(start_paused = true)]
async fn a_capped_lease_is_replaced_a_third_of_its_life_before_its_end() {
    let mut e = engine();
    e.tokens.adopt(token("a", 600, true));
    let r = lease(&mut e, "database/creds/app", 30);
    let now = Instant::now();
    if let Some(en) = e.store.get_mut(&r) {
        en.action = Action::Refetch;
        en.expires_at = Some(now + Duration::from_secs(20));
        en.due = now + Duration::from_secs(60);
    }
    let (at, action) = e.entry_due(&r, entry(&e, &r));
    assert_eq!(action, Action::Refetch);
    assert_eq!(at, now + Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn kv_secrets_refresh_on_the_static_interval() {
    let mut e = engine();
    e.tokens.adopt(token("a", 600, true));
    let req = SecretRequest::read("secret/data/app");
    e.insert(
        req.clone(),
        Fetched {
            secret: Arc::new(Secret::default()),
            api_path: "secret/data/app".into(),
            mount: None,
        },
    );
    let (at, action) = e.entry_due(&req, entry(&e, &req));
    assert_eq!(action, Action::Refetch);
    // The interval, up to a tenth early (a fleet does not re-read in step).
    let wait = at - Instant::now();
    assert!(
        wait >= Duration::from_secs(54) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_holds_everything_back_with_capped_exponential_backoff() {
    let mut e = engine();
    e.tokens.adopt(token("a", 600, true));
    let mut last = Duration::ZERO;
    for i in 0..12u32 {
        e.note_transient();
        let wait = e.next_due().unwrap() - Instant::now();
        // The doubling step (1 s, 2 s, 4 s, ... capped at 5 min); each wait is drawn from its upper half.
        let step = Duration::from_secs(1 << i).min(Duration::from_secs(300));
        assert!(
            wait <= step.max(Duration::from_millis(1250)),
            "attempt {i}: {wait:?}"
        );
        assert!(wait >= step / 2, "attempt {i}: {wait:?}");
        last = wait;
    }
    assert!(last >= Duration::from_secs(150), "{last:?}");
    assert!(
        !e.tick().await.unwrap(),
        "nothing is tried before the backoff ends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_non_renewable_token_is_replaced_before_it_expires() {
    let mut e = engine();
    e.tokens.adopt(token("a", 90, false));
    let due = e.next_due().unwrap() - Instant::now();
    assert_eq!(due, Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn a_renew_self_refusal_is_remembered_across_logins() {
    let mut e = engine();
    e.tokens.adopt(token("a", 9, true));
    e.tokens.flags.renew_forbidden = true;
    e.tokens.adopt(token("b", 9, true));
    assert!(
        e.tokens.is_final(),
        "the new token of the same role is not asked to renew itself"
    );
}

#[tokio::test(start_paused = true)]
async fn reported_expiry_is_capped_by_the_parent_token() {
    let mut e = engine();
    e.tokens.adopt(token("a", 60, true));
    lease(&mut e, "database/creds/app", 300);
    let now = Instant::now();
    let exp = e.lease_expiries();
    assert_eq!(
        exp,
        vec![(
            "database/creds/app".to_string(),
            now + Duration::from_secs(60)
        )]
    );
    // KV secrets have no lease and are not reported.
    let req = SecretRequest::read("secret/data/app");
    e.insert(
        req,
        Fetched {
            secret: Arc::new(Secret::default()),
            api_path: "secret/data/app".into(),
            mount: None,
        },
    );
    assert_eq!(e.lease_expiries().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn error_messages_lose_secret_values_and_secret_values_are_no_paths() {
    use crate::backend::secret::SecretData;
    use crate::template::RenderContext;
    let mut e = engine();
    let req = SecretRequest::read("secret/data/app");
    let secret = Secret {
        data: SecretData(serde_json::json!({"data": {"password": "SENTINEL-pw", "n": "ab"}})),
        ..Secret::default()
    };
    let fetched = Fetched {
        secret: Arc::new(secret),
        api_path: "secret/data/app".into(),
        mount: None,
    };
    e.insert(req.clone(), fetched.clone());
    // Nothing is copied for scrubbing until a message needs it, and then once per secret.
    assert_eq!(e.store.indexed(), 0);
    assert_eq!(
        e.store.scrub("file: cannot read \"SENTINEL-pw\" (ab)"),
        "file: cannot read \"[REDACTED]\" (ab)"
    );
    assert_eq!(e.store.indexed(), 1);
    e.insert(req, fetched);
    assert_eq!(
        e.store.indexed(),
        0,
        "a secret fetched again gets a fresh index"
    );
    assert!(e.store.is_secret_value("SENTINEL-pw"));
    assert!(!e.store.is_secret_value("secret/data/app"));
    assert!(!e.store.is_secret_value("ab"));
}

#[test]
fn retry_waits_never_pass_max_backoff() {
    let p = super::schedule::RetryPolicy {
        min: Duration::from_secs(1),
        max: Duration::from_secs(4),
        times: Some(40),
    };
    let waits: Vec<Duration> = p.delays().collect();
    assert_eq!(waits.len(), 40);
    assert!(
        waits.iter().all(|d| *d <= Duration::from_secs(4)),
        "{waits:?}"
    );
    assert!(waits[0] >= Duration::from_millis(800), "{waits:?}");
}

/// During an outage (a leader election), the backoff never sleeps past half the time the token has left:
/// the renewal is tried again while it can still save the token (and the leases it holds up).
#[tokio::test(start_paused = true)]
async fn an_outage_never_sleeps_past_what_the_token_has_left() {
    let mut e = engine();
    e.tokens.adopt(token("a", 60, true));
    tokio::time::advance(Duration::from_secs(40)).await;
    for i in 0..10 {
        e.note_transient();
        let wait = e.next_due().unwrap() - Instant::now();
        assert!(wait <= Duration::from_secs(10), "attempt {i}: {wait:?}");
    }
    // Far from any expiry, the plain backoff applies again.
    let mut e = engine();
    e.tokens.adopt(token("b", 36_000, true));
    for _ in 0..12 {
        e.note_transient();
    }
    let wait = e.next_due().unwrap() - Instant::now();
    assert!(wait >= Duration::from_secs(150), "{wait:?}");
}

/// A secret with `data` and `lease_id` as fetched from `api_path` on a mount of `kind` (and KV version),
/// when that is known.
fn fetched(
    api_path: &str,
    kind: Option<(&str, Option<u8>)>,
    data: serde_json::Value,
    lease_id: &str,
) -> Fetched {
    let secret = Secret {
        data: crate::backend::secret::SecretData(data),
        lease_id: lease_id.into(),
        lease_duration: if lease_id.is_empty() { 0 } else { 60 },
        ..Secret::default()
    };
    Fetched {
        secret: Arc::new(secret),
        api_path: api_path.into(),
        mount: kind.map(|(kind, kv_version)| crate::backend::MountInfo {
            path: format!("{}/", api_path.split('/').next().unwrap()),
            kind: kind.into(),
            kv_version,
        }),
    }
}

#[tokio::test(start_paused = true)]
async fn outputs_name_path_version_lease_and_serial_of_what_they_read() {
    use serde_json::json;
    let mut e = engine();
    let kv2 = SecretRequest::read("secret/app");
    let kv2_again = SecretRequest::read("secret/data/app");
    let cert = SecretRequest::write("pki/issue/app", [("common_name".into(), "a".into())].into());
    let db = SecretRequest::read("database/creds/app");
    // A KV v1 secret shaped like the others: its data is secret, none of it is named.
    let kv1 = SecretRequest::read("kv/app");
    let versioned = json!({ "data": { "k": "v" }, "metadata": { "version": 3 } });
    let issued = json!({ "certificate": "PEM", "serial_number": "1a:2b", "expiration": 1 });
    let kv1_data =
        json!({ "metadata": { "version": 9 }, "certificate": "c", "serial_number": "s" });
    let kv = Some(("kv", Some(2)));
    let entries = [
        (&kv2, fetched("secret/data/app", kv, versioned.clone(), "")),
        (&kv2_again, fetched("secret/data/app", kv, versioned, "")),
        (&cert, fetched("pki/issue/app", None, issued, "")),
        (
            &db,
            fetched(
                "database/creds/app",
                Some(("database", None)),
                json!({}),
                "database/creds/app/x",
            ),
        ),
        (&kv1, fetched("kv/app", Some(("kv", Some(1))), kv1_data, "")),
    ];
    for (req, f) in entries {
        e.insert(req.clone(), f);
    }
    let missing = SecretRequest::read("secret/other");
    let used = [kv2, cert, db, kv1, kv2_again, missing];
    let refs = serde_json::to_value(e.store.sources(&used)).unwrap();
    assert_eq!(
        refs,
        json!([
            { "path": "database/creds/app", "lease_id": "database/creds/app/x" },
            { "path": "kv/app" },
            { "path": "pki/issue/app", "serial": "1a:2b" },
            { "path": "secret/data/app", "version": 3 },
        ])
    );
}
