//! What a forwarded response adds to the cache: a lease (under a managed token), a token (an orphan, or
//! under a managed token), or, opted in, a KV read. Only a 2xx JSON answer with no `wrap_info` is stored.

use std::time::Duration;

use hyper::header::CONTENT_TYPE;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::key::{Meaning, Verb};
use super::kv::Static;
use super::{Cache, Entry, Kind, ProxyResponse};
use crate::lease::proxied::{Fingerprint, HeldKind, NewHeld, Parent};

/// The parts of a response the cache reads. The token in `auth` is moved into a `SecretString` at once.
#[derive(Deserialize)]
pub(super) struct Reply {
    #[serde(default)]
    pub lease_id: String,
    #[serde(default, deserialize_with = "crate::backend::response::ttl_field")]
    pub lease_duration: u64,
    #[serde(default)]
    pub renewable: bool,
    #[serde(default)]
    pub auth: Option<ReplyAuth>,
    #[serde(default)]
    pub wrap_info: Option<serde::de::IgnoredAny>,
}

/// `auth` of a response.
#[derive(Deserialize)]
pub(super) struct ReplyAuth {
    #[serde(default, deserialize_with = "secret")]
    pub client_token: Option<SecretString>,
    #[serde(default)]
    pub accessor: String,
    #[serde(default, deserialize_with = "crate::backend::response::ttl_field")]
    pub lease_duration: u64,
    #[serde(default)]
    pub renewable: bool,
    #[serde(default)]
    pub orphan: bool,
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// `resp` parsed, when it is a 2xx JSON answer.
pub(super) fn reply(resp: &ProxyResponse) -> Option<(Reply, Value)> {
    let json = resp
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !resp.status.is_success() || !json {
        return None;
    }
    let value: Value = serde_json::from_slice(&resp.body).ok()?;
    let reply = Reply::deserialize(&value).ok()?;
    Some((reply, value))
}

impl Cache {
    /// Store what `resp` (the answer to `m`, made with `token`) adds, under `key` (and `statics`, the
    /// static key, for a KV read with `cache_static_secrets`).
    pub(super) async fn store(
        &self,
        m: &Meaning,
        key: Fingerprint,
        statics: Option<Fingerprint>,
        token: Option<&SecretString>,
        resp: &ProxyResponse,
    ) {
        let Some((reply, value)) = reply(resp) else {
            if let (Some(skey), Some(t)) = (statics, token) {
                self.refused(skey, self.leases.token_print(t), resp.status.as_u16());
            }
            return;
        };
        if reply.wrap_info.is_some() {
            return;
        }
        let dynamic = !self.cfg.disable_caching_dynamic_secrets;
        let new = if !reply.lease_id.is_empty() {
            if !dynamic || reply.lease_duration == 0 {
                return;
            }
            let Some(token) = token else { return };
            // A lease under a token nothing here manages passes through: its end cannot be known.
            let Some(parent) = self
                .leases
                .lock()
                .manager_of(self.leases.token_print(token))
            else {
                return;
            };
            NewHeld {
                kind: HeldKind::Lease {
                    lease_id: reply.lease_id.clone(),
                },
                renew_with: token.clone(),
                parent,
                path: m.path.clone(),
                ttl: Duration::from_secs(reply.lease_duration),
                renewable: reply.renewable,
            }
        } else if let Some(auth) = reply.auth {
            let Some(child) = auth.client_token else {
                return;
            };
            if !dynamic || auth.lease_duration == 0 {
                return;
            }
            let parent = if auth.orphan {
                Parent::None
            } else {
                let managed =
                    token.and_then(|t| self.leases.lock().manager_of(self.leases.token_print(t)));
                let Some(parent) = managed else { return };
                parent
            };
            NewHeld {
                kind: HeldKind::Token {
                    accessor: auth.accessor,
                    print: self.leases.token_print(&child),
                },
                renew_with: child,
                parent,
                path: m.path.clone(),
                ttl: Duration::from_secs(auth.lease_duration),
                renewable: auth.renewable,
            }
        } else {
            if let (Some(skey), Some(t)) = (statics, token)
                && m.verb == Verb::Read
            {
                self.store_static(m, skey, t, resp, &value).await;
            }
            return;
        };
        let id = self.leases.lock().hold(new);
        self.leases.changed();
        let entry = Entry {
            response: resp.clone(),
            stored: Instant::now(),
            namespace: m.namespace.clone(),
            path: m.path.clone(),
            kind: Kind::Held(id),
        };
        let mut entries = self.lock_entries();
        entries.map.insert(key, entry);
        let evictions = self.leases.lock().evictions();
        if entries.pruned != evictions {
            // Entries whose lease the engine (or a revocation) evicted since: forget their responses.
            let table = self.leases.lock();
            entries.map.retain(|_, e| match e.kind {
                Kind::Held(id) => table.get(id).is_some(),
                Kind::Static(_) => true,
            });
            entries.pruned = evictions;
        }
    }

    /// Store a KV read made with `token` (the mount is looked up the first time).
    async fn store_static(
        &self,
        m: &Meaning,
        skey: Fingerprint,
        token: &SecretString,
        resp: &ProxyResponse,
        value: &Value,
    ) {
        let Some(place) = self
            .mounts
            .place(&self.client, token, &m.namespace, &m.path)
            .await
        else {
            return;
        };
        let asked = if place.v2 {
            match m.param("version") {
                Some(v) => match v.parse::<u64>() {
                    Ok(0) => None,
                    Ok(n) => Some(n),
                    Err(_) => return,
                },
                None => None,
            }
        } else {
            None
        };
        let reader = self.leases.token_print(token);
        let now = Instant::now();
        let mut entries = self.lock_entries();
        if let Some(Entry {
            kind: Kind::Static(s),
            response,
            stored,
            ..
        }) = entries.map.get_mut(&skey)
        {
            // Read again (a reader's TTL passed, or a new reader): the newest answer is kept, and every
            // earlier reader still checks on its own TTL.
            *response = resp.clone();
            *stored = now;
            s.version = place.v2.then(|| super::kv::version_of(value)).flatten();
            s.checked = now;
            s.readers.insert(reader, now);
            return;
        }
        entries.map.insert(
            skey,
            Entry {
                response: resp.clone(),
                stored: now,
                namespace: m.namespace.clone(),
                path: m.path.clone(),
                kind: Kind::Static(Static::new(place, asked, value, reader)),
            },
        );
    }

    /// A KV read through the proxy was refused (or failed) for `reader`: it is no longer served the cached
    /// copy; a 404 means the secret (or version) is gone for everyone.
    fn refused(&self, skey: Fingerprint, reader: Fingerprint, status: u16) {
        if !(400..500).contains(&status) {
            // A server error says nothing about the token's access.
            return;
        }
        let mut entries = self.lock_entries();
        if status == 404 {
            entries.map.remove(&skey);
        } else if let Some(Entry {
            kind: Kind::Static(s),
            ..
        }) = entries.map.get_mut(&skey)
        {
            s.readers.remove(&reader);
        }
    }

    /// A write (or delete) of `m.path` went through: the static secrets it changes are evicted.
    pub(super) fn written(&self, m: &Meaning) {
        let mut entries = self.lock_entries();
        entries.map.retain(|_, e| match &e.kind {
            Kind::Static(s) => !(e.namespace == m.namespace && s.place.touched_by(&m.path)),
            Kind::Held(_) => true,
        });
    }
}
