//! Who retrieved what: retrievals per identity (what the backend saw), per workload and per local caller
//! (what the kernel said of the process), and failures per event kind and path.
//!
//! A retrieval is a `secret.read` or `secret.write` (the agent, for its identity), a `proxy.request`
//! (a caller through the API proxy) or a `credential.serve` (a unit through `LoadCredential=`); a failed
//! one, or a `caller.refused`, counts as a failure of whoever is named.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::text;

/// What one identity, workload or caller retrieved.
#[derive(Debug, Default, Serialize)]
pub struct Access {
    /// Successful retrievals.
    pub retrievals: u64,
    /// Failed or refused ones.
    pub failures: u64,
    /// The secret paths (or `credential UNIT/ID`) asked for.
    pub paths: BTreeSet<String>,
    /// First retrieval or failure (RFC 3339).
    pub first: String,
    /// Last retrieval or failure (RFC 3339).
    pub last: String,
}

/// Retrievals by one identity the backend saw.
#[derive(Debug, Default, Serialize)]
pub struct IdentityAccess {
    /// Auth method type.
    pub method: String,
    /// Role logged in as.
    pub role: String,
    /// The workload's subject (JWT `sub`, cert CN, AppRole role).
    pub subject: String,
    /// The token's accessor (one per login).
    pub token_accessor: String,
    /// What it retrieved.
    #[serde(flatten)]
    pub access: Access,
}

/// Retrievals by one workload (per-host mode).
#[derive(Debug, Default, Serialize)]
pub struct WorkloadAccess {
    /// The workload's name.
    pub workload: String,
    /// What it retrieved.
    #[serde(flatten)]
    pub access: Access,
}

/// Retrievals by one local caller: the process the kernel named (its unit, container, pod or executable,
/// and uid) or a tcp peer's address.
#[derive(Debug, Default, Serialize)]
pub struct CallerAccess {
    /// The systemd unit.
    pub unit: String,
    /// The container.
    pub container_id: String,
    /// The Kubernetes pod.
    pub pod_uid: String,
    /// The executable.
    pub exe: String,
    /// The user id.
    pub uid: Option<u32>,
    /// A tcp peer's address, without the port.
    pub address: String,
    /// The workloads it was matched to.
    pub workloads: BTreeSet<String>,
    /// What it retrieved.
    #[serde(flatten)]
    pub access: Access,
}

/// The failures of one event kind on one path (or output).
#[derive(Debug, Default, Serialize)]
pub struct FailureGroup {
    /// Event kind.
    pub event: String,
    /// Secret path, output, backend path or credential.
    pub subject: String,
    /// How many.
    pub count: u64,
    /// The first (RFC 3339).
    pub first: String,
    /// The last (RFC 3339).
    pub last: String,
    /// The last one's error.
    pub last_error: String,
}

/// The tables being built.
#[derive(Default)]
pub(super) struct Accesses {
    identities: BTreeMap<[String; 4], IdentityAccess>,
    workloads: BTreeMap<String, WorkloadAccess>,
    callers: BTreeMap<CallerKey, CallerAccess>,
    failures: BTreeMap<(String, String), FailureGroup>,
}

/// A caller: unit, container, pod, executable, uid, tcp address.
type CallerKey = (String, String, String, String, Option<u32>, String);

/// The four tables, each in key order.
pub(super) type Lines = (
    Vec<IdentityAccess>,
    Vec<WorkloadAccess>,
    Vec<CallerAccess>,
    Vec<FailureGroup>,
);

// === impl Access ===

impl Access {
    fn note(&mut self, ok: bool, path: &str, time: &str) {
        if ok {
            self.retrievals += 1;
        } else {
            self.failures += 1;
        }
        if !path.is_empty() {
            self.paths.insert(path.to_string());
        }
        if self.first.is_empty() {
            self.first = time.to_string();
        }
        self.last = time.to_string();
    }
}

// === impl Accesses ===

impl Accesses {
    /// Count `ev` (of kind `kind`) for whoever it names, when it is a retrieval.
    pub fn note(&mut self, ev: &Value, kind: &str, ok: bool, time: &str) {
        if !matches!(
            kind,
            "secret.read"
                | "secret.write"
                | "proxy.request"
                | "credential.serve"
                | "caller.refused"
        ) {
            return;
        }
        let s = |p: &str| text(ev, p).to_string();
        let path = subject(ev);
        if ev.get("identity").is_some() {
            let key = [
                s("/identity/method"),
                s("/identity/role"),
                s("/identity/subject"),
                s("/identity/token_accessor"),
            ];
            let [method, role, subject, token_accessor] = key.clone();
            self.identities
                .entry(key)
                .or_insert_with(|| IdentityAccess {
                    method,
                    role,
                    subject,
                    token_accessor,
                    ..IdentityAccess::default()
                })
                .access
                .note(ok, &path, time);
        }
        let workload = s("/caller/workload");
        if !workload.is_empty() {
            self.workloads
                .entry(workload.clone())
                .or_insert_with(|| WorkloadAccess {
                    workload: workload.clone(),
                    ..WorkloadAccess::default()
                })
                .access
                .note(ok, &path, time);
        }
        let uid = ev
            .pointer("/caller/uid")
            .and_then(Value::as_u64)
            .and_then(|u| u32::try_from(u).ok());
        let key = (
            s("/caller/unit"),
            s("/caller/container_id"),
            s("/caller/pod_uid"),
            s("/caller/exe"),
            uid,
            host(text(ev, "/caller/address")).to_string(),
        );
        // A workload's own templates name just the workload: no process to name.
        if key == Default::default() {
            return;
        }
        let (unit, container_id, pod_uid, exe, uid, address) = key.clone();
        let line = self.callers.entry(key).or_insert_with(|| CallerAccess {
            unit,
            container_id,
            pod_uid,
            exe,
            uid,
            address,
            ..CallerAccess::default()
        });
        if !workload.is_empty() {
            line.workloads.insert(workload);
        }
        line.access.note(ok, &path, time);
    }

    /// A failure of `kind` on `subject`.
    pub fn failed(&mut self, kind: &str, subject: &str, time: &str, error: &str) {
        let g = self
            .failures
            .entry((kind.to_string(), subject.to_string()))
            .or_insert_with(|| FailureGroup {
                event: kind.to_string(),
                subject: subject.to_string(),
                first: time.to_string(),
                ..FailureGroup::default()
            });
        g.count += 1;
        g.last = time.to_string();
        g.last_error = error.to_string();
    }

    /// The tables, each in key order.
    pub fn into_lines(self) -> Lines {
        (
            self.identities.into_values().collect(),
            self.workloads.into_values().collect(),
            self.callers.into_values().collect(),
            self.failures.into_values().collect(),
        )
    }
}

/// What an event is about: its secret path, output destination, backend path or credential.
pub(super) fn subject(ev: &Value) -> String {
    let found = ["/secret/path", "/output/destination", "/backend/path"]
        .into_iter()
        .map(|p| text(ev, p))
        .find(|x| !x.is_empty());
    match found {
        Some(x) => x.to_string(),
        None if ev.get("credential").is_some() => format!(
            "credential {}/{}",
            text(ev, "/credential/unit"),
            text(ev, "/credential/id")
        ),
        None => String::new(),
    }
}

/// A tcp peer's address without the port, which changes with every connection.
pub(super) fn host(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(h, _)| h)
}
