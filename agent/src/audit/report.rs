//! `sidekey report`: the evidence pack an auditor asks for, built from an audit trail (one file or a
//! rotated set, read in chain order): every secret path retrieved (consumers, method/role, first/last
//! retrieval, count); rotation compliance (the configured `rotation_period` against the rotations
//! observed, overdue stretches flagged); access by identity, by workload and by caller; failures grouped
//! by event kind and path; and the chain's breaks and the agent's restarts. Rendered as Markdown, CSV,
//! JSON or one self-contained HTML page with a timeline per secret.
//!
//! A *rotation* is a successful retrieval that yields a different credential than the previous one of
//! the same path: a new lease id, a new KV version, a new certificate serial (an `output.secrets` entry
//! names it), or (PKI without a serial in the trail) a new issue. The first credential of a path in the
//! window is its *issuance*. A secret is *overdue* when a stretch between two rotations, or from the last
//! rotation to the end of the window, is longer than its `rotation_period`.
//!
//! In per-host mode retrievals are grouped by workload (the caller block's `workload`): one line per
//! workload and path, a renewal counted with the workload that retrieved the lease, and a section per
//! workload in Markdown (a `workload` column in CSV). Events without a workload are reported as before.
//! A retrieval a workload's caller made with its own token (`caller.own_token`) counts under the
//! workload, its consumer marked `(own token)`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::chain::Hasher;
use builder::Builder;

mod access;
mod builder;
mod gaps;
mod html;
mod markup;
mod render;
mod rotation;
mod tables;
mod timeline;

pub use access::{Access, CallerAccess, FailureGroup, IdentityAccess, WorkloadAccess};
pub use gaps::{ChainGap, Restart};
pub use rotation::{Mark, Overdue};
pub use tables::TABLES;

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
    /// When the credential held at the end of the window was first seen (RFC 3339).
    pub last_rotation: String,
    /// Successful lease renewals.
    pub renewals: u64,
    /// Mean seconds between renewals.
    pub renewal_interval_s: Option<u64>,
    /// The last lease TTL seen, in seconds.
    pub lease_ttl_s: Option<u64>,
    /// Configured `rotation_period`, in seconds.
    pub rotation_period_s: Option<u64>,
    /// Whether some stretch without a rotation was longer than the configured rotation period.
    pub rotation_overdue: bool,
    /// Each stretch without a rotation longer than the rotation period.
    pub overdue: Vec<Overdue>,
    /// Failed retrievals and renewals.
    pub failures: u64,
    /// Configured metadata.
    pub owner: String,
    /// Configured metadata.
    pub environment: String,
    /// Configured metadata.
    pub sensitivity: String,
    /// Issuances, rotations, renewals and failures, in time order.
    pub timeline: Vec<Mark>,
    #[serde(skip)]
    credentials: rotation::Credentials,
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
    /// The trail's files, in the order read (chain order).
    pub files: Vec<String>,
    /// Events read (in the window).
    pub events: usize,
    /// Start of the window: `--from`, or the first event's time.
    pub from: String,
    /// End of the window: `--to`, or the last event's time.
    pub to: String,
    /// Per secret path, grouped by workload (lines without one first).
    pub secrets: Vec<SecretLine>,
    /// Retrievals per identity (auth method, role, subject, token accessor).
    pub identities: Vec<IdentityAccess>,
    /// Retrievals per workload (per-host mode).
    pub workloads: Vec<WorkloadAccess>,
    /// Retrievals per local caller (unit, container, pod or executable, and uid; or tcp address).
    pub callers: Vec<CallerAccess>,
    /// Failures per event kind and path: count, first and last time, last error.
    pub failure_summary: Vec<FailureGroup>,
    /// Every failure.
    pub failures: Vec<Failure>,
    /// Chain breaks (missing, edited or reordered lines, files that do not follow), in trail order.
    pub chain_gaps: Vec<ChainGap>,
    /// Whether the first file continues the chain of an earlier file not read.
    pub continues_earlier_file: bool,
    /// Lines left out as redeliveries: the same `agent.id` and `seq` as an earlier line, byte for byte
    /// (a collector's copy is delivered at least once).
    pub duplicates: usize,
    /// Each agent restart: a new agent run (`agent.id`) after another.
    pub restarts: Vec<Restart>,
}

/// The window a report covers, in milliseconds since the epoch (both ends included); events outside it
/// are verified but not counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Events before are left out.
    pub from_ms: Option<i64>,
    /// Events after are left out.
    pub to_ms: Option<i64>,
}

impl Window {
    fn contains(&self, t: Option<i64>) -> bool {
        let Some(t) = t else { return true };
        self.from_ms.is_none_or(|f| t >= f) && self.to_ms.is_none_or(|e| t <= e)
    }
}

/// One file of a trail.
#[derive(Debug)]
pub struct TrailFile {
    /// How the report names it.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Build the report from the lines of one audit file.
#[cfg(any(test, feature = "fuzzing"))]
pub fn build<'a>(lines: impl Iterator<Item = &'a str>, hasher: &Hasher) -> Report {
    let mut b = Builder::new(hasher, Window::default());
    b.file("", lines);
    b.finish()
}

/// Build the report from a trail's files (a rotated set, in any order: they are read by the time of
/// their first event, which is chain order), counting the events in `window`.
pub fn build_set(mut files: Vec<TrailFile>, hasher: &Hasher, window: Window) -> Report {
    // A file with no readable event sorts first: its lines are breaks wherever it goes.
    files.sort_by_cached_key(|f| f.text.lines().find_map(|l| event_ms(l.trim())));
    let mut b = Builder::new(hasher, window);
    for f in &files {
        b.file(&f.name, f.text.lines());
    }
    b.finish()
}

/// The string at JSON pointer `p` in `v`, or `""`.
fn text<'v>(v: &'v Value, p: &str) -> &'v str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// The time of the event on `line`, when it is one.
fn event_ms(line: &str) -> Option<i64> {
    let ev = serde_json::from_str::<Value>(line)
        .map(super::format::to_sidekey)
        .ok()?;
    unix_ms(text(&ev, "/time"))
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn unix_ms(t: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 UTC with milliseconds, as events carry it.
fn rfc3339_ms(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Seconds between consecutive times in milliseconds.
fn intervals(times: &[i64]) -> Vec<u64> {
    times
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => u64::try_from((b - a) / 1000).ok(),
            _ => None,
        })
        .collect()
}

fn mean(xs: &[u64]) -> Option<u64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<u64>() / xs.len() as u64)
}

#[cfg(test)]
mod tests;
