//! The report's [`Builder`]: reads a trail event by event and fills in the [`Report`].

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sha2::Digest;

use super::{
    Failure, Report, SecretLine, Window, access, gaps, intervals, mean, rfc3339_ms, rotation, text,
    unix_ms,
};
use crate::audit::chain::Hasher;
use crate::audit::format;

/// The report being built, event by event.
pub(super) struct Builder<'h> {
    r: Report,
    window: Window,
    to_ms: Option<i64>,
    chain: gaps::Chain<'h>,
    access: access::Accesses,
    by_path: BTreeMap<(String, String), SecretLine>,
    /// The workload that retrieved each lease: its renewals (which name no caller) count there.
    lease_workload: HashMap<String, String>,
    /// The SHA-256 of each (`agent.id`, `seq`)'s line, to leave out redeliveries.
    delivered: HashMap<(String, u64), [u8; 32]>,
}

impl<'h> Builder<'h> {
    pub(super) fn new(hasher: &'h Hasher, window: Window) -> Self {
        Self {
            r: Report::default(),
            window,
            to_ms: None,
            chain: gaps::Chain::new(hasher),
            access: access::Accesses::default(),
            by_path: BTreeMap::new(),
            lease_workload: HashMap::new(),
            delivered: HashMap::new(),
        }
    }

    /// Whether `line` (event `raw`) repeats an earlier line of the same agent run and seq byte for byte.
    fn redelivered(&mut self, raw: &Value, line: &str) -> bool {
        let Some(chain) = format::chain_of(raw) else {
            return false;
        };
        let digest: [u8; 32] = sha2::Sha256::digest(line.as_bytes()).into();
        let key = (chain.agent_id.to_string(), chain.seq);
        if self.delivered.get(&key) == Some(&digest) {
            return true;
        }
        self.delivered.entry(key).or_insert(digest);
        false
    }

    pub(super) fn file<'a>(&mut self, name: &str, lines: impl Iterator<Item = &'a str>) {
        if !name.is_empty() {
            self.r.files.push(name.to_string());
        }
        self.chain.start_file(name);
        for line in lines {
            if line.trim().is_empty() {
                self.chain.skip_line();
                continue;
            }
            let raw = serde_json::from_str::<Value>(line).ok();
            if raw.as_ref().is_some_and(|raw| self.redelivered(raw, line)) {
                self.r.duplicates += 1;
                self.chain.skip_line();
                continue;
            }
            self.chain.line(line);
            // Any format: OCSF and ECS lines are read in sidekey's names.
            let Some(ev) = raw.map(format::to_sidekey) else {
                continue;
            };
            let time = text(&ev, "/time");
            let t = unix_ms(time);
            let in_window = self.window.contains(t);
            self.chain.event(&ev, time, t, in_window);
            if in_window {
                self.event(&ev, time, t);
            }
        }
    }

    /// One event in the window.
    fn event(&mut self, ev: &Value, time: &str, t: Option<i64>) {
        let s = |p: &str| text(ev, p);
        let r = &mut self.r;
        r.events += 1;
        if r.from.is_empty() {
            r.from = time.to_string();
        }
        r.to = time.to_string();
        self.to_ms = t.or(self.to_ms);
        let kind = s("/event");
        let ok = s("/outcome") == "success";
        if !ok {
            let subject = access::subject(ev);
            self.access.failed(kind, &subject, time, s("/error"));
            r.failures.push(Failure {
                time: time.to_string(),
                event: kind.into(),
                subject,
                error: s("/error").into(),
            });
        }
        self.access.note(ev, kind, ok, time);
        if ok {
            self.delivered(ev, time, t);
        }
        let path = s("/secret/path");
        // A refused caller retrieved nothing: it is in the failures.
        if path.is_empty() || kind == "caller.refused" {
            return;
        }
        let lease_id = s("/secret/lease_id");
        let workload = self.workload_of(ev, lease_id);
        let line = self.line(workload, path);
        if !ok {
            line.failures += 1;
            line.credentials.failed(time, t);
            return;
        }
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
        let version = ev.pointer("/secret/version").and_then(Value::as_u64);
        let id = rotation::CredentialId::new(lease_id, version, "");
        match kind {
            "secret.read" | "secret.write" => {
                line.retrieved(time);
                let subject = s("/identity/subject");
                if !subject.is_empty() {
                    line.consumers.insert(subject.into());
                }
                let method = s("/identity/method");
                if !method.is_empty() {
                    line.methods
                        .insert(format!("{method}/{}", s("/identity/role")));
                }
                line.credentials
                    .retrieved(id, kind == "secret.write", time, t);
            }
            // A caller's retrieval through the API proxy (a cache hit too: the caller got the secret).
            // Its consumer is the caller: a unix peer's uid, or a tcp peer's address without the port,
            // which changes with every connection.
            "proxy.request" => {
                line.retrieved(time);
                line.credentials.retrieved(id, false, time, t);
                let uid = ev.pointer("/caller/uid").and_then(Value::as_u64);
                let mut consumer = match uid {
                    Some(uid) => format!("proxy caller uid {uid}"),
                    None => format!("proxy caller {}", access::host(s("/caller/address"))),
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
                line.credentials.renewed(time, t);
            }
            _ => {}
        }
    }

    /// The secrets an output or the child's environment received (`output.secrets`): a credential
    /// seen there (a certificate serial above all) can be a rotation.
    fn delivered(&mut self, ev: &Value, time: &str, t: Option<i64>) {
        let Some(secrets) = ev.pointer("/output/secrets").and_then(Value::as_array) else {
            return;
        };
        for s in secrets {
            let path = text(s, "/path");
            let lease_id = text(s, "/lease_id");
            let id = rotation::CredentialId::new(
                lease_id,
                s.pointer("/version").and_then(Value::as_u64),
                text(s, "/serial"),
            );
            if path.is_empty() || id.is_empty() {
                continue;
            }
            let workload = self.workload_of(ev, lease_id);
            self.line(workload, path).credentials.delivered(id, time, t);
        }
    }

    /// The workload an event counts under: its caller's, or the one that retrieved its lease.
    fn workload_of(&mut self, ev: &Value, lease_id: &str) -> String {
        let workload = text(ev, "/caller/workload");
        if workload.is_empty() {
            return self
                .lease_workload
                .get(lease_id)
                .cloned()
                .unwrap_or_default();
        }
        if !lease_id.is_empty() {
            self.lease_workload
                .insert(lease_id.to_string(), workload.to_string());
        }
        workload.to_string()
    }

    fn line(&mut self, workload: String, path: &str) -> &mut SecretLine {
        self.by_path
            .entry((workload.clone(), path.to_string()))
            .or_insert_with(|| SecretLine {
                workload,
                path: path.into(),
                ..SecretLine::default()
            })
    }

    pub(super) fn finish(mut self) -> Report {
        let mut r = self.r;
        if let Some(f) = self.window.from_ms {
            r.from = rfc3339_ms(f);
        }
        if let Some(t) = self.window.to_ms {
            r.to = rfc3339_ms(t);
            self.to_ms = Some(t);
        }
        for mut l in self.by_path.into_values() {
            let c = std::mem::take(&mut l.credentials);
            let gaps = intervals(&c.rotation_times);
            l.rotation_interval_s = mean(&gaps);
            l.max_rotation_interval_s = gaps.iter().copied().max();
            l.rotations = c.rotations;
            l.last_rotation = c.last_rotation.clone();
            l.renewal_interval_s = mean(&intervals(&l.renewal_times));
            l.overdue = c.overdue(l.rotation_period_s, self.to_ms);
            l.rotation_overdue = !l.overdue.is_empty();
            l.timeline = c.marks;
            r.secrets.push(l);
        }
        (r.identities, r.workloads, r.callers, r.failure_summary) = self.access.into_lines();
        (r.chain_gaps, r.restarts, r.continues_earlier_file) = self.chain.finish();
        r
    }
}
