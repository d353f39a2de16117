//! The API proxy: one request in, one answer out. `/v1/...` goes to the backend through the backend
//! client (the caller's token, or the agent's per `use_auto_auth_token`; from a caller matched to a
//! workload, its own token or else the workload's, never the agent's); with `cache {}` a request the
//! cache may answer or must see is read whole and goes through [`Cache::handle`], everything else
//! streams both ways. The agent API: `/agent/v1/metrics`, `/agent/v1/quit` (`enable_quit`),
//! `/agent/v1/cache-clear` (with a cache); a workload's caller gets the metrics only. A `metrics_only`
//! listener serves the metrics alone.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::cache::Cache;
use super::door::{Refused, Sender};
use super::types::{CacheStatus, ProxyRequest, ProxyResponse};
use crate::admin::Telemetry;
use crate::audit::{Auditor, CallerMeta, EventKind, Outcome, ProxyMeta, Record, SecretMeta};
use crate::backend::client::{Forward, ForwardBody, strip_hop_by_hop};
use crate::backend::{BackendError, Client};
use crate::config::{ApiListener, ApiProxyConfig, AutoAuthToken, ListenerRole, WorkloadConfig};
use crate::workload::tokens::{WorkloadToken, WorkloadTokens};

/// The body of an answer: buffered or streamed from the backend.
pub(super) type Body = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The listener a request came in on.
pub(super) type Served = Arc<ApiListener>;

/// The most of a backend answer read whole to see whether it carries a secret (and to cache it): the
/// parse limit of everything sidekey decodes. A bigger answer streams through, unaudited.
const INSPECT_LIMIT: u64 = 4 * 1024 * 1024;

/// A request body up to this size is read before it is forwarded, so another node can be tried.
const BUFFER_LIMIT: u64 = 1024 * 1024;

/// What the proxy forwards through: replaced when a reload starts the engine over.
pub struct Upstream {
    /// The backend client (HA rules), as the engine last built it.
    pub client: watch::Receiver<Client>,
    /// The cache, with `cache {}`.
    pub cache: Option<Arc<Cache>>,
    /// The agent's current token.
    pub token: watch::Receiver<Option<SecretString>>,
}

/// The proxy shared by every listener and connection.
pub struct Proxy {
    upstream: RwLock<Arc<Upstream>>,
    api: ApiProxyConfig,
    auditor: Auditor,
    telemetry: Arc<Telemetry>,
    /// Cancelled by `/agent/v1/quit`: the flow's shutdown token.
    quit: CancellationToken,
}

impl Proxy {
    /// A proxy forwarding through `upstream` under `api`; `quit` is the flow's shutdown token.
    pub fn new(
        upstream: Upstream,
        api: ApiProxyConfig,
        auditor: Auditor,
        telemetry: Arc<Telemetry>,
        quit: CancellationToken,
    ) -> Self {
        Self {
            upstream: RwLock::new(Arc::new(upstream)),
            api,
            auditor,
            telemetry,
            quit,
        }
    }

    /// Forward through `u` from now on.
    pub fn set_upstream(&self, u: Upstream) {
        let mut held = self
            .upstream
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *held = Arc::new(u);
    }

    fn upstream(&self) -> Arc<Upstream> {
        self.upstream
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Answer one request that came in on `served` from `sender`.
    pub(super) async fn handle(
        &self,
        req: Request<Incoming>,
        served: &ApiListener,
        sender: Sender<'_>,
    ) -> Response<Body> {
        let path = req.uri().path().to_string();
        if path == "/agent/v1/metrics" {
            return self.metrics(req.method());
        }
        if served.role == ListenerRole::MetricsOnly {
            return error(
                StatusCode::NOT_FOUND,
                "not found: this listener serves /agent/v1/metrics only",
            );
        }
        if served.require_request_header
            && req
                .headers()
                .get("x-vault-request")
                .is_none_or(|v| v.as_bytes() != b"true")
        {
            return error(
                StatusCode::PRECONDITION_FAILED,
                "missing 'X-Vault-Request' header",
            );
        }
        let too_big = |len: u64| served.max_request_size.is_some_and(|max| len > max);
        if content_length(req.headers()).is_some_and(too_big) {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "http: request body too large",
            );
        }
        // A workload's caller may not stop the agent, nor drop what every workload shares.
        let per_caller = matches!(sender, Sender::Workload { .. });
        let work = async {
            match path.as_str() {
                "/agent/v1/quit"
                | "/proxy/v1/quit"
                | "/agent/v1/cache-clear"
                | "/proxy/v1/cache-clear"
                    if per_caller =>
                {
                    error(
                        StatusCode::FORBIDDEN,
                        &format!(
                            "{path} is not served to a workload's caller: it would act for every workload; \
                             use a listener without workloads (listener \"tcp\") for it"
                        ),
                    )
                }
                // `bao proxy` serves these under `/proxy/v1/`: sidekey is agent and proxy in one.
                "/agent/v1/quit" | "/proxy/v1/quit" if served.enable_quit => {
                    self.quit_now(req.method())
                }
                "/agent/v1/cache-clear" | "/proxy/v1/cache-clear" => {
                    self.cache_clear(req, served).await
                }
                p if p.starts_with("/v1/") => self.forward(req, served, sender).await,
                _ => error(StatusCode::NOT_FOUND, "not found"),
            }
        };
        match tokio::time::timeout(served.max_request_duration, work).await {
            Ok(r) => r,
            Err(_) => error(StatusCode::GATEWAY_TIMEOUT, "context deadline exceeded"),
        }
    }

    fn metrics(&self, method: &Method) -> Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            return error(StatusCode::METHOD_NOT_ALLOWED, "GET only");
        }
        match self.telemetry.encode() {
            Ok(text) => {
                let mut r = full(StatusCode::OK, Bytes::from(text));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "encode failed"),
        }
    }

    /// `/agent/v1/quit`: the agent stops as on SIGTERM, after its teardown.
    fn quit_now(&self, method: &Method) -> Response<Body> {
        if method != Method::POST && method != Method::PUT {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        tracing::info!("stop asked through /agent/v1/quit");
        self.quit.cancel();
        full(StatusCode::OK, Bytes::new())
    }

    /// `/agent/v1/cache-clear` (with a cache).
    async fn cache_clear(&self, req: Request<Incoming>, served: &ApiListener) -> Response<Body> {
        let Some(cache) = self.upstream().cache.clone() else {
            return error(StatusCode::NOT_FOUND, "not found: no cache is configured");
        };
        if req.method() != Method::POST && req.method() != Method::PUT {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let body = match read_body(req.into_body(), served.max_request_size).await {
            Ok(b) => b,
            Err(r) => return *r,
        };
        match cache.clear(&body).await {
            Ok(()) => full(StatusCode::OK, Bytes::new()),
            Err(m) => error(StatusCode::BAD_REQUEST, &m),
        }
    }

    /// A caller refused at a per-caller listener (`kind`: not attested, no workload or several; `why`:
    /// the whole reason): 403 in Vault's shape saying `kind` and the caller's own pid and uid, nothing
    /// sent to the backend, one `caller.refused` event naming the caller, what it asked for and `why`.
    pub(super) fn refuse(
        &self,
        req: &Request<Incoming>,
        caller: CallerMeta,
        kind: Refused,
        why: &str,
    ) -> Response<Body> {
        let path = req.uri().path();
        // Below `/v1/` as every secret path is audited; any other (the agent API) as asked, from `/`.
        let asked = match path.strip_prefix("/v1/") {
            Some(p) => super::cache::normalize_path(p).unwrap_or_else(|| p.to_string()),
            None => path.to_string(),
        };
        let secret = Some(SecretMeta {
            path: crate::backend::loggable_path(&asked).into_owned(),
            ..SecretMeta::default()
        });
        tracing::warn!(
            pid = caller.pid,
            uid = caller.uid,
            path = %crate::backend::loggable_path(path),
            reason = ?why,
            "caller refused: {}",
            kind.text()
        );
        let told = format!(
            "caller refused: {} (pid {}, uid {})",
            kind.text(),
            caller
                .pid
                .map_or_else(|| "unknown".into(), |p| p.to_string()),
            caller
                .uid
                .map_or_else(|| "unknown".into(), |u| u.to_string()),
        );
        let mut r = Record::new(EventKind::CallerRefused, Outcome::Failure).proxied(
            ProxyMeta {
                method: req.method().to_string(),
                status: StatusCode::FORBIDDEN.as_u16(),
                cache: CacheStatus::Bypass.as_str(),
            },
            caller,
        );
        r.secret = secret;
        r.error = Some(why.to_string());
        self.auditor.record(r);
        error(StatusCode::FORBIDDEN, &told)
    }

    /// A `/v1/...` request.
    async fn forward(
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

    /// The token the request goes with, put in its headers per `use_auto_auth_token`: the caller's
    /// (`X-Vault-Token`, or `Authorization: Bearer`), or the agent's added when there is none (`true`)
    /// or in its place (`"force"`). The agent's is waited for while the first login is under way.
    /// The flag says whether it is the agent's.
    async fn token_for(
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

    /// One `proxy.request` event when `resp` carries a secret (a lease, a token, or data).
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
                .unwrap_or(0),
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
        self.auditor.record(
            Record::new(EventKind::ProxyRequest, outcome)
                .secret(secret)
                .proxied(meta, caller.clone()),
        );
    }
}

/// The token a workload's request goes with: the caller's own (`X-Vault-Token`, or `Authorization:
/// Bearer`), untouched, or else the workload's, put in its headers (and returned second, for the
/// caller block and the check after a 403). Never the agent's. A workload token that cannot be had is
/// a 502 (the server could not be reached), 503 (the workload's own login was refused) or 500 (the
/// creation was refused: the agent's or the role's policies), in Vault's shape.
async fn workload_token(
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
fn caller_token(headers: &HeaderMap) -> Option<SecretString> {
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

/// A backend answer read whole (hop-by-hop headers removed), up to [`INSPECT_LIMIT`]: what sidekey
/// decodes itself is bounded (a bigger answer is an error, not an unbounded buffer).
///
/// `method` and `path` (a loggable path) name the request in an error: one over the limit is a
/// [`BackendError::Decode`] (502 to the caller, not the 413 of a request body over its limit).
async fn buffered(
    resp: reqwest::Response,
    method: &Method,
    path: &str,
) -> Result<ProxyResponse, BackendError> {
    let (status, headers, body) = split(resp);
    let limit = usize::try_from(INSPECT_LIMIT).unwrap_or(usize::MAX);
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            let too_big = e.is::<http_body_util::LengthLimitError>();
            let reason = if too_big {
                "the answer is larger than the 4 MiB the proxy reads itself".to_string()
            } else {
                e.to_string()
            };
            let (method, path) = (method.to_string(), path.to_string());
            if too_big {
                BackendError::Decode {
                    method,
                    path,
                    reason,
                }
            } else {
                BackendError::Transport {
                    method,
                    path,
                    reason,
                }
            }
        })?
        .to_bytes();
    Ok(ProxyResponse {
        status,
        headers,
        body,
    })
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

/// An answer of unknown length, read up to [`INSPECT_LIMIT`].
enum Peeked {
    /// It fit.
    Whole(ProxyResponse),
    /// It did not: what was read, then the rest, streamed.
    Big(Response<Body>),
}

/// Read an answer of unknown length (chunked) up to [`INSPECT_LIMIT`]: whole when it fits, else
/// streamed on from where the reading stopped.
async fn peek(
    resp: reqwest::Response,
    method: &Method,
    path: &str,
) -> Result<Peeked, BackendError> {
    let (status, headers, mut body) = split(resp);
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BackendError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if let Ok(data) = frame.into_data() {
            read.extend_from_slice(&data);
        }
        if read.len() as u64 > INSPECT_LIMIT {
            let first = futures_util::stream::once(std::future::ready(Ok(
                hyper::body::Frame::data(read.freeze()),
            )));
            let rest = http_body_util::BodyStream::new(body.map_err(Into::into));
            let streamed =
                http_body_util::StreamBody::new(futures_util::StreamExt::chain(first, rest));
            let mut r = Response::new(streamed.boxed_unsync());
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            return Ok(Peeked::Big(r));
        }
    }
    Ok(Peeked::Whole(ProxyResponse {
        status,
        headers,
        body: read.freeze(),
    }))
}

/// A backend answer's status, headers (hop-by-hop ones removed) and body.
fn split(resp: reqwest::Response) -> (StatusCode, HeaderMap, reqwest::Body) {
    let status = resp.status();
    let mut headers = resp.headers().clone();
    strip_hop_by_hop(&mut headers);
    (status, headers, reqwest::Body::from(resp))
}

/// A backend answer streamed to the caller as it comes (hop-by-hop headers removed).
fn streamed(resp: reqwest::Response) -> Response<Body> {
    let resp: Response<reqwest::Body> = resp.into();
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
}

/// The token the agent put on a request (its own, or a workload's) never reaches the caller (Vault
/// Agent's lookup-self rule, made general): an answer that echoes `sent` loses it, and its accessor
/// with it: `auth.client_token` (`renew-self`, `renew`), `data.id` (`lookup-self`, `lookup`). A
/// `lookup-self` answer loses `data.id` and `data.accessor` whatever they hold. Everything else passes
/// unchanged; an answer nothing is taken from is passed byte for byte.
fn hide_token(api_path: &str, sent: &SecretString, resp: &mut ProxyResponse) {
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
fn is_lookup_self(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "auth/token/lookup-self" || p.ends_with("/auth/token/lookup-self")
}

/// Whether `path` (normalized, below `/v1/`, in any namespace given in the path) may answer with the
/// token it was sent with once wrapped: everything under `auth/token/` but the creations (whose wrapped
/// answer holds a new token, the caller's to have), and `sys/wrapping/wrap`.
fn reveals_token_wrapped(path: &str) -> bool {
    if let Some(rest) = token_api_rest(path) {
        return !rest.starts_with("create");
    }
    let p = path.trim_end_matches('/');
    p == "sys/wrapping/wrap" || p.ends_with("/sys/wrapping/wrap")
}

/// Whether `path` (normalized, below `/v1/`) is under the token API (`auth/token/`), whose answers can
/// echo the token a request was sent with.
fn under_token_api(path: &str) -> bool {
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

/// The request body, read up to `max` bytes (413 past it).
async fn read_body(body: Incoming, max: Option<u64>) -> Result<Bytes, Box<Response<Body>>> {
    let max = max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http: request body too large",
        ))),
        Err(_) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "failed to read the request body",
        ))),
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The answer when the backend gave none: 504 for a timeout, 413 for a streamed body over the limit,
/// 502 otherwise, with Vault's `{"errors": [...]}` body.
fn backend_error(e: &BackendError) -> Response<Body> {
    let text = e.to_string();
    let status = if text.contains("length limit exceeded") {
        StatusCode::PAYLOAD_TOO_LARGE
    } else if text.contains("timed out") {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::BAD_GATEWAY
    };
    tracing::warn!(error = %e, "API proxy: no answer from the backend");
    error(status, &text)
}

/// A JSON error in Vault's shape.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "errors": [message] }).to_string();
    let mut r = full(status, Bytes::from(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn full(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_token_is_x_vault_token_then_a_bearer_token() {
        let mut h = HeaderMap::new();
        assert!(caller_token(&h).is_none());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s.bearer"));
        assert_eq!(caller_token(&h).unwrap().expose_secret(), "s.bearer");
        h.insert("x-vault-token", HeaderValue::from_static("s.header"));
        assert_eq!(caller_token(&h).unwrap().expose_secret(), "s.header");
        let mut basic = HeaderMap::new();
        basic.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcg=="));
        assert!(caller_token(&basic).is_none());
    }

    #[test]
    fn an_empty_token_is_no_token() {
        let mut h = HeaderMap::new();
        h.insert("x-vault-token", HeaderValue::from_static(""));
        assert!(caller_token(&h).is_none());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(caller_token(&h).is_none());
        // An empty `X-Vault-Token` does not hide a bearer token.
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s.bearer"));
        assert_eq!(caller_token(&h).unwrap().expose_secret(), "s.bearer");
    }

    /// `body` answered with `status` at `path`, after the rule for the sent token `s.agent`.
    fn hidden(path: &str, status: StatusCode, body: &'static [u8]) -> ProxyResponse {
        let mut r = ProxyResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        };
        hide_token(path, &SecretString::from("s.agent"), &mut r);
        r
    }

    fn json(r: &ProxyResponse) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn lookup_self_with_the_agents_token_hides_its_id_and_accessor() {
        let body = br#"{"request_id":"r","data":{"id":"s.agent","accessor":"acc","ttl":60},"wrap_info":null,"auth":null}"#;
        let v = json(&hidden("auth/token/lookup-self", StatusCode::OK, body));
        assert_eq!(
            v,
            serde_json::json!({"request_id": "r", "data": {"ttl": 60}})
        );
        // The same answer at another path still loses the token it echoes.
        let v = json(&hidden("auth/token/lookup", StatusCode::OK, body));
        assert_eq!(v["data"], serde_json::json!({"ttl": 60}));
    }

    #[test]
    fn an_answer_echoing_the_sent_token_loses_it() {
        // renew-self: `auth.client_token` is the token sent.
        let renewed = br#"{"request_id":"r","data":null,"wrap_info":null,"auth":{"client_token":"s.agent","accessor":"acc","policies":["pa"],"lease_duration":3600,"renewable":true}}"#;
        let r = hidden("auth/token/renew-self", StatusCode::OK, renewed);
        assert!(r.headers.get(CONTENT_LENGTH).is_none());
        let v = json(&r);
        assert_eq!(
            v["auth"],
            serde_json::json!({"policies": ["pa"], "lease_duration": 3600, "renewable": true})
        );
        assert!(!String::from_utf8_lossy(&r.body).contains("s.agent"));
        // A new token (a create, a login) is the caller's to have: unchanged, byte for byte.
        let created = br#"{"auth":{"client_token":"s.child","accessor":"acc2"},"data":null}"#;
        let r = hidden("auth/token/create", StatusCode::OK, created);
        assert_eq!(&r.body[..], &created[..]);
        // A secret that merely has an `id` passes.
        let other = br#"{"data":{"id":"s.other","value":"x"}}"#;
        assert_eq!(
            &hidden("secret/data/app", StatusCode::OK, other).body[..],
            &other[..]
        );
    }

    /// A backend answer of unknown length (no `Content-Length`) in `chunks`.
    fn chunked(chunks: Vec<Bytes>) -> reqwest::Response {
        let frames = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(hyper::body::Frame::data(c))),
        );
        let body = reqwest::Body::wrap(http_body_util::StreamBody::new(frames));
        reqwest::Response::from(Response::new(body))
    }

    #[tokio::test]
    async fn an_answer_of_unknown_length_is_read_whole_up_to_the_limit_then_streamed() {
        let small = chunked(vec![
            Bytes::from_static(b"{\"a\":"),
            Bytes::from_static(b"1}"),
        ]);
        assert!(small.content_length().is_none());
        let whole = peek(small, &Method::GET, "x").await.unwrap();
        assert!(
            matches!(&whole, Peeked::Whole(r) if &r.body[..] == b"{\"a\":1}"),
            "a small answer is read whole"
        );

        let mib = Bytes::from(vec![b'x'; 1024 * 1024]);
        let big = chunked(vec![mib.clone(); 6]);
        let streamed = match peek(big, &Method::GET, "x").await.unwrap() {
            Peeked::Big(r) => Some(r),
            Peeked::Whole(_) => None,
        };
        let all = streamed
            .expect("a big answer streams on")
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(all.len(), 6 * mib.len(), "nothing lost at the switch");
    }

    #[test]
    fn every_spelling_of_lookup_self_is_one() {
        for raw in [
            "auth/token/lookup-self",
            "/auth/token/lookup-self",
            "auth//token/lookup-self/",
            "auth/%74oken/lookup-self",
            "team/auth/token/lookup-self",
        ] {
            let p = crate::listen::cache::normalize_path(raw).unwrap();
            assert!(is_lookup_self(&p), "{raw}");
        }
        assert!(crate::listen::cache::normalize_path("auth/token/./lookup-self").is_none());
        assert!(!is_lookup_self("auth/token/lookup-self-other"));
    }

    #[test]
    fn a_wrapped_answer_of_the_token_api_is_refused_but_for_creations() {
        for p in [
            "auth/token/renew-self",
            "auth/token/lookup-self",
            "auth/token/lookup",
            "auth/token/renew",
            "auth/token/lookup-accessor",
            "team/auth/token/renew-self",
            "sys/wrapping/wrap",
            "team/sys/wrapping/wrap",
        ] {
            assert!(reveals_token_wrapped(p), "{p}");
        }
        for p in [
            "auth/token/create",
            "auth/token/create-orphan",
            "auth/token/create/role",
            "team/auth/token/create",
            "secret/data/app",
            "sys/wrapping/unwrap",
            "auth/approle/login",
        ] {
            assert!(!reveals_token_wrapped(p), "{p}");
        }
        assert!(under_token_api("auth/token/create"));
        assert!(under_token_api("team/auth/token/renew-self"));
        assert!(!under_token_api("auth/tokens/x"));
        assert!(!under_token_api("secret/data/app"));
    }

    #[test]
    fn errors_have_vaults_shape() {
        let r = error(
            StatusCode::PRECONDITION_FAILED,
            "missing 'X-Vault-Request' header",
        );
        assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let timeout = BackendError::Transport {
            method: "GET".into(),
            path: "x".into(),
            reason: "timed out".into(),
        };
        assert_eq!(
            backend_error(&timeout).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        let refused = BackendError::Transport {
            method: "GET".into(),
            path: "x".into(),
            reason: "connection failed".into(),
        };
        assert_eq!(backend_error(&refused).status(), StatusCode::BAD_GATEWAY);
    }
}
