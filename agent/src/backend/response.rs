//! What the OpenBao/Vault API answers, as sidekey reads it: the `auth` block of a login, `lookup-self`,
//! lease renewals, mounts, and the raw response body; and how a body becomes a [`Secret`] or an error text.

use std::collections::BTreeMap;

use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::error::BackendError;
use super::secret::{Secret, SecretData};

/// Longest server error text kept in an error message; bodies are never echoed whole.
const MAX_ERROR_TEXT: usize = 300;

/// The `auth` block of a login or token renewal response.
#[derive(Debug)]
pub struct AuthInfo {
    /// The token (`client_token`).
    pub client_token: SecretString,
    /// The token's accessor (safe to log and audit).
    pub accessor: String,
    /// Metadata the auth method attached (e.g. `role`, `service_account_name`).
    pub metadata: BTreeMap<String, String>,
    /// The token's TTL in seconds (`lease_duration`).
    pub lease_duration: u64,
    /// Whether the token can be renewed.
    pub renewable: bool,
}

/// What `auth/token/lookup-self` tells about a token.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// The token's accessor.
    pub accessor: String,
    /// Seconds the token has left.
    pub ttl: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// `display_name` (e.g. `jwt-system:serviceaccount:default:app`).
    pub display_name: String,
}

/// The result of `sys/leases/renew`.
#[derive(Debug, Clone)]
pub struct LeaseRenewal {
    /// The new lease duration in seconds (may be shorter than asked: still a success).
    pub lease_duration: u64,
    /// Whether it can be renewed again.
    pub renewable: bool,
}

/// A secrets engine mount as `sys/internal/ui/mounts/<path>` describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountInfo {
    /// The mount's path with a trailing slash, e.g. `secret/`.
    pub path: String,
    /// The engine type, e.g. `kv`, `database`, `pki`.
    pub kind: String,
    /// The KV version (`1` or `2`), when the engine is `kv`.
    pub kv_version: Option<u8>,
}

#[derive(Deserialize)]
pub(super) struct RawAuth {
    client_token: String,
    #[serde(default)]
    accessor: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
pub(super) struct RawResponse {
    #[serde(default)]
    pub(super) lease_id: String,
    #[serde(default)]
    pub(super) lease_duration: u64,
    #[serde(default)]
    pub(super) renewable: bool,
    #[serde(default)]
    pub(super) data: Option<Value>,
    #[serde(default)]
    pub(super) warnings: Option<Vec<String>>,
    #[serde(default)]
    pub(super) auth: Option<RawAuth>,
}

pub(super) fn into_secret(r: RawResponse) -> Secret {
    Secret {
        data: SecretData(r.data.unwrap_or(Value::Null)),
        lease_id: r.lease_id,
        lease_duration: r.lease_duration,
        renewable: r.renewable,
        warnings: r.warnings.unwrap_or_default(),
    }
}

pub(super) fn take_auth(raw: Option<RawResponse>, path: &str) -> Result<AuthInfo, BackendError> {
    let a = raw
        .and_then(|r| r.auth)
        .ok_or_else(|| decode(&Method::PUT, path, "no auth block"))?;
    Ok(AuthInfo {
        client_token: SecretString::from(a.client_token),
        accessor: a.accessor,
        metadata: a.metadata.unwrap_or_default(),
        lease_duration: a.lease_duration,
        renewable: a.renewable,
    })
}

pub(super) fn decode(method: &Method, path: &str, reason: &str) -> BackendError {
    BackendError::Decode {
        method: method.to_string(),
        path: path.into(),
        reason: reason.into(),
    }
}

pub(super) fn str_field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The server's `errors` list joined, truncated; never the raw body (it could echo input).
pub(super) fn error_text(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<String>,
    }
    // OpenBao wraps messages as "1 error occurred:\n\t* permission denied\n\n": keep one line.
    let joined = serde_json::from_slice::<Errors>(body)
        .map(|e| e.errors.join("; "))
        .unwrap_or_default();
    let mut s = joined.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
