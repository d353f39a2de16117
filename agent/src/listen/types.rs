//! A proxied request and its response, buffered, as the API proxy hands them to the cache. Only requests
//! the cache may answer are buffered; everything else streams through the proxy unchanged.

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode};
use secrecy::SecretString;

/// A request received on a listener for `/v1/...`, with its body read (bounded by `max_request_size`).
pub struct ProxyRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path after `/v1/`, without the query (e.g. `database/creds/app`).
    pub path: String,
    /// The raw query string, if any (without `?`).
    pub query: Option<String>,
    /// The token the request will be sent with (the caller's, or the auto-auth token the proxy added).
    pub token: Option<SecretString>,
    /// `X-Vault-Namespace`, if any.
    pub namespace: Option<String>,
    /// The request's headers as received (hop-by-hop headers already removed).
    pub headers: HeaderMap,
    /// The body. It may hold secrets (a write, a login): never logged.
    pub body: Bytes,
}

/// A backend response, buffered.
#[derive(Clone)]
pub struct ProxyResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers (hop-by-hop headers already removed).
    pub headers: HeaderMap,
    /// The body: secrets in it are never logged.
    pub body: Bytes,
}

/// Whether a response came from the cache, for the `proxy.request` audit event and `X-Cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered from a cache entry.
    Hit,
    /// Forwarded to the backend (and maybe stored).
    Miss,
    /// Not cacheable (renew, revoke, a write, no cache configured).
    Bypass,
}

impl CacheStatus {
    /// `hit`, or `miss` (not answered from the cache), as in the audit event.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss | CacheStatus::Bypass => "miss",
        }
    }
}

// Bodies and headers carry secrets and tokens: neither is printed.
impl std::fmt::Debug for ProxyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("namespace", &self.namespace)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ProxyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_body_a_query_or_a_token() {
        let req = ProxyRequest {
            method: Method::PUT,
            path: "auth/jwt/login".into(),
            query: Some("password=hunter2".into()),
            token: Some(SecretString::from("s.secret-token".to_string())),
            namespace: None,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"jwt\":\"eyJ-secret\"}"),
        };
        let text = format!("{req:?}");
        assert!(text.contains("auth/jwt/login"), "{text}");
        for secret in ["hunter2", "s.secret-token", "eyJ-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
        let resp = ProxyResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"data\":{\"password\":\"hunter2\"}}"),
        };
        assert!(!format!("{resp:?}").contains("hunter2"));
    }
}
