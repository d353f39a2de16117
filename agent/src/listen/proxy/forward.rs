//! Forwarding a `/v1/...` request: the token it goes with, the cache or the backend, the answer audited.

use std::sync::Arc;

use http_body_util::Limited;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use secrecy::SecretString;

use super::answer::{INSPECT_LIMIT, Peeked, buffered, peek, streamed};
use super::token::{hide_token, reveals_token_wrapped, under_token_api, workload_token};
use super::{Body, Proxy, Upstream, backend_error, content_length, error, full, read_body};
use crate::audit::{CallerMeta, EventKind, Outcome, ProxyMeta, Record, SecretMeta};
use crate::backend::BackendError;
use crate::backend::client::{Forward, ForwardBody, strip_hop_by_hop};
use crate::config::ApiListener;
use crate::listen::cache::Cache;
use crate::listen::door::Sender;
use crate::listen::types::{CacheStatus, ProxyRequest, ProxyResponse};

/// A request body up to this size is read before it is forwarded, so another node can be tried.
const BUFFER_LIMIT: u64 = 1024 * 1024;

impl Proxy {
    /// A `/v1/...` request.
    pub(super) async fn forward(
        &self,
        req: Request<Incoming>,
        served: &ApiListener,
        sender: Sender<'_>,
    ) -> Response<Body> {
        let up = self.upstream();
        let (parts, incoming) = req.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        // The token the request goes with, whether the agent added it (its own or a workload's), and
        // the workload's token when it went with one (checked on a 403).
        let (mut token, agents, mut caller, held) = match sender {
            Sender::Shared(caller) => {
                let (token, agents) = self.token_for(&mut headers, &up).await;
                (token, agents, caller.clone(), None)
            }
            Sender::Workload {
                mut caller,
                workload,
                tokens,
            } => match workload_token(&mut headers, workload, tokens, &caller).await {
                Ok((token, added)) => {
                    caller.own_token = added.is_none();
                    caller.token_accessor = added.as_ref().map(|t| t.accessor.clone());
                    let held = added.map(|t| (workload, tokens, t));
                    (token, held.is_some(), *caller, held)
                }
                Err(r) => return r,
            },
        };
        let method = parts.method;
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
        let api_path = parts
            .uri
            .path()
            .strip_prefix("/v1/")
            .unwrap_or_default()
            .to_string();
        // The path as the server reads it (escapes decoded, `//` collapsed), for the audit event and
        // for the lookup-self rule; `None` for one with `.`/`..` segments.
        let normal = super::cache::normalize_path(&api_path);
        if agents {
            match normal.as_deref() {
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "a path with \".\" or \"..\" segments is not sent with a token the agent adds",
                    );
                }
                Some(p) if reveals_token_wrapped(p) && headers.contains_key("x-vault-wrap-ttl") => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "{p}: X-Vault-Wrap-TTL cannot be used with a token the agent adds: the \
                             wrapped answer could reveal the token; send your own X-Vault-Token to wrap it"
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        let audit_path =
            crate::backend::loggable_path(normal.as_deref().unwrap_or(&api_path)).into_owned();
        let cached = up
            .cache
            .as_ref()
            .filter(|_| super::cache::sees(&method, &api_path));
        let length = content_length(&headers);
        let buffer =
            cached.is_some() || length.is_some_and(|l| l <= BUFFER_LIMIT) || method == Method::GET;
        let body = if buffer {
            match read_body(incoming, served.max_request_size).await {
                Ok(b) => ForwardBody::Buffered(b),
                Err(r) => return *r,
            }
        } else {
            let limited = Limited::new(
                incoming,
                served
                    .max_request_size
                    .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX)),
            );
            ForwardBody::Stream(reqwest::Body::wrap(limited))
        };
        let out = Outgoing {
            method: &method,
            path_and_query: &path_and_query,
            api_path: &api_path,
            query: parts.uri.query(),
            audit_path: &audit_path,
            timeout: served.max_request_duration,
            inspect_all: agents,
            must_inspect: agents && normal.as_deref().is_some_and(under_token_api),
        };
        // What a retry sends again: the body read whole, and the headers.
        let again = match (&body, &held) {
            (ForwardBody::Buffered(b), Some(_)) => Some((b.clone(), headers.clone())),
            _ => None,
        };
        let mut sent = self
            .send(&up, cached, &out, token.clone(), headers, body)
            .await;
        // A 403 with a workload's token: if the token is gone on the server (revoked), it is evicted
        // and the request sent once more with a new one; with the token alive, the 403 is the
        // server's answer (policy) and passes through.
        if let Some((workload, tokens, old)) = &held
            && sent.status() == StatusCode::FORBIDDEN
            && tokens.gone_after_refusal(workload, old).await
            && let Some((body, mut headers)) = again
        {
            // The old token out: the caller sent none (or an empty one), so the new one goes in.
            headers.remove("x-vault-token");
            match workload_token(&mut headers, workload, tokens, &caller).await {
                Ok((new, Some(t))) => {
                    tracing::info!(
                        workload = %workload.name,
                        accessor = %t.accessor,
                        "request sent again with the workload's new token"
                    );
                    caller.token_accessor = Some(t.accessor);
                    token = new;
                    sent = self
                        .send(
                            &up,
                            cached,
                            &out,
                            token.clone(),
                            headers,
                            ForwardBody::Buffered(body),
                        )
                        .await;
                }
                Ok(_) => {}
                Err(r) => return r,
            }
        }
        let asked = Asked {
            method: &method,
            path: &audit_path,
            added: token.filter(|_| agents),
            caller: &caller,
        };
        match sent {
            Sent::Answer(resp, status, x_cache) => self.answer(&asked, resp, status, x_cache),
            Sent::Raw(r) => r,
        }
    }

    /// Send one request `out` with `token` (in `headers`) and `body`: through the cache when it sees
    /// it (`cached`), else straight to the backend. A small answer (or, with a token the agent added,
    /// any answer up to [`INSPECT_LIMIT`]) is read whole; a big one streams.
    async fn send(
        &self,
        up: &Upstream,
        cached: Option<&Arc<Cache>>,
        out: &Outgoing<'_>,
        token: Option<SecretString>,
        headers: HeaderMap,
        body: ForwardBody,
    ) -> Sent {
        let consistent = self.api.enforce_consistency;
        let client = up.client.borrow().clone();
        let timeout = out.timeout;
        if let (Some(cache), ForwardBody::Buffered(bytes)) = (cached, &body) {
            let pr = ProxyRequest {
                method: out.method.clone(),
                path: out.api_path.to_string(),
                query: out.query.map(str::to_string),
                token,
                namespace: headers
                    .get("x-vault-namespace")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                headers,
                body: bytes.clone(),
            };
            let (fw_method, fw_path) = (out.method.clone(), out.audit_path.to_string());
            let path_and_query = out.path_and_query.to_string();
            let answered = cache
                .handle(pr, |pr| async move {
                    let fw = Forward {
                        method: pr.method,
                        path_and_query,
                        headers: pr.headers,
                        body: ForwardBody::Buffered(pr.body),
                        timeout,
                    };
                    let resp = client.forward(fw, consistent).await?;
                    buffered(resp, &fw_method, &fw_path).await
                })
                .await;
            return match answered {
                Ok((resp, status)) => Sent::Answer(resp, status, true),
                Err(e) => Sent::Raw(backend_error(&e)),
            };
        }
        let fw = Forward {
            method: out.method.clone(),
            path_and_query: out.path_and_query.to_string(),
            headers,
            body,
            timeout,
        };
        let resp = match client.forward(fw, consistent).await {
            Ok(r) => r,
            Err(e) => return Sent::Raw(backend_error(&e)),
        };
        // A small answer is read whole to see whether it carries a secret; a big one streams. One of
        // unknown length sent with a token the agent added is read up to the limit first, so that an
        // answer echoing the token is caught whatever its framing.
        let inspect = match resp.content_length() {
            Some(l) => l <= INSPECT_LIMIT,
            None => out.inspect_all,
        };
        // An answer that could echo the token the agent added is read whole, or not passed on at all:
        // the rule that hides the token needs all of it.
        if !inspect && !out.must_inspect {
            return Sent::Raw(streamed(resp));
        }
        match resp.content_length() {
            Some(_) => match buffered(resp, out.method, out.audit_path).await {
                Ok(resp) => Sent::Answer(resp, CacheStatus::Miss, false),
                Err(e) => Sent::Raw(backend_error(&e)),
            },
            None => match peek(resp, out.method, out.audit_path).await {
                Ok(Peeked::Whole(resp)) => Sent::Answer(resp, CacheStatus::Miss, false),
                Ok(Peeked::Big(_)) if out.must_inspect => Sent::Raw(backend_error(&too_big(out))),
                Ok(Peeked::Big(r)) => Sent::Raw(r),
                Err(e) => Sent::Raw(backend_error(&e)),
            },
        }
    }

    /// A buffered answer for the caller: audited, the token the agent added hidden from it, and (when the cache
    /// took part: `x_cache`) `X-Cache` on a successful one, as Vault Agent sends it.
    fn answer(
        &self,
        asked: &Asked<'_>,
        mut resp: ProxyResponse,
        status: CacheStatus,
        x_cache: bool,
    ) -> Response<Body> {
        self.audit(asked.method, asked.path, &resp, status, asked.caller);
        if let Some(sent) = &asked.added {
            hide_token(asked.path, sent, &mut resp);
        }
        let success = resp.status.is_success();
        let mut r = full(resp.status, resp.body);
        *r.headers_mut() = resp.headers;
        if x_cache && success {
            let x = if status == CacheStatus::Hit {
                "HIT"
            } else {
                "MISS"
            };
            r.headers_mut()
                .insert("x-cache", HeaderValue::from_static(x));
        }
        r
    }

    /// One `proxy.request` event when `resp` carries a secret (a lease, a token, or data); unless the
    /// cache answered, it names the node and the server's `request_id` of the forwarded request.
    fn audit(
        &self,
        method: &Method,
        path: &str,
        resp: &ProxyResponse,
        cache: CacheStatus,
        caller: &CallerMeta,
    ) {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&resp.body) else {
            return;
        };
        let present = |k: &str| json.get(k).is_some_and(|v| !v.is_null());
        let lease_id = json
            .get("lease_id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        // A wrapped answer holds a secret too (issued on the server, handed over as a wrapping token).
        if lease_id.is_empty() && !present("auth") && !present("data") && !present("wrap_info") {
            return;
        }
        let outcome = if resp.status.is_success() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let secret = SecretMeta {
            path: path.to_string(),
            lease_id: lease_id.to_string(),
            lease_duration_s: json
                .get("lease_duration")
                .and_then(serde_json::Value::as_u64)
                .map_or(0, crate::backend::response::bounded_ttl),
            renewable: json
                .get("renewable")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            ..SecretMeta::default()
        };
        let meta = ProxyMeta {
            method: method.to_string(),
            status: resp.status.as_u16(),
            cache: cache.as_str(),
        };
        let mut record = Record::new(EventKind::ProxyRequest, outcome)
            .secret(secret)
            .proxied(meta, caller.clone());
        if cache != CacheStatus::Hit {
            let request_id = json.get("request_id").and_then(serde_json::Value::as_str);
            let node = self.upstream().client.borrow().node().to_string();
            record = record.node(&node).request_id(request_id);
        }
        self.auditor.record(record);
    }
}

/// Who asked what, as the answer's audit event and token rule need it.
struct Asked<'a> {
    method: &'a Method,
    /// The loggable, normalized path below `/v1/`.
    path: &'a str,
    /// The token the agent added to the request (its own, or a workload's): the caller must not
    /// learn it.
    added: Option<SecretString>,
    caller: &'a CallerMeta,
}

/// One request as it is sent (and sent again after a workload's token was replaced).
struct Outgoing<'a> {
    method: &'a Method,
    /// The path and query as asked (`/v1/...`).
    path_and_query: &'a str,
    /// The path below `/v1/`, as asked.
    api_path: &'a str,
    query: Option<&'a str>,
    /// The loggable, normalized path below `/v1/`.
    audit_path: &'a str,
    timeout: std::time::Duration,
    /// Read an answer of unknown length too (up to [`INSPECT_LIMIT`]): the agent added the token.
    inspect_all: bool,
    /// Read every answer whole, refusing one over [`INSPECT_LIMIT`]: the agent added the token and the
    /// path (`auth/token/...`) can echo it.
    must_inspect: bool,
}

/// What a request got.
enum Sent {
    /// An answer read whole (its cache status, and whether the cache took part).
    Answer(ProxyResponse, CacheStatus, bool),
    /// A streamed answer, or the proxy's own error.
    Raw(Response<Body>),
}

impl Sent {
    /// The answer's status.
    fn status(&self) -> StatusCode {
        match self {
            Self::Answer(r, ..) => r.status,
            Self::Raw(r) => r.status(),
        }
    }
}

/// An answer under the token API too big to read whole (with a token the agent added): not passed on,
/// since the token could be in it.
fn too_big(out: &Outgoing<'_>) -> BackendError {
    BackendError::Decode {
        method: out.method.to_string(),
        path: out.audit_path.to_string(),
        reason:
            "the answer is larger than the 4 MiB the proxy reads itself, and could hold the token \
                 the agent added: not passed on"
                .into(),
    }
}
