//! A workload's secrets kept apart from the agent's and other workloads', their leases ending with the
//! workload's token, and a 403 on them that is never the agent's.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use super::{Scoped, agent_refused};
use crate::backend::BackendError;
use crate::backend::secret::{Secret, SecretData, SecretRequest};
use crate::lease::fetch::{FetchError, Fetched};
use crate::lease::proxied::{HeldKind, NewHeld, Parent};
use crate::lease::store::{Action, Life};
use crate::lease::tests::engine;
use crate::template::RenderContext;

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
    e.proxied.lock().hold_workload_token(new, "a");
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
