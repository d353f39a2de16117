//! KV v2 version history, for audit anchors: a write that says which version it created (and the
//! server's `request_id`), the versions a secret has, and one version read back. Paths are API paths
//! (`<mount>/data/...`, `<mount>/metadata/...`).

use reqwest::Method;
use serde_json::Value;

use super::super::error::BackendError;
use super::super::observe::Bearer;
use super::super::response::decode;
use super::request::Req;
use super::{Client, Part};

/// What a KV v2 write created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvWritten {
    /// The new version.
    pub version: u64,
    /// The server's `request_id` for the write.
    pub request_id: Option<String>,
}

/// The versions a KV v2 secret has, as its metadata tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvHistory {
    /// `current_version`.
    pub current_version: u64,
    /// `oldest_version`: versions before it were removed (`max_versions`).
    pub oldest_version: u64,
    /// `max_versions` of the secret (0: the mount's).
    pub max_versions: u64,
    /// Every version kept, oldest first.
    pub versions: Vec<KvVersion>,
}

/// One version of a KV v2 secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvVersion {
    /// Its number.
    pub version: u64,
    /// When the server wrote it (RFC 3339, the server's clock).
    pub created_time: String,
    /// When it was deleted (empty: it was not).
    pub deletion_time: String,
    /// Whether it was destroyed.
    pub destroyed: bool,
}

impl Client {
    /// `POST /v1/<data_path>` with `{"data": data}`: a new version.
    ///
    /// # Errors
    /// [`BackendError`]; an answer without `data.version` is a decode error.
    pub async fn kv_put(
        &self,
        bearer: Bearer<'_>,
        data_path: &str,
        data: &Value,
    ) -> Result<KvWritten, BackendError> {
        let body = serde_json::json!({ "data": data });
        let raw = self
            .call(
                Req::new(Part::Templating, &Method::POST, data_path)
                    .bearer(bearer)
                    .body(&body),
            )
            .await?
            .ok_or_else(|| decode(&Method::POST, data_path, "empty body"))?;
        let version = raw
            .data
            .as_ref()
            .and_then(|d| d.get("version"))
            .and_then(Value::as_u64)
            .ok_or_else(|| decode(&Method::POST, data_path, "no data.version"))?;
        Ok(KvWritten {
            version,
            request_id: Some(raw.request_id).filter(|id| !id.is_empty()),
        })
    }

    /// `GET /v1/<metadata_path>`: the versions kept. `Ok(None)` when there is no such secret.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn kv_versions(
        &self,
        bearer: Bearer<'_>,
        metadata_path: &str,
    ) -> Result<Option<KvHistory>, BackendError> {
        let raw = self
            .call(Req::new(Part::Templating, &Method::GET, metadata_path).bearer(bearer))
            .await?;
        let Some(data) = raw.and_then(|r| r.data) else {
            return Ok(None);
        };
        let num = |k: &str| data.get(k).and_then(Value::as_u64).unwrap_or(0);
        let mut versions: Vec<KvVersion> = data
            .get("versions")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(n, v)| {
                let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                Some(KvVersion {
                    version: n.parse().ok()?,
                    created_time: text("created_time"),
                    deletion_time: text("deletion_time"),
                    destroyed: v.get("destroyed").and_then(Value::as_bool).unwrap_or(false),
                })
            })
            .collect();
        versions.sort_by_key(|v| v.version);
        Ok(Some(KvHistory {
            current_version: num("current_version"),
            oldest_version: num("oldest_version"),
            max_versions: num("max_versions"),
            versions,
        }))
    }

    /// `GET /v1/<data_path>?version=N`: that version's `data`. `Ok(None)` when it was deleted or
    /// destroyed (or never was).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn kv_read_version(
        &self,
        bearer: Bearer<'_>,
        data_path: &str,
        version: u64,
    ) -> Result<Option<Value>, BackendError> {
        let path = format!("{data_path}?version={version}");
        let raw = self
            .call(Req::new(Part::Templating, &Method::GET, &path).bearer(bearer))
            .await?;
        Ok(raw
            .and_then(|r| r.data)
            .and_then(|mut d| d.get_mut("data").map(Value::take))
            .filter(|d| !d.is_null()))
    }
}
