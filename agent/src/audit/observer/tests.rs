//! The client's reports as events in an audit file.

use serde_json::Value;

use crate::audit::{Auditor, EventKind, Identity, Outcome, Record};
use crate::backend::{BackendError, Exchange, Observer, Purpose};
use crate::config::AuditConfig;

fn auditor(dir: &tempfile::TempDir) -> (Auditor, std::path::PathBuf) {
    let path = dir.path().join("audit.log");
    let cfg = AuditConfig {
        file: Some(path.clone()),
        ..AuditConfig::default()
    };
    (Auditor::from_config(&cfg, None).unwrap(), path)
}

fn events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn exchange<'a>(accessor: &'a str, error: Option<&'a dyn std::fmt::Display>) -> Exchange<'a> {
    Exchange {
        node: "http://127.0.0.1:8200",
        method: "PUT",
        path: "sys/leases/lookup",
        purpose: Purpose::LeaseLookup,
        accessor,
        request_id: error.is_none().then_some("req-1"),
        error,
    }
}

#[tokio::test]
async fn a_request_is_a_backend_request_event_naming_the_identity_its_token_had() {
    let dir = tempfile::tempdir().unwrap();
    let (a, path) = auditor(&dir);
    let login = Identity {
        method: "jwt".into(),
        mount: "auth/jwt".into(),
        role: "app".into(),
        subject: "sa:app".into(),
        token_accessor: "acc-1".into(),
    };
    a.record(Record::new(EventKind::AuthLogin, Outcome::Success).identity(Some(login)));
    a.request(&exchange("acc-1", None));
    let refused = BackendError::Status {
        method: "PUT".into(),
        path: "sys/leases/lookup".into(),
        status: 400,
        message: "invalid lease".into(),
    };
    a.request(&exchange("unknown", Some(&refused)));
    a.failover("http://b:8200", "http://a:8200");
    let ev = events(&path);
    assert_eq!(ev[1]["event"], "backend.request");
    assert_eq!(ev[1]["outcome"], "success");
    assert_eq!(ev[1]["identity"]["subject"], "sa:app");
    assert_eq!(ev[1]["identity"]["token_accessor"], "acc-1");
    assert_eq!(
        ev[1]["backend"],
        serde_json::json!({"node": "http://127.0.0.1:8200", "request_id": "req-1", "method": "PUT",
            "path": "sys/leases/lookup", "purpose": "lease_lookup"})
    );
    assert_eq!(ev[2]["outcome"], "failure");
    assert_eq!(ev[2]["identity"]["token_accessor"], "unknown");
    assert!(ev[2]["backend"].get("request_id").is_none(), "{}", ev[2]);
    assert!(ev[2]["error"].as_str().unwrap().contains("invalid lease"));
    assert_eq!(ev[3]["event"], "backend.failover");
    assert_eq!(
        ev[3]["backend"],
        serde_json::json!({"node": "http://b:8200", "previous": "http://a:8200"})
    );
}
