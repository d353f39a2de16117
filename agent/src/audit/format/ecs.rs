//! Elastic Common Schema: ECS field names where ECS has the field, the rest of the event under
//! `sidekey`, which ends with the chain.

use serde_json::{Map, Value, json};

use super::map::{self, Conv, Move, conv, mv};

/// The ECS version the documents follow (`ecs.version`).
pub(super) const VERSION: &str = "8.17.0";

const MOVES: &[Move] = &[
    mv("/time", "/@timestamp"),
    mv("/event", "/event/action"),
    mv("/outcome", "/event/outcome"),
    mv("/agent/id", "/agent/id"),
    mv("/agent/version", "/agent/version"),
    mv("/agent/host", "/host/hostname"),
    mv("/agent/pid", "/process/pid"),
    mv("/identity/subject", "/user/name"),
    conv("/identity/role", "/user/roles", Conv::List),
    mv("/caller/address", "/source/address"),
    mv("/output/destination", "/file/path"),
    mv("/backend/request_id", "/http/request/id"),
    mv("/proxy/method", "/http/request/method"),
    mv("/proxy/status", "/http/response/status_code"),
    mv("/error", "/error/message"),
    mv("/meta/owner", "/labels/owner"),
    mv("/meta/environment", "/labels/environment"),
    mv("/meta/sensitivity", "/labels/sensitivity"),
];

/// The order of a document's top-level fields (`sidekey` is added last).
const ORDER: &[&str] = &[
    "@timestamp",
    "ecs",
    "event",
    "agent",
    "host",
    "process",
    "user",
    "source",
    "file",
    "http",
    "error",
    "labels",
];

/// The ECS document of sidekey event `ev` (its `serde_json` form), chained after `prev_hash`.
pub(super) fn encode(mut ev: Map<String, Value>, prev_hash: &str) -> Map<String, Value> {
    let kind = map::get(&ev, "/event")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (category, kinds) = categorize(&kind);
    let seq = ev.shift_remove("seq").unwrap_or_default();
    ev.shift_remove("v");
    ev.shift_remove("prev_hash");
    let mut doc = Map::new();
    doc.insert("ecs".into(), json!({ "version": VERSION }));
    doc.insert(
        "event".into(),
        json!({"kind": "event", "category": category, "type": kinds, "dataset": "sidekey.audit"}),
    );
    doc.insert(
        "agent".into(),
        json!({"name": "sidekey", "type": "sidekey"}),
    );
    map::encode(&mut ev, &mut doc, MOVES);
    let chain = [("seq", seq), ("prev_hash", prev_hash.into())];
    map::seal_rest(doc, ORDER, "sidekey", ev, chain)
}

/// The sidekey event of ECS document `doc`.
pub(super) fn decode(mut doc: Map<String, Value>) -> Map<String, Value> {
    let (mut ev, chain) = map::open_rest(&mut doc, "sidekey", &["seq", "prev_hash", "hash"]);
    map::decode(&mut doc, &mut ev, MOVES);
    ev.extend(chain);
    ev
}

/// `event.category` and `event.type` of sidekey event `kind`.
fn categorize(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "secret.read" | "credential.serve" | "agent.refresh" | "backend.request" => {
            (&["api"], &["access"])
        }
        "secret.write" | "audit.anchor" => (&["api"], &["creation"]),
        "secret.renew" => (&["api"], &["change"]),
        "secret.revoke" => (&["api"], &["deletion"]),
        "proxy.request" => (&["api", "web"], &["access"]),
        "caller.refused" => (&["api"], &["denied"]),
        "auth.login" => (&["authentication"], &["start"]),
        "auth.renew" => (&["authentication"], &["info"]),
        "output.write" => (&["file"], &["change"]),
        "output.command" | "exec.start" => (&["process"], &["start"]),
        "exec.restart" => (&["process"], &["end", "start"]),
        "exec.exit" => (&["process"], &["end"]),
        "config.reload" => (&["configuration"], &["change"]),
        "backend.failover" => (&["network"], &["connection"]),
        _ => (&["api"], &["info"]),
    }
}
