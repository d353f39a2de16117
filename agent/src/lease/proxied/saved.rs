//! The cache's part of the state document (docs/persistence.md): the fingerprint key, the agent tokens
//! the table knows, every held lease and token, and the cache's stored responses (in the cache's own
//! shape, [`Responses`]). One JSON object, versioned on its own, in the document's `cache` array.
//!
//! Times are kept as wall-clock seconds (the monotonic clock starts again with the process): what is
//! left of each lease is what remains of its saved expiry, and a lease that expired meanwhile is
//! dropped with everything created under it. Nothing is looked up at restore: a lease revoked while the
//! agent was down is found by its next renewal (a refused renewal is looked up), and evicted as any other.
//!
//! The key is kept rather than drawn again: the cache's keys and the table's indexes are fingerprints
//! of the callers' tokens and request bodies, which are deliberately not kept, so nothing could be
//! fingerprinted again under a new key. It is as secret as the tokens beside it, and is only ever
//! inside the same document (encrypted when a key is configured).

use std::collections::HashMap;
use std::sync::Weak;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;
use zeroize::{Zeroize, Zeroizing};

use super::table::{AutoToken, Held};
use super::{Fingerprint, HeldId, HeldKind, Parent, ProxyLeases};
use crate::lease::schedule::renew_after;

/// The version of the cache's part. Another version is ignored whole (the cache starts empty; the
/// token and the templates' leases are resumed all the same).
pub const VERSION: u32 = 1;

/// The cache's stored responses, as the state document keeps them. The cache registers itself with
/// [`ProxyLeases::attach`]; the table cannot name the cache's types, so each response is a JSON object
/// in the cache's shape, naming the held entry that keeps it alive by its [`HeldId`].
pub trait Responses: Send + Sync {
    /// The responses to keep (each holding a response body: a secret); `now` is `wall`.
    fn export(&self, now: Instant, wall: SystemTime) -> Vec<Value>;
    /// Take back the responses a previous run kept, replacing what is stored; `ids` maps the held ids
    /// they name to the restored entries (a response whose entry was not restored is dropped).
    fn import(
        &self,
        saved: Vec<Value>,
        ids: &HashMap<HeldId, HeldId>,
        now: Instant,
        wall: SystemTime,
    );
}

/// The registered cache, and what was restored before it registered.
#[derive(Default)]
pub(super) struct Link {
    pub(super) cache: Option<Weak<dyn Responses>>,
    pending: Option<(Vec<Value>, HashMap<HeldId, HeldId>)>,
}

/// The cache's part of the document. Not `Debug`: it holds tokens and response bodies.
#[derive(Serialize, Deserialize)]
struct Saved {
    v: u32,
    /// The fingerprint key (hex).
    key: String,
    #[serde(default)]
    auto: Vec<SavedAuto>,
    #[serde(default)]
    held: Vec<SavedHeld>,
    #[serde(default)]
    responses: Vec<Value>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// One of the agent's own tokens, by fingerprint.
#[derive(Serialize, Deserialize)]
struct SavedAuto {
    print: String,
    accessor: String,
    /// Unix seconds; absent for a token that does not expire.
    expires: Option<u64>,
    is_final: bool,
}

/// One held lease or token.
#[derive(Serialize, Deserialize)]
struct SavedHeld {
    id: HeldId,
    /// The lease id, for a lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_id: Option<String>,
    /// The accessor and fingerprint (hex), for a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<(String, String)>,
    /// The token renewals are made with.
    renew_with: String,
    /// `auto:<print>`, `held:<id>` or `none`.
    parent: String,
    path: String,
    full: u64,
    /// Unix seconds.
    since: u64,
    expires: u64,
    renewing: bool,
    /// The workload whose own token it is (per-host mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workload: Option<String>,
    /// The fingerprint (hex) of the settings a workload's token was made with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    settings: Option<String>,
}

impl Drop for SavedHeld {
    fn drop(&mut self) {
        self.renew_with.zeroize();
    }
}

impl ProxyLeases {
    /// Register the cache whose responses go into the state document with the table; responses restored
    /// before it registered are handed over now.
    pub fn attach(&self, cache: Weak<dyn Responses>) {
        let pending = {
            let mut link = self.link();
            link.cache = Some(cache.clone());
            link.pending.take()
        };
        if let (Some((saved, ids)), Some(c)) = (pending, cache.upgrade()) {
            c.import(saved, &ids, Instant::now(), SystemTime::now());
        }
    }

    /// Whether what is held changed since the state document was last written (and clear the mark).
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether what is held changed since the state document was last written.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Mark what is held as changed, without waking the engine (its own renewals).
    pub fn mark_dirty(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The cache's part of the state document, or `None` when nothing is held.
    pub fn export(&self) -> Option<Value> {
        self.export_at(Instant::now(), SystemTime::now())
    }

    /// [`Self::export`] with the clocks given (tests).
    pub(crate) fn export_at(&self, now: Instant, wall: SystemTime) -> Option<Value> {
        let unix = |t: Instant| unix_of(wall, now, t);
        let (auto, held) = {
            let table = self.lock();
            if table.held.is_empty() {
                return None;
            }
            let auto = table
                .auto
                .iter()
                .map(|(p, a)| SavedAuto {
                    print: p.to_hex(),
                    accessor: a.accessor.clone(),
                    expires: a.expires_at.map(unix),
                    is_final: a.is_final,
                })
                .collect();
            let held: Vec<SavedHeld> = table
                .held
                .iter()
                .map(|(id, e)| saved_held(*id, e, &unix))
                .collect();
            (auto, held)
        };
        let cache = self.link().cache.as_ref().and_then(Weak::upgrade);
        let saved = Saved {
            v: VERSION,
            key: hex::encode(self.key().as_slice()),
            auto,
            held,
            responses: cache.map(|c| c.export(now, wall)).unwrap_or_default(),
        };
        serde_json::to_value(&saved).ok()
    }

    /// Take back the cache's part of a state document (after the saved token was resumed): the key,
    /// the agent tokens, every held entry that has not expired meanwhile (what is left of it is what
    /// remains of its saved expiry), and the responses they keep alive. Only into a table that holds
    /// nothing yet (a fresh start): otherwise, or for another version, nothing is restored.
    pub fn restore(&self, saved: Value) {
        self.restore_at(saved, Instant::now(), SystemTime::now());
    }

    /// [`Self::restore`] with the clocks given (tests).
    pub(crate) fn restore_at(&self, saved: Value, now: Instant, wall: SystemTime) {
        let Ok(mut saved) = serde_json::from_value::<Saved>(saved) else {
            tracing::warn!(
                "the state file's cache entries are not readable; the cache starts empty"
            );
            return;
        };
        if saved.v != VERSION {
            tracing::warn!(
                version = saved.v,
                "the state file's cache entries are of another version; the cache starts empty"
            );
            return;
        }
        let key = Zeroizing::new(
            <[u8; 32]>::try_from(hex::decode(&saved.key).unwrap_or_default().as_slice())
                .unwrap_or_default(),
        );
        if key.iter().all(|b| *b == 0) {
            tracing::warn!("the state file's cache entries have no key; the cache starts empty");
            return;
        }
        let left = |unix: u64| Duration::from_secs(unix.saturating_sub(unix_secs(wall)));
        let mut table = self.lock();
        if !table.held.is_empty() {
            tracing::debug!("the cache holds entries already; the saved ones are not restored");
            return;
        }
        self.set_key(key);
        table.auto = saved
            .auto
            .iter()
            .filter_map(|a| {
                let print = Fingerprint::from_hex(&a.print)?;
                let expires_at = a.expires.map(|t| now + left(t));
                Some((
                    print,
                    AutoToken {
                        accessor: a.accessor.clone(),
                        expires_at,
                        is_final: a.is_final,
                    },
                ))
            })
            .collect();
        let mut ids = HashMap::new();
        for s in &saved.held {
            let left = left(s.expires);
            if left.is_zero() {
                continue;
            }
            let Some(kind) = kind_of(s) else { continue };
            let elapsed = Duration::from_secs(unix_secs(wall).saturating_sub(s.since));
            let held = Held {
                kind,
                renew_with: SecretString::from(s.renew_with.clone()),
                parent: Parent::None,
                path: s.path.clone(),
                full: Duration::from_secs(s.full),
                since: now.checked_sub(elapsed).unwrap_or(now),
                expires_at: now + left,
                due: if s.renewing {
                    now + renew_after(left, table.threshold)
                } else {
                    now + left
                },
                renewing: s.renewing,
                failures: 0,
                workload: s.workload.clone(),
                settings: s.settings.as_deref().and_then(Fingerprint::from_hex),
            };
            ids.insert(s.id, table.insert(held));
        }
        // Parents once every entry has its new id: a parent that did not come back ends its children.
        let mut orphans = Vec::new();
        for s in &saved.held {
            let Some(id) = ids.get(&s.id) else { continue };
            let parent = match parent_of(&s.parent) {
                Some(SavedParent::Auto(p)) => Some(Parent::Auto(p)),
                Some(SavedParent::Held(old)) => ids.get(&old).map(|n| Parent::Held(*n)),
                Some(SavedParent::None) => Some(Parent::None),
                None => None,
            };
            match (parent, table.held.get_mut(id)) {
                (Some(p), Some(e)) => e.parent = p,
                _ => orphans.push(*id),
            }
        }
        for id in orphans {
            table.evict(id);
        }
        ids.retain(|_, new| table.held.contains_key(new));
        let restored = ids.len();
        drop(table);
        let responses = std::mem::take(&mut saved.responses);
        let cache = self.link().cache.as_ref().and_then(Weak::upgrade);
        match cache {
            Some(c) => c.import(responses, &ids, now, wall),
            // The cache is made after the engine resumed: it takes them when it attaches.
            None => self.link().pending = Some((responses, ids)),
        }
        tracing::info!(entries = restored, "restored the cache's leases and tokens");
        self.changed();
    }
}

/// A saved parent.
enum SavedParent {
    Auto(Fingerprint),
    Held(HeldId),
    None,
}

fn parent_of(s: &str) -> Option<SavedParent> {
    match s.split_once(':') {
        Some(("auto", p)) => Fingerprint::from_hex(p).map(SavedParent::Auto),
        Some(("held", id)) => id.parse().ok().map(SavedParent::Held),
        None if s == "none" => Some(SavedParent::None),
        _ => None,
    }
}

fn kind_of(s: &SavedHeld) -> Option<HeldKind> {
    match (&s.lease_id, &s.token) {
        (Some(lease_id), None) => Some(HeldKind::Lease {
            lease_id: lease_id.clone(),
        }),
        (None, Some((accessor, print))) => Some(HeldKind::Token {
            accessor: accessor.clone(),
            print: Fingerprint::from_hex(print)?,
        }),
        _ => None,
    }
}

fn saved_held(id: HeldId, e: &Held, unix: &dyn Fn(Instant) -> u64) -> SavedHeld {
    let (lease_id, token) = match &e.kind {
        HeldKind::Lease { lease_id } => (Some(lease_id.clone()), None),
        HeldKind::Token { accessor, print } => (None, Some((accessor.clone(), print.to_hex()))),
    };
    SavedHeld {
        id,
        lease_id,
        token,
        renew_with: e.renew_with.expose_secret().to_string(),
        parent: match e.parent {
            Parent::Auto(p) => format!("auto:{}", p.to_hex()),
            Parent::Held(p) => format!("held:{p}"),
            Parent::None => "none".into(),
        },
        path: e.path.clone(),
        full: e.full.as_secs(),
        since: unix(e.since),
        expires: unix(e.expires_at),
        renewing: e.renewing,
        workload: e.workload.clone(),
        settings: e.settings.map(Fingerprint::to_hex),
    }
}

/// Unix seconds of `wall`.
pub(crate) fn unix_secs(wall: SystemTime) -> u64 {
    wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The unix seconds of `t`, `now` being `wall`, in whole seconds towards `now`: a lease never comes
/// back with more life than it had.
pub(crate) fn unix_of(wall: SystemTime, now: Instant, t: Instant) -> u64 {
    let base = unix_secs(wall);
    if t >= now {
        base + (t - now).as_secs()
    } else {
        base.saturating_sub((now - t).as_secs())
    }
}
