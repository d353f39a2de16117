//! Static secrets (opt-in, `cache_static_secrets`): a KV read is stored once per path and parameters and
//! served only to the tokens that read it through the proxy themselves, each for `static_secret_ttl` after
//! it last proved it may. Then the version is checked with that token (KV v2: a `metadata/` read, cheap and
//! without the secret; KV v1, or a token without access to metadata: the read itself is passed through), so
//! a secret changed on the server, or a token revoked there, is never served from the cache past one TTL.
//! A write, delete or destroy of the secret through the proxy evicts it at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::time::Instant;

use crate::backend::{Bearer, Client, MountInfo};
use crate::lease::proxied::Fingerprint;

/// The KV v2 operations below a mount that name a secret (`<mount><op>/<secret>`).
const V2_OPS: &[&str] = &[
    "data", "metadata", "delete", "undelete", "destroy", "subkeys",
];

/// Where a KV secret is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KvPlace {
    /// The mount, with its trailing slash (`secret/`).
    pub mount: String,
    /// Whether the mount is KV version 2.
    pub v2: bool,
    /// The secret's path inside the mount (`app/config`).
    pub secret: String,
}

impl KvPlace {
    /// Where the read of `path` (normalized) in `mount` is, if it reads one secret: `<mount>data/<secret>`
    /// for KV v2, `<mount><secret>` for KV v1.
    pub(super) fn of(mount: &MountInfo, path: &str) -> Option<Self> {
        if mount.kind != "kv" && mount.kind != "generic" {
            return None;
        }
        let rest = path.strip_prefix(&mount.path)?;
        let v2 = mount.kv_version == Some(2);
        let secret = if v2 {
            rest.strip_prefix("data/")?
        } else {
            rest
        };
        (!secret.is_empty() && !secret.ends_with('/')).then(|| Self {
            mount: mount.path.clone(),
            v2,
            secret: secret.to_string(),
        })
    }

    /// Whether a write (or delete) of `path` changes this secret.
    pub(super) fn touched_by(&self, path: &str) -> bool {
        let Some(rest) = path.trim_end_matches('/').strip_prefix(&self.mount) else {
            return false;
        };
        if !self.v2 {
            return rest == self.secret;
        }
        rest.split_once('/')
            .is_some_and(|(op, secret)| V2_OPS.contains(&op) && secret == self.secret)
    }

    fn metadata_path(&self) -> String {
        format!("{}metadata/{}", self.mount, self.secret)
    }
}

/// A stored static secret's bookkeeping.
#[derive(Debug)]
pub(super) struct Static {
    /// Where it is.
    pub place: KvPlace,
    /// The version the stored response holds (KV v2).
    pub version: Option<u64>,
    /// The `version` the request asked for (KV v2), if any.
    pub asked: Option<u64>,
    /// The tokens that read it through the proxy, with when each last proved it may.
    pub readers: HashMap<Fingerprint, Instant>,
    /// When the stored response was last known to be the current one.
    pub checked: Instant,
}

/// Whether a stored static secret may be served to a token.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Freshness {
    /// Yes, as it is.
    Fresh,
    /// The token read it before, but the TTL has passed: check first.
    Stale,
    /// The token never read it (or lost access since): pass the request through.
    Stranger,
}

impl Static {
    /// A new entry for `place`, read by `reader` now; `body` is the stored response's JSON.
    pub(super) fn new(
        place: KvPlace,
        asked: Option<u64>,
        body: &Value,
        reader: Fingerprint,
    ) -> Self {
        let now = Instant::now();
        Self {
            version: place.v2.then(|| version_of(body)).flatten(),
            place,
            asked,
            readers: HashMap::from([(reader, now)]),
            checked: now,
        }
    }

    /// Whether `reader` may be served now, `ttl` being `static_secret_ttl`.
    pub(super) fn freshness(&self, reader: Fingerprint, now: Instant, ttl: Duration) -> Freshness {
        match self.readers.get(&reader) {
            None => Freshness::Stranger,
            Some(at) if now < *at + ttl && now < self.checked + ttl => Freshness::Fresh,
            Some(_) => Freshness::Stale,
        }
    }

    /// What a check of the stored version needs, copied out of the cache's lock.
    pub(super) fn probe(&self) -> Probe {
        Probe {
            place: self.place.clone(),
            version: self.version,
            asked: self.asked,
        }
    }
}

/// A stored static secret's version, to check against the server.
#[derive(Debug)]
pub(super) struct Probe {
    place: KvPlace,
    version: Option<u64>,
    asked: Option<u64>,
}

impl Probe {
    /// Check the stored version against the secret's metadata, read with `token` (the reader's own):
    /// `Some(true)` when it is still the version to serve (and the token may read the metadata),
    /// `Some(false)` when it changed or was deleted, `None` when this cannot tell (KV v1, no access to the
    /// metadata, the server unreachable): then the request itself is passed through.
    pub(super) async fn still_current(
        &self,
        client: &Client,
        token: &SecretString,
        namespace: Option<&str>,
    ) -> Option<bool> {
        if !self.place.v2 {
            return None;
        }
        let meta = match client
            .kv_metadata_in(
                Bearer::new(token, ""),
                &self.place.metadata_path(),
                namespace,
            )
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => return Some(false),
            Err(_) => return None,
        };
        let data = &meta.data.0;
        let current = data.get("current_version").and_then(Value::as_u64);
        let Some(want) = self.asked.or(current) else {
            return Some(false);
        };
        let live = data
            .get("versions")
            .and_then(|v| v.get(want.to_string()))
            .is_some_and(|v| {
                v.get("deletion_time")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                    && !v.get("destroyed").and_then(Value::as_bool).unwrap_or(false)
            });
        Some(live && self.version == Some(want))
    }
}

/// `data.metadata.version` of a KV v2 read.
pub(super) fn version_of(body: &Value) -> Option<u64> {
    body.pointer("/data/metadata/version")?.as_u64()
}

/// The mounts seen so far, per namespace, so that each is looked up once.
#[derive(Debug, Default)]
pub(super) struct Mounts {
    known: Mutex<HashMap<String, Vec<MountInfo>>>,
}

impl Mounts {
    /// The KV secret `path` reads in `namespace`, looking its mount up (with the caller's `token`) the
    /// first time; `None` when it is not a KV read or the mount cannot be known.
    pub(super) async fn place(
        &self,
        client: &Client,
        token: &SecretString,
        namespace: &str,
        path: &str,
    ) -> Option<KvPlace> {
        let known = self.known(namespace, path);
        let mount = match known {
            Some(m) => m,
            None => {
                let ns = (!namespace.is_empty()).then_some(namespace);
                let m = client
                    .mount_info_in(Bearer::new(token, ""), path, ns)
                    .await
                    .ok()
                    .flatten()?;
                if m.path.is_empty() || !path.starts_with(&m.path) {
                    return None;
                }
                let mut all = self.known.lock().unwrap_or_else(|e| e.into_inner());
                all.entry(namespace.to_string())
                    .or_default()
                    .push(m.clone());
                m
            }
        };
        KvPlace::of(&mount, path)
    }

    /// The longest known mount of `namespace` that `path` is under.
    fn known(&self, namespace: &str, path: &str) -> Option<MountInfo> {
        let all = self.known.lock().unwrap_or_else(|e| e.into_inner());
        all.get(namespace)?
            .iter()
            .filter(|m| path.starts_with(&m.path))
            .max_by_key(|m| m.path.len())
            .cloned()
    }
}

#[cfg(test)]
impl Mounts {
    /// Know `mount` in `namespace` without asking the server.
    pub(super) fn learn(&self, namespace: &str, mount: MountInfo) {
        let mut all = self.known.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(namespace.to_string()).or_default().push(mount);
    }
}
