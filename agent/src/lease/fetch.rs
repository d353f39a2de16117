//! One retrieval from the backend for a [`SecretRequest`]: KV v2 path rewriting (as consul-template does,
//! from `sys/internal/ui/mounts`), the call itself, and its audit event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde_json::Value;

use crate::audit::{Auditor, EventKind, Identity, Record, SecretMeta};
use crate::backend::secret::{Operation, Secret, SecretRequest};
use crate::backend::{BackendError, Client, MountInfo};

/// A retrieval failure, naming the request (path, operation), never a value.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The backend refused or failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Nothing is stored at the path.
    #[error("no secret at {0}")]
    NotFound(String),
}

impl FetchError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Backend(e) => e.is_transient(),
            Self::NotFound(_) => false,
        }
    }
}

/// A fetched secret with where it came from.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The secret as the renderers see it.
    pub secret: Arc<Secret>,
    /// The API path actually called (after KV v2 rewriting).
    pub api_path: String,
    /// The mount, when known.
    pub mount: Option<MountInfo>,
}

/// Resolves paths and fetches secrets; remembers mounts so each is looked up once.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    auditor: Auditor,
    mounts: Arc<Mutex<HashMap<String, MountInfo>>>,
}

impl Fetcher {
    /// A fetcher over `client` that reports to `auditor`.
    pub fn new(client: Client, auditor: Auditor) -> Self {
        Self {
            client,
            auditor,
            mounts: Arc::default(),
        }
    }

    /// The backend client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetch `req` with `token`, recording a `secret.read`/`secret.write` event either way.
    ///
    /// # Errors
    /// [`FetchError`].
    pub async fn fetch(
        &self,
        req: &SecretRequest,
        token: &SecretString,
        identity: &Identity,
    ) -> Result<Fetched, FetchError> {
        self.auditor
            .admit(&req.path)
            .map_err(|e| FetchError::Backend(e.into_backend()))?;
        let mount = match req.op {
            Operation::Write => None,
            Operation::Read | Operation::List => self.mount_for(&req.path, token).await?,
        };
        let api_path = api_path(req, mount.as_ref());
        let result = match req.op {
            Operation::Read => self.client.read(token, &api_path).await,
            Operation::List => self.client.list(token, &api_path).await,
            Operation::Write => {
                let body: serde_json::Map<String, Value> = req
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                self.client
                    .write(token, &api_path, &Value::Object(body))
                    .await
            }
        };
        let result = match result {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(FetchError::NotFound(api_path.clone())),
            Err(e) => Err(FetchError::Backend(e)),
        };
        let kind = if req.op == Operation::Write {
            EventKind::SecretWrite
        } else {
            EventKind::SecretRead
        };
        let mut meta = SecretMeta {
            path: api_path.clone(),
            mount_type: mount.as_ref().map(|m| m.kind.clone()),
            ..SecretMeta::default()
        };
        if let Ok(s) = &result {
            meta.lease_id = s.lease_id.clone();
            meta.lease_duration_s = s.lease_duration;
            meta.renewable = s.renewable;
            meta.version = kv_version(s);
        }
        self.auditor.record(
            Record::result(kind, result.as_ref().err())
                .identity(Some(identity.clone()))
                .secret(meta),
        );
        let secret = result?;
        Ok(Fetched {
            secret: Arc::new(secret),
            api_path,
            mount,
        })
    }

    /// The mount serving `path`, from the cache or `sys/internal/ui/mounts`.
    async fn mount_for(
        &self,
        path: &str,
        token: &SecretString,
    ) -> Result<Option<MountInfo>, BackendError> {
        if let Ok(cache) = self.mounts.lock()
            && let Some(m) = cache
                .values()
                .filter(|m| path_under(path, &m.path))
                .max_by_key(|m| m.path.len())
        {
            return Ok(Some(m.clone()));
        }
        let info = self.client.mount_info(token, path).await?;
        if let (Some(m), Ok(mut cache)) = (&info, self.mounts.lock())
            && !m.path.is_empty()
        {
            cache.insert(m.path.clone(), m.clone());
        }
        Ok(info)
    }
}

fn path_under(path: &str, mount: &str) -> bool {
    let mount = mount.trim_end_matches('/');
    path == mount
        || path
            .strip_prefix(mount)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The API path for `req`: for a KV v2 mount, `<mount>/data/<rest>` for reads and `<mount>/metadata/<rest>`
/// for lists, unless the path already says `data/` or `metadata/` (consul-template's rule).
pub fn api_path(req: &SecretRequest, mount: Option<&MountInfo>) -> String {
    let Some(m) = mount.filter(|m| m.kv_version == Some(2)) else {
        return req.path.clone();
    };
    let mount_path = m.path.trim_end_matches('/');
    let rest = req
        .path
        .strip_prefix(mount_path)
        .unwrap_or(&req.path)
        .trim_start_matches('/');
    if rest.starts_with("data/")
        || rest.starts_with("metadata/")
        || rest == "data"
        || rest == "metadata"
    {
        return req.path.clone();
    }
    let prefix = if req.op == Operation::List {
        "metadata"
    } else {
        "data"
    };
    if rest.is_empty() {
        format!("{mount_path}/{prefix}")
    } else {
        format!("{mount_path}/{prefix}/{rest}")
    }
}

/// The KV v2 version from a read's `data.metadata.version`.
pub fn kv_version(s: &Secret) -> Option<u64> {
    s.data
        .0
        .get("metadata")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv2() -> MountInfo {
        MountInfo {
            path: "secret/".into(),
            kind: "kv".into(),
            kv_version: Some(2),
        }
    }

    #[test]
    fn kv2_paths_are_rewritten_like_consul_template() {
        assert_eq!(
            api_path(&SecretRequest::read("secret/app/db"), Some(&kv2())),
            "secret/data/app/db"
        );
        assert_eq!(
            api_path(&SecretRequest::read("secret/data/app/db"), Some(&kv2())),
            "secret/data/app/db"
        );
        assert_eq!(
            api_path(&SecretRequest::list("secret/app"), Some(&kv2())),
            "secret/metadata/app"
        );
        assert_eq!(api_path(&SecretRequest::read("kv/app"), None), "kv/app");
        let kv1 = MountInfo {
            kv_version: Some(1),
            ..kv2()
        };
        assert_eq!(
            api_path(&SecretRequest::read("secret/app"), Some(&kv1)),
            "secret/app"
        );
    }

    #[test]
    fn mount_prefix_matches_whole_segments() {
        assert!(path_under("secret/app", "secret/"));
        assert!(!path_under("secretive/app", "secret/"));
    }
}
