//! A workload's secrets kept apart from the agent's and other workloads', their leases ending with the
//! workload's token, and a 403 on them that is never the agent's.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use super::{Scoped, agent_refused};
use crate::backend::BackendError;
use crate::backend::secret::{Secret, SecretData, SecretRequest};
use crate::config::{CallerMatch, Config, WorkloadConfig};
use crate::lease::fetch::{FetchError, Fetched};
use crate::lease::proxied::{HeldKind, NewHeld, Parent};
use crate::lease::reload::Reloaded;
use crate::lease::store::{Action, Life};
use crate::lease::tests::{engine, engine_with};
use crate::template::RenderContext;
use crate::workload::tokens::settings_print;

fn fetched(value: &str, lease_id: &str) -> Fetched {
    Fetched {
        secret: Arc::new(Secret {
            lease_id: lease_id.into(),
            data: SecretData(serde_json::json!({ "value": value })),
            ..Secret::default()
        }),
        api_path: "secret/data/app".into(),
        mount: None,
    }
}

#[tokio::test(start_paused = true)]
async fn each_workload_s_templates_see_only_its_own_secrets() {
    let mut e = engine();
    let path = SecretRequest::read("secret/data/app");
    for (w, value) in [(None, "agent's"), (Some("a"), "a's")] {
        let req = path.clone().for_workload(w);
        e.store
            .schedule(req, fetched(value, ""), String::new(), Life::Static);
    }
    let seen = |w: Option<&str>| {
        let view = Scoped {
            store: &e.store,
            workload: w,
        };
        view.secret(&path).map(|s| s.data.0["value"].clone())
    };
    assert_eq!(seen(None), Some("agent's".into()));
    assert_eq!(seen(Some("a")), Some("a's".into()));
    assert_eq!(seen(Some("b")), None, "b has nothing of its own yet");
}

#[tokio::test(start_paused = true)]
async fn a_workload_s_lease_ends_with_the_workload_s_token() {
    let mut e = engine();
    let req = SecretRequest::read("database/creds/a").for_workload(Some("a"));
    let life = Life::Lease {
        left: Duration::from_secs(600),
        full: Duration::from_secs(600),
        renewable: true,
    };
    // The table holds a's token, non-renewable, for 60 s more.
    let token = SecretString::from("wa".to_string());
    let new = NewHeld {
        kind: HeldKind::Token {
            accessor: "acc-a".into(),
            print: e.proxied.token_print(&token),
        },
        renew_with: token,
        parent: Parent::None,
        path: "auth/token/create".into(),
        ttl: Duration::from_secs(60),
        renewable: false,
    };
    let settings = e.proxied.fingerprint(&[b"settings"]);
    e.proxied.lock().hold_workload_token(new, "a", settings);
    e.store
        .schedule(req.clone(), fetched("x", "l1"), "acc-a".into(), life);
    let (at, action) = e.entry_due(&req, e.store.get(&req).unwrap());
    assert_eq!(action, Action::Refetch, "replaced before its token ends");
    assert!(at < Instant::now() + Duration::from_secs(60), "{at:?}");
    // A token the table no longer holds took its leases with it: replaced now.
    e.store
        .schedule(req.clone(), fetched("x", "l2"), "gone".into(), life);
    assert_eq!(
        e.entry_due(&req, e.store.get(&req).unwrap()),
        (Instant::now(), Action::Refetch)
    );
}

#[test]
fn a_403_on_a_workload_s_secret_is_not_the_agent_s() {
    let denied = || {
        FetchError::Backend(BackendError::Status {
            method: "GET".into(),
            path: "secret/data/app".into(),
            status: 403,
            message: "permission denied".into(),
        })
    };
    let agent = SecretRequest::read("secret/data/app");
    let workload = agent.clone().for_workload(Some("a"));
    assert!(agent_refused(&agent, &denied()));
    assert!(!agent_refused(&workload, &denied()));
    // Creating the workload's token is the agent's request: its 403 may mean the agent's token is gone.
    let creation = FetchError::WorkloadToken {
        message: "workload \"a\": creating its token: permission denied".into(),
        transient: false,
        forbidden: true,
    };
    assert!(agent_refused(&workload, &creation));
}

#[test]
fn state_files_written_before_workloads_keep_loading() {
    let agent = SecretRequest::read("secret/data/app");
    let written = serde_json::to_string(&agent).unwrap();
    assert!(!written.contains("workload"), "{written}");
    let old: SecretRequest = serde_json::from_str(&written).unwrap();
    assert_eq!(old, agent);
    let a = agent.for_workload(Some("a"));
    let back: SecretRequest = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(back.workload.as_deref(), Some("a"));
}

fn stanza(name: &str, uid: u32) -> WorkloadConfig {
    WorkloadConfig {
        name: name.into(),
        matcher: CallerMatch {
            uid: Some(uid),
            ..CallerMatch::default()
        },
        policies: vec![format!("p{name}")],
        token_role: None,
        auto_auth: None,
        credentials: Vec::new(),
        origin: crate::config::Origin::default(),
    }
}

/// Hold `w`'s token `acc-<name>`, made with `w`'s settings, and a lease of `w` read with it.
fn hold_with_lease(e: &mut crate::lease::Engine, w: &WorkloadConfig) {
    let token = SecretString::from(format!("t-{}", w.name));
    let accessor = format!("acc-{}", w.name);
    let new = NewHeld {
        kind: HeldKind::Token {
            accessor: accessor.clone(),
            print: e.proxied.token_print(&token),
        },
        renew_with: token,
        parent: Parent::None,
        path: "auth/token/create".into(),
        ttl: Duration::from_secs(3600),
        renewable: true,
    };
    let settings = settings_print(&e.proxied, w);
    e.proxied.lock().hold_workload_token(new, &w.name, settings);
    let req = SecretRequest::read("database/creds/app").for_workload(Some(&w.name));
    let life = Life::Lease {
        left: Duration::from_secs(600),
        full: Duration::from_secs(600),
        renewable: true,
    };
    e.store
        .schedule(req, fetched("x", &format!("l-{}", w.name)), accessor, life);
}

fn held_accessor(e: &crate::lease::Engine, name: &str) -> Option<String> {
    e.proxied
        .lock()
        .workload_token(name, None, Instant::now())
        .map(|t| t.1)
}

#[tokio::test(start_paused = true)]
async fn a_reload_retires_the_tokens_of_removed_and_changed_workloads() {
    let (a, b, c) = (stanza("a", 1001), stanza("b", 1002), stanza("c", 1003));
    let mut e = engine_with(Config {
        workloads: vec![a.clone(), b.clone(), c.clone()],
        ..Config::default()
    });
    for w in [&a, &b, &c] {
        hold_with_lease(&mut e, w);
    }
    // `a` matches another uid (its token is made alike), `b` gets another policy, `c` is removed.
    let mut a2 = a.clone();
    a2.matcher.uid = Some(2001);
    let mut b2 = b.clone();
    b2.policies.push("more".into());
    let cfg = Config {
        workloads: vec![a2, b2],
        ..Config::default()
    };
    assert!(matches!(e.reload(Ok(cfg)), Reloaded::Applied(_)));
    assert_eq!(held_accessor(&e, "a").as_deref(), Some("acc-a"));
    assert_eq!(held_accessor(&e, "b"), None);
    assert_eq!(held_accessor(&e, "c"), None);
    // `b`'s secret, read with its old policies, is read again with its new token.
    let req = |w: &str| SecretRequest::read("database/creds/app").for_workload(Some(w));
    assert!(e.store.get(&req("a")).is_some());
    assert!(e.store.get(&req("b")).is_none());
    assert!(e.store.get(&req("c")).is_none());
    // Both are revoked with their leases, each with its own token.
    let mut retired: Vec<_> = e
        .retired
        .iter()
        .map(|r| {
            let leases: Vec<_> = r.leases.iter().map(|l| l.lease_id.clone()).collect();
            (r.workload.clone(), r.token.accessor.clone(), leases)
        })
        .collect();
    retired.sort();
    assert_eq!(
        retired,
        [
            (
                "b".to_string(),
                "acc-b".to_string(),
                vec!["l-b".to_string()]
            ),
            (
                "c".to_string(),
                "acc-c".to_string(),
                vec!["l-c".to_string()]
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_does_not_resume_a_token_of_a_removed_or_changed_workload() {
    // What the state file held: tokens made for `a`, `b` and `gone`.
    let (a, b, gone) = (stanza("a", 1), stanza("b", 2), stanza("gone", 3));
    let mut e = engine_with(Config {
        workloads: vec![a.clone(), b.clone()],
        ..Config::default()
    });
    let mut b_before = b.clone();
    b_before.token_role = Some("per-host".into());
    for w in [&a, &b_before, &gone] {
        hold_with_lease(&mut e, w);
    }
    e.retire_workload_tokens(&[]);
    assert_eq!(held_accessor(&e, "a").as_deref(), Some("acc-a"));
    assert_eq!(held_accessor(&e, "b"), None);
    assert_eq!(held_accessor(&e, "gone"), None);
    let mut names: Vec<_> = e.retired.iter().map(|r| r.workload.clone()).collect();
    names.sort();
    assert_eq!(names, ["b", "gone"]);
}
