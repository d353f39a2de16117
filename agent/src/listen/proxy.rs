//! The API proxy: one request in, one answer out. `/v1/...` goes to the backend through the backend
//! client (the caller's token, or the agent's per `use_auto_auth_token`; from a caller matched to a
//! workload, its own token or else the workload's, never the agent's); with `cache {}` a request the
//! cache may answer or must see is read whole and goes through [`Cache::handle`], everything else
//! streams both ways. The agent API: `/agent/v1/metrics`, `/agent/v1/quit` (`enable_quit`),
//! `/agent/v1/cache-clear` (with a cache); a workload's caller gets the metrics only. A `metrics_only`
//! listener serves the metrics alone.
//!
//! - this file: the [`Proxy`], the dispatch of a request, the agent API, refusals, Vault-shaped errors.
//! - `forward`: a `/v1/...` request sent through the cache or to the backend, its answer audited.
//! - `answer`: backend answers read whole (bounded), peeked when of unknown length, or streamed.
//! - `token`: the token a request goes with, the agent's hidden from the caller, the wrap rule.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use secrecy::SecretString;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::cache::{self, Cache};
use super::door::{Refused, Sender};
use super::types::CacheStatus;
use crate::admin::Telemetry;
use crate::audit::{Auditor, CallerMeta, EventKind, Outcome, ProxyMeta, Record, SecretMeta};
use crate::backend::{BackendError, Client};
use crate::config::{ApiListener, ApiProxyConfig, ListenerRole};

mod answer;
mod forward;
mod token;

/// The body of an answer: buffered or streamed from the backend.
pub(super) type Body = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The listener a request came in on.
pub(super) type Served = Arc<ApiListener>;

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

/// What the proxy reads from a request a local caller sent, and from its answer, without a backend:
/// the caller's token, the path's spelling and class, the cache's route and the token rule on the
/// answer (the fuzz targets feed it arbitrary requests).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_request(req: &super::types::ProxyRequest, answer: &super::types::ProxyResponse) {
    let _ = (
        content_length(&req.headers),
        token::caller_token(&req.headers),
    );
    let _ = cache::sees(&req.method, &req.path);
    cache::fuzz_route(req);
    if let Some(path) = cache::normalize_path(&req.path) {
        let _ = (
            token::reveals_token_wrapped(&path),
            token::under_token_api(&path),
        );
        if let Some(sent) = &req.token {
            token::hide_token(&path, sent, &mut answer.clone());
        }
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
mod tests;
