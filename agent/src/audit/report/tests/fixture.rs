//! A trail written line by line for the report's tests: times chosen, each event chained to the
//! previous one as the auditor chains them.

use serde_json::{Value, json};

use super::super::*;
use crate::audit::chain::{GENESIS, Hasher};

/// 2026-03-01T00:00:00Z.
pub(super) const T0: i64 = 1_772_323_200;

/// A trail being written: each event chained to the previous one, as the auditor writes them.
pub(super) struct Fixture {
    pub(super) lines: Vec<String>,
    prev: String,
    seq: u64,
    agent: &'static str,
}

impl Fixture {
    pub(super) fn new(agent: &'static str) -> Self {
        Self {
            lines: Vec::new(),
            prev: GENESIS.to_string(),
            seq: 0,
            agent,
        }
    }

    /// A new agent run continuing the same chain (a restart).
    pub(super) fn restart(&mut self, agent: &'static str) {
        self.agent = agent;
        self.seq = 0;
    }

    /// Event `event` with `outcome` at `T0 + secs`, with the members of `extra`.
    pub(super) fn add(&mut self, secs: i64, event: &str, ok: bool, extra: Value) -> &mut Self {
        self.seq += 1;
        let time = rfc3339_ms((T0 + secs) * 1000);
        let mut ev = json!({
            "v": 1, "time": time, "seq": self.seq, "event": event,
            "outcome": if ok { "success" } else { "failure" },
            "agent": {"id": self.agent, "host": "h", "pid": 1, "version": "0.1.0"},
        });
        let map = ev.as_object_mut().unwrap();
        for (k, v) in extra.as_object().unwrap() {
            map.insert(k.clone(), v.clone());
        }
        map.insert("prev_hash".into(), Value::String(self.prev.clone()));
        let canonical = serde_json::to_string(&ev).unwrap();
        let hash = Hasher::sha256().hash(canonical.as_bytes());
        let line = format!(
            "{},\"hash\":\"{hash}\"}}",
            &canonical[..canonical.len() - 1]
        );
        self.lines.push(line);
        self.prev = hash;
        self
    }

    pub(super) fn text(&self) -> String {
        self.lines.join("\n") + "\n"
    }

    pub(super) fn report(&self) -> Report {
        build(self.lines.iter().map(String::as_str), &Hasher::sha256())
    }
}

pub(super) fn identity(accessor: &str) -> Value {
    json!({"method": "jwt", "mount": "auth/jwt", "role": "app", "subject": "sa:app", "token_accessor": accessor})
}

/// A `secret.*` event's members: identity, the secret (lease or KV version), its rotation period.
pub(super) fn secret(path: &str, lease: &str, version: Option<u64>, period_s: u64) -> Value {
    let mut s = json!({"path": path, "lease_id": lease, "lease_duration_s": 30, "renewable": !lease.is_empty()});
    if let Some(v) = version {
        s["version"] = json!(v);
    }
    json!({"identity": identity("acc-1"), "secret": s, "meta": {"rotation_period_s": period_s}})
}

pub(super) fn find<'r>(r: &'r Report, path: &str) -> &'r SecretLine {
    let found = r.secrets.iter().find(|l| l.path == path);
    assert!(found.is_some(), "{path} not in {:#?}", r.secrets);
    found.unwrap()
}
