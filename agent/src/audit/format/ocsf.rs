//! OCSF 1.7: one class per event (docs/audit-events.md, "Formats", has the table). The actor is sidekey
//! (its pid, and the identity it acted as); the chain travels last in `unmapped`.

use serde_json::{Map, Value, json};

use super::map::{self, Conv, Move, conv, mv};

/// The OCSF schema version the records follow (`metadata.version`).
pub(super) const VERSION: &str = "1.7.0";

/// The API the backend speaks (`api.service.name`, Authentication's `service.name`).
const SERVICE: &str = "vault";

/// An OCSF event class and where sidekey's members go in it.
struct Class {
    uid: u32,
    name: &'static str,
    category_uid: u32,
    category: &'static str,
    /// Where the identity goes: `actor.user` in most classes, `user` in Authentication.
    identity: &'static [Move],
    /// The class's own attributes.
    moves: &'static [Move],
}

/// In every class.
const COMMON: &[Move] = &[
    conv("/time", "/time", Conv::EpochMs),
    conv("/outcome", "/status_id", Conv::StatusId),
    mv("/error", "/status_detail"),
    mv("/event", "/metadata/event_code"),
    mv("/agent/version", "/metadata/product/version"),
    mv("/agent/pid", "/actor/process/pid"),
    mv("/agent/host", "/device/hostname"),
    mv("/caller/workload", "/actor/app_name"),
];

const ACTOR_USER: &[Move] = &[
    mv("/identity/subject", "/actor/user/name"),
    mv("/identity/role", "/actor/user/account/name"),
    mv("/identity/mount", "/actor/user/account/uid"),
    mv("/identity/method", "/actor/user/account/type"),
    mv("/identity/token_accessor", "/actor/session/credential_uid"),
];

const USER: &[Move] = &[
    mv("/identity/subject", "/user/name"),
    mv("/identity/role", "/user/account/name"),
    mv("/identity/mount", "/user/account/uid"),
    mv("/identity/method", "/user/account/type"),
    mv("/identity/token_accessor", "/session/credential_uid"),
];

const API: Class = Class {
    uid: 6003,
    name: "API Activity",
    category_uid: 6,
    category: "Application Activity",
    identity: ACTOR_USER,
    moves: &[
        mv("/secret/path", "/resources/0/uid"),
        mv("/secret/mount_type", "/resources/0/type"),
        conv("/caller/address", "/src_endpoint", Conv::Endpoint),
        mv("/backend/node", "/dst_endpoint/name"),
        mv("/backend/request_id", "/api/request/uid"),
        mv("/proxy/method", "/http_request/http_method"),
        mv("/proxy/status", "/http_response/code"),
    ],
};

const AUTHENTICATION: Class = Class {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category: "Identity & Access Management",
    identity: USER,
    moves: &[mv("/backend/node", "/dst_endpoint/name")],
};

const FILE_SYSTEM: Class = Class {
    uid: 1001,
    name: "File System Activity",
    category_uid: 1,
    category: "System Activity",
    identity: ACTOR_USER,
    moves: &[mv("/output/destination", "/file/path")],
};

const PROCESS: Class = Class {
    uid: 1007,
    name: "Process Activity",
    category_uid: 1,
    category: "System Activity",
    identity: ACTOR_USER,
    moves: &[],
};

const APPLICATION_LIFECYCLE: Class = Class {
    uid: 6002,
    name: "Application Lifecycle",
    category_uid: 6,
    category: "Application Activity",
    identity: ACTOR_USER,
    moves: &[],
};

/// The chain members at the end of `unmapped`.
const CHAIN: &[&str] = &["agent_id", "seq", "prev_hash", "hash"];

/// The order of a record's top-level members (`unmapped` is added last).
const ORDER: &[&str] = &[
    "activity_id",
    "activity_name",
    "category_uid",
    "category_name",
    "class_uid",
    "class_name",
    "type_uid",
    "type_name",
    "severity_id",
    "severity",
    "time",
    "status_id",
    "status",
    "status_detail",
    "metadata",
    "actor",
    "user",
    "session",
    "service",
    "api",
    "src_endpoint",
    "dst_endpoint",
    "http_request",
    "http_response",
    "resources",
    "file",
    "process",
    "app",
    "device",
];

/// The OCSF record of sidekey event `ev` (its `serde_json` form), chained after `prev_hash`.
pub(super) fn encode(mut ev: Map<String, Value>, prev_hash: &str) -> Map<String, Value> {
    let kind = text(&ev, "/event");
    let class = class_of(&kind);
    let (activity_id, activity_name) = activity(&kind, &ev);
    let success = text(&ev, "/outcome") == "success";
    let agent_id = map::take(&mut ev, "/agent/id").unwrap_or_default();
    let seq = ev.shift_remove("seq").unwrap_or_default();
    ev.shift_remove("v");
    ev.shift_remove("prev_hash");
    let (severity_id, severity) = if success {
        (1, "Informational")
    } else {
        (3, "Medium")
    };
    let mut rec = Map::new();
    for (k, v) in [
        ("activity_id", json!(activity_id)),
        ("activity_name", json!(activity_name)),
        ("category_uid", json!(class.category_uid)),
        ("category_name", json!(class.category)),
        ("class_uid", json!(class.uid)),
        ("class_name", json!(class.name)),
        ("type_uid", json!(class.uid * 100 + activity_id)),
        (
            "type_name",
            json!(format!("{}: {activity_name}", class.name)),
        ),
        ("severity_id", json!(severity_id)),
        ("severity", json!(severity)),
        ("status", json!(if success { "Success" } else { "Failure" })),
    ] {
        rec.insert(k.into(), v);
    }
    let uid = format!("{}-{seq}", agent_id.as_str().unwrap_or_default());
    rec.insert(
        "metadata".into(),
        json!({"product": {"name": "sidekey", "vendor_name": "sidekey"}, "version": VERSION,
               "uid": uid, "profiles": ["host"]}),
    );
    map::encode(&mut ev, &mut rec, COMMON);
    map::encode(&mut ev, &mut rec, class.identity);
    map::encode(&mut ev, &mut rec, class.moves);
    derive(
        &mut rec,
        class,
        &kind,
        &ev,
        agent_id.as_str().unwrap_or_default(),
    );
    let chain = [
        ("agent_id", agent_id),
        ("seq", seq),
        ("prev_hash", prev_hash.into()),
    ];
    map::seal_rest(rec, ORDER, "unmapped", ev, chain)
}

/// The sidekey event of OCSF record `rec`.
pub(super) fn decode(mut rec: Map<String, Value>) -> Map<String, Value> {
    let (mut ev, mut chain) = map::open_rest(&mut rec, "unmapped", CHAIN);
    let class = class_of(&text(&rec, "/metadata/event_code"));
    map::decode(&mut rec, &mut ev, COMMON);
    map::decode(&mut rec, &mut ev, class.identity);
    map::decode(&mut rec, &mut ev, class.moves);
    map::put(
        &mut ev,
        "/agent/id",
        chain.shift_remove("agent_id").unwrap_or_default(),
    );
    ev.extend(chain);
    ev
}

/// What each class requires beyond what moved in: values sidekey knows without an event member of its
/// own (left out when mapping back).
fn derive(
    rec: &mut Map<String, Value>,
    class: &Class,
    kind: &str,
    ev: &Map<String, Value>,
    id: &str,
) {
    let host = map::get(rec, "/device/hostname")
        .cloned()
        .unwrap_or_default();
    map::put(rec, "/device/type_id", json!(0));
    map::put(rec, "/actor/process/name", json!("sidekey"));
    if class.uid == AUTHENTICATION.uid && !rec.contains_key("user") {
        map::put(rec, "/user/uid", json!("unknown"));
    }
    // The machine auth methods log in service identities; a token from a file may be anyone's.
    for user in ["/actor/user", "/user"] {
        if map::get(rec, user).is_some() {
            let method = text(rec, &format!("{user}/account/type"));
            let type_id = if matches!(method.as_str(), "" | "token_file") {
                0
            } else {
                4
            };
            map::put(rec, &format!("{user}/type_id"), json!(type_id));
        }
    }
    match class.uid {
        6003 => {
            map::put(rec, "/api/operation", json!(kind));
            map::put(rec, "/api/service/name", json!(SERVICE));
            // A caller's address is the source; otherwise the call came from this host.
            if !rec.contains_key("src_endpoint") {
                map::put(rec, "/src_endpoint/hostname", host);
            }
        }
        3002 => {
            map::put(rec, "/service/name", json!(SERVICE));
        }
        1001 => {
            let file = if text(ev, "/output/kind") == "env" {
                json!({"name": "environment", "type_id": 99, "type": "Environment variables"})
            } else {
                let path = map::get(rec, "/file/path").and_then(Value::as_str);
                let name = path.map_or("", |p| p.rsplit('/').next().unwrap_or(p));
                json!({"name": name, "type_id": 1, "type": "Regular File"})
            };
            if let Value::Object(f) = file {
                for (k, v) in f {
                    map::put(rec, &format!("/file/{k}"), v);
                }
            }
        }
        1007 => {
            // sidekey does not record the child's pid: the uid names the process it supervises.
            let what = if kind == "output.command" {
                "command"
            } else {
                "exec"
            };
            map::put(rec, "/process/uid", json!(format!("{id}/{what}")));
        }
        // Application Lifecycle: the application is sidekey itself.
        _ => {
            let version = map::get(rec, "/metadata/product/version").cloned();
            map::put(rec, "/app/name", json!("sidekey"));
            map::put(rec, "/app/vendor_name", json!("sidekey"));
            if let Some(v) = version {
                map::put(rec, "/app/version", v);
            }
        }
    }
}

/// The class of sidekey event `kind` (pinned: secret.* API Activity, auth.* Authentication,
/// output.write File System Activity, exec.* Process Activity).
fn class_of(kind: &str) -> &'static Class {
    match kind {
        "auth.login" | "auth.renew" => &AUTHENTICATION,
        "output.write" => &FILE_SYSTEM,
        "exec.start" | "exec.restart" | "exec.exit" | "output.command" => &PROCESS,
        "config.reload" => &APPLICATION_LIFECYCLE,
        _ => &API,
    }
}

/// The class's `activity_id` and its caption (99 "Other" gets sidekey's own name for it).
fn activity(kind: &str, ev: &Map<String, Value>) -> (u32, &'static str) {
    match kind {
        "secret.read" | "credential.serve" => (2, "Read"),
        "secret.write" | "audit.anchor" => (1, "Create"),
        "secret.renew" => (3, "Update"),
        "secret.revoke" => (4, "Delete"),
        "proxy.request" | "caller.refused" => by_method(&text(ev, "/proxy/method")),
        "backend.request" => by_method(&text(ev, "/backend/method")),
        "agent.refresh" => (99, "Refresh"),
        "backend.failover" => (99, "Failover"),
        "auth.login" => (1, "Logon"),
        "auth.renew" => (99, "Token Renew"),
        "output.write" => (3, "Update"),
        "output.command" | "exec.start" | "exec.restart" => (1, "Launch"),
        "exec.exit" => (2, "Terminate"),
        "config.reload" => (99, "Reload"),
        _ => (0, "Unknown"),
    }
}

/// An API call's activity by its HTTP method (Vault's `LIST` is a read).
fn by_method(method: &str) -> (u32, &'static str) {
    match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" | "LIST" => (2, "Read"),
        "POST" | "PUT" => (1, "Create"),
        "PATCH" => (3, "Update"),
        "DELETE" => (4, "Delete"),
        _ => (0, "Unknown"),
    }
}

fn text(m: &Map<String, Value>, ptr: &str) -> String {
    map::get(m, ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
