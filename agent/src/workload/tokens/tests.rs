//! Workload tokens against a small fake `auth/token/create`: what is asked for, reuse while the table
//! serves the token, one creation for callers asking together, a new one once the table evicted it.
//! A workload's own login (`login`) goes to the same fake's `auth/<mount>/login`.

mod login;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Source, WorkloadTokenError, WorkloadTokens};
use crate::audit::Auditor;
use crate::backend::Client;
use crate::config::{CallerMatch, Origin, WorkloadConfig};
use crate::lease::proxied::{Parent, ProxyLeases};

const AGENT: &str = "agent-token";

/// One creation the fake server saw: path, the token it was made with, the body.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    token: String,
    body: Value,
}

/// A fake server: `auth/token/create[/<role>]` answers a new token `w-<n>` (an orphan for a role),
/// `auth/<mount>/login` an orphan with the `role_name` metadata of an AppRole login, or `status` when
/// set; every request is kept in `seen`.
#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<Mutex<Option<u16>>>,
}

impl Fake {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let fake = fake.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let fake = fake.clone();
                        async move { Ok::<_, std::convert::Infallible>(fake.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    async fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().trim_start_matches("/v1/").to_string();
        let token = req
            .headers()
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let policies = body["policies"].clone();
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(Seen {
                path: path.clone(),
                token,
                body,
            });
            seen.len()
        };
        // Slow enough that callers asking together overlap.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let status = *self.status.lock().unwrap();
        let (status, body) = match status {
            Some(s) => (s, json!({"errors": ["permission denied"]})),
            None => (
                200,
                json!({"auth": {
                    "client_token": format!("w-{n}"),
                    "accessor": format!("acc-{n}"),
                    "lease_duration": 3600,
                    "renewable": true,
                    "orphan": path != "auth/token/create",
                    "policies": policies,
                    "metadata": if path.ends_with("/login") { json!({"role_name": "app"}) } else { Value::Null },
                }}),
            ),
        };
        let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        r
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn workload(name: &str, role: Option<&str>) -> WorkloadConfig {
    WorkloadConfig {
        name: name.into(),
        matcher: CallerMatch::default(),
        policies: vec![format!("p{name}")],
        token_role: role.map(str::to_string),
        auto_auth: None,
        credentials: Vec::new(),
        origin: Origin::default(),
    }
}

/// Tokens through a fake at `addr`; the agent's token is sent on the returned channel.
fn tokens(
    addr: &str,
) -> (
    WorkloadTokens,
    ProxyLeases,
    watch::Sender<Option<SecretString>>,
) {
    audited_tokens(addr, Auditor::disabled())
}

/// [`tokens`], audited by `auditor`.
fn audited_tokens(
    addr: &str,
    auditor: Auditor,
) -> (
    WorkloadTokens,
    ProxyLeases,
    watch::Sender<Option<SecretString>>,
) {
    let client = Client::plain(addr);
    let (_client_tx, client_rx) = watch::channel(client);
    let (agent_tx, agent_rx) = watch::channel(None);
    let leases = ProxyLeases::new(2.0 / 3.0);
    // The agent's token, as the engine tells the table about it.
    let print = leases.token_print(&SecretString::from(AGENT.to_string()));
    leases.lock().set_auto(
        Some((
            print,
            "agent-acc".into(),
            Some(Instant::now() + Duration::from_secs(7200)),
            false,
        )),
        &HashMap::new(),
        Instant::now(),
    );
    let source = Arc::new(Source {
        client: client_rx,
        agent: agent_rx,
        leases: leases.clone(),
        agent_refused: Arc::default(),
        vault: crate::config::VaultConfig::default(),
    });
    let t = WorkloadTokens::with(source, auditor);
    (t, leases, agent_tx)
}

fn agent() -> Option<SecretString> {
    Some(SecretString::from(AGENT.to_string()))
}

/// Tokens through a new fake server, the agent logged in; and the fake.
async fn logged_in() -> (
    WorkloadTokens,
    ProxyLeases,
    Fake,
    watch::Sender<Option<SecretString>>,
) {
    let fake = Fake::default();
    let (t, leases, agent_tx) = tokens(&fake.start().await);
    agent_tx.send(agent()).unwrap();
    (t, leases, fake, agent_tx)
}

#[tokio::test]
async fn a_child_token_is_made_once_with_the_workloads_policies_and_meta() {
    let (t, leases, fake, _agent) = logged_in().await;
    let w = workload("b", None);
    let first = t.token_for(&w, None).await.unwrap();
    let again = t.token_for(&w, None).await.unwrap();
    assert_eq!(first.secret.expose_secret(), again.secret.expose_secret());
    assert_eq!(first.accessor, "acc-1");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "auth/token/create");
    assert_eq!(seen[0].token, AGENT);
    assert_eq!(seen[0].body["policies"], json!(["pb"]));
    assert_eq!(seen[0].body["meta"]["workload"], "b");
    assert!(seen[0].body["meta"]["host"].is_string());
    assert_eq!(seen[0].body["display_name"], "workload-b");
    // Held for renewal under the agent's token: it ends with it.
    let table = leases.lock();
    let id = table.token_id(None, Some("acc-1")).unwrap();
    assert!(matches!(table.get(id).unwrap().parent, Parent::Auto(_)));
    assert_eq!(table.get(id).unwrap().workload.as_deref(), Some("b"));
}

#[tokio::test]
async fn a_role_makes_an_orphan_and_each_workload_has_its_own() {
    let (t, leases, fake, _agent) = logged_in().await;
    let a = t
        .token_for(&workload("a", Some("per-host")), None)
        .await
        .unwrap();
    let b = t.token_for(&workload("b", None), None).await.unwrap();
    assert_ne!(a.accessor, b.accessor);
    let seen = fake.seen();
    assert_eq!(seen[0].path, "auth/token/create/per-host");
    let table = leases.lock();
    let id = table.token_id(None, Some(&a.accessor)).unwrap();
    assert_eq!(table.get(id).unwrap().parent, Parent::None);
}

#[tokio::test]
async fn callers_asking_together_share_one_creation() {
    let fake = Fake::default();
    let (t, _leases, agent_tx) = tokens(&fake.start().await);
    let w = workload("a", Some("r"));
    let asks: Vec<_> = (0..8)
        .map(|_| {
            let (t, w) = (t.clone(), w.clone());
            tokio::spawn(async move { t.token_for(&w, None).await.unwrap().accessor })
        })
        .collect();
    // They all wait for the agent's first login.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(fake.seen().is_empty());
    agent_tx.send(agent()).unwrap();
    for a in asks {
        assert_eq!(a.await.unwrap(), "acc-1");
    }
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_token_the_table_evicted_is_made_again() {
    let (t, leases, fake, _agent) = logged_in().await;
    let w = workload("a", None);
    let first = t.token_for(&w, None).await.unwrap();
    // Revoked on the server, found by a renewal or the lease check.
    assert_eq!(leases.lock().evict_token(None, Some(&first.accessor)), 1);
    let second = t.token_for(&w, None).await.unwrap();
    assert_ne!(first.accessor, second.accessor);
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn a_token_made_with_other_settings_is_not_served() {
    let (t, _leases, fake, _agent) = logged_in().await;
    let w = workload("a", None);
    let first = t.token_for(&w, None).await.unwrap();
    // A reload changed the workload's policies: its next caller gets a token with the new ones.
    let mut changed = w.clone();
    changed.policies.push("more".into());
    let second = t.token_for(&changed, None).await.unwrap();
    assert_ne!(first.accessor, second.accessor);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body["policies"], json!(["pa", "more"]));
    // The same policies in another order are the same settings.
    changed.policies.reverse();
    let third = t.token_for(&changed, None).await.unwrap();
    assert_eq!(third.accessor, second.accessor);
}

#[tokio::test]
async fn a_refused_request_looks_a_token_with_default_up_and_revokes_it_when_gone() {
    let (t, leases, fake, _agent) = logged_in().await;
    let mut w = workload("a", None);
    w.policies = vec!["pa".into(), "default".into()];
    let token = t.token_for(&w, None).await.unwrap();
    *fake.status.lock().unwrap() = Some(403);
    assert!(t.gone_after_refusal(&w, &token).await);
    let asked: Vec<(String, String)> = fake.seen()[1..]
        .iter()
        .map(|s| (s.path.clone(), s.token.clone()))
        .collect();
    assert_eq!(
        asked,
        [
            ("auth/token/lookup-self".into(), "w-1".into()),
            ("auth/token/revoke-self".into(), "w-1".into()),
        ]
    );
    assert!(
        leases
            .lock()
            .workload_token("a", None, Instant::now())
            .is_none()
    );
}

#[tokio::test]
async fn a_refused_request_with_a_token_without_default_is_the_servers_answer() {
    let (t, leases, fake, _agent) = logged_in().await;
    let w = workload("a", None);
    let token = t.token_for(&w, None).await.unwrap();
    *fake.status.lock().unwrap() = Some(403);
    // Its lookup-self would be refused alive or gone: not asked, the token kept.
    assert!(!t.gone_after_refusal(&w, &token).await);
    assert_eq!(fake.seen().len(), 1);
    assert!(
        leases
            .lock()
            .workload_token("a", None, Instant::now())
            .is_some()
    );
}

#[tokio::test(start_paused = true)]
async fn a_live_token_is_looked_up_once_per_period_after_refusals() {
    let (t, _leases, fake, _agent) = logged_in().await;
    let mut w = workload("a", None);
    w.policies = vec!["pa".into(), "default".into()];
    let token = t.token_for(&w, None).await.unwrap();
    // The fake answers the lookup with no `data`: not gone.
    assert!(!t.gone_after_refusal(&w, &token).await);
    assert!(!t.gone_after_refusal(&w, &token).await);
    assert_eq!(fake.seen().len(), 2, "one creation, one lookup");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(!t.gone_after_refusal(&w, &token).await);
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn a_refusal_is_permanent_and_nothing_is_held() {
    let (t, leases, fake, _agent) = logged_in().await;
    *fake.status.lock().unwrap() = Some(403);
    let e = t
        .token_for(&workload("a", Some("r")), None)
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(matches!(e, WorkloadTokenError::Create { .. }));
    assert!(e.to_string().contains("workload \"a\""), "{e}");
    assert!(!e.to_string().contains(AGENT), "{e}");
    assert_eq!(leases.lock().len(), 0);
    *fake.status.lock().unwrap() = Some(503);
    let e = t
        .token_for(&workload("a", Some("r")), None)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn a_restart_that_resumed_the_state_file_resumes_the_workloads_token() {
    let fake = Fake::default();
    let addr = fake.start().await;
    let (t, leases, agent_tx) = tokens(&addr);
    agent_tx.send(agent()).unwrap();
    let before = t.token_for(&workload("a", Some("r")), None).await.unwrap();
    let wall = std::time::SystemTime::now();
    let saved = leases.export_at(Instant::now(), wall).unwrap();

    let (t2, restored, agent_tx2) = tokens(&addr);
    restored.restore_at(saved, Instant::now(), wall);
    agent_tx2.send(agent()).unwrap();
    let after = t2.token_for(&workload("a", Some("r")), None).await.unwrap();
    assert_eq!(after.accessor, before.accessor);
    assert_eq!(after.secret.expose_secret(), before.secret.expose_secret());
    // Another workload's token is its own.
    let other = t2.token_for(&workload("b", Some("r")), None).await.unwrap();
    assert_ne!(other.accessor, before.accessor);
    assert_eq!(fake.seen().len(), 2);
}
