//! The cache's stored responses in the state document (`lease::proxied::saved` writes the document's
//! cache part and calls [`Responses`] for them): each leased response with its key, the held entry that
//! keeps it alive, and when it was stored. Static secrets (KV) are not kept: a restart reads them again,
//! which issues nothing and needs no login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;
use zeroize::Zeroize;

use super::{Entries, Entry, Kind, ProxyResponse};
use crate::lease::proxied::{Fingerprint, HeldId, Responses, unix_of, unix_secs};

/// The stored responses, shared with the lease engine's table (which holds them weakly) so that the
/// state document can keep them.
#[derive(Default)]
pub(super) struct Stored(pub(super) Mutex<Entries>);

/// One kept response. Not `Debug`: its body is a secret.
#[derive(Serialize, Deserialize)]
struct SavedResponse {
    /// The cache key (hex fingerprint).
    key: String,
    /// The held entry that keeps it alive.
    held: HeldId,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Unix seconds.
    stored: u64,
    namespace: String,
    path: String,
}

impl Drop for SavedResponse {
    fn drop(&mut self) {
        self.body.zeroize();
    }
}

impl Stored {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Responses for Stored {
    fn export(&self, now: Instant, wall: SystemTime) -> Vec<Value> {
        let entries = self.lock();
        entries
            .map
            .iter()
            .filter_map(|(key, e)| {
                let Kind::Held(held) = e.kind else {
                    return None;
                };
                let saved = SavedResponse {
                    key: key.to_hex(),
                    held,
                    status: e.response.status.as_u16(),
                    headers: e
                        .response
                        .headers
                        .iter()
                        .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                        .collect(),
                    // Only JSON answers are stored: UTF-8.
                    body: String::from_utf8(e.response.body.to_vec()).ok()?,
                    stored: unix_of(wall, now, e.stored),
                    namespace: e.namespace.clone(),
                    path: e.path.clone(),
                };
                serde_json::to_value(&saved).ok()
            })
            .collect()
    }

    fn import(
        &self,
        saved: Vec<Value>,
        ids: &HashMap<HeldId, HeldId>,
        now: Instant,
        wall: SystemTime,
    ) {
        let mut map = HashMap::new();
        for v in saved {
            let Ok(mut s) = serde_json::from_value::<SavedResponse>(v) else {
                continue;
            };
            let (Some(key), Some(id), Ok(status)) = (
                Fingerprint::from_hex(&s.key),
                ids.get(&s.held),
                StatusCode::from_u16(s.status),
            ) else {
                continue;
            };
            let mut headers = HeaderMap::new();
            for (n, v) in &s.headers {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(n.as_str()), HeaderValue::try_from(v))
                {
                    headers.append(n, v);
                }
            }
            let age = Duration::from_secs(unix_secs(wall).saturating_sub(s.stored));
            map.insert(
                key,
                Entry {
                    response: ProxyResponse {
                        status,
                        headers,
                        body: Bytes::from(std::mem::take(&mut s.body)),
                    },
                    stored: now.checked_sub(age).unwrap_or(now),
                    namespace: std::mem::take(&mut s.namespace),
                    path: std::mem::take(&mut s.path),
                    kind: Kind::Held(*id),
                },
            );
        }
        let mut entries = self.lock();
        entries.map = map;
    }
}
