//! What the cache holds and the one scheduling rule for it: each entry is renewed at the threshold of
//! what is left (±10%), is served until its effective expiry (the earliest expiry along its chain of parent
//! tokens), and once that expiry is final (a capped or non-renewable lease, a parent that can no longer be
//! extended) only until a third of its life is left, when it is dropped, as a template's secret would be
//! replaced then. Pure: instants in, instants out, tested with the paused clock. Evictions are in
//! `evict`; the scheduling rule itself is in `timing`.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use super::Fingerprint;
use crate::lease::schedule::renew_after;

mod timing;

/// An entry's number, unique for the life of the table.
pub type HeldId = u64;

/// What an entry was created under: its lease (or token) dies with that token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent {
    /// The agent's own token (auto-auth), current or replaced.
    Auto(Fingerprint),
    /// A token created through the proxy and held here.
    Held(HeldId),
    /// Nothing: an orphan token (a login).
    None,
}

/// A lease or a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeldKind {
    /// A leased secret (`lease_id`).
    Lease {
        /// Its lease id.
        lease_id: String,
    },
    /// A token created through the proxy (`auth/token/create`, a login).
    Token {
        /// Its accessor.
        accessor: String,
        /// Its fingerprint (the token itself is `renew_with`).
        print: Fingerprint,
    },
}

/// One held lease or token.
#[derive(Debug)]
pub struct Held {
    /// What it is.
    pub kind: HeldKind,
    /// The token renewals are made with: the one that created the lease, or the token itself.
    pub renew_with: SecretString,
    /// The token it was created under.
    pub parent: Parent,
    /// The API path of the request that created it (for logs and audit events).
    pub path: String,
    /// Its duration when issued: what a renewal asks for.
    pub full: Duration,
    /// When it was issued.
    pub since: Instant,
    /// When it expires unless renewed.
    pub expires_at: Instant,
    /// When to renew it next.
    pub due: Instant,
    /// Whether renewals may still extend it (false once renewable = false, capped, or refused).
    pub renewing: bool,
    /// Renewals in a row that failed transiently, for backoff.
    pub failures: u32,
    /// The workload whose own token this is (per-host mode): its callers are served with it.
    pub workload: Option<String>,
    /// A workload's token: the fingerprint of the settings it was made with (`policies`, `token_role`,
    /// `auto_auth`), so that a reload or a restart can tell a token made with other settings.
    pub settings: Option<Fingerprint>,
}

/// A new entry, as the cache describes it.
#[derive(Debug)]
pub struct NewHeld {
    /// What it is.
    pub kind: HeldKind,
    /// See [`Held::renew_with`].
    pub renew_with: SecretString,
    /// See [`Held::parent`].
    pub parent: Parent,
    /// See [`Held::path`].
    pub path: String,
    /// `lease_duration` (or the token's TTL) as returned.
    pub ttl: Duration,
    /// Whether it is renewable.
    pub renewable: bool,
}

/// What the engine does with an entry when it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Renew it.
    Renew,
    /// Forget it: it is no longer served (at or near its final expiry, or its parent is gone).
    Drop,
}

/// What a renewal told about an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Renewed for `ttl` (shorter than asked: capped by a max TTL, a success that is final).
    Granted {
        /// The new TTL.
        ttl: Duration,
        /// Whether it can be renewed again.
        renewable: bool,
        /// What was asked for (`None`: the entry's own duration).
        asked: Option<Duration>,
    },
    /// The lease or token no longer exists (revoked on the server, or expired): never serve it again.
    Gone,
    /// It exists but cannot be renewed by this token; `left`, when known, is the time it has left.
    Final {
        /// Time left, from a lookup.
        left: Option<Duration>,
    },
    /// The backend could not answer: try again with backoff.
    Transient,
}

/// The agent's own token as the engine last reported it.
#[derive(Clone, Debug)]
pub(super) struct AutoToken {
    pub(super) accessor: String,
    pub(super) expires_at: Option<Instant>,
    pub(super) is_final: bool,
}

/// Everything held, indexed by lease id, token fingerprint and accessor.
#[derive(Debug)]
pub struct Table {
    pub(super) next: HeldId,
    pub(super) held: HashMap<HeldId, Held>,
    pub(super) by_lease: HashMap<String, HeldId>,
    pub(super) by_token: HashMap<Fingerprint, HeldId>,
    pub(super) by_accessor: HashMap<String, HeldId>,
    pub(super) auto: HashMap<Fingerprint, AutoToken>,
    pub(super) threshold: f64,
    pub(super) evictions: u64,
}

impl Table {
    /// An empty table renewing at `threshold` of what is left.
    pub fn new(threshold: f64) -> Self {
        Self {
            next: 1,
            held: HashMap::new(),
            by_lease: HashMap::new(),
            by_token: HashMap::new(),
            by_accessor: HashMap::new(),
            auto: HashMap::new(),
            threshold,
            evictions: 0,
        }
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The entry `id`.
    pub fn get(&self, id: HeldId) -> Option<&Held> {
        self.held.get(&id)
    }

    /// How many evictions happened so far: the cache prunes its responses when this changes.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Renew at `threshold` of what is left from now on (a reload changed `lease_renewal_threshold`).
    pub fn set_threshold(&mut self, threshold: f64) {
        self.threshold = threshold;
    }

    /// Whom a token (by fingerprint) belongs to, if the cache manages it: the agent's own token, or a
    /// token created through the proxy. Leases created with any other token pass through uncached, as in
    /// Vault Agent: nothing here could tell when they die.
    pub fn manager_of(&self, token: Fingerprint) -> Option<Parent> {
        if self.auto.contains_key(&token) {
            return Some(Parent::Auto(token));
        }
        self.by_token.get(&token).map(|id| Parent::Held(*id))
    }

    /// The held token with fingerprint `print`, or accessor `accessor`.
    pub fn token_id(&self, print: Option<Fingerprint>, accessor: Option<&str>) -> Option<HeldId> {
        print
            .and_then(|p| self.by_token.get(&p))
            .or_else(|| accessor.and_then(|a| self.by_accessor.get(a)))
            .copied()
    }

    /// The entry holding `lease_id`.
    pub fn lease_id(&self, lease_id: &str) -> Option<HeldId> {
        self.by_lease.get(lease_id).copied()
    }

    /// Hold `new` from now on; returns its id. Renewable entries are renewed at the threshold of their TTL.
    pub fn hold(&mut self, new: NewHeld) -> HeldId {
        self.hold_for(new, None)
    }

    /// Hold `new`, the token of the workload `name` made with the settings whose fingerprint is
    /// `settings` (see [`Self::workload_token`]); returns its id.
    pub fn hold_workload_token(
        &mut self,
        new: NewHeld,
        name: &str,
        settings: Fingerprint,
    ) -> HeldId {
        self.hold_for(new, Some((name.to_string(), settings)))
    }

    /// The token held for the workload `name` (made with the settings whose fingerprint is `settings`,
    /// if given) that may be served at `now` (the longest-lived, should there be two), with its accessor.
    pub fn workload_token(
        &self,
        name: &str,
        settings: Option<Fingerprint>,
        now: Instant,
    ) -> Option<(SecretString, String)> {
        self.held
            .iter()
            .filter(|(id, e)| {
                e.workload.as_deref() == Some(name)
                    && settings.is_none_or(|s| e.settings == Some(s))
                    && self.servable(**id, now)
            })
            .max_by_key(|(_, e)| e.expires_at)
            .and_then(|(_, e)| match &e.kind {
                HeldKind::Token { accessor, .. } => Some((e.renew_with.clone(), accessor.clone())),
                HeldKind::Lease { .. } => None,
            })
    }

    /// Every workload token held: its id, its workload, and the fingerprint of its settings (`None`:
    /// unknown, from a state file written before they were kept).
    pub fn workload_tokens(&self) -> Vec<(HeldId, String, Option<Fingerprint>)> {
        self.held
            .iter()
            .filter_map(|(id, e)| Some((*id, e.workload.clone()?, e.settings)))
            .collect()
    }

    fn hold_for(&mut self, new: NewHeld, workload: Option<(String, Fingerprint)>) -> HeldId {
        let now = Instant::now();
        let expires_at = now + new.ttl;
        let due = if new.renewable {
            now + renew_after(new.ttl, self.threshold)
        } else {
            expires_at
        };
        self.insert(Held {
            kind: new.kind,
            renew_with: new.renew_with,
            parent: new.parent,
            path: new.path,
            full: new.ttl,
            since: now,
            expires_at,
            due,
            renewing: new.renewable,
            failures: 0,
            settings: workload.as_ref().map(|w| w.1),
            workload: workload.map(|w| w.0),
        })
    }

    /// Hold `held` (new, or restored from the state document) under a new id, indexed.
    pub(super) fn insert(&mut self, held: Held) -> HeldId {
        let id = self.next;
        self.next += 1;
        match &held.kind {
            HeldKind::Lease { lease_id } => {
                if let Some(old) = self.by_lease.insert(lease_id.clone(), id) {
                    // The same lease stored twice (two keys for one response): one entry holds it.
                    self.held.remove(&old);
                }
            }
            HeldKind::Token { accessor, print } => {
                if let Some(old) = self.by_token.insert(*print, id) {
                    self.held.remove(&old);
                }
                self.by_accessor.insert(accessor.clone(), id);
            }
        }
        self.held.insert(id, held);
        id
    }

    /// Learn the agent's own token from the engine: `current` is (fingerprint, accessor, expiry, whether
    /// that expiry is final); `replaced` maps the accessors of replaced tokens to their expiry. A replaced
    /// token's expiry is final (leases under it end then); an expired one is forgotten, and with it what the
    /// cache holds under it.
    pub fn set_auto(
        &mut self,
        current: Option<(Fingerprint, String, Option<Instant>, bool)>,
        replaced: &HashMap<String, Option<Instant>>,
        now: Instant,
    ) {
        let current_print = current.as_ref().map(|c| c.0);
        if let Some((print, accessor, expires_at, is_final)) = current {
            self.auto.insert(
                print,
                AutoToken {
                    accessor,
                    expires_at,
                    is_final,
                },
            );
        }
        for (p, a) in &mut self.auto {
            if Some(*p) == current_print {
                continue;
            }
            if let Some(exp) = replaced.get(&a.accessor) {
                a.expires_at = *exp;
            }
            a.is_final = true;
        }
        self.auto
            .retain(|p, a| Some(*p) == current_print || a.expires_at.is_none_or(|t| t > now));
    }

    /// Every held lease with the token that created it and that token's accessor (when known): what a
    /// periodic lookup checks.
    pub fn leases(&self) -> Vec<(HeldId, String, SecretString, String)> {
        self.held
            .iter()
            .filter_map(|(id, e)| match &e.kind {
                HeldKind::Lease { lease_id } => Some((
                    *id,
                    lease_id.clone(),
                    e.renew_with.clone(),
                    self.renewing_accessor(*id),
                )),
                HeldKind::Token { .. } => None,
            })
            .collect()
    }

    /// Every held token (created through the proxy) with its accessor: what a periodic lookup checks.
    pub fn tokens(&self) -> Vec<(HeldId, SecretString, String)> {
        self.held
            .iter()
            .filter(|(_, e)| matches!(e.kind, HeldKind::Token { .. }))
            .map(|(id, e)| (*id, e.renew_with.clone(), self.renewing_accessor(*id)))
            .collect()
    }

    /// The accessor of the token an entry's renewals act as (for audit events), when known.
    pub fn renewing_accessor(&self, id: HeldId) -> String {
        let Some(e) = self.held.get(&id) else {
            return String::new();
        };
        match (&e.kind, e.parent) {
            (HeldKind::Token { accessor, .. }, _) => accessor.clone(),
            (_, Parent::Auto(p)) => self
                .auto
                .get(&p)
                .map(|a| a.accessor.clone())
                .unwrap_or_default(),
            (_, Parent::Held(pid)) => match self.held.get(&pid).map(|p| &p.kind) {
                Some(HeldKind::Token { accessor, .. }) => accessor.clone(),
                _ => String::new(),
            },
            (_, Parent::None) => String::new(),
        }
    }
}
