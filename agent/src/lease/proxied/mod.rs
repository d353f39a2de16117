//! Leases and tokens held for the API proxy's cache (DESIGN §10). The cache puts them here when it stores a
//! leased response or a token created through the proxy; the engine renews them in its one loop under the
//! rules of §6 (renew at the threshold of what is left, effective expiry = min(lease, parent token), a
//! capped lease served only until a third of its life is left), with no timer or task per entry. A renewal
//! that shows the lease (or token) is gone evicts it, and with it everything created under it.
//!
//! - `table`: what is held, its indexes, and when each entry is due or stops being served (pure).
//! - `evict`: forgetting an entry with everything created under it, by lease, prefix, token or accessor.
//! - `upkeep`: the engine's side: the due renewals and what their answers mean.
//! - `saved`: what the state document keeps of it, for a restart.

mod evict;
mod saved;
mod table;
mod upkeep;

#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

pub use saved::Responses;
pub(crate) use saved::{unix_of, unix_secs};
pub use table::{HeldId, HeldKind, NewHeld, Parent, Renewal, Step, Table};
pub(crate) use upkeep::{lease_after_refusal, token_after_refusal};

/// A keyed fingerprint (HMAC-SHA256 under a key drawn when the agent starts) of a token or of a request:
/// what the cache's keys and the table's indexes hold instead of a token or a request body, so that nothing
/// logged or dumped can be turned back into a token or a password, not even a guessable one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({}…)", hex::encode(&self.0[..4]))
    }
}

impl Fingerprint {
    /// The fingerprint's bytes (to fold it into another fingerprint).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The fingerprint in hex (for the state document).
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// A fingerprint written by [`Self::to_hex`].
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex::decode(hex).ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok().map(Self)
    }
}

/// The shared handle on the [`Table`]: cheap to clone; the engine and the cache hold one each.
#[derive(Clone)]
pub struct ProxyLeases {
    table: Arc<Mutex<Table>>,
    /// Woken when the cache changed what is held, so the engine's loop recomputes its next due time.
    changed: Arc<tokio::sync::Notify>,
    /// Set when what is held changed, until the engine writes the state document.
    dirty: Arc<AtomicBool>,
    /// The fingerprint key: drawn at start, or the one of the state document a restart resumed.
    key: Arc<RwLock<Zeroizing<[u8; 32]>>>,
    /// The cache whose responses the state document keeps.
    link: Arc<Mutex<saved::Link>>,
}

impl std::fmt::Debug for ProxyLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyLeases")
            .field("held", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl ProxyLeases {
    /// An empty table renewing at `renewal_threshold` of a lease's life (`lease_renewal_threshold`).
    pub fn new(renewal_threshold: f64) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table::new(renewal_threshold))),
            changed: Arc::default(),
            dirty: Arc::default(),
            key: Arc::new(RwLock::new(Zeroizing::new(rand::random()))),
            link: Arc::default(),
        }
    }

    /// The fingerprint of `parts`, each length-prefixed so that no two different lists hash alike.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> Fingerprint {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key().as_slice()) else {
            // HMAC takes keys of any length: unreachable, but never a panic.
            return Fingerprint([0; 32]);
        };
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        Fingerprint(mac.finalize().into_bytes().into())
    }

    /// The fingerprint of a token.
    pub fn token_print(&self, token: &SecretString) -> Fingerprint {
        self.fingerprint(&[b"token", token.expose_secret().as_bytes()])
    }

    /// The table, locked. A panic while it was held cannot leave it half-updated in a way that matters
    /// more than losing the cache, so a poisoned lock is taken over.
    pub fn lock(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tell the engine that what is held changed (a new entry, a renewal made by a caller, an
    /// eviction): its next due time may come first, and the state document is to be written again.
    pub fn changed(&self) {
        self.mark_dirty();
        self.changed.notify_one();
    }

    /// Completes when [`Self::changed`] was called (since the last wait).
    pub async fn wait_changed(&self) {
        self.changed.notified().await;
    }

    /// The fingerprint key. A poisoned lock still holds a whole key.
    fn key(&self) -> RwLockReadGuard<'_, Zeroizing<[u8; 32]>> {
        self.key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fingerprint with `key` from now on (a restart resumed the state document's).
    fn set_key(&self, key: Zeroizing<[u8; 32]>) {
        *self
            .key
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = key;
    }

    fn link(&self) -> MutexGuard<'_, saved::Link> {
        self.link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
