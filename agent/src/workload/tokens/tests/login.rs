//! A workload with its own `auto_auth`: it logs in with its method (not with the agent's token), its
//! token is held as an orphan, a login again after eviction reads the rotated credential files, and a
//! failed login names the workload and the method, never a secret.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::watch;

use super::{Fake, audited_tokens, workload};
use crate::audit::Auditor;
use crate::config::{MethodConfig, MethodKind, WorkloadConfig};
use crate::lease::proxied::{Parent, ProxyLeases};
use crate::workload::tokens::{WorkloadToken, WorkloadTokenError, WorkloadTokens};

/// Workload `name` logging in with AppRole at `auth/approle`, its role_id and secret_id in `dir`.
fn approle(name: &str, dir: &Path, remove_secret_id: bool) -> WorkloadConfig {
    WorkloadConfig {
        policies: Vec::new(),
        auto_auth: Some(MethodConfig {
            kind: MethodKind::AppRole {
                role_id_file_path: dir.join("role-id"),
                secret_id_file_path: Some(dir.join("secret-id")),
                remove_secret_id_file_after_reading: remove_secret_id,
            },
            mount_path: "auth/approle".into(),
            namespace: None,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            exit_on_err: false,
            wrap_ttl: None,
        }),
        ..workload(name, None)
    }
}

/// A workload `a` logging in with AppRole through a new fake (the agent never logs in: the workload's
/// login does not wait for it), its role-id `r-1` and secret-id `s-1` in `dir`.
struct LoggingIn {
    fake: Fake,
    t: WorkloadTokens,
    leases: ProxyLeases,
    w: WorkloadConfig,
    dir: tempfile::TempDir,
    _agent: watch::Sender<Option<SecretString>>,
}

impl LoggingIn {
    async fn start(remove_secret_id: bool, auditor: Auditor) -> Self {
        let fake = Fake::default();
        let (t, leases, agent) = audited_tokens(&fake.start().await, auditor);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("role-id"), "r-1\n").unwrap();
        std::fs::write(dir.path().join("secret-id"), "s-1").unwrap();
        let w = approle("a", dir.path(), remove_secret_id);
        Self {
            fake,
            t,
            leases,
            w,
            dir,
            _agent: agent,
        }
    }

    async fn token(&self) -> Result<WorkloadToken, WorkloadTokenError> {
        self.t.token_for(&self.w, None).await
    }
}

#[tokio::test]
async fn a_workload_logs_in_with_its_own_method_without_the_agents_token() {
    let l = LoggingIn::start(false, Auditor::disabled()).await;
    let first = l.token().await.unwrap();
    let again = l.token().await.unwrap();
    assert_eq!(first.secret.expose_secret(), again.secret.expose_secret());
    let seen = l.fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "auth/approle/login");
    assert_eq!(seen[0].token, "", "no token is sent with a login");
    assert_eq!(seen[0].body, json!({"role_id": "r-1", "secret_id": "s-1"}));
    // Held as an orphan: it ends with nothing of the agent's.
    let table = l.leases.lock();
    let id = table.token_id(None, Some(&first.accessor)).unwrap();
    assert_eq!(table.get(id).unwrap().parent, Parent::None);
    assert_eq!(table.get(id).unwrap().workload.as_deref(), Some("a"));
    assert_eq!(table.get(id).unwrap().path, "auth/approle/login");
}

#[tokio::test]
async fn once_evicted_it_logs_in_again_with_the_rotated_secret_id() {
    let l = LoggingIn::start(false, Auditor::disabled()).await;
    let first = l.token().await.unwrap();
    std::fs::write(l.dir.path().join("secret-id"), "s-2").unwrap();
    // Its max TTL reached (or revoked): the table lets it go.
    assert_eq!(l.leases.lock().evict_token(None, Some(&first.accessor)), 1);
    let second = l.token().await.unwrap();
    assert_ne!(first.accessor, second.accessor);
    let seen = l.fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body["secret_id"], "s-2");
}

#[tokio::test]
async fn a_secret_id_removed_after_reading_is_remembered_for_the_next_login() {
    let l = LoggingIn::start(true, Auditor::disabled()).await;
    let first = l.token().await.unwrap();
    assert!(!l.dir.path().join("secret-id").exists());
    l.leases.lock().evict_token(None, Some(&first.accessor));
    l.token().await.unwrap();
    assert_eq!(l.fake.seen()[1].body["secret_id"], "s-1");
}

#[tokio::test]
async fn the_login_is_audited_with_the_method_its_role_and_the_workload() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let audit = crate::config::AuditConfig {
        file: Some(log.clone()),
        ..crate::config::AuditConfig::default()
    };
    let auditor = Auditor::from_config(&audit, None).unwrap();
    let l = LoggingIn::start(false, auditor.clone()).await;
    let token = l.token().await.unwrap();
    auditor.flush();
    let text = std::fs::read_to_string(&log).unwrap();
    let e: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(e["event"], "auth.login");
    assert_eq!(e["outcome"], "success");
    assert_eq!(e["identity"]["method"], "approle");
    assert_eq!(e["identity"]["mount"], "auth/approle");
    assert_eq!(e["identity"]["role"], "app");
    assert_eq!(e["identity"]["token_accessor"], token.accessor.as_str());
    assert_eq!(e["caller"]["workload"], "a");
    assert_eq!(e["caller"]["token_accessor"], token.accessor.as_str());
    assert!(
        !text.contains("s-1") && !text.contains(token.secret.expose_secret()),
        "{text}"
    );
}

#[tokio::test]
async fn a_failed_login_names_the_workload_and_method_never_the_secret() {
    let l = LoggingIn::start(false, Auditor::disabled()).await;
    *l.fake.status.lock().unwrap() = Some(400);
    let e = l.token().await.unwrap_err();
    assert!(e.is_login() && !e.is_transient(), "{e}");
    let message = e.to_string();
    for named in ["workload \"a\"", "auth/approle", "\"approle\""] {
        assert!(message.contains(named), "{message}");
    }
    assert!(
        !message.contains("s-1") && !message.contains("r-1"),
        "{message}"
    );
    assert_eq!(l.leases.lock().len(), 0);
    // The server unavailable: transient.
    *l.fake.status.lock().unwrap() = Some(503);
    assert!(l.token().await.unwrap_err().is_transient());
    // A credential file missing: as the auth module says (it may appear: transient), sent nowhere.
    *l.fake.status.lock().unwrap() = None;
    std::fs::remove_file(l.dir.path().join("role-id")).unwrap();
    let before = l.fake.seen().len();
    let e = l.token().await.unwrap_err();
    assert!(e.is_transient() && e.is_login(), "{e}");
    assert_eq!(l.fake.seen().len(), before);
}
