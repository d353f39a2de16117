//! Anchors: the file sink's chain head (`agent_id`, `seq`, `hash`, `time`) written as a new version of
//! a KV v2 secret on the backend (`audit { anchor { path interval } }`). The host can rewrite its own
//! file and even recompute the chain (with the HMAC key, if it has it), but not the secret's version
//! history on the server: `sidekey audit verify --anchors` reads every version back and names the
//! first interval between two anchors in which the trail no longer matches.
//!
//! - This file: the anchor document, the KV v2 paths of the configured path, writing one anchor and
//!   reading them all back.
//! - `check`: comparing a trail (its rotated files too) with the anchors read back.

mod check;

use crate::backend::observe::Bearer;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

pub use check::{Checked, check};

use super::file::ChainHead;
use crate::backend::client::KvWritten;
use crate::backend::{BackendError, Client};

/// Versions read at once by [`read_all`] (the client caps requests in flight as well).
const READS_AT_ONCE: usize = 8;

/// What one anchor (one KV v2 version) holds: which event of which agent run was the chain head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The sink whose chain it is (`file`).
    pub sink: String,
    /// `agent.id` of the run that wrote the event.
    pub agent_id: String,
    /// `agent.host`: give each host its own anchor path.
    pub host: String,
    /// The event's `seq`.
    pub seq: u64,
    /// The event's `hash`: the chain head.
    pub hash: String,
    /// The event's `time`.
    pub time: String,
}

impl From<&ChainHead> for Anchor {
    fn from(h: &ChainHead) -> Self {
        Self {
            sink: h.sink.to_string(),
            agent_id: h.agent_id.clone(),
            host: h.host.clone(),
            seq: h.seq,
            hash: h.hash.clone(),
            time: h.time.clone(),
        }
    }
}

/// The API paths of the anchor secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvPaths {
    /// `<mount>/data/<name>`: written and read.
    pub data: String,
    /// `<mount>/metadata/<name>`: its versions.
    pub metadata: String,
}

/// Anchors could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The backend refused or could not be reached.
    #[error("audit anchor {path}: {source}")]
    Backend {
        /// The path as configured.
        path: String,
        /// What the backend said.
        source: BackendError,
    },
    /// The mount is not KV version 2, which keeps the version history anchors rely on.
    #[error(
        "audit anchor {path}: the mount {mount} is not KV version 2 (anchors need its version history)"
    )]
    NotKv2 {
        /// The path as configured.
        path: String,
        /// The mount serving it.
        mount: String,
    },
}

impl AnchorError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Backend { source, .. } => source.is_transient(),
            Self::NotKv2 { .. } => false,
        }
    }
}

/// One version of the anchor secret, as the server keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorVersion {
    /// The KV version.
    pub version: u64,
    /// When the server wrote it (its clock, not the host's).
    pub created_time: String,
    /// What it holds, or why it cannot be read.
    pub state: VersionState,
}

/// What a version of the anchor secret holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionState {
    /// An anchor.
    Anchor(Anchor),
    /// Deleted on the server at this time: needs a right the agent's policy must not have.
    Deleted(String),
    /// Destroyed on the server.
    Destroyed,
    /// Not an anchor (written by something else).
    Foreign,
}

/// Every version of the anchor secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnchorHistory {
    /// The secret's API paths.
    pub paths: Option<KvPaths>,
    /// `oldest_version`: the versions before it were removed by `max_versions`.
    pub oldest_version: u64,
    /// The versions kept, oldest first.
    pub versions: Vec<AnchorVersion>,
}

/// The KV v2 API paths of `path` as a Vault user writes it (`secret/sidekey/anchors/web-1`, or the API
/// path `secret/data/...`), from the mount that serves it. When the server does not say (no access to
/// `sys/internal/ui/mounts`), the first segment is taken as the mount.
///
/// # Errors
/// [`AnchorError`]: the server could not be asked, or the mount is not KV v2.
pub async fn kv_paths(
    client: &Client,
    bearer: Bearer<'_>,
    path: &str,
) -> Result<KvPaths, AnchorError> {
    let path = path.trim_matches('/');
    let mount = client
        .mount_info(bearer, path)
        .await
        .map_err(|source| AnchorError::Backend {
            path: path.to_string(),
            source,
        })?;
    let mount = match mount {
        Some(m) if m.kv_version == Some(2) => m.path,
        Some(m) => {
            return Err(AnchorError::NotKv2 {
                path: path.to_string(),
                mount: m.path,
            });
        }
        None => path.split('/').next().unwrap_or_default().to_string(),
    };
    Ok(kv2_paths(path, &mount))
}

/// `path` below `mount` as its `data/` and `metadata/` API paths.
fn kv2_paths(path: &str, mount: &str) -> KvPaths {
    let mount = mount.trim_end_matches('/');
    let rest = path
        .strip_prefix(mount)
        .unwrap_or(path)
        .trim_start_matches('/');
    let rest = rest.strip_prefix("data/").unwrap_or(rest);
    KvPaths {
        data: format!("{mount}/data/{rest}"),
        metadata: format!("{mount}/metadata/{rest}"),
    }
}

/// Write `head` as a new version of `paths.data`.
///
/// # Errors
/// [`BackendError`].
pub async fn write(
    client: &Client,
    bearer: Bearer<'_>,
    paths: &KvPaths,
    head: &ChainHead,
) -> Result<KvWritten, BackendError> {
    let doc = serde_json::to_value(Anchor::from(head)).unwrap_or_default();
    client.kv_put(bearer, &paths.data, &doc).await
}

/// Read every version of the anchor secret at `path` (see [`kv_paths`]): its metadata, then each
/// version still there. No secret there yet is an empty history.
///
/// # Errors
/// [`AnchorError`].
pub async fn read_all(
    client: &Client,
    bearer: Bearer<'_>,
    path: &str,
) -> Result<AnchorHistory, AnchorError> {
    let paths = kv_paths(client, bearer, path).await?;
    let backend = |source| AnchorError::Backend {
        path: path.to_string(),
        source,
    };
    let Some(meta) = client
        .kv_versions(bearer, &paths.metadata)
        .await
        .map_err(backend)?
    else {
        return Ok(AnchorHistory {
            paths: Some(paths),
            ..AnchorHistory::default()
        });
    };
    // A year of anchors is a hundred thousand versions: read several at a time, in order.
    let data = paths.data.as_str();
    let reads = futures_util::stream::iter(meta.versions)
        .map(|v| async move {
            let state = if v.destroyed {
                VersionState::Destroyed
            } else if !v.deletion_time.is_empty() {
                VersionState::Deleted(v.deletion_time.clone())
            } else {
                match client.kv_read_version(bearer, data, v.version).await? {
                    Some(d) => serde_json::from_value(d)
                        .map_or(VersionState::Foreign, VersionState::Anchor),
                    None => VersionState::Deleted(String::new()),
                }
            };
            Ok::<_, BackendError>(AnchorVersion {
                version: v.version,
                created_time: v.created_time,
                state,
            })
        })
        .buffered(READS_AT_ONCE);
    let versions: Vec<AnchorVersion> = reads.try_collect().await.map_err(backend)?;
    Ok(AnchorHistory {
        paths: Some(paths),
        oldest_version: meta.oldest_version,
        versions,
    })
}

#[cfg(test)]
mod tests;
