//! Reading the agent's trail: a line that is not JSON, each format the agent writes, a rotated set.

use serde_json::{Value, json};

use super::{HMAC_AGENT, agent, jwt, login, server, server_log};
use crate::audit::reconcile::read::agent_request;
use crate::audit::reconcile::{ServerLog, agent_trail, reconcile};

#[test]
fn a_line_that_is_not_json_is_refused_by_number() {
    let mut log = ServerLog::default();
    let e = log.line(7, "{not json").unwrap_err();
    assert_eq!(e.line, 7);
    assert!(
        e.to_string().starts_with("line 7: not a JSON audit entry"),
        "{e}"
    );
}

#[tokio::test]
async fn each_format_the_agent_writes_reads_as_the_same_requests() {
    use crate::audit::{Auditor, EventKind, Format, Outcome, Record, SecretMeta};
    use crate::backend::{Exchange, Observer, Purpose};
    let dir = tempfile::tempdir().unwrap();
    let read = |format: Format| {
        let path = dir.path().join(format!("{format:?}.log"));
        let cfg = crate::config::AuditConfig {
            file: Some(path.clone()),
            file_format: format,
            ..crate::config::AuditConfig::default()
        };
        let a = Auditor::from_config(&cfg, None).unwrap();
        let identity = crate::audit::Identity {
            method: "jwt".into(),
            mount: "auth/jwt".into(),
            token_accessor: "acc".into(),
            ..Default::default()
        };
        a.record(
            Record::new(EventKind::SecretRead, Outcome::Success)
                .identity(Some(identity))
                .secret(SecretMeta {
                    path: "database/creds/app".into(),
                    ..SecretMeta::default()
                })
                .node("http://n")
                .request_id(Some("r1")),
        );
        a.request(&Exchange {
            node: "http://n",
            method: "PUT",
            path: "sys/leases/lookup",
            purpose: Purpose::LeaseLookup,
            accessor: "acc",
            request_id: Some("r2"),
            error: None,
        });
        let text = std::fs::read_to_string(&path).unwrap();
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| agent_request(i + 1, serde_json::from_str(l).unwrap()))
            .map(|r| (r.event, r.request_id, r.path, r.accessor))
            .collect::<Vec<_>>()
    };
    let sidekey = read(Format::Sidekey);
    assert_eq!(sidekey.len(), 2, "{sidekey:?}");
    assert_eq!(
        sidekey[1],
        (
            "backend.request".to_string(),
            Some("r2".to_string()),
            Some("sys/leases/lookup".to_string()),
            "acc".to_string()
        )
    );
    assert_eq!(read(Format::Ocsf), sidekey);
    assert_eq!(read(Format::Ecs), sidekey);
}

/// A rotated trail reads as one, each request named by its file and line; without the rotated file,
/// its requests are what the server saw and the agent did not record.
#[test]
fn a_rotated_trail_is_read_across_its_files_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("audit.log");
    let rotated = dir.path().join("audit-1764513002114093825.log");
    let line = |v: &Value| v.to_string() + "\n";
    let read = |id: &str, at: &str| {
        line(&agent(
            "secret.read",
            at,
            &json!({"identity": jwt("acc"), "secret": {"path": "secret/data/app"}, "request_id": id}),
        ))
    };
    let first = line(&agent(
        "auth.login",
        "01.010",
        &json!({"identity": jwt("acc"), "request_id": "login"}),
    ));
    std::fs::write(&rotated, first + &read("r1", "02.010")).unwrap();
    std::fs::write(&current, read("r2", "03.010") + &read("r4", "04.010")).unwrap();
    let log = server_log(&[
        login("login", HMAC_AGENT, "01.000"),
        server("r1", "secret/data/app", "read", Some(HMAC_AGENT), "02.000"),
        server("r2", "secret/data/app", "read", Some(HMAC_AGENT), "03.000"),
    ]);
    let files = crate::audit::tools::trail_files(std::slice::from_ref(&current));
    assert_eq!(files, vec![rotated.clone(), current.clone()]);
    let trail = agent_trail(&files).unwrap();
    assert_eq!(trail.events, 4);
    let r = reconcile(&trail.requests, trail.events, &log, 5_000);
    let text = r.to_text("a", "s");
    assert_eq!(r.matched_by_request_id, 3, "{text}");
    assert!(r.server_only.is_empty(), "{text}");
    // The agent's request the server has no entry for, by file and line.
    let item = &r.agent_only[0].items[0];
    assert_eq!(
        (item.file.as_deref(), item.line),
        (Some(current.to_str().unwrap()), 2)
    );
    assert!(
        text.contains(&format!("{} line 2 at ", current.display())),
        "{text}"
    );

    let r = {
        let t = agent_trail(std::slice::from_ref(&current)).unwrap();
        reconcile(&t.requests, t.events, &log, 5_000)
    };
    let missing: Vec<_> = r
        .server_only
        .iter()
        .flat_map(|g| &g.items)
        .filter_map(|i| i.request_id.as_deref())
        .collect();
    assert_eq!(missing, ["r1"], "{}", r.to_text("a", "s"));

    std::fs::write(&current, read("r2", "03.010") + "not json\n").unwrap();
    let e = agent_trail(&files).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}: line 2: not an audit event", current.display())
    );
}
