//! What the OpenBao/Vault API answers, as sidekey reads it: the `auth` block of a login, the `wrap_info`
//! of a wrapped response, `lookup-self`, lease renewals, mounts, and the raw response body; and how a
//! body becomes a [`Secret`] or an error text.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::BackendError;
use super::secret::{Secret, SecretData};

/// Longest server error text kept in an error message; bodies are never echoed whole.
const MAX_ERROR_TEXT: usize = 300;

/// The longest TTL sidekey takes from a backend, in seconds (100 years). A server never grants more (its
/// `max_lease_ttl` caps it); a hostile one sending `u64::MAX` would otherwise overflow every clock sum.
pub const MAX_TTL_SECS: u64 = 100 * 365 * 86_400;

/// `secs` as a TTL sidekey can add to a clock: at most [`MAX_TTL_SECS`].
pub fn bounded_ttl(secs: u64) -> u64 {
    secs.min(MAX_TTL_SECS)
}

/// Serde reader of a TTL field (`lease_duration`, `ttl`): a number, capped by [`bounded_ttl`].
///
/// # Errors
/// What the deserializer reports for a value that is not a whole number.
pub fn ttl_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    u64::deserialize(d).map(bounded_ttl)
}

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
    /// Whether the token has no parent (a login, or `auth/token/create` made an orphan).
    pub orphan: bool,
    /// Its policies (`policies`: the token's and its entity's).
    pub policies: Vec<String>,
    /// The server's `request_id` for the answer (its audit entry's key).
    pub request_id: String,
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
    /// The server's `request_id` for the answer (its audit entry's key).
    pub request_id: String,
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

/// A response-wrapping token as the server returns it (`wrap_info`): what a consumer unwraps with
/// `sys/wrapping/unwrap`. The token is secret; the rest is not.
#[derive(Debug)]
pub struct WrapInfo {
    /// The wrapping token (single use).
    pub token: SecretString,
    /// The wrapping token's accessor.
    pub accessor: String,
    /// Its TTL in seconds.
    pub ttl: u64,
    /// When it was created, as the server wrote it (RFC 3339).
    pub creation_time: String,
    /// The request path whose response it wraps (`sys/wrapping/wrap`, `auth/jwt/login`, ...).
    pub creation_path: String,
    /// The accessor of the token inside, when the wrapped response created one.
    pub wrapped_accessor: String,
    /// The server's `request_id` for the answer (its audit entry's key).
    pub request_id: String,
}

impl WrapInfo {
    /// The sink file's contents, as Vault Agent writes them: Go's `json.Encoder` output of the API
    /// client's `SecretWrapInfo` (these keys in this order, then a newline).
    pub fn sink_json(&self) -> Zeroizing<String> {
        #[derive(Serialize)]
        struct Go<'a> {
            token: &'a str,
            accessor: &'a str,
            ttl: u64,
            creation_time: &'a str,
            creation_path: &'a str,
            wrapped_accessor: &'a str,
        }
        let go = Go {
            token: self.token.expose_secret(),
            accessor: &self.accessor,
            ttl: self.ttl,
            creation_time: &self.creation_time,
            creation_path: &self.creation_path,
            wrapped_accessor: &self.wrapped_accessor,
        };
        // Serializing strings and a number into a String cannot fail.
        let mut text = Zeroizing::new(serde_json::to_string(&go).unwrap_or_default());
        text.push('\n');
        text
    }
}

#[derive(Deserialize)]
pub(super) struct RawWrapInfo {
    token: String,
    #[serde(default)]
    accessor: String,
    #[serde(default, deserialize_with = "ttl_field")]
    ttl: u64,
    #[serde(default)]
    creation_time: String,
    #[serde(default)]
    creation_path: String,
    #[serde(default)]
    wrapped_accessor: String,
}

#[derive(Deserialize)]
pub(super) struct RawAuth {
    client_token: String,
    #[serde(default)]
    accessor: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "ttl_field")]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
    #[serde(default)]
    orphan: bool,
    #[serde(default)]
    policies: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub(super) struct RawResponse {
    #[serde(default)]
    pub(super) request_id: String,
    #[serde(default)]
    pub(super) lease_id: String,
    #[serde(default, deserialize_with = "ttl_field")]
    pub(super) lease_duration: u64,
    #[serde(default)]
    pub(super) renewable: bool,
    #[serde(default)]
    pub(super) data: Option<Value>,
    #[serde(default)]
    pub(super) warnings: Option<Vec<String>>,
    #[serde(default)]
    pub(super) auth: Option<RawAuth>,
    #[serde(default)]
    pub(super) wrap_info: Option<RawWrapInfo>,
}

/// A response as sidekey reads it from its status, its media type (`kind`, for messages) and body:
/// `Ok(None)` for 204, for an empty body and for a 404 without errors on a GET (no secret at that path);
/// the server's `errors` for any other failure status; a body that is not the expected JSON is a
/// [`BackendError::Decode`]. A body is described, never shown.
pub(super) fn read_body(
    method: &Method,
    path: &str,
    status: StatusCode,
    kind: &str,
    bytes: &[u8],
) -> Result<Option<RawResponse>, BackendError> {
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if !status.is_success() {
        let message = error_text(bytes);
        if status == StatusCode::NOT_FOUND && message.is_empty() && method == Method::GET {
            return Ok(None);
        }
        // An HTML error page from a load balancer, or an empty body: say so, never show it.
        let message = if message.is_empty() {
            format!(
                "no Vault error list in the body ({kind}, {} bytes)",
                bytes.len()
            )
        } else {
            message
        };
        return Err(BackendError::Status {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            message,
        });
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| BackendError::Decode {
            method: method.to_string(),
            path: path.to_string(),
            reason: format!(
                "not the expected JSON ({kind}, {} bytes; line {}, column {})",
                bytes.len(),
                e.line(),
                e.column()
            ),
        })
}

/// The mount `sys/internal/ui/mounts/<path>` describes in `data`.
pub(super) fn mount_info(data: &Value) -> MountInfo {
    let kind = str_field(data, "type");
    let kv_version = if kind == "kv" || kind == "generic" {
        let v = data
            .get("options")
            .and_then(|o| o.get("version"))
            .and_then(Value::as_str)
            .unwrap_or("1");
        Some(if v == "2" { 2 } else { 1 })
    } else {
        None
    };
    MountInfo {
        path: str_field(data, "path"),
        kind,
        kv_version,
    }
}

/// Every reading of a response body: as a secret, a login, a wrapped response and a mount (the fuzz
/// targets feed it arbitrary bytes; each reading must end in a value or a [`BackendError`]).
#[cfg(feature = "fuzzing")]
pub fn fuzz_decode(status: u16, body: &[u8]) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for method in [Method::GET, Method::PUT] {
        let (path, kind) = ("secret/data/app", "application/json");
        let read = || read_body(&method, path, status, kind, body);
        let _ = read().map(|r| r.map(into_secret));
        let _ = read().and_then(|r| take_auth(r, path));
        let _ = read().and_then(|r| take_wrap_info(r, &method, path));
        if let Ok(Some(RawResponse { data: Some(d), .. })) = read() {
            let _ = mount_info(&d);
        }
    }
}

pub(super) fn into_secret(r: RawResponse) -> Secret {
    Secret {
        data: SecretData(r.data.unwrap_or(Value::Null)),
        lease_id: r.lease_id,
        lease_duration: r.lease_duration,
        renewable: r.renewable,
        warnings: r.warnings.unwrap_or_default(),
        request_id: r.request_id,
    }
}

pub(super) fn take_auth(raw: Option<RawResponse>, path: &str) -> Result<AuthInfo, BackendError> {
    let (request_id, a) = raw
        .and_then(|r| Some((r.request_id, r.auth?)))
        .ok_or_else(|| decode(&Method::PUT, path, "no auth block"))?;
    Ok(AuthInfo {
        client_token: SecretString::from(a.client_token),
        accessor: a.accessor,
        metadata: a.metadata.unwrap_or_default(),
        lease_duration: a.lease_duration,
        renewable: a.renewable,
        orphan: a.orphan,
        policies: a.policies.unwrap_or_default(),
        request_id,
    })
}

pub(super) fn take_wrap_info(
    raw: Option<RawResponse>,
    method: &Method,
    path: &str,
) -> Result<WrapInfo, BackendError> {
    let (request_id, w) = raw
        .and_then(|r| Some((r.request_id, r.wrap_info?)))
        .filter(|(_, w)| !w.token.is_empty())
        .ok_or_else(|| decode(method, path, "no wrap_info in the response"))?;
    Ok(WrapInfo {
        token: SecretString::from(w.token),
        accessor: w.accessor,
        ttl: w.ttl,
        creation_time: w.creation_time,
        creation_path: w.creation_path,
        wrapped_accessor: w.wrapped_accessor,
        request_id,
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
    // A hostile server's escape sequences would reach terminals and logs: whitespace becomes one space,
    // any other control character a '?'.
    let mut s: String = joined
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
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
