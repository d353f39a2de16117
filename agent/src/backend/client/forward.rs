//! Raw forwarding for the API proxy: a caller's request passed to the backend as it came (method, path,
//! query, headers minus hop-by-hop, body) and the answer given back as it is — status, headers and body,
//! errors included. The HA rules apply: the request goes to the node in use, and a connection error, a
//! refused redirect, or a 5xx / 429 / 412 moves it to the next node when its body can be sent again;
//! a 307 is followed only to a configured node. The last node's answer is given back unchanged.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use super::super::error::BackendError;
use super::{Call, Client, Limits};

/// The headers that belong to one connection, never passed on (RFC 9110 §7.6.1), plus `Host`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// A request to pass to the backend.
pub struct Forward {
    /// The method.
    pub method: Method,
    /// The path from `/v1/` on, with its query (`/v1/secret/data/app?version=2`).
    pub path_and_query: String,
    /// The headers to send (hop-by-hop ones already removed; the token the proxy chose included).
    pub headers: HeaderMap,
    /// The body.
    pub body: ForwardBody,
    /// The most the whole exchange may take (`max_request_duration`).
    pub timeout: Duration,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers carry the token and bodies carry secrets: neither is printed.
        f.debug_struct("Forward")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// A forwarded request without its body.
struct Head {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    timeout: Duration,
}

/// A forwarded request's body.
pub enum ForwardBody {
    /// Read already: sent again on another node if the first one fails.
    Buffered(Bytes),
    /// Streamed from the caller: sent to one node only.
    Stream(reqwest::Body),
}

/// Remove the hop-by-hop headers of `headers`, and those its `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(reqwest::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(*n);
    }
}

impl Client {
    /// Pass `req` to the backend and give back its answer unchanged (see the module doc). The answer's
    /// `X-Vault-Index` is remembered; `consistent` sends the newest one seen when the caller sent none
    /// (`api_proxy { enforce_consistency = "always" }`). The client's namespace is sent when the caller
    /// named none. Not counted against the in-flight cap: callers of the proxy must not starve the
    /// agent's own renewals, nor wait on them.
    ///
    /// # Errors
    /// [`BackendError::Transport`] when no node answered, [`BackendError::Timeout`] when one did not
    /// within `max_request_duration`, [`BackendError::Redirect`] for a refused redirect. The answer's
    /// body is bounded in time by the same `max_request_duration`; in size by the proxy, which reads
    /// at most [`super::MAX_RESPONSE_SIZE`] of it and streams a bigger one through.
    pub async fn forward(
        &self,
        req: Forward,
        consistent: bool,
    ) -> Result<reqwest::Response, BackendError> {
        let Forward {
            method,
            path_and_query,
            mut headers,
            body,
            timeout,
        } = req;
        let mut req = Head {
            method,
            path_and_query,
            headers: HeaderMap::new(),
            timeout,
        };
        strip_hop_by_hop(&mut headers);
        req.headers = headers;
        if let Some(ns) = &self.namespace
            && !req.headers.contains_key("x-vault-namespace")
            && let Ok(v) = HeaderValue::from_str(ns)
        {
            req.headers.insert("x-vault-namespace", v);
        }
        if consistent
            && !req.headers.contains_key("x-vault-index")
            && let Some(index) = self.index.lock().ok().and_then(|g| g.clone())
        {
            req.headers.insert("x-vault-index", index);
        }
        let n = self.nodes.len();
        let first = self.current.load(std::sync::atomic::Ordering::Relaxed) % n;
        let mut body = Some(body);
        let mut k = 0;
        loop {
            let i = (first + k) % n;
            let this = match body.take() {
                Some(ForwardBody::Buffered(b)) => {
                    body = Some(ForwardBody::Buffered(b.clone()));
                    reqwest::Body::from(b)
                }
                Some(ForwardBody::Stream(s)) => s,
                None => reqwest::Body::from(Bytes::new()),
            };
            // Another node is tried only when the body can be sent again.
            let more = k + 1 < n && body.is_some();
            let result = self.forward_to(i, &req, this).await;
            let fails_over = match &result {
                Ok(r) => {
                    let s = r.status();
                    s.is_server_error()
                        || s == StatusCode::TOO_MANY_REQUESTS
                        || s == StatusCode::PRECONDITION_FAILED
                }
                Err(e) => e.fails_over(),
            };
            if fails_over && more {
                tracing::warn!(node = %self.nodes[i], "proxied request failed on a node, trying the next one");
                k += 1;
                continue;
            }
            if !fails_over {
                self.settle(i);
            }
            return result;
        }
    }

    /// One forwarded request to node `i`.
    async fn forward_to(
        &self,
        i: usize,
        req: &Head,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, BackendError> {
        // Errors name the API path below `/v1/`, as every other backend error does.
        let path = req.path_and_query.split('?').next().unwrap_or_default();
        let path = super::super::loggable_path(path.strip_prefix("/v1/").unwrap_or(path));
        let url = format!("{}{}", self.nodes[i], req.path_and_query);
        let call = Call {
            method: &req.method,
            path: &path,
            limits: Limits {
                timeout: req.timeout,
                timeout_setting: "max_request_duration",
                ..*self.limits
            },
        };
        let resp = self
            .http
            .request(req.method.clone(), &url)
            .headers(req.headers.clone())
            .body(body)
            .timeout(req.timeout)
            .send()
            .await
            .map_err(|e| call.send_error(&e))?;
        if let Some(index) = resp.headers().get("X-Vault-Index") {
            self.remember_index(index);
        }
        Ok(resp)
    }
}
