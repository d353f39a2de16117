use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::audit::chain::{Hasher, seal, split_line};
use crate::audit::event::{
    AgentInfo, AnchorMeta, BackendMeta, CallerMeta, CredentialMeta, EventKind, EventMeta, Identity,
    Outcome, OutputMeta, ProxyMeta, ReloadMeta, SecretMeta, SecretRef,
};

const PREV: &str = "ab000000000000000000000000000000000000000000000000000000000000cd";

const KINDS: &[EventKind] = &[
    EventKind::SecretRead,
    EventKind::SecretWrite,
    EventKind::SecretRenew,
    EventKind::SecretRevoke,
    EventKind::AuthLogin,
    EventKind::AuthRenew,
    EventKind::OutputWrite,
    EventKind::OutputCommand,
    EventKind::ConfigReload,
    EventKind::AgentRefresh,
    EventKind::ExecStart,
    EventKind::ExecRestart,
    EventKind::ExecExit,
    EventKind::ProxyRequest,
    EventKind::CallerRefused,
    EventKind::CredentialServe,
    EventKind::AuditAnchor,
    EventKind::BackendRequest,
    EventKind::BackendFailover,
];

const FORMATS: [Format; 3] = [Format::Sidekey, Format::Ocsf, Format::Ecs];

/// An event with nothing optional.
pub(in crate::audit) fn bare(kind: EventKind) -> Event {
    Event {
        v: 1,
        time: "2026-12-01T10:20:30.456Z".into(),
        seq: 7,
        event: kind,
        outcome: Outcome::Success,
        agent: AgentInfo {
            id: "0123456789abcdef".into(),
            host: "node-1".into(),
            pid: 4242,
            version: "9.9.9",
        },
        identity: None,
        secret: None,
        backend: None,
        output: None,
        reload: None,
        proxy: None,
        caller: None,
        credential: None,
        anchor: None,
        meta: EventMeta::default(),
        error: None,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// An event with every member set (a failure, so `error` is there too).
fn full(kind: EventKind) -> Event {
    let exec = matches!(
        kind,
        EventKind::ExecStart | EventKind::ExecRestart | EventKind::ExecExit
    );
    Event {
        outcome: Outcome::Failure,
        identity: Some(Identity {
            method: "jwt".into(),
            mount: "auth/jwt".into(),
            role: "app".into(),
            subject: "system:serviceaccount:prod:app".into(),
            token_accessor: "acc-123".into(),
        }),
        secret: Some(SecretMeta {
            path: "database/creds/app".into(),
            mount_type: Some("database".into()),
            version: Some(3),
            lease_id: "database/creds/app/xyz".into(),
            lease_duration_s: 3600,
            renewable: true,
        }),
        backend: Some(BackendMeta {
            node: "https://bao-1:8200".into(),
            request_id: Some("0d5c2b1e-3f4a-7b8c-9d0e-1f2a3b4c5d6e".into()),
            method: Some("PUT".into()),
            path: Some("sys/leases/lookup".into()),
            purpose: Some("lease_lookup"),
            previous: Some("https://bao-0:8200".into()),
        }),
        output: Some(if exec {
            OutputMeta::Env {
                names: vec!["DB_USER".into(), "DB_PASS".into()],
                secrets: vec![delivered()],
                content_hmac: Some("c0ffee".into()),
            }
        } else {
            OutputMeta::File {
                destination: "/run/secrets/db.env".into(),
                secrets: vec![delivered()],
                content_hmac: Some("c0ffee".into()),
            }
        }),
        reload: Some(ReloadMeta {
            added: vec!["/run/a".into()],
            changed: vec![],
            removed: vec!["web".into()],
        }),
        proxy: Some(ProxyMeta {
            method: "GET".into(),
            status: 200,
            cache: "miss",
        }),
        caller: Some(CallerMeta {
            address: Some("[::1]:40000".into()),
            pid: Some(77),
            uid: Some(1000),
            gid: Some(1000),
            exe: Some("/usr/bin/app".into()),
            unit: Some("app.service".into()),
            workload: Some("web".into()),
            token_accessor: Some("acc-w".into()),
            own_token: true,
            ..CallerMeta::default()
        }),
        credential: Some(CredentialMeta {
            unit: "app.service".into(),
            id: "db".into(),
        }),
        anchor: Some(AnchorMeta {
            path: "anchors/data/web-1".into(),
            version: Some(12),
            seq: 6,
            hash: "ab".repeat(32),
            sink: "file".into(),
        }),
        meta: EventMeta {
            owner: Some("payments".into()),
            environment: Some("prod".into()),
            sensitivity: Some("high".into()),
            rotation_period_s: Some(86400),
        },
        error: Some("permission denied".into()),
        ..bare(kind)
    }
}

/// A secret that fed an output.
fn delivered() -> SecretRef {
    SecretRef {
        path: "database/creds/app".into(),
        version: None,
        lease_id: Some("database/creds/app/xyz".into()),
        serial: None,
    }
}

fn samples() -> Vec<Event> {
    KINDS.iter().flat_map(|k| [bare(*k), full(*k)]).collect()
}

/// The written line of `ev` in `format`, and its hash.
fn line(format: Format, ev: &Event) -> (String, String) {
    let canonical = format.encode(ev, PREV).unwrap();
    let (line, hash) = seal(&canonical, &Hasher::sha256());
    (String::from_utf8(line).unwrap(), hash)
}

#[test]
fn sidekey_format_is_the_v1_schema_unchanged() {
    for ev in samples() {
        let mut chained = ev.clone();
        chained.prev_hash = PREV.into();
        let (written, hash) = line(Format::Sidekey, &ev);
        chained.hash = hash;
        assert_eq!(written, serde_json::to_string(&chained).unwrap());
    }
}

#[test]
fn every_format_maps_back_to_the_sidekey_event() {
    for ev in samples() {
        for format in FORMATS {
            let (written, hash) = line(format, &ev);
            let mut chained = ev.clone();
            chained.prev_hash = PREV.into();
            chained.hash = hash;
            let back = to_sidekey(serde_json::from_str(&written).unwrap());
            assert_eq!(
                back,
                serde_json::to_value(&chained).unwrap(),
                "{format:?} {:?}:\n{written}",
                ev.event
            );
        }
    }
}

#[test]
fn the_chain_is_last_and_split_line_finds_it() {
    for ev in samples() {
        for format in FORMATS {
            let (written, hash) = line(format, &ev);
            let tail = format!("\"seq\":7,\"prev_hash\":\"{PREV}\",\"hash\":\"{hash}\"}}");
            let tail = match format {
                Format::Sidekey => format!("\"prev_hash\":\"{PREV}\",\"hash\":\"{hash}\"}}"),
                Format::Ocsf => format!("\"agent_id\":\"0123456789abcdef\",{tail}}}"),
                Format::Ecs => format!("{tail}}}"),
            };
            assert!(written.ends_with(&tail), "{format:?}: {written}");
            let (canonical, h) = split_line(&written).unwrap();
            assert_eq!(h, hash);
            assert_eq!(canonical.into_bytes(), format.encode(&ev, PREV).unwrap());
            let parsed: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(
                chain_of(&parsed),
                Some(Chain {
                    agent_id: "0123456789abcdef",
                    seq: 7,
                    prev_hash: PREV
                })
            );
        }
    }
}

#[test]
fn ocsf_classes_are_the_pinned_ones() {
    let class = |k| {
        let (written, _) = line(Format::Ocsf, &full(k));
        let v: Value = serde_json::from_str(&written).unwrap();
        (
            v["class_uid"].as_u64().unwrap(),
            v["activity_id"].as_u64().unwrap(),
        )
    };
    assert_eq!(class(EventKind::SecretRead), (6003, 2));
    assert_eq!(class(EventKind::SecretWrite), (6003, 1));
    assert_eq!(class(EventKind::SecretRenew), (6003, 3));
    assert_eq!(class(EventKind::SecretRevoke), (6003, 4));
    assert_eq!(class(EventKind::AuthLogin), (3002, 1));
    assert_eq!(class(EventKind::OutputWrite), (1001, 3));
    assert_eq!(class(EventKind::ExecStart), (1007, 1));
    assert_eq!(class(EventKind::ExecExit), (1007, 2));
    assert_eq!(class(EventKind::ConfigReload), (6002, 99));
    assert_eq!(class(EventKind::ProxyRequest), (6003, 2));
}

#[test]
fn ocsf_record_of_a_secret_read() {
    let mut ev = full(EventKind::SecretRead);
    ev.outcome = Outcome::Success;
    ev.error = None;
    ev.caller = None;
    let (written, _) = line(Format::Ocsf, &ev);
    let v: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["type_uid"], 600302);
    assert_eq!(v["time"], 1_796_120_430_456_i64);
    assert_eq!(v["status_id"], 1);
    assert_eq!(v["status"], "Success");
    assert_eq!(
        v["metadata"],
        json!({"product": {"name": "sidekey", "vendor_name": "sidekey", "version": "9.9.9"},
               "version": "1.7.0", "uid": "0123456789abcdef-7", "profiles": ["host"],
               "event_code": "secret.read"})
    );
    assert_eq!(
        v["actor"]["user"],
        json!({"name": "system:serviceaccount:prod:app",
               "account": {"name": "app", "uid": "auth/jwt", "type": "jwt"}, "type_id": 4})
    );
    assert_eq!(v["actor"]["session"]["credential_uid"], "acc-123");
    assert_eq!(
        v["actor"]["process"],
        json!({"pid": 4242, "name": "sidekey"})
    );
    assert_eq!(
        v["resources"],
        json!([{"uid": "database/creds/app", "type": "database"}])
    );
    assert_eq!(v["src_endpoint"], json!({"hostname": "node-1"}));
    assert_eq!(v["dst_endpoint"], json!({"name": "https://bao-1:8200"}));
    assert_eq!(v["device"], json!({"hostname": "node-1", "type_id": 0}));
    // What OCSF has no place for stays in sidekey's names, never a secret value.
    assert_eq!(
        v["unmapped"]["secret"]["lease_id"],
        "database/creds/app/xyz"
    );
    assert_eq!(v["unmapped"]["meta"]["owner"], "payments");
}

#[test]
fn ecs_document_of_an_output_write() {
    let (written, hash) = line(Format::Ecs, &full(EventKind::OutputWrite));
    let v: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["@timestamp"], "2026-12-01T10:20:30.456Z");
    assert_eq!(v["ecs"]["version"], "8.17.0");
    assert_eq!(
        v["event"],
        json!({"kind": "event", "category": ["file"], "type": ["change"],
               "dataset": "sidekey.audit", "action": "output.write", "outcome": "failure"})
    );
    assert_eq!(
        v["agent"],
        json!({"name": "sidekey", "type": "sidekey", "id": "0123456789abcdef", "version": "9.9.9"})
    );
    assert_eq!(v["host"]["hostname"], "node-1");
    assert_eq!(v["process"]["pid"], 4242);
    assert_eq!(
        v["user"],
        json!({"name": "system:serviceaccount:prod:app", "roles": ["app"]})
    );
    assert_eq!(v["source"]["address"], "[::1]:40000");
    assert_eq!(v["file"]["path"], "/run/secrets/db.env");
    assert_eq!(v["error"]["message"], "permission denied");
    assert_eq!(v["labels"]["owner"], "payments");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.last().unwrap().as_str(), "sidekey");
    assert_eq!(v["sidekey"]["hash"], hash);
}

/// Acceptance 2 of issue 17: every OCSF record carries what OCSF 1.x requires of its class. The schema
/// is the one PyPI's pydantic-ocsf ships (tests/run.sh installs it); tests/ocsf/required.py checks.
#[test]
fn ocsf_records_carry_every_attribute_ocsf_requires() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ocsf.jsonl");
    let lines: Vec<String> = samples()
        .iter()
        .map(|ev| line(Format::Ocsf, ev).0)
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let summary = check_ocsf(&file);
    assert_eq!(summary["records"], lines.len());
    assert_eq!(summary["classes"], json!([1001, 1007, 3002, 6002, 6003]));
}

/// Run tests/ocsf/required.py on `file`; its summary, or a panic with its complaints.
pub(crate) fn check_ocsf(file: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ocsf/required.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "OCSF check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
