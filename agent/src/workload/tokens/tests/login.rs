//! A workload with its own `auto_auth`: it logs in with its method (not with the agent's token), its
//! token is held as an orphan, a login again after eviction reads the rotated credential files, and a
//! failed login names the workload and the method, never a secret.

use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;

use super::{Fake, audited_tokens, tokens, workload};
use crate::audit::Auditor;
use crate::config::{MethodConfig, MethodKind, WorkloadConfig};
use crate::lease::proxied::Parent;

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

/// A directory holding role-id `r-1` and secret-id `secret`.
fn credentials(secret: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("role-id"), "r-1\n").unwrap();
    std::fs::write(dir.path().join("secret-id"), secret).unwrap();
    dir
}

#[tokio::test]
async fn a_workload_logs_in_with_its_own_method_without_the_agents_token() {
    let fake = Fake::default();
    // The agent never logs in: the workload's login does not wait for it.
    let (t, leases, _agent) = tokens(&fake.start().await);
    let dir = credentials("s-1");
    let w = approle("a", dir.path(), false);
    let first = t.token_for(&w, None).await.unwrap();
    let again = t.token_for(&w, None).await.unwrap();
    assert_eq!(first.secret.expose_secret(), again.secret.expose_secret());
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "auth/approle/login");
    assert_eq!(seen[0].token, "", "no token is sent with a login");
    assert_eq!(seen[0].body, json!({"role_id": "r-1", "secret_id": "s-1"}));
    // Held as an orphan: it ends with nothing of the agent's.
    let table = leases.lock();
    let id = table.token_id(None, Some(&first.accessor)).unwrap();
    assert_eq!(table.get(id).unwrap().parent, Parent::None);
    assert_eq!(table.get(id).unwrap().workload.as_deref(), Some("a"));
    assert_eq!(table.get(id).unwrap().path, "auth/approle/login");
}

#[tokio::test]
async fn once_evicted_it_logs_in_again_with_the_rotated_secret_id() {
    let fake = Fake::default();
    let (t, leases, _agent) = tokens(&fake.start().await);
    let dir = credentials("s-1");
    let w = approle("a", dir.path(), false);
    let first = t.token_for(&w, None).await.unwrap();
    std::fs::write(dir.path().join("secret-id"), "s-2").unwrap();
    // Its max TTL reached (or revoked): the table lets it go.
    assert_eq!(leases.lock().evict_token(None, Some(&first.accessor)), 1);
    let second = t.token_for(&w, None).await.unwrap();
    assert_ne!(first.accessor, second.accessor);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body["secret_id"], "s-2");
}

#[tokio::test]
async fn a_secret_id_removed_after_reading_is_remembered_for_the_next_login() {
    let fake = Fake::default();
    let (t, leases, _agent) = tokens(&fake.start().await);
    let dir = credentials("s-1");
    let w = approle("a", dir.path(), true);
    let first = t.token_for(&w, None).await.unwrap();
    assert!(!dir.path().join("secret-id").exists());
    leases.lock().evict_token(None, Some(&first.accessor));
    t.token_for(&w, None).await.unwrap();
    assert_eq!(fake.seen()[1].body["secret_id"], "s-1");
}

#[tokio::test]
async fn the_login_is_audited_with_the_method_its_role_and_the_workload() {
    let fake = Fake::default();
    let dir = credentials("s-1");
    let log = dir.path().join("audit.log");
    let audit = crate::config::AuditConfig {
        file: Some(log.clone()),
        ..crate::config::AuditConfig::default()
    };
    let auditor = Auditor::from_config(&audit, None).unwrap();
    let (t, _leases, _agent) = audited_tokens(&fake.start().await, auditor.clone());
    let token = t
        .token_for(&approle("a", dir.path(), false), None)
        .await
        .unwrap();
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
    let fake = Fake::default();
    let (t, leases, _agent) = tokens(&fake.start().await);
    let dir = credentials("s-1");
    let w = approle("a", dir.path(), false);
    *fake.status.lock().unwrap() = Some(400);
    let e = t.token_for(&w, None).await.unwrap_err();
    assert!(e.is_login() && !e.is_transient(), "{e}");
    let message = e.to_string();
    for named in ["workload \"a\"", "auth/approle", "\"approle\""] {
        assert!(message.contains(named), "{message}");
    }
    assert!(
        !message.contains("s-1") && !message.contains("r-1"),
        "{message}"
    );
    assert_eq!(leases.lock().len(), 0);
    // The server unavailable: transient.
    *fake.status.lock().unwrap() = Some(503);
    assert!(t.token_for(&w, None).await.unwrap_err().is_transient());
    // A credential file missing: as the auth module says (it may appear: transient), sent nowhere.
    *fake.status.lock().unwrap() = None;
    std::fs::remove_file(dir.path().join("role-id")).unwrap();
    let before = fake.seen().len();
    let e = t.token_for(&w, None).await.unwrap_err();
    assert!(e.is_transient() && e.is_login(), "{e}");
    assert_eq!(fake.seen().len(), before);
}
