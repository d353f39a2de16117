//! The secret store: every secret fetched so far, keyed by request, with when it must be acted on next.
//! It is what renderers read (it implements [`RenderContext`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::audit::SecretRef;
use crate::backend::secret::{Operation, Secret, SecretRequest};
use crate::runtime::EnvSource;
use crate::template::RenderContext;
use crate::template::scrub::{Index, Scrub};

use super::fetch::Fetched;
use super::schedule::{jittered, renew_after, replace_at};

/// What the lease engine will do with an entry when its time comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Renew the lease (`sys/leases/renew`).
    Renew,
    /// Fetch it again (KV refresh, non-renewable lease, PKI re-issue, lease at its max TTL).
    Refetch,
}

/// Why an entry is fetched again before its schedule, which decides what becomes of the lease it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacing {
    /// The lease check found it revoked on the server (or its token revoked): nothing left to revoke.
    Revoked,
    /// `POST /agent/v1/refresh`: the old lease is revoked once the new secret is delivered (after
    /// `revoke_old_after` when that is set).
    Refresh,
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
    /// Set when it is to be replaced at once, not on its schedule.
    pub replacing: Option<Replacing>,
    /// What [`Store::scrub`] looks for in this secret: built the first time a message is scrubbed, then
    /// kept as long as the secret (rounds that emit no message copy nothing).
    hide: OnceLock<Arc<Index>>,
}

impl Entry {
    /// The scrub index of this entry's secret.
    fn hide(&self) -> &Index {
        self.hide
            .get_or_init(|| Arc::new(Index::of_json(&self.fetched.secret.data.0)))
    }
}

/// A lease to revoke: its id, the API path it came from, and the workload whose token created it (the
/// agent's for `None`), which is the token that may revoke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease id.
    pub lease_id: String,
    /// The API path it was created at (for logs and audit events).
    pub path: String,
    /// The workload whose token created it.
    pub workload: Option<String>,
}

impl Lease {
    /// The lease of `e`, stored for `req`, if it has one.
    pub fn of(req: &SecretRequest, e: &Entry) -> Option<Self> {
        (!e.fetched.secret.lease_id.is_empty()).then(|| Self {
            lease_id: e.fetched.secret.lease_id.clone(),
            path: e.fetched.api_path.clone(),
            workload: req.workload.clone(),
        })
    }
}

/// How long a secret has to live, as the scheduling rule sees it.
#[derive(Clone, Copy, Debug)]
pub enum Life {
    /// A lease with `left` of its `full` duration remaining.
    Lease {
        /// Time left now.
        left: Duration,
        /// Its whole duration when issued (or last renewed).
        full: Duration,
        /// Whether it can be renewed.
        renewable: bool,
    },
    /// An issued certificate (no lease) with `left` until the server's `expiration`.
    Cert {
        /// Time left now.
        left: Duration,
    },
    /// A static (KV) secret: refreshed on the static interval.
    Static,
}

/// The settings the scheduling rule depends on (`template_config`).
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// `lease_renewal_threshold`.
    pub renewal_threshold: f64,
    /// `static_secret_render_interval`.
    pub static_interval: Duration,
}

/// Every secret fetched so far.
pub struct Store {
    entries: HashMap<SecretRequest, Entry>,
    env: Arc<dyn EnvSource>,
    rules: Rules,
}

impl Store {
    /// An empty store scheduling by `rules`; `env` serves the templates' `env` function.
    pub fn new(env: Arc<dyn EnvSource>, rules: Rules) -> Self {
        Self {
            entries: HashMap::new(),
            env,
            rules,
        }
    }

    /// Store `fetched` for `req` (created by the token with `accessor`) and schedule it by the one rule
    /// (DESIGN §6), whether it was just fetched or resumed from the state file: a renewable lease is
    /// renewed at the threshold of what is left; a non-renewable one is replaced a third of its life
    /// before its end; a certificate is re-issued at ~2/3 of its time left; a KV secret is read again on
    /// the static interval.
    pub fn schedule(&mut self, req: SecretRequest, fetched: Fetched, accessor: String, life: Life) {
        let now = Instant::now();
        let (due, action, expires_at, since) = match life {
            Life::Lease {
                left,
                full,
                renewable,
            } => {
                let since = now.checked_sub(full.saturating_sub(left)).unwrap_or(now);
                let (due, action) = if renewable {
                    (
                        now + renew_after(left, self.rules.renewal_threshold),
                        Action::Renew,
                    )
                } else {
                    // Up to a tenth of the lead earlier: agents that got the same TTL at the same moment
                    // (a fleet after an outage) do not come back for replacements in step.
                    let at = replace_at(now, now + left, full);
                    let lead = (now + left).saturating_duration_since(at);
                    let early = lead.mul_f64(rand::random_range(0.0..=0.1));
                    (
                        at.checked_sub(early).unwrap_or(at).max(now),
                        Action::Refetch,
                    )
                };
                (due, action, Some(now + left), since)
            }
            Life::Cert { left } => (
                now + jittered(left, 2.0 / 3.0, 0.05),
                Action::Refetch,
                Some(now + left),
                now,
            ),
            // Up to a tenth early, so a fleet started together does not re-read KV in step forever.
            Life::Static => (
                now + self
                    .rules
                    .static_interval
                    .mul_f64(rand::random_range(0.9..=1.0)),
                Action::Refetch,
                None,
                now,
            ),
        };
        self.entries.insert(
            req,
            Entry {
                fetched,
                since,
                expires_at,
                due,
                action,
                token_accessor: accessor,
                failures: 0,
                replacing: None,
                hide: OnceLock::new(),
            },
        );
    }

    /// Schedule by `rules` from now on (a reload).
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// Forget the entries no template used in the last delivery (a reload removed or changed the
    /// templates that read them); returns the leases among them.
    pub fn keep_only(&mut self, used: &std::collections::HashSet<SecretRequest>) -> Vec<Lease> {
        let mut dropped = Vec::new();
        self.entries.retain(|req, e| {
            let keep = used.contains(req);
            if !keep {
                dropped.extend(Lease::of(req, e));
            }
            keep
        });
        dropped
    }

    /// The entry for `req`.
    pub fn get(&self, req: &SecretRequest) -> Option<&Entry> {
        self.entries.get(req)
    }

    /// Mutable entry for `req`.
    pub fn get_mut(&mut self, req: &SecretRequest) -> Option<&mut Entry> {
        self.entries.get_mut(req)
    }

    /// Fetch `req` again at `now`, for `why`.
    pub fn replace_now(&mut self, req: &SecretRequest, why: Replacing, now: Instant) {
        if let Some(e) = self.entries.get_mut(req) {
            e.due = now;
            e.action = Action::Refetch;
            e.replacing = Some(why);
        }
    }

    /// Forget `req` (it will be fetched again when a template needs it).
    pub fn remove(&mut self, req: &SecretRequest) -> Option<Entry> {
        self.entries.remove(req)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (&SecretRequest, &Entry)> {
        self.entries.iter()
    }

    /// The secrets an output that read `used` was rendered from, as its events name them (see
    /// [`Fetched::secret_ref`]), sorted and without duplicates. A path is scrubbed as the `secret.*`
    /// event's is: a template may build one from secret data.
    pub fn sources(&self, used: &[SecretRequest]) -> Vec<SecretRef> {
        let mut refs: Vec<SecretRef> = used
            .iter()
            .filter_map(|req| {
                let e = self.entries.get(req)?;
                let mut r = e.fetched.secret_ref(req);
                r.path = self.scrub(&r.path);
                Some(r)
            })
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// `text` (an error message) with every value of every stored secret replaced by `[REDACTED]`:
    /// see [`Scrub`] for [`Store`].
    pub fn scrub(&self, text: &str) -> String {
        Scrub::scrub(self, text)
    }

    /// How many entries have their scrub index built (tests: a round that scrubs nothing builds none).
    #[cfg(test)]
    pub(crate) fn indexed(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.hide.get().is_some())
            .count()
    }
}

/// A template can route a secret value into a function argument (`{{ .Data.data.password | file }}`) and
/// from there into an error, or build a request path from one; this is the last line before such a message
/// reaches logs and audit events. Values shorter than [`MIN_SCRUBBED`] bytes are left alone: they would
/// garble messages, not hide much.
///
/// Numbers count as values too (a PIN stored as a JSON number, in its float forms as well), and so do the
/// keys of secret data and any 8-byte piece of a value (a message may quote one line of a PEM key): see
/// [`crate::template::scrub`].
impl Scrub for Store {
    fn scrub(&self, text: &str) -> String {
        if text.len() < MIN_SCRUBBED {
            return text.to_owned();
        }
        let mut hidden = vec![false; text.len()];
        for e in self.entries.values() {
            e.hide().mark(text, &mut hidden);
        }
        crate::template::scrub::emit(text, &hidden)
    }
}

/// How a freshly fetched secret for `req` lives: its lease, the certificate's time left (write-style
/// requests whose data carries the server's `expiration`, never NotAfter−NotBefore: leaf certificates are
/// back-dated), or neither.
pub fn life_of(req: &SecretRequest, s: &Secret) -> Life {
    if s.lease_duration > 0 {
        let d = Duration::from_secs(s.lease_duration);
        return Life::Lease {
            left: d,
            full: d,
            renewable: s.renewable,
        };
    }
    if req.op == Operation::Write
        && let Some(left) = cert_time_left(s)
    {
        return Life::Cert {
            left: left.max(Duration::from_secs(1)),
        };
    }
    Life::Static
}

/// Time left on an issued certificate (the server's `expiration`, Unix seconds); zero when past.
pub fn cert_time_left(s: &Secret) -> Option<Duration> {
    let exp = s.data.0.get("expiration")?.as_i64()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Some(Duration::from_secs(
        exp.saturating_sub(now).max(0).unsigned_abs(),
    ))
}

/// The shortest secret value [`Store::scrub`] and [`RenderContext::is_secret_value`] look for, in bytes.
pub const MIN_SCRUBBED: usize = crate::template::scrub::MIN_WHOLE;

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
