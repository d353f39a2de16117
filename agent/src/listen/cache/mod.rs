//! The cache of the API proxy (`cache {}`, DESIGN.md §10).
//!
//! It stores leased responses (dynamic secrets) and tokens created through the proxy (`auth/token/create`,
//! logins), as Vault Agent does: a lease only when the token that created it is one the cache manages (the
//! agent's own token, or a token created through the proxy), a token only when it is an orphan or its
//! parent is managed. Each is held in the lease engine's table ([`ProxyLeases`]) and renewed there, under
//! the templates' rules; an entry is served only while the table says it lives. Entries are keyed by what
//! the request means (`key`), never by its bytes. Renewals and revocations pass through and update or evict
//! what they name (`route`, `evict`); `POST /agent/v1/cache-clear` is [`Cache::clear`]. With
//! `cache_static_secrets`, KV reads are cached too (`kv`).
//!
//! - `key`: a request's meaning and its key.
//! - `route`: renewals, revocations and what is never stored.
//! - `store`: what a response adds to the cache.
//! - `kv`: static secrets: their mounts, readers and version checks.
//! - `evict`: revocations through the proxy, and the cache-clear API.
//! - `saved`: the stored responses in the state document, for a restart (`cache { persist }`).

mod evict;
mod key;

pub(crate) use self::key::normalize_path;
mod kv;
mod route;
mod saved;
mod store;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use hyper::header::{AGE, HeaderValue};
use tokio::time::Instant;

use self::key::{Meaning, Verb};
use self::kv::Freshness;
use self::route::Route;
pub(crate) use self::route::sees;
use super::types::{CacheStatus, ProxyRequest, ProxyResponse};
use crate::backend::Client;
use crate::config::CacheConfig;
use crate::lease::proxied::{Fingerprint, HeldId, ProxyLeases, Responses};

/// A request's meaning and route, the cache's reading of a request (the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_route(req: &ProxyRequest) {
    if let Some(m) = Meaning::of(req) {
        let _ = (route::route(&m), m.may_be_kv());
    }
}

/// The proxy's cache. Shared by every connection (`&self`); its maps are locked only between awaits.
pub struct Cache {
    cfg: CacheConfig,
    client: Client,
    leases: ProxyLeases,
    /// Shared with the table, which keeps them in the state document.
    entries: Arc<saved::Stored>,
    /// One lock per key being answered, so identical requests made together are forwarded once.
    inflight: Mutex<HashMap<Fingerprint, Arc<tokio::sync::Mutex<()>>>>,
    mounts: kv::Mounts,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("cfg", &self.cfg)
            .field("entries", &self.lock_entries().map.len())
            .finish_non_exhaustive()
    }
}

/// The stored responses by key.
#[derive(Default)]
struct Entries {
    map: HashMap<Fingerprint, Entry>,
    /// The table's eviction count when dangling entries were last removed.
    pruned: u64,
}

/// One stored response.
struct Entry {
    response: ProxyResponse,
    stored: Instant,
    /// The request's namespace and normalized path (for `request_path` clearing and KV writes).
    namespace: String,
    path: String,
    kind: Kind,
}

/// What keeps an entry alive.
enum Kind {
    /// A lease or token held in the engine's table.
    Held(HeldId),
    /// A static secret (KV).
    Static(kv::Static),
}

impl Cache {
    /// A cache configured by `cfg` that checks static secrets through `client` and holds its leases in
    /// `leases` (the engine's: [`crate::lease::Engine::proxy_leases`]).
    /// Responses a restart restored from the state document are served from now on.
    pub fn new(cfg: CacheConfig, client: Client, leases: ProxyLeases) -> Self {
        let entries = Arc::new(saved::Stored::default());
        let weak: Weak<dyn Responses> = Arc::downgrade(&entries) as Weak<dyn Responses>;
        leases.attach(weak);
        Self {
            cfg,
            client,
            leases,
            entries,
            inflight: Mutex::default(),
            mounts: kv::Mounts::default(),
        }
    }

    /// Answer `req` from the cache, or call `forward` (the backend through the proxy's client), store what
    /// may be stored, and evict what a revoke covers.
    ///
    /// # Errors
    /// Whatever `forward` returns.
    pub async fn handle<E, F, Fut>(
        &self,
        req: ProxyRequest,
        forward: F,
    ) -> Result<(ProxyResponse, CacheStatus), E>
    where
        F: FnOnce(ProxyRequest) -> Fut,
        Fut: Future<Output = Result<ProxyResponse, E>>,
    {
        let Some(m) = Meaning::of(&req) else {
            return forward(req).await.map(|r| (r, CacheStatus::Bypass));
        };
        let token = req.token.clone();
        match route::route(&m) {
            Route::Renew(target, asked) => {
                let resp = forward(req).await?;
                if resp.status.is_success() {
                    self.renewed(&target, asked, token.as_ref(), &resp);
                }
                Ok((resp, CacheStatus::Bypass))
            }
            Route::Revoke(target, orphan) => {
                let resp = forward(req).await?;
                if resp.status.is_success() {
                    self.revoked(&target, orphan, token.as_ref());
                }
                Ok((resp, CacheStatus::Bypass))
            }
            Route::PassThrough => forward(req).await.map(|r| (r, CacheStatus::Bypass)),
            Route::Cacheable if matches!(m.verb, Verb::Read | Verb::Write) => {
                self.cacheable(req, m, forward).await
            }
            Route::Cacheable => {
                let resp = forward(req).await?;
                if resp.status.is_success() && matches!(m.verb, Verb::Delete | Verb::Patch) {
                    self.written(&m);
                }
                Ok((resp, CacheStatus::Bypass))
            }
        }
    }

    /// A read or write that may be answered from the cache, or stored.
    async fn cacheable<E, F, Fut>(
        &self,
        req: ProxyRequest,
        m: Meaning,
        forward: F,
    ) -> Result<(ProxyResponse, CacheStatus), E>
    where
        F: FnOnce(ProxyRequest) -> Fut,
        Fut: Future<Output = Result<ProxyResponse, E>>,
    {
        // A wrapped response is a single-use token for someone else: never stored, never answered.
        if req.headers.contains_key("x-vault-wrap-ttl") {
            let resp = forward(req).await?;
            if resp.status.is_success() && m.verb == Verb::Write {
                self.written(&m);
            }
            return Ok((resp, CacheStatus::Bypass));
        }
        let token = req.token.clone();
        let key = m.key(&self.leases, token.as_ref());
        let _turn = self.turn(key).await;
        let now = Instant::now();
        if let Some(resp) = self.held_hit(key, now) {
            return Ok((resp, CacheStatus::Hit));
        }
        let statics = (self.cfg.cache_static_secrets && m.verb == Verb::Read && m.may_be_kv())
            .then(|| m.static_key(&self.leases));
        if let (Some(skey), Some(tok)) = (statics, &token) {
            let reader = self.leases.token_print(tok);
            let probe = {
                let entries = self.lock_entries();
                match entries.map.get(&skey) {
                    Some(Entry {
                        kind: Kind::Static(s),
                        response,
                        stored,
                        ..
                    }) => match s.freshness(reader, now, self.cfg.static_secret_ttl) {
                        Freshness::Fresh => {
                            return Ok((
                                with_age(response.clone(), *stored, now),
                                CacheStatus::Hit,
                            ));
                        }
                        Freshness::Stale => Some(s.probe()),
                        Freshness::Stranger => None,
                    },
                    _ => None,
                }
            };
            if let Some(probe) = probe {
                let ns = (!m.namespace.is_empty()).then_some(m.namespace.as_str());
                if probe.still_current(&self.client, tok, ns).await == Some(true)
                    && let Some(resp) = self.confirmed(skey, reader)
                {
                    return Ok((resp, CacheStatus::Hit));
                }
            }
        }
        let resp = forward(req).await?;
        self.store(&m, key, statics, token.as_ref(), &resp).await;
        if resp.status.is_success() && m.verb == Verb::Write {
            self.written(&m);
        }
        Ok((resp, CacheStatus::Miss))
    }

    /// The stored response for `key` if the lease or token behind it may still be served; a dead entry is
    /// removed.
    fn held_hit(&self, key: Fingerprint, now: Instant) -> Option<ProxyResponse> {
        let mut entries = self.lock_entries();
        let e = entries.map.get(&key)?;
        let Kind::Held(id) = e.kind else {
            return None;
        };
        if self.leases.lock().servable(id, now) {
            return Some(with_age(e.response.clone(), e.stored, now));
        }
        entries.map.remove(&key);
        None
    }

    /// A static secret's version was confirmed with `reader`'s token: it is current, and the token may
    /// read it. Returns the stored response.
    fn confirmed(&self, skey: Fingerprint, reader: Fingerprint) -> Option<ProxyResponse> {
        let now = Instant::now();
        let mut entries = self.lock_entries();
        let e = entries.map.get_mut(&skey)?;
        let Kind::Static(s) = &mut e.kind else {
            return None;
        };
        s.readers.insert(reader, now);
        s.checked = now;
        Some(with_age(e.response.clone(), e.stored, now))
    }

    /// Wait for the turn of `key`: a request identical to one being answered waits for that one to finish,
    /// then looks for its response in the cache. The first request in holds the turn while it forwards;
    /// the ones that waited go on together (a response that was not stored, a KV read say, is then fetched
    /// by each at once, not one after the other), as Vault Agent's in-flight requests do.
    async fn turn(&self, key: Fingerprint) -> Turn<'_> {
        let lock = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            inflight.entry(key).or_default().clone()
        };
        let guard = match lock.clone().try_lock_owned() {
            Ok(first) => Some(first),
            Err(_) => {
                // Someone is answering this key: wait until they are done, without holding it.
                drop(lock.lock().await);
                None
            }
        };
        Turn {
            cache: self,
            key,
            lock,
            guard,
        }
    }

    fn lock_entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request's turn at its key (see [`Cache::turn`]); the lock is forgotten with its last user.
struct Turn<'a> {
    cache: &'a Cache,
    key: Fingerprint,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut inflight = self
            .cache
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Ours and the map's: nobody else waits.
        if Arc::strong_count(&self.lock) <= 2 {
            inflight.remove(&self.key);
        }
    }
}

/// `resp` as served from the cache: with `Age`, the seconds since it was stored (as Vault Agent sends).
fn with_age(mut resp: ProxyResponse, stored: Instant, now: Instant) -> ProxyResponse {
    let age = now.saturating_duration_since(stored).as_secs();
    resp.headers.insert(AGE, HeaderValue::from(age));
    resp
}
