//! The token rules: the token a request goes with, and the agent's never reaching the caller.

use bytes::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use super::{Body, Proxy, Upstream, error};
use crate::audit::CallerMeta;
use crate::config::{AutoAuthToken, WorkloadConfig};
use crate::listen::types::ProxyResponse;
use crate::workload::tokens::{WorkloadToken, WorkloadTokens};

impl Proxy {
    /// The token the request goes with, put in its headers per `use_auto_auth_token`: the caller's
    /// (`X-Vault-Token`, or `Authorization: Bearer`), or the agent's added when there is none (`true`)
    /// or in its place (`"force"`). The agent's is waited for while the first login is under way.
    /// The flag says whether it is the agent's.
    pub(super) async fn token_for(
        &self,
        headers: &mut HeaderMap,
        up: &Upstream,
    ) -> (Option<SecretString>, bool) {
        let callers = caller_token(headers);
        let use_agent = match self.api.use_auto_auth_token {
            AutoAuthToken::No => false,
            AutoAuthToken::Add => callers.is_none(),
            AutoAuthToken::Force => true,
        };
        if !use_agent {
            return (callers, false);
        }
        let mut rx = up.token.clone();
        let agent = match rx.wait_for(Option::is_some).await {
            Ok(t) => t.clone(),
            Err(_) => None,
        };
        let Some(agent) = agent else {
            return (callers, false);
        };
        headers.remove(AUTHORIZATION);
        if let Ok(mut v) = HeaderValue::from_str(agent.expose_secret()) {
            v.set_sensitive(true);
            headers.insert("x-vault-token", v);
        }
        (Some(agent), true)
    }
}

/// The token a workload's request goes with: the caller's own (`X-Vault-Token`, or `Authorization:
/// Bearer`), untouched, or else the workload's, put in its headers (and returned second, for the
/// caller block and the check after a 403). Never the agent's. A workload token that cannot be had is
/// a 502 (the server could not be reached), 503 (the workload's own login was refused) or 500 (the
/// creation was refused: the agent's or the role's policies), in Vault's shape.
pub(super) async fn workload_token(
    headers: &mut HeaderMap,
    workload: &WorkloadConfig,
    tokens: &WorkloadTokens,
    caller: &CallerMeta,
) -> Result<(Option<SecretString>, Option<WorkloadToken>), Response<Body>> {
    if let Some(own) = caller_token(headers) {
        return Ok((Some(own), None));
    }
    match tokens.token_for(workload, Some(caller)).await {
        Ok(t) => {
            headers.remove(AUTHORIZATION);
            if let Ok(mut v) = HeaderValue::from_str(t.secret.expose_secret()) {
                v.set_sensitive(true);
                headers.insert("x-vault-token", v);
            }
            Ok((Some(t.secret.clone()), Some(t)))
        }
        Err(e) => {
            tracing::warn!(workload = %workload.name, error = %e, "API proxy: no token for the workload");
            let status = if e.is_transient() {
                StatusCode::BAD_GATEWAY
            } else if e.is_login() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            Err(error(status, &e.to_string()))
        }
    }
}

/// The caller's token: `X-Vault-Token`, else `Authorization: Bearer`. An empty one (either header sent
/// with nothing in it) counts as none.
pub(super) fn caller_token(headers: &HeaderMap) -> Option<SecretString> {
    let given = |t: &str| {
        let t = t.trim();
        (!t.is_empty()).then(|| SecretString::from(t.to_string()))
    };
    if let Some(t) = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .and_then(given)
    {
        return Some(t);
    }
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(given)
}

/// The token the agent put on a request (its own, or a workload's) never reaches the caller (Vault
/// Agent's lookup-self rule, made general): an answer that echoes `sent` loses it, and its accessor
/// with it: `auth.client_token` (`renew-self`, `renew`), `data.id` (`lookup-self`, `lookup`). A
/// `lookup-self` answer loses `data.id` and `data.accessor` whatever they hold. Everything else passes
/// unchanged; an answer nothing is taken from is passed byte for byte.
pub(super) fn hide_token(api_path: &str, sent: &SecretString, resp: &mut ProxyResponse) {
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
        return;
    };
    let sent = sent.expose_secret();
    let echoes = |m: &serde_json::Map<String, serde_json::Value>, key: &str| {
        m.get(key).and_then(serde_json::Value::as_str) == Some(sent)
    };
    let mut hidden = false;
    if let Some(auth) = body
        .get_mut("auth")
        .and_then(serde_json::Value::as_object_mut)
        && echoes(auth, "client_token")
    {
        auth.remove("client_token");
        auth.remove("accessor");
        hidden = true;
    }
    let lookup_self = is_lookup_self(api_path) && resp.status.is_success();
    if let Some(data) = body
        .get_mut("data")
        .and_then(serde_json::Value::as_object_mut)
        && (lookup_self || echoes(data, "id"))
    {
        data.remove("id");
        data.remove("accessor");
        hidden = true;
    }
    if !hidden {
        return;
    }
    // Written back as Vault's `api.Secret` writes itself: empty `wrap_info` and `auth` left out.
    if let Some(top) = body.as_object_mut() {
        for k in ["wrap_info", "auth"] {
            if top.get(k).is_some_and(serde_json::Value::is_null) {
                top.remove(k);
            }
        }
    }
    if let Ok(bytes) = serde_json::to_vec(&body) {
        resp.headers.remove(CONTENT_LENGTH);
        resp.body = Bytes::from(bytes);
    }
}

/// Whether `path` (normalized, below `/v1/`) is a token's lookup of itself, in any namespace given in the
/// path.
pub(super) fn is_lookup_self(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "auth/token/lookup-self" || p.ends_with("/auth/token/lookup-self")
}

/// Whether `path` (normalized, below `/v1/`, in any namespace given in the path) may answer with the
/// token it was sent with once wrapped: everything under `auth/token/` but the creations (whose wrapped
/// answer holds a new token, the caller's to have), and `sys/wrapping/wrap`.
pub(super) fn reveals_token_wrapped(path: &str) -> bool {
    if let Some(rest) = token_api_rest(path) {
        return !rest.starts_with("create");
    }
    let p = path.trim_end_matches('/');
    p == "sys/wrapping/wrap" || p.ends_with("/sys/wrapping/wrap")
}

/// Whether `path` (normalized, below `/v1/`) is under the token API (`auth/token/`), whose answers can
/// echo the token a request was sent with.
pub(super) fn under_token_api(path: &str) -> bool {
    token_api_rest(path).is_some()
}

/// What follows `auth/token/` in `path`, in any namespace given in the path.
fn token_api_rest(path: &str) -> Option<&str> {
    const API: &str = "auth/token/";
    if let Some(rest) = path.strip_prefix(API) {
        return Some(rest);
    }
    path.find("/auth/token/")
        .map(|i| &path[i + 1 + API.len()..])
}
