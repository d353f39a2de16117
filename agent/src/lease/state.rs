//! What a restart resumes (docs/persistence.md): the token and the leased secrets, written to the state
//! file (`crate::persist`: `cache { persist ... }` or `lease_state_file`) after each delivery, so that a
//! restarted agent — or the sidecar that follows an init container's `--once` — resumes them (the token
//! through lookup-self, each lease through a lease lookup) instead of logging in and issuing new ones.
//!
//! The document (inside the encryption, or plain for a `lease_state_file` without a key) is versioned:
//! `{"v": 1, "token", "accessor", "entries": [...], "cache": [...]}`. `cache` holds the proxy cache's
//! part (`lease::proxied::saved`: its own versioned object with the held leases and tokens and the
//! responses they keep alive), written from [`Engine::cache_entries`] and handed back to
//! [`Engine::restore_cache_entries`] after the token was resumed. The document is written after each
//! delivery, and for the cache's changes at most once a second ([`Engine::save_cache_changes`]). An older
//! sidekey ignores the key; a document of a newer version is refused.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use zeroize::Zeroize;

use crate::auth::Token;
use crate::backend::secret::{Operation, Secret, SecretRequest};
use crate::backend::{Bearer, MountInfo};
use crate::persist::{ImportError, StateStore};

use super::engine::Engine;
use super::fetch::Fetched;
use super::outcome::Fatal;
use super::store::{Life, cert_time_left};

/// The document's version. Version 1 is also what `lease_state_file` held before encryption existed.
const VERSION: u32 = 1;

/// The shortest time between two writes for changes of the proxy cache (a burst of requests is one write).
const CACHE_SAVE_EVERY: Duration = Duration::from_secs(1);

/// The state document.
#[derive(Serialize, Deserialize)]
struct StateFile {
    v: u32,
    /// The token (never logged; zeroed on drop).
    token: String,
    accessor: String,
    entries: Vec<SavedEntry>,
    /// The proxy cache's entries (see the module doc); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cache: Vec<serde_json::Value>,
}

impl Drop for StateFile {
    fn drop(&mut self) {
        self.token.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
struct SavedEntry {
    request: SecretRequest,
    api_path: String,
    mount: Option<MountInfo>,
    secret: Secret,
    token_accessor: String,
}

impl Engine {
    /// The store the state file is read from and written to, if one is configured (opened at start-up,
    /// where a key that cannot be used is a configuration error).
    pub(crate) fn set_state_store(&mut self, store: Option<StateStore>) {
        self.state = store;
    }

    /// Write the state file, if configured. Only leased secrets and issued certificates are kept: KV
    /// secrets are simply read again.
    pub(super) fn save_state(&mut self) {
        // Whatever the cache changed is in this document (or, with no token, not to be written yet).
        self.proxied.take_dirty();
        self.cache_saved_at = Some(Instant::now());
        let Some(token) = &self.tokens.token else {
            return;
        };
        if self.state.is_none() {
            return;
        }
        let entries = self
            .store
            .iter()
            .filter(|(r, e)| !e.fetched.secret.lease_id.is_empty() || r.op == Operation::Write)
            .map(|(r, e)| SavedEntry {
                request: r.clone(),
                api_path: e.fetched.api_path.clone(),
                mount: e.fetched.mount.clone(),
                secret: (*e.fetched.secret).clone(),
                token_accessor: e.token_accessor.clone(),
            })
            .collect();
        let state = StateFile {
            v: VERSION,
            token: token.secret.expose_secret().to_string(),
            accessor: token.accessor.clone(),
            entries,
            cache: self.cache_entries(),
        };
        let Ok(bytes) = serde_json::to_vec(&state).map(zeroize::Zeroizing::new) else {
            return;
        };
        drop(state);
        let Some(store) = &mut self.state else {
            return;
        };
        if let Err(e) = store.save(&bytes) {
            tracing::error!(store = %store.describe(), "cannot write the state file: {e}");
        }
    }

    /// A reload that changes the state file settings: they apply at the next start (the running store
    /// keeps the file it imported from and writes to).
    pub(super) fn state_reloaded(&self, old: &crate::config::Config) {
        let same = match (&old.persist, &self.cfg.persist) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_settings(b),
            _ => false,
        };
        if !same {
            tracing::warn!(
                "the state file settings (cache.persist / lease_state_file) changed in a reload; they apply at the next start"
            );
        }
    }

    /// Remove the state file (its token and leases were revoked).
    pub(super) fn remove_state(&mut self) {
        if let Some(store) = &mut self.state
            && let Err(e) = store.remove()
        {
            tracing::warn!(store = %store.describe(), error = %e, "cannot remove the state file");
        }
    }

    /// Resume the token and leases of the state file, if there is one and its token is still valid.
    /// Returns whether a token was resumed (then no login is needed).
    ///
    /// # Errors
    /// [`Fatal::Persist`] when the file cannot be used and `exit_on_err` is set; otherwise such a file is
    /// reported and ignored (the caller logs in).
    pub async fn resume(&mut self) -> Result<bool, Fatal> {
        let Some(store) = self.state.as_mut() else {
            return Ok(false);
        };
        let raw = match store.import() {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok(false),
            Err(e) => return refused(store, &e),
        };
        let mut state = match serde_json::from_slice::<StateFile>(&raw) {
            Ok(s) if s.v <= VERSION => s,
            Ok(s) => {
                let e = ImportError::Document(
                    store.path().to_path_buf(),
                    format!("written by a newer sidekey (document version {})", s.v),
                );
                return refused(store, &e);
            }
            Err(_) => {
                let e = ImportError::Document(
                    store.path().to_path_buf(),
                    "not a sidekey state document".into(),
                );
                return refused(store, &e);
            }
        };
        drop(raw);
        let what = store.describe();
        let secret = SecretString::from(std::mem::take(&mut state.token));
        let client = self.fetcher.client().clone();
        let info = match client.lookup_self(Bearer::new(&secret, "")).await {
            Ok(i) if i.ttl > 0 || !self.tokens.has_auto_auth() => i,
            _ => {
                tracing::info!(store = %what, "the saved token is no longer valid; logging in");
                return Ok(false);
            }
        };
        let mut identity = self.tokens.base_identity();
        identity.token_accessor = info.accessor.clone();
        let token = Token {
            secret,
            accessor: info.accessor.clone(),
            ttl: Duration::from_secs(info.ttl),
            renewable: info.renewable,
            issued_at: Instant::now(),
            identity,
            policies: Vec::new(),
            request_id: String::new(),
        };
        tracing::info!(accessor = %token.accessor, store = %what, "resumed the saved token");
        self.tokens.adopt(token);
        // First the cache's part: the workloads' tokens, which their templates' leases were created with.
        let cache_parts = state.cache.len();
        self.restore_cache_entries(std::mem::take(&mut state.cache));
        // A workload removed, or whose token's settings changed, since the file was written: its token is
        // not resumed (nor the secrets read with it), and is revoked.
        self.retire_workload_tokens(&[]);
        self.revoke_retired().await;
        let mut resumed = 0usize;
        for e in std::mem::take(&mut state.entries) {
            let creator = match &e.request.workload {
                None => (e.token_accessor == state.accessor)
                    .then(|| self.tokens.token.as_ref().map(|t| t.secret.clone()))
                    .flatten(),
                Some(w) => self
                    .workload_tokens
                    .as_ref()
                    .and_then(|t| t.held(w))
                    .filter(|t| t.accessor == e.token_accessor)
                    .map(|t| t.secret),
            };
            let Some(creator) = creator else {
                continue;
            };
            let s = &e.secret;
            let life = if s.lease_id.is_empty() {
                match cert_time_left(s) {
                    Some(left) if !left.is_zero() => Life::Cert { left },
                    _ => continue,
                }
            } else {
                let creator = Bearer::new(&creator, &e.token_accessor);
                match client.lookup_lease(creator, &s.lease_id).await {
                    Ok((ttl, renewable)) if ttl > 0 => {
                        let left = Duration::from_secs(ttl);
                        Life::Lease {
                            left,
                            full: Duration::from_secs(s.lease_duration).max(left),
                            renewable,
                        }
                    }
                    _ => continue,
                }
            };
            let fetched = Fetched {
                secret: Arc::new(e.secret),
                api_path: e.api_path,
                mount: e.mount,
            };
            self.store
                .schedule(e.request, fetched, e.token_accessor, life);
            resumed += 1;
        }
        tracing::info!(
            secrets = resumed,
            cache_parts,
            store = %what,
            "resumed leases from the state file"
        );
        Ok(true)
    }

    /// The proxy cache's entries to keep beside the token and the leases: its held leases and tokens
    /// with the responses they keep alive, in the shape `lease::proxied` owns (one versioned object).
    pub(super) fn cache_entries(&self) -> Vec<serde_json::Value> {
        self.proxied.export().into_iter().collect()
    }

    /// The proxy cache's entries a previous run kept, handed over once the saved token was resumed: the
    /// leases still alive come back into the table (the same lease_id served again, no new login), with
    /// the responses they keep alive. A lease revoked meanwhile is evicted by its next renewal.
    pub(super) fn restore_cache_entries(&mut self, entries: Vec<serde_json::Value>) {
        for e in entries {
            self.proxied.restore(e);
        }
    }

    /// Write the state file for the cache's changes, coalesced: at most once per [`CACHE_SAVE_EVERY`],
    /// however many requests changed what is held. Returns when the next write is due, if one is.
    pub(super) fn save_cache_changes(&mut self, now: Instant) -> Option<Instant> {
        if self.state.is_none() || !self.proxied.is_dirty() {
            return None;
        }
        if let Some(at) = self.cache_saved_at.map(|t| t + CACHE_SAVE_EVERY)
            && at > now
        {
            return Some(at);
        }
        self.save_state();
        None
    }
}

/// A state file that cannot be used: the run stops (`exit_on_err`) or starts afresh.
fn refused(store: &StateStore, e: &ImportError) -> Result<bool, Fatal> {
    if store.exit_on_err() {
        return Err(Fatal::Persist(format!(
            "{}: {e} (exit_on_err = true)",
            store.describe()
        )));
    }
    tracing::warn!(store = %store.describe(), "{e}; ignoring it and logging in");
    Ok(false)
}
