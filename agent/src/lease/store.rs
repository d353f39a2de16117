//! The secret store: every secret fetched so far, keyed by request, with when it must be acted on next.
//! It is what renderers read (it implements [`RenderContext`]).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::backend::secret::{Secret, SecretRequest};
use crate::runtime::EnvSource;
use crate::template::RenderContext;

use super::fetch::Fetched;

/// What the lease engine will do with an entry when its time comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Renew the lease (`sys/leases/renew`).
    Renew,
    /// Fetch it again (KV refresh, non-renewable lease, PKI re-issue, lease at its max TTL).
    Refetch,
}

/// One fetched secret and its schedule.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The secret and where it came from.
    pub fetched: Fetched,
    /// When it was fetched (or last renewed).
    pub since: Instant,
    /// When it stops being valid, if it has a lifetime.
    pub expires_at: Option<Instant>,
    /// When to act on it next.
    pub due: Instant,
    /// What to do then.
    pub action: Action,
    /// Accessor of the token that created the secret (its lease dies with that token).
    pub token_accessor: String,
    /// Failed attempts at the current action, for backoff.
    pub failures: u32,
}

/// Every secret fetched so far.
pub struct Store {
    entries: HashMap<SecretRequest, Entry>,
    env: Arc<dyn EnvSource>,
}

impl Store {
    /// An empty store; `env` serves the templates' `env` function.
    pub fn new(env: Arc<dyn EnvSource>) -> Self {
        Self {
            entries: HashMap::new(),
            env,
        }
    }

    /// The entry for `req`.
    pub fn get(&self, req: &SecretRequest) -> Option<&Entry> {
        self.entries.get(req)
    }

    /// Mutable entry for `req`.
    pub fn get_mut(&mut self, req: &SecretRequest) -> Option<&mut Entry> {
        self.entries.get_mut(req)
    }

    /// Insert or replace the entry for `req`.
    pub fn insert(&mut self, req: SecretRequest, e: Entry) {
        self.entries.insert(req, e);
    }

    /// Forget `req` (it will be fetched again when a template needs it).
    pub fn remove(&mut self, req: &SecretRequest) -> Option<Entry> {
        self.entries.remove(req)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&SecretRequest, &Entry)> {
        self.entries.iter()
    }

    /// Keep only the entries for which `f` is true.
    pub fn retain(&mut self, f: impl FnMut(&SecretRequest, &mut Entry) -> bool) {
        self.entries.retain(f);
    }

    /// The earliest time an entry is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.due).min()
    }

    /// `text` (an error message) with every string value of every stored secret replaced by `[REDACTED]`.
    ///
    /// A template can route a secret value into a function argument (`{{ .Data.data.password | file }}`) and
    /// from there into an error; this is the last line before such a message reaches logs and audit events.
    /// Values shorter than [`MIN_SCRUBBED`] bytes are left alone: they would garble messages, not hide much.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for e in self.entries.values() {
            for_each_string(&e.fetched.secret.data.0, &mut |v| {
                if v.len() >= MIN_SCRUBBED && out.contains(v) {
                    out = out.replace(v, "[REDACTED]");
                }
            });
        }
        out
    }
}

/// The shortest secret value [`Store::scrub`] and [`RenderContext::is_secret_value`] look for, in bytes.
pub const MIN_SCRUBBED: usize = 4;

/// Call `f` with every string leaf of a JSON value.
fn for_each_string(v: &serde_json::Value, f: &mut impl FnMut(&str)) {
    match v {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| for_each_string(v, f)),
        serde_json::Value::Object(m) => m.values().for_each(|v| for_each_string(v, f)),
        _ => {}
    }
}

impl RenderContext for Store {
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
        self.entries.get(req).map(|e| e.fetched.secret.clone())
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.var(name)
    }
    fn file(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
    fn is_secret_value(&self, text: &str) -> bool {
        if text.len() < MIN_SCRUBBED {
            return false;
        }
        let mut found = false;
        for e in self.entries.values() {
            for_each_string(&e.fetched.secret.data.0, &mut |v| found |= v == text);
        }
        found
    }
}
