//! Renewals and revocations made through the proxy, and `POST /agent/v1/cache-clear`. A renewal moves the
//! held entry's expiry to what the server granted (the same lease, never a new entry); a revocation that
//! succeeded evicts what it covers: a lease, every lease under a prefix, or a token with everything
//! created under it (`revoke-orphan`: the token and its leases, its child tokens stay).

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use tokio::time::Instant;

use super::key::{namespace, normalize_path};
use super::route::Target;
use super::store::reply;
use super::{Cache, Kind, ProxyResponse};
use crate::lease::proxied::{Fingerprint, Renewal};
use crate::lease::schedule::Backoff;

/// The body of `POST /agent/v1/cache-clear`, as Vault Agent reads it.
#[derive(Deserialize)]
struct ClearRequest {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    namespace: String,
}

/// Never used: a renewal's answer is not a retry (the engine's own backoff applies to its renewals).
const NO_BACKOFF: Backoff = Backoff {
    min: Duration::from_secs(1),
    max: Duration::from_secs(1),
};

impl Cache {
    /// A renewal of `target` (with `asked` as `increment`) succeeded with `resp`: the held entry lives as
    /// long as the server now says.
    pub(super) fn renewed(
        &self,
        target: &Target,
        asked: Option<Duration>,
        caller: Option<&SecretString>,
        resp: &ProxyResponse,
    ) {
        let Some((reply, _)) = reply(resp) else {
            return;
        };
        let mut table = self.leases.lock();
        let (id, ttl, renewable) = match target {
            Target::Lease(lease) => {
                let lease = if reply.lease_id.is_empty() {
                    lease.as_str()
                } else {
                    reply.lease_id.as_str()
                };
                (table.lease_id(lease), reply.lease_duration, reply.renewable)
            }
            Target::Caller | Target::Token(_) | Target::Accessor(_) => {
                let Some(auth) = reply.auth else { return };
                let (print, accessor) = self.token_of(target, caller);
                let accessor = accessor.or(Some(auth.accessor.as_str()));
                let id = table.token_id(print, accessor.filter(|a| !a.is_empty()));
                (id, auth.lease_duration, auth.renewable)
            }
            Target::Prefix(_) => return,
        };
        if let Some(id) = id {
            let r = Renewal::Granted {
                ttl: Duration::from_secs(ttl),
                renewable,
                asked,
            };
            table.apply(id, r, Instant::now(), &NO_BACKOFF);
            drop(table);
            self.leases.changed();
        }
    }

    /// A revocation of `target` succeeded: evict what it covers.
    pub(super) fn revoked(&self, target: &Target, orphan: bool, caller: Option<&SecretString>) {
        let (print, accessor) = self.token_of(target, caller);
        let n = {
            let mut table = self.leases.lock();
            match target {
                Target::Lease(lease) => table.evict_lease(lease),
                Target::Prefix(prefix) => table.evict_prefix(prefix),
                _ if orphan => table.evict_orphan(print, accessor),
                _ => {
                    // The token's own print, for the static secrets it read (known for held tokens).
                    let print = print.or_else(|| {
                        table
                            .token_id(None, accessor)
                            .and_then(|id| table.get(id))
                            .map(|e| self.leases.token_print(&e.renew_with))
                    });
                    let n = table.evict_token(print, accessor);
                    drop(table);
                    if let Some(p) = print {
                        self.forget_reader(p);
                    }
                    n
                }
            }
        };
        if n > 0 {
            tracing::debug!(
                entries = n,
                "evicted what a revocation through the proxy covers"
            );
            self.leases.changed();
        }
        self.prune();
    }

    /// The fingerprint and accessor a token target names.
    fn token_of<'a>(
        &self,
        target: &'a Target,
        caller: Option<&SecretString>,
    ) -> (Option<Fingerprint>, Option<&'a str>) {
        match target {
            Target::Caller => (caller.map(|t| self.leases.token_print(t)), None),
            Target::Token(t) => (Some(self.leases.token_print(t)), None),
            Target::Accessor(a) => (None, Some(a.as_str())),
            Target::Lease(_) | Target::Prefix(_) => (None, None),
        }
    }

    /// `POST /agent/v1/cache-clear` with `body` (`{"type": "request_path" | "lease" | "token" |
    /// "token_accessor" | "all", "value": ..., "namespace": ...}`): evict the matching entries. Clearing
    /// evicts from the cache only; nothing is revoked on the server.
    ///
    /// # Errors
    /// A message for a 400 answer: the body is not that JSON, the type is unknown, or the value missing.
    pub async fn clear(&self, body: &[u8]) -> Result<(), String> {
        let req: ClearRequest =
            serde_json::from_slice(body).map_err(|e| format!("failed to parse JSON input: {e}"))?;
        let value = req.value.trim();
        let needs_value = |what: &str| {
            if value.is_empty() {
                Err(format!("{what} not provided"))
            } else {
                Ok(())
            }
        };
        match req.kind.as_str() {
            "request_path" => {
                needs_value("request path")?;
                let prefix = value.trim_start_matches('/');
                let prefix = prefix.strip_prefix("v1/").unwrap_or(prefix);
                let prefix = normalize_path(prefix).ok_or("request path is not a valid path")?;
                self.clear_path(&namespace(Some(&req.namespace)), &prefix);
            }
            "lease" => {
                needs_value("lease")?;
                self.revoked(&Target::Lease(value.to_string()), false, None);
            }
            "token" => {
                needs_value("token")?;
                let token = Target::Token(SecretString::from(value.to_string()));
                self.revoked(&token, false, None);
            }
            "token_accessor" => {
                needs_value("token accessor")?;
                self.revoked(&Target::Accessor(value.to_string()), false, None);
            }
            "all" => {
                self.leases.lock().clear();
                self.lock_entries().map.clear();
                self.leases.changed();
            }
            "" => return Err("no type provided".into()),
            other => {
                return Err(format!(
                    "invalid type provided: {other:?} (expected request_path, lease, token, \
                     token_accessor or all)"
                ));
            }
        }
        Ok(())
    }

    /// Evict every entry of `ns` whose request path starts with `prefix`, with what it holds.
    fn clear_path(&self, ns: &str, prefix: &str) {
        let mut entries = self.lock_entries();
        let mut held = Vec::new();
        entries.map.retain(|_, e| {
            let hit = e.namespace == ns && e.path.starts_with(prefix);
            if hit && let Kind::Held(id) = e.kind {
                held.push(id);
            }
            !hit
        });
        let mut table = self.leases.lock();
        let changed = !held.is_empty();
        for id in held {
            table.evict(id);
        }
        drop(table);
        if changed {
            self.leases.changed();
        }
    }

    /// `reader` is revoked: no static secret is served to it any more.
    fn forget_reader(&self, reader: Fingerprint) {
        let mut entries = self.lock_entries();
        for e in entries.map.values_mut() {
            if let Kind::Static(s) = &mut e.kind {
                s.readers.remove(&reader);
            }
        }
    }

    /// Forget the responses whose lease or token is no longer held.
    fn prune(&self) {
        let mut entries = self.lock_entries();
        let table = self.leases.lock();
        entries.map.retain(|_, e| match e.kind {
            Kind::Held(id) => table.get(id).is_some(),
            Kind::Static(_) => true,
        });
        entries.pruned = table.evictions();
    }
}
