//! Reconciliation of small trails written as OpenBao and sidekey write them.

use serde_json::{Value, json};

use super::read::agent_request;
use super::{AgentRequest, Reconciled, ServerLog, reconcile};

mod reading;

const HMAC_AGENT: &str = "hmac-sha256:aaaa";
const HMAC_ROOT: &str = "hmac-sha256:ffff";

/// A request and its response entry, as a file audit device writes them.
fn server(id: &str, path: &str, op: &str, accessor: Option<&str>, at: &str) -> Vec<Value> {
    let auth = accessor.map_or_else(|| json!({}), |a| json!({ "accessor": a }));
    let request = json!({ "id": id, "path": path, "operation": op });
    vec![
        json!({"time": format!("2026-12-07T10:00:{at}Z"), "type": "request", "auth": auth, "request": request}),
        json!({"time": format!("2026-12-07T10:00:{at}Z"), "type": "response", "auth": auth, "request": request, "response": {}}),
    ]
}

/// A login as the device writes it: no token on the request, the issued one's accessor on the response.
fn login(id: &str, issued: &str, at: &str) -> Vec<Value> {
    let mut entries = server(id, "auth/jwt/login", "update", None, at);
    entries[1]["response"] = json!({ "auth": { "accessor": issued } });
    entries
}

fn server_log(entries: &[Vec<Value>]) -> ServerLog {
    let mut log = ServerLog::default();
    for (i, e) in entries.iter().flatten().enumerate() {
        log.line(i + 1, &e.to_string()).unwrap();
    }
    log
}

/// A sidekey event `event` at second `at`, with `fields` merged in.
fn agent(event: &str, at: &str, fields: &Value) -> Value {
    let mut v = json!({"v": 1, "time": format!("2026-12-07T10:00:{at}Z"), "seq": 1, "event": event,
        "outcome": "success", "backend": {"node": "http://127.0.0.1:8200"}});
    for (k, x) in fields.as_object().unwrap() {
        if k == "request_id" {
            v["backend"]["request_id"] = x.clone();
        } else {
            v[k] = x.clone();
        }
    }
    v
}

fn requests(events: &[Value]) -> Vec<AgentRequest> {
    events
        .iter()
        .enumerate()
        .filter_map(|(i, v)| agent_request(i + 1, v.clone()))
        .collect()
}

fn run(events: &[Value], log: &ServerLog) -> Reconciled {
    reconcile(&requests(events), events.len(), log, 5_000)
}

fn jwt(accessor: &str) -> Value {
    json!({"method": "jwt", "mount": "auth/jwt", "role": "app", "token_accessor": accessor})
}

#[test]
fn requests_match_by_request_id_and_a_missing_agent_line_is_reported_under_its_token() {
    let log = server_log(&[
        login("login", HMAC_AGENT, "01.000"),
        server("r1", "secret/data/app", "read", Some(HMAC_AGENT), "02.000"),
        server(
            "r2",
            "database/creds/app",
            "read",
            Some(HMAC_AGENT),
            "03.000",
        ),
        // The test's own setup with the root token: not sidekey's.
        server(
            "root",
            "sys/mounts/pki",
            "update",
            Some(HMAC_ROOT),
            "00.500",
        ),
    ]);
    let events = vec![
        agent(
            "auth.login",
            "01.010",
            &json!({"identity": jwt("acc"), "request_id": "login"}),
        ),
        agent(
            "secret.read",
            "02.010",
            &json!({"identity": jwt("acc"), "secret": {"path": "secret/data/app"}, "request_id": "r1"}),
        ),
        agent(
            "secret.read",
            "03.010",
            &json!({"identity": jwt("acc"), "secret": {"path": "database/creds/app"}, "request_id": "r2"}),
        ),
        agent("output.write", "03.020", &json!({})),
    ];
    let all = run(&events, &log);
    assert!(all.complete(), "{}", all.to_text("a", "s"));
    assert_eq!((all.sidekey_entries, all.matched_by_request_id), (3, 3));
    assert_eq!(all.tokens.len(), 1);
    assert_eq!(all.tokens[0].agent.as_deref(), Some("acc"));

    let without_db: Vec<Value> = events
        .iter()
        .filter(|e| e.pointer("/backend/request_id") != Some(&json!("r2")))
        .cloned()
        .collect();
    let r = run(&without_db, &log);
    assert!(!r.complete());
    assert_eq!(r.sidekey_entries, 3);
    assert!((r.matched_percent - 200.0 / 3.0).abs() < 0.01, "{r:?}");
    assert_eq!(r.server_only.len(), 1);
    assert_eq!(
        (
            r.server_only[0].token.as_str(),
            r.server_only[0].path.as_str()
        ),
        ("acc", "database/creds/app")
    );
    assert_eq!(r.server_only[0].items[0].request_id.as_deref(), Some("r2"));
    let text = r.to_text("audit.log", "bao.log");
    assert!(text.contains("token acc, database/creds/app: 1"), "{text}");
    assert!(text.contains("matched 2 of 3"), "{text}");
}

#[test]
fn an_answer_without_request_id_matches_by_path_time_and_a_token_known_in_plain_or_by_pairing() {
    let log = server_log(&[
        server("r1", "secret/data/app", "read", Some(HMAC_AGENT), "02.000"),
        server(
            "revoke",
            "sys/leases/revoke",
            "update",
            Some(HMAC_AGENT),
            "04.000",
        ),
        server(
            "denied",
            "secret/data/other",
            "read",
            Some("plain-acc"),
            "05.000",
        ),
        server(
            "far",
            "secret/data/late",
            "read",
            Some("plain-acc"),
            "30.000",
        ),
    ]);
    let events = vec![
        agent(
            "secret.read",
            "02.010",
            &json!({"identity": jwt("acc"), "secret": {"path": "secret/data/app"}, "request_id": "r1"}),
        ),
        // 204: no request_id; the HMAC'ed accessor is paired with `acc` by the read above.
        agent(
            "secret.revoke",
            "04.005",
            &json!({"identity": jwt("acc"), "secret": {"path": "database/creds/app"}}),
        ),
        // An error: the server's accessor is plain.
        agent(
            "secret.read",
            "05.020",
            &json!({"identity": jwt("plain-acc"), "outcome": "failure", "secret": {"path": "secret/data/other"}}),
        ),
        // Outside the window.
        agent(
            "secret.read",
            "20.000",
            &json!({"identity": jwt("plain-acc"), "outcome": "failure", "secret": {"path": "secret/data/late"}}),
        ),
    ];
    let r = run(&events, &log);
    assert_eq!(
        (r.matched_by_request_id, r.matched_by_path_and_time),
        (1, 2),
        "{}",
        r.to_text("a", "s")
    );
    assert_eq!(r.agent_only.len(), 1);
    assert_eq!(r.agent_only[0].path, "secret/data/late");
    assert_eq!(r.agent_only[0].items[0].line, 4);

    // An HMAC'ed accessor no request_id match paired: not taken for the agent's.
    let unpaired = server_log(&[server(
        "x",
        "sys/leases/revoke",
        "update",
        Some(HMAC_ROOT),
        "04.000",
    )]);
    let r = run(&events[1..2], &unpaired);
    assert_eq!(r.matched_by_path_and_time, 0);
    assert_eq!(r.agent_only.len(), 1);
}

#[test]
fn a_call_abandoned_at_shutdown_matches_if_the_server_saw_it_and_is_not_missing_if_not() {
    let log = server_log(&[
        server("r1", "secret/data/app", "read", Some("acc"), "02.000"),
        server("late", "sys/leases/lookup", "update", Some("acc"), "09.000"),
    ]);
    let abandoned = |at: &str, path: &str| {
        agent(
            "backend.request",
            at,
            &json!({"outcome": "failure", "identity": jwt("acc"),
                "backend": {"node": "n", "method": "PUT", "path": path, "purpose": "unanswered"}}),
        )
    };
    let events = vec![
        agent(
            "secret.read",
            "02.010",
            &json!({"identity": jwt("acc"), "secret": {"path": "secret/data/app"}, "request_id": "r1"}),
        ),
        abandoned("09.002", "sys/leases/lookup"),
        abandoned("09.003", "database/creds/app"),
    ];
    let r = run(&events, &log);
    assert!(r.complete(), "{}", r.to_text("a", "s"));
    assert_eq!(r.matched_by_path_and_time, 1);
    assert_eq!(r.unanswered.len(), 1);
    assert_eq!(r.unanswered[0].path, "database/creds/app");
    assert!(
        r.to_text("a", "s").contains("Abandoned by the agent"),
        "{}",
        r.to_text("a", "s")
    );
}

#[test]
fn an_agent_request_id_the_server_never_logged_is_reported() {
    let log = server_log(&[]);
    let events = vec![agent(
        "backend.request",
        "01.000",
        &json!({"identity": {"method": "", "mount": "", "token_accessor": "acc"},
            "request_id": "ghost", "backend": {"node": "n", "request_id": "ghost", "method": "GET",
            "path": "sys/internal/ui/mounts/secret", "purpose": "mount_lookup"}}),
    )];
    let r = run(&events, &log);
    assert!(!r.complete());
    assert_eq!(r.agent_only[0].path, "sys/internal/ui/mounts/secret");
    assert_eq!(
        r.agent_only[0].items[0].request_id.as_deref(),
        Some("ghost")
    );
}

#[test]
fn each_event_stands_for_the_path_the_server_logs() {
    let path = |event: &str, fields: Value| {
        agent_request(1, agent(event, "00.000", &fields)).and_then(|a| a.path)
    };
    assert_eq!(
        path("secret.renew", json!({})).as_deref(),
        Some("sys/leases/renew")
    );
    assert_eq!(
        path("auth.renew", json!({})).as_deref(),
        Some("auth/token/renew-self")
    );
    assert_eq!(
        path("auth.login", json!({"identity": jwt("a")})).as_deref(),
        Some("auth/jwt/login")
    );
    let child = json!({"identity": {"method": "token", "mount": "auth/token", "role": "web"}});
    assert_eq!(
        path("auth.login", child).as_deref(),
        Some("auth/token/create/web")
    );
    // A token file is read with a lookup-self of its own (a `backend.request`).
    let file = json!({"identity": {"method": "token_file", "mount": "auth/token"}});
    assert_eq!(path("auth.login", file), None);
    // Not a backend request at all.
    assert!(
        agent_request(
            1,
            json!({"event": "backend.failover", "backend": {"node": "b", "previous": "a"}})
        )
        .is_none()
    );
    assert!(agent_request(1, json!({"event": "output.write"})).is_none());
}
