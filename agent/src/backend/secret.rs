//! The secret value types shared by the backend client, the secret store and the renderers.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroize;

/// What a template (or an env reference) asks the backend for: a path and, for write-style calls such as
/// `pki/issue/<role>`, the parameters sent in the request body.
///
/// An empty `params` means a read (`GET /v1/<path>`); a non-empty one a write (`PUT /v1/<path>`), as
/// consul-template's `secret` function does. Parameter values are not secret (common names, TTLs).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SecretRequest {
    /// Which HTTP operation the request is: read, write (`secret` with parameters) or list (`secrets`).
    pub op: Operation,
    /// The API path below `/v1/`, without a leading slash, as written by the user (before any KV v2 rewrite).
    pub path: String,
    /// Body parameters of a write-style request, `k=v` pairs in key order.
    pub params: BTreeMap<String, String>,
    /// consul-template's `pkiCert`: a still-valid certificate already in the template's destination is used
    /// instead of issuing a new one. A separate request from `secret` with the same path and parameters.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reuse_cert: bool,
    /// The workload whose token reads it (a template inside `workload "NAME"`); `None`: the agent's. Part of
    /// the key, so one workload's secret is never another's or the agent's. Absent from older state files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

impl SecretRequest {
    /// A read of `path`.
    pub fn read(path: impl Into<String>) -> Self {
        Self {
            op: Operation::Read,
            path: clean_path(path.into()),
            params: BTreeMap::new(),
            reuse_cert: false,
            workload: None,
        }
    }

    /// This request, read with the token of `workload` (`None`: the agent's).
    #[must_use]
    pub fn for_workload(mut self, workload: Option<&str>) -> Self {
        self.workload = workload.map(str::to_string);
        self
    }

    /// A write of `params` to `path` (e.g. `pki/issue/app` with `common_name`).
    pub fn write(path: impl Into<String>, params: BTreeMap<String, String>) -> Self {
        Self {
            op: Operation::Write,
            path: clean_path(path.into()),
            params,
            reuse_cert: false,
            workload: None,
        }
    }

    /// consul-template's `pkiCert`: a write of `params` to `path` (`pki/issue/<role>`) whose certificate may
    /// be taken from the template's destination while it is still good (see `lease::pki`).
    pub fn issue_cert(path: impl Into<String>, params: BTreeMap<String, String>) -> Self {
        Self {
            reuse_cert: true,
            ..Self::write(path, params)
        }
    }

    /// A listing of the keys below `path` (consul-template's `secrets`).
    pub fn list(path: impl Into<String>) -> Self {
        Self {
            op: Operation::List,
            path: clean_path(path.into()),
            params: BTreeMap::new(),
            reuse_cert: false,
            workload: None,
        }
    }
}

fn clean_path(p: String) -> String {
    p.trim_matches('/').to_string()
}

/// The HTTP operation of a [`SecretRequest`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Operation {
    /// `GET /v1/<path>`.
    Read,
    /// `PUT /v1/<path>` with the parameters as a JSON body.
    Write,
    /// `LIST /v1/<path>` (for KV v2, the `metadata/` path).
    List,
}

impl fmt::Display for SecretRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op == Operation::List {
            f.write_str("list ")?;
        }
        if self.reuse_cert {
            f.write_str("pkiCert ")?;
        }
        f.write_str(&self.path)?;
        for (k, v) in &self.params {
            write!(f, " {k}={v}")?;
        }
        if let Some(w) = &self.workload {
            write!(f, " (workload {w})")?;
        }
        Ok(())
    }
}

/// The `data` of a secret response: JSON whose string leaves are secret values.
///
/// `Debug` never shows the content, and every string in it is zeroed when it is dropped.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretData(pub serde_json::Value);

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretData([REDACTED])")
    }
}

impl Drop for SecretData {
    fn drop(&mut self) {
        zeroize_json(&mut self.0);
    }
}

/// Zero every string (keys excepted) held in a JSON value, in place.
pub fn zeroize_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(zeroize_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

/// One secret as returned by the backend: the response envelope of any OpenBao/Vault secret read or write
/// (`data`, `lease_id`, `lease_duration`, `renewable`, `warnings`), shaped as consul-template's `Secret`.
///
/// For KV v2, `data` is the response's `data` object as returned (with its inner `data` and `metadata`),
/// exactly as `{{ with secret "secret/data/x" }}{{ .Data.data.key }}` expects.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Secret {
    /// The response's `data`.
    pub data: SecretData,
    /// The response's `lease_id` (empty when the secret has no lease, e.g. KV).
    pub lease_id: String,
    /// The response's `lease_duration`, in seconds (0 when there is no lease).
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// Warnings the server returned with the response.
    pub warnings: Vec<String>,
    /// The server's `request_id` for the response: the key of the server's audit entry for it (not shown
    /// to templates: it changes with every read).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}
