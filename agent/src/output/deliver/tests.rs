//! What a delivery's `output.write` events say it delivered: the secrets, and the keyed hash of exactly
//! the bytes in the file.

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::*;
use crate::config::AuditConfig;
use crate::template::scrub::Index;

const KEY: &[u8] = b"audit-key";

/// An auditor writing `dir/audit.log`, keyed with `KEY` when `keyed` (the key file ends in a newline,
/// which is not part of the key).
fn auditor(dir: &Path, keyed: bool, sink: bool) -> (Auditor, PathBuf) {
    let log = dir.join("audit.log");
    let key = dir.join("key");
    std::fs::write(&key, [KEY, b"\n"].concat()).unwrap();
    let cfg = AuditConfig {
        file: sink.then(|| log.clone()),
        hmac_key_file: keyed.then_some(key),
        ..AuditConfig::default()
    };
    (Auditor::from_config(&cfg, None).unwrap(), log)
}

fn deliverer(dir: &Path, auditor: Auditor) -> Deliverer {
    let target = FileTarget {
        allow_non_tmpfs: true,
        ..FileTarget::new(dir.join("out"), 0o600)
    };
    let out = FileOutput {
        name: "t".into(),
        target,
        command: None,
        command_timeout: Duration::from_secs(1),
        error_fatal: true,
        atomic_set: false,
    };
    let backoff = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(2),
    };
    Deliverer::new(vec![out], Vec::new(), auditor, backoff, false)
}

fn rendered(text: &str, side: Option<&Path>, secrets: Vec<SecretRef>) -> RenderedFile {
    let side_writes = side
        .map(|p| SideWrite {
            path: p.to_path_buf(),
            user: String::new(),
            group: String::new(),
            mode: 0o600,
            append: false,
            content: Zeroizing::new(format!("side {text}")),
        })
        .into_iter()
        .collect();
    RenderedFile {
        text: Zeroizing::new(text.to_string()),
        side_writes,
        secrets,
    }
}

fn kv(version: u64) -> SecretRef {
    SecretRef {
        path: "secret/data/app".into(),
        version: Some(version),
        ..SecretRef::default()
    }
}

fn writes(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "output.write")
        .collect()
}

fn hmac_of(path: &Path) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    m.update(&std::fs::read(path).unwrap());
    hex::encode(m.finalize().into_bytes())
}

#[test]
fn a_write_names_its_secrets_and_the_keyed_hash_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, log) = auditor(dir.path(), true, true);
    let mut d = deliverer(dir.path(), a);
    let side = dir.path().join("side");
    let lease = SecretRef {
        path: "database/creds/app".into(),
        lease_id: Some("database/creds/app/abc".into()),
        ..SecretRef::default()
    };
    let r = rendered("one", Some(&side), vec![lease, kv(1)]);
    assert!(d.write_file(0, &r, &Index::default()).unwrap());
    let evs = writes(&log);
    assert_eq!(evs.len(), 2, "{evs:?}");
    // writeToFile first (as consul-template writes it while rendering), then the destination.
    assert_eq!(evs[0]["output"]["destination"], side.display().to_string());
    assert_eq!(evs[0]["output"]["content_hmac"], hmac_of(&side));
    let out = &evs[1]["output"];
    assert_eq!(out["content_hmac"], hmac_of(&dir.path().join("out")));
    assert_eq!(
        out["secrets"],
        serde_json::json!([
            { "path": "database/creds/app", "lease_id": "database/creds/app/abc" },
            { "path": "secret/data/app", "version": 1 },
        ])
    );

    // The same bytes again: nothing written, nothing recorded. New bytes: a new hash, the new version.
    assert!(!d.write_file(0, &r, &Index::default()).unwrap());
    assert_eq!(writes(&log).len(), 2);
    d.write_file(0, &rendered("two", None, vec![kv(2)]), &Index::default())
        .unwrap();
    let evs = writes(&log);
    let out = &evs[2]["output"];
    assert_eq!(out["secrets"][0]["version"], 2);
    assert_eq!(out["content_hmac"], hmac_of(&dir.path().join("out")));
    assert_ne!(out["content_hmac"], evs[1]["output"]["content_hmac"]);
}

#[test]
fn no_key_no_content_hmac_and_no_sink_no_hmac_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (a, log) = auditor(dir.path(), false, true);
    let mut d = deliverer(dir.path(), a);
    d.write_file(0, &rendered("one", None, vec![kv(1)]), &Index::default())
        .unwrap();
    let evs = writes(&log);
    assert_eq!(evs.len(), 1);
    assert!(evs[0]["output"].get("content_hmac").is_none(), "{evs:?}");
    assert_eq!(evs[0]["output"]["secrets"][0]["version"], 1);

    // Auditing off (a key but no sink): no HMAC is computed.
    let (off, _) = auditor(dir.path(), true, false);
    assert_eq!(off.content_hmac(b"x"), None);
    let (on, _) = auditor(dir.path(), true, true);
    assert_eq!(
        on.content_hmac(b"ab"),
        on.content_hmac_of([b"a".as_slice(), b"b".as_slice()])
    );
}
