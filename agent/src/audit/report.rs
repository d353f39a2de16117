//! `sidekey report`: the evidence pack an auditor asks for, built from an audit trail: every secret path
//! retrieved (consumers, method/role, first/last retrieval, count), rotations and renewals observed with
//! their intervals against the configured rotation period or the lease TTL, failures, and chain gaps.
//!
//! A *rotation* is a successful retrieval that yields a different credential than the previous one of
//! the same path: a new lease id, a new KV version, or (PKI, no lease) a new issue.
//!
//! In per-host mode retrievals are grouped by workload (the caller block's `workload`): one line per
//! workload and path, a renewal counted with the workload that retrieved the lease, and a section per
//! workload in Markdown (a `workload` column in CSV). Events without a workload are reported as before.
//! A retrieval a workload's caller made with its own token (`caller.own_token`) counts under the
//! workload, its consumer marked `(own token)`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::chain::{Hasher, Verifier};

mod render;

/// Per secret path (and workload).
#[derive(Debug, Default, Serialize)]
pub struct SecretLine {
    /// The workload that retrieved it (per-host mode); empty for the agent's own retrievals.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub workload: String,
    /// API path.
    pub path: String,
    /// Engine type, when known.
    pub mount_type: String,
    /// Identity subjects (JWT sub, cert CN, AppRole role) that retrieved it.
    pub consumers: BTreeSet<String>,
    /// `method/role` pairs used.
    pub methods: BTreeSet<String>,
    /// First successful retrieval (RFC 3339).
    pub first_retrieval: String,
    /// Last successful retrieval (RFC 3339).
    pub last_retrieval: String,
    /// Successful retrievals.
    pub retrievals: u64,
    /// Rotations observed (see the module doc).
    pub rotations: u64,
    /// Mean seconds between rotations, when there were at least two credentials.
    pub rotation_interval_s: Option<u64>,
    /// Longest seconds between rotations.
    pub max_rotation_interval_s: Option<u64>,
    /// Successful lease renewals.
    pub renewals: u64,
    /// Mean seconds between renewals.
    pub renewal_interval_s: Option<u64>,
    /// The last lease TTL seen, in seconds.
    pub lease_ttl_s: Option<u64>,
    /// Configured `rotation_period`, in seconds.
    pub rotation_period_s: Option<u64>,
    /// Whether the longest rotation interval exceeded the configured rotation period.
    pub rotation_overdue: bool,
    /// Failed retrievals and renewals.
    pub failures: u64,
    /// Configured metadata.
    pub owner: String,
    /// Configured metadata.
    pub environment: String,
    /// Configured metadata.
    pub sensitivity: String,
    #[serde(skip)]
    last_credential: Option<(String, Option<u64>)>,
    #[serde(skip)]
    rotation_times: Vec<i64>,
    #[serde(skip)]
    renewal_times: Vec<i64>,
}

impl SecretLine {
    /// One retrieval at `time`: counted, and the first and last retrieval times kept.
    fn retrieved(&mut self, time: &str) {
        self.retrievals += 1;
        if self.first_retrieval.is_empty() {
            self.first_retrieval = time.to_string();
        }
        self.last_retrieval = time.to_string();
    }
}

/// One failure.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// When.
    pub time: String,
    /// Event kind.
    pub event: String,
    /// Secret path or output, when any.
    pub subject: String,
    /// The error.
    pub error: String,
}

/// The evidence pack.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Events read.
    pub events: usize,
    /// First event time.
    pub from: String,
    /// Last event time.
    pub to: String,
    /// Per secret path, grouped by workload (lines without one first).
    pub secrets: Vec<SecretLine>,
    /// Every failure.
    pub failures: Vec<Failure>,
    /// Chain breaks (missing, edited or reordered lines), in file order.
    pub chain_gaps: Vec<String>,
}

/// Build the report from the lines of an audit file.
pub fn build<'a>(lines: impl Iterator<Item = &'a str>, hasher: &Hasher) -> Report {
    let mut r = Report::default();
    let mut by_path: BTreeMap<(String, String), SecretLine> = BTreeMap::new();
    // The workload that retrieved each lease: its renewals (which name no caller) count there.
    let mut lease_workload: HashMap<String, String> = HashMap::new();
    let mut v = Verifier::new(hasher, true);
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = v.line(i + 1, line) {
            r.chain_gaps.push(e.to_string());
            v = Verifier::new(hasher, true);
            let _ = v.line(i + 1, line);
        }
        // Any format: OCSF and ECS lines are read in sidekey's names.
        let Ok(ev) = serde_json::from_str::<Value>(line).map(super::format::to_sidekey) else {
            continue;
        };
        r.events += 1;
        let s = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let time = s("/time").to_string();
        if r.from.is_empty() {
            r.from = time.clone();
        }
        r.to = time.clone();
        let kind = s("/event");
        let ok = s("/outcome") == "success";
        if !ok {
            let subject = [s("/secret/path"), s("/output/destination")]
                .into_iter()
                .find(|x| !x.is_empty())
                .unwrap_or_default();
            r.failures.push(Failure {
                time: time.clone(),
                event: kind.into(),
                subject: subject.into(),
                error: s("/error").into(),
            });
        }
        let path = s("/secret/path");
        // A refused caller retrieved nothing: it is in the failures.
        if path.is_empty() || kind == "caller.refused" {
            continue;
        }
        let lease_id = s("/secret/lease_id");
        let mut workload = s("/caller/workload").to_string();
        if workload.is_empty() {
            workload = lease_workload.get(lease_id).cloned().unwrap_or_default();
        } else if !lease_id.is_empty() {
            lease_workload.insert(lease_id.to_string(), workload.clone());
        }
        let line = by_path
            .entry((workload.clone(), path.to_string()))
            .or_insert_with(|| SecretLine {
                workload,
                path: path.into(),
                ..SecretLine::default()
            });
        if !ok {
            line.failures += 1;
            continue;
        }
        let t = unix(&time);
        for (field, p) in [
            (&mut line.owner, "/meta/owner"),
            (&mut line.environment, "/meta/environment"),
            (&mut line.sensitivity, "/meta/sensitivity"),
            (&mut line.mount_type, "/secret/mount_type"),
        ] {
            if !s(p).is_empty() {
                *field = s(p).into();
            }
        }
        if let Some(p) = ev
            .pointer("/meta/rotation_period_s")
            .and_then(Value::as_u64)
        {
            line.rotation_period_s = Some(p);
        }
        let ttl = ev
            .pointer("/secret/lease_duration_s")
            .and_then(Value::as_u64)
            .filter(|d| *d > 0);
        if ttl.is_some() {
            line.lease_ttl_s = ttl;
        }
        match kind {
            "secret.read" | "secret.write" => {
                line.retrieved(&time);
                let subject = s("/identity/subject");
                if !subject.is_empty() {
                    line.consumers.insert(subject.into());
                }
                let method = s("/identity/method");
                if !method.is_empty() {
                    line.methods
                        .insert(format!("{method}/{}", s("/identity/role")));
                }
                let cred = (
                    s("/secret/lease_id").to_string(),
                    ev.pointer("/secret/version").and_then(Value::as_u64),
                );
                let new = match &line.last_credential {
                    None => true,
                    Some(prev) if cred.0.is_empty() && cred.1.is_none() => {
                        kind == "secret.write" || *prev != cred
                    }
                    Some(prev) => *prev != cred,
                };
                if new {
                    if line.last_credential.is_some() {
                        line.rotations += 1;
                    }
                    line.rotation_times.extend(t);
                }
                line.last_credential = Some(cred);
            }
            // A caller's retrieval through the API proxy (a cache hit too: the caller got the secret).
            // Its consumer is the caller: a unix peer's uid, or a tcp peer's address without the port,
            // which changes with every connection.
            "proxy.request" => {
                line.retrieved(&time);
                let uid = ev.pointer("/caller/uid").and_then(Value::as_u64);
                let mut consumer = match uid {
                    Some(uid) => format!("proxy caller uid {uid}"),
                    None => {
                        let addr = s("/caller/address");
                        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                        format!("proxy caller {host}")
                    }
                };
                // A workload's caller that sent its own token: listed under the workload, marked.
                if ev.pointer("/caller/own_token") == Some(&Value::Bool(true)) {
                    consumer.push_str(" (own token)");
                }
                line.consumers.insert(consumer);
            }
            "secret.renew" => {
                line.renewals += 1;
                line.renewal_times.extend(t);
            }
            _ => {}
        }
    }
    for mut l in by_path.into_values() {
        let gaps = intervals(&l.rotation_times);
        l.rotation_interval_s = mean(&gaps);
        l.max_rotation_interval_s = gaps.iter().copied().max();
        l.renewal_interval_s = mean(&intervals(&l.renewal_times));
        l.rotation_overdue =
            matches!((l.max_rotation_interval_s, l.rotation_period_s), (Some(m), Some(p)) if m > p);
        r.secrets.push(l);
    }
    r
}

fn unix(t: &str) -> Option<i64> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

fn intervals(times: &[i64]) -> Vec<u64> {
    times
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => u64::try_from(b - a).ok(),
            _ => None,
        })
        .collect()
}

fn mean(xs: &[u64]) -> Option<u64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<u64>() / xs.len() as u64)
}

#[cfg(test)]
mod tests;
