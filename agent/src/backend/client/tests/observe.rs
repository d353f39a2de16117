//! What the client reports to its observer (the audit trail): the requests made for a purpose, with
//! the server's `request_id` and the token's accessor, never the requests whose callers record them;
//! and every move to another node.

use std::sync::{Arc, Mutex};

use super::{Server, cluster, dead_origin, json_answer, ok_answer, token};
use crate::backend::{Bearer, Exchange, Observer};

/// What an observer was told, as text: `purpose method path accessor request_id error?` per request,
/// `failover node previous` per move.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Observer for Seen {
    fn request(&self, x: &Exchange<'_>) {
        self.0.lock().unwrap().push(format!(
            "{} {} {} {} {} {}",
            x.purpose.as_str(),
            x.method,
            x.path,
            x.accessor,
            x.request_id.unwrap_or("-"),
            x.error.map_or("ok", |_| "failed"),
        ));
    }

    fn failover(&self, node: &str, previous: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("failover {node} {previous}"));
    }
}

fn observed(address: &str, others: &[String]) -> (crate::backend::Client, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let c = cluster(address, others).observed_by(seen.clone());
    (c, seen)
}

fn with_id(id: &str, data: &str) -> String {
    json_answer(
        "200 OK",
        &format!(r#"{{"request_id":"{id}","data":{data}}}"#),
        "",
    )
}

#[tokio::test]
async fn a_request_made_for_a_purpose_is_reported_with_the_request_id_and_accessor() {
    let server = Server::start(|_, head| {
        if head.contains("/v1/sys/internal/ui/mounts/") {
            with_id(
                "req-mount",
                r#"{"path":"secret/","type":"kv","options":{"version":"2"}}"#,
            )
        } else {
            with_id("req-read", r#"{"value":"x"}"#)
        }
    })
    .await;
    let (c, seen) = observed(&server.origin(), &[]);
    let t = token();
    let m = c
        .mount_info(Bearer::new(&t, "acc-1"), "secret/app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.kv_version, Some(2));
    // A read is its caller's to record (`secret.read`): it reaches the caller with its request_id.
    let s = c
        .read(Bearer::new(&t, ""), "secret/data/app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.request_id, "req-read");
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["mount_lookup GET sys/internal/ui/mounts/secret/app acc-1 req-mount ok"]
    );
}

#[tokio::test]
async fn a_lookup_self_names_the_accessor_its_answer_gives_and_a_failure_has_no_request_id() {
    let server = Server::start(|_, head| {
        if head.contains("lookup-self") {
            with_id("req-self", r#"{"accessor":"learned","ttl":60}"#)
        } else {
            json_answer("403 Forbidden", r#"{"errors":["permission denied"]}"#, "")
        }
    })
    .await;
    let (c, seen) = observed(&server.origin(), &[]);
    let t = token();
    let shown = |p: &str| p.replace("hidden", "[REDACTED]");
    let info = c.lookup_self(Bearer::new(&t, "")).await.unwrap();
    assert_eq!(info.accessor, "learned");
    c.revoke_self(Bearer::new(&t, "known").showing(&shown))
        .await
        .unwrap_err();
    c.mount_info(Bearer::new(&t, "known").showing(&shown), "kv/hidden")
        .await
        .unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            "lookup_self GET auth/token/lookup-self learned req-self ok",
            "token_revoke PUT auth/token/revoke-self known - failed",
            "mount_lookup GET sys/internal/ui/mounts/kv/[REDACTED] known - failed",
        ]
    );
}

#[tokio::test]
async fn a_move_to_another_node_is_reported_once() {
    let dead = dead_origin().await;
    let good = Server::start(|_, _| ok_answer("x")).await;
    let (c, seen) = observed(&dead, &[good.origin()]);
    let t = token();
    c.read(Bearer::new(&t, ""), "secret/x").await.unwrap();
    c.read(Bearer::new(&t, ""), "secret/x").await.unwrap();
    assert_eq!(
        *seen.0.lock().unwrap(),
        [format!("failover {} {dead}", good.origin())]
    );
}

#[tokio::test]
async fn a_call_its_caller_stopped_waiting_for_is_reported_unanswered() {
    // A server that takes the request and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let (c, seen) = observed(&origin, &[]);
    let t = token();
    let wait = std::time::Duration::from_millis(300);
    let read = c.read(Bearer::new(&t, "acc-2"), "database/creds/app");
    assert!(tokio::time::timeout(wait, read).await.is_err());
    let lookup = c.lookup_lease(Bearer::new(&t, "acc-2"), "database/creds/app/x");
    assert!(tokio::time::timeout(wait, lookup).await.is_err());
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            "unanswered GET database/creds/app acc-2 - failed",
            "unanswered PUT sys/leases/lookup acc-2 - failed",
        ]
    );
}
