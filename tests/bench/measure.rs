//! What the fleet benchmark measures, from outside the agents: the server's own audit log (requests per
//! agent and per second, logins, database credentials issued) and the CPU time the `bao server` processes
//! used (`/proc/PID/stat`). The agents' resident memory comes from [`sidekey_tests::memory`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::Value;
use sidekey_tests::Cluster;
use sidekey_tests::audit::rfc3339_ms;

/// How soon after a standby's failed attempt the active node logs the request it forwarded.
const FORWARD_MS: i64 = 2000;

/// The JWT role, policy and KV secret name of agent `i`; also how audit entries are told apart.
pub fn agent_name(i: usize) -> String {
    format!("agent-{i:03}")
}

/// The agent an `agent-NNN` name stands for.
fn agent_index(s: &str) -> Option<usize> {
    s.rsplit(':').next()?.strip_prefix("agent-")?.parse().ok()
}

/// One request the cluster audited (a request id, whichever nodes logged it), with who sent it.
#[derive(Debug, Clone)]
pub struct Request {
    /// When the first node logged it, ms since the epoch.
    pub at_ms: i64,
    /// The agent that sent it, if it is one of the fleet's.
    pub agent: Option<usize>,
    /// The API path (`auth/jwt/login`, `database/creds/app`, ...).
    pub path: String,
    /// Whether some node answered it without an error.
    pub ok: bool,
    /// The error a node logged for it, if any (the last one).
    pub error: Option<String>,
}

/// What one node logged for one request id.
#[derive(Debug)]
struct Logged {
    req: Request,
    node: usize,
    /// The client's address and port, and its token's HMAC: a forwarded request keeps them.
    client: (String, u64, String),
}

/// Every request the fleet sent, once each, in time order, from the audit logs of all nodes. A standby
/// that cannot serve a write itself logs its own failed attempt ("cannot write to readonly storage") under
/// one request id and forwards the request, which the active node logs under another, with the same
/// client address, port and token: that attempt is the server's forwarding, not a request of its own, and
/// is left out.
pub fn audited_requests(cluster: &Cluster) -> Vec<Request> {
    let mut by_id: HashMap<String, Logged> = HashMap::new();
    for node in 0..cluster.len() {
        for e in cluster.audit_log_lines(node) {
            let Some(id) = e.pointer("/request/id").and_then(Value::as_str) else {
                continue;
            };
            let at_ms = e
                .get("time")
                .and_then(Value::as_str)
                .and_then(rfc3339_ms)
                .unwrap_or(0);
            let is_response = e["type"] == "response";
            let ok = is_response && e.get("error").is_none_or(|v| v.is_null() || v == "");
            let agent = identity(&e);
            let text = |p: &str| {
                e.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let entry = by_id.entry(id.to_owned()).or_insert_with(|| Logged {
                req: Request {
                    at_ms,
                    agent,
                    path: text("/request/path"),
                    ok: false,
                    error: None,
                },
                node,
                client: (
                    text("/request/remote_address"),
                    e.pointer("/request/remote_port")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    text("/request/client_token"),
                ),
            });
            if let Some(err) = e
                .get("error")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                entry.req.error = Some(err.to_owned());
            }
            entry.req.at_ms = entry.req.at_ms.min(at_ms);
            entry.req.agent = entry.req.agent.or(agent);
            entry.req.ok |= ok;
        }
    }
    let mut all: Vec<Logged> = by_id.into_values().collect();
    all.sort_by_key(|l| l.req.at_ms);
    let forwarded: Vec<bool> = all
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let readonly = !l.req.ok
                && l.req
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("cannot write to readonly storage"));
            readonly
                && all[i + 1..]
                    .iter()
                    .take_while(|m| m.req.at_ms <= l.req.at_ms + FORWARD_MS)
                    .any(|m| m.node != l.node && m.req.path == l.req.path && m.client == l.client)
        })
        .collect();
    all.into_iter()
        .zip(forwarded)
        .filter(|(_, f)| !f)
        .map(|(l, _)| l.req)
        .collect()
}

/// The fleet agent behind an audit entry: the role it logs in as (`request.data.role`, logged in clear
/// because the benchmark tunes `auth/jwt` with `audit_non_hmac_request_keys = ["role"]`), else its token's
/// role or policies.
fn identity(e: &Value) -> Option<usize> {
    let direct = [
        "/request/data/role",
        "/auth/metadata/role",
        "/auth/display_name",
    ]
    .iter()
    .filter_map(|p| e.pointer(p).and_then(Value::as_str))
    .find_map(agent_index);
    direct.or_else(|| {
        e.pointer("/auth/policies")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(Value::as_str)
            .find_map(agent_index)
    })
}

/// The most requests in any window of `width_ms` (windows starting at a request).
pub fn peak(times_ms: &[i64], width_ms: i64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times_ms.len() {
        while times_ms[hi] - times_ms[lo] >= width_ms {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Per agent, how many successful requests to `path` there were, summed over the agents as "beyond the
/// first": a second login is one re-login. Also how many agents had none.
pub fn beyond_first(reqs: &[Request], n: usize, path: &str) -> (usize, usize) {
    let mut per: BTreeMap<usize, usize> = BTreeMap::new();
    for r in reqs.iter().filter(|r| r.ok && r.path == path) {
        if let Some(a) = r.agent {
            *per.entry(a).or_default() += 1;
        }
    }
    let extra = per.values().map(|c| c.saturating_sub(1)).sum();
    let none = (0..n).filter(|a| !per.contains_key(a)).count();
    (extra, none)
}

/// CPU time (user + system, in clock ticks) of process `pid` so far, or `None` if it is gone.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last `)`.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used by the cluster's server processes, across restarts: the last reading of every pid it
/// ever had (a node killed between readings loses at most one sampling interval; the benchmark reads
/// just before each kill and stop).
#[derive(Debug, Default)]
pub struct ServerCpu {
    ticks: Mutex<HashMap<u32, u64>>,
}

impl ServerCpu {
    /// Read every running node's CPU time now.
    pub fn sample(&self, cluster: &Cluster) {
        let mut ticks = self.ticks.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..cluster.len() {
            if let Some(pid) = cluster.pid(i)
                && let Some(t) = cpu_ticks(pid)
            {
                ticks.insert(pid, t);
            }
        }
    }

    /// Seconds of CPU the server processes used so far (as of the last samples).
    pub fn seconds(&self) -> f64 {
        let ticks = self.ticks.lock().unwrap_or_else(|e| e.into_inner());
        let total: u64 = ticks.values().sum();
        // USER_HZ is 100 on Linux for every architecture the benchmark runs on.
        total as f64 / 100.0
    }
}
