//! The HTTP client for the OpenBao/Vault API (`/v1/...`): the nodes of a server or cluster, failover
//! between them, the consistency index, and a cap on requests in flight. The calls themselves are in
//! `api`, the connection pools in `pool`.
//! `disable_idle_connections` / `disable_keep_alives` name parts of the agent: a part set apart gets a
//! pool of its own, configured as asked (the login and token calls are `auto-auth`, the rest
//! `templating`).

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

use super::error::BackendError;
use super::observe::{Observed, Observer};
use super::response::{RawResponse, read_body};
use super::tls::TlsSettings;

/// Where the backend is and how to talk to it.
#[derive(Clone, Debug)]
pub struct ClientSettings<'a> {
    /// Base address, e.g. `http://127.0.0.1:8200`: the node tried first.
    pub address: &'a str,
    /// The cluster's other nodes, tried in this order when a node fails.
    pub addresses: &'a [String],
    /// `X-Vault-Namespace` for every request, if any.
    pub namespace: Option<&'a str>,
    /// TLS settings.
    pub tls: TlsSettings<'a>,
    /// Most requests in flight at once (`template_config.max_connections_per_host`).
    pub max_in_flight: usize,
    /// How the `auto-auth` part (login, and the agent's own token) reuses connections.
    pub auth: Reuse,
    /// How the `templating` part (secrets and their leases) reuses connections.
    pub templating: Reuse,
    /// How long a request may take in all and how much of an answer is read.
    pub limits: Limits,
}

/// A client of one OpenBao/Vault server or cluster. Cheap to clone; clones share the pool, the in-flight
/// cap, the node in use and the consistency index.
///
/// With several nodes, a request goes to the node that answered last; a connection error, a 5xx, a 429
/// or 412 (a standby behind the index asked for), a refused redirect or a standby's "no handler for route"
/// moves it to the next node in configured order, each node tried once per request. When every node
/// failed, the caller's one shared backoff applies. Nothing here ever decides a token is invalid.
#[derive(Clone, Debug)]
pub struct Client {
    /// The `templating` part's pool.
    http: reqwest::Client,
    /// Base URLs of the nodes, the configured `address` first.
    nodes: Arc<[String]>,
    /// Index into `nodes` of the node that answered last.
    current: Arc<AtomicUsize>,
    /// The newest `X-Vault-Index` seen, sent on every request so a standby never answers from older
    /// state than the agent has already seen (read-after-write across nodes).
    index: Arc<Mutex<Option<HeaderValue>>>,
    /// The `auto-auth` part's pool: the same as `http` unless the two reuse connections differently.
    auth_http: reqwest::Client,
    reuse: (Reuse, Reuse),
    namespace: Option<String>,
    in_flight: Arc<Semaphore>,
    /// The in-flight cap, also the idle connections kept per node.
    max_in_flight: usize,
    /// Shared, to keep the client small: it is moved around by value.
    limits: Arc<Limits>,
    /// Where requests no caller records, and moves to another node, are reported (the auditor).
    observer: Observed,
}

impl Client {
    /// The client for `cfg`'s `vault` stanza (address, namespace, TLS) and its in-flight cap.
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn for_config(cfg: &crate::config::Config) -> Result<Self, BackendError> {
        let v = &cfg.vault;
        Self::new(&ClientSettings {
            address: &v.address,
            addresses: &v.addresses,
            namespace: v.namespace.as_deref(),
            tls: TlsSettings {
                ca_cert: v.ca_cert.as_deref(),
                ca_path: v.ca_path.as_deref(),
                client_cert: v.client_cert.as_deref().zip(v.client_key.as_deref()),
                skip_verify: v.tls_skip_verify,
                server_name: v.tls_server_name.as_deref(),
            },
            max_in_flight: cfg.template_config.max_connections_per_host,
            auth: Reuse::of(cfg, |p| p.auto_auth),
            templating: Reuse::of(cfg, |p| p.templating),
            limits: Limits {
                timeout: v.client_timeout,
                ..Limits::default()
            },
        })
    }

    /// A client of the plain-http server at `address` with the default settings (tests).
    #[cfg(test)]
    pub fn plain(address: &str) -> Self {
        Self::plain_with(address, Limits::default())
    }

    /// A client of the plain-http server at `address` under `limits`, otherwise with the default
    /// settings (tests).
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub fn plain_with(address: &str, limits: Limits) -> Self {
        Self::new(&ClientSettings {
            address,
            addresses: &[],
            namespace: None,
            tls: TlsSettings::default(),
            max_in_flight: 8,
            auth: Reuse::default(),
            templating: Reuse::default(),
            limits,
        })
        .unwrap()
    }

    /// Build a client.
    ///
    /// # Errors
    /// [`BackendError::Setup`] for a bad address or unusable TLS files.
    pub fn new(s: &ClientSettings<'_>) -> Result<Self, BackendError> {
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for address in std::iter::once(s.address).chain(s.addresses.iter().map(String::as_str)) {
            let base = address.trim_end_matches('/').to_string();
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(BackendError::Setup(format!(
                    "address {address:?} must start with http:// or https://"
                )));
            }
            let url = reqwest::Url::parse(&base).map_err(|e| {
                BackendError::Setup(format!("address {address:?} is not a valid URL: {e}"))
            })?;
            if urls
                .iter()
                .any(|u: &reqwest::Url| u.origin() == url.origin())
            {
                continue;
            }
            nodes.push(base);
            urls.push(url);
        }
        let max = s.max_in_flight.max(1);
        let http = http_client(&nodes, &urls, &s.tls, max, s.templating, s.limits.timeout)?;
        let auth_http = if s.auth == s.templating {
            http.clone()
        } else {
            http_client(&nodes, &urls, &s.tls, max, s.auth, s.limits.timeout)?
        };
        Ok(Self {
            http,
            nodes: nodes.into(),
            current: Arc::new(AtomicUsize::new(0)),
            index: Arc::new(Mutex::new(None)),
            auth_http,
            reuse: (s.auth, s.templating),
            namespace: s.namespace.map(str::to_string),
            in_flight: Arc::new(Semaphore::new(max)),
            max_in_flight: max,
            limits: Arc::new(s.limits),
            observer: Observed::default(),
        })
    }

    /// This client, reporting to `observer` (the audit trail) the requests no caller records an event
    /// for, and every move to another node.
    #[must_use]
    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Observed(Some(observer));
        self
    }

    /// A client of the same nodes that presents other TLS settings (the `cert` auth method's client
    /// certificate). It has its own connections but shares the node in use, the consistency index and
    /// the in-flight cap with this client: a login through it starts on the node in use and fails over
    /// like any call, and the calls after it go where it was answered, with the index it saw.
    ///
    /// # Errors
    /// [`BackendError::Setup`] for unusable TLS files.
    pub fn with_tls(&self, tls: &TlsSettings<'_>) -> Result<Self, BackendError> {
        let urls = self
            .nodes
            .iter()
            .map(|n| {
                reqwest::Url::parse(n).map_err(|e| {
                    BackendError::Setup(format!("address {n:?} is not a valid URL: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // It serves logins only: the `auto-auth` part's connection reuse, for both pools.
        let http = http_client(
            &self.nodes,
            &urls,
            tls,
            self.max_in_flight,
            self.reuse.0,
            self.limits.timeout,
        )?;
        Ok(Self {
            auth_http: http.clone(),
            http,
            ..self.clone()
        })
    }

    /// Every configured node address (`address`, then `addresses`; or `BAO_ADDR`'s).
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The configured address of the node that answered last (or is tried first): audit events name it.
    pub fn node(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed);
        self.nodes.get(i).unwrap_or(&self.nodes[0])
    }

    /// One API call, on the node in use, failing over to the others in configured order. `Ok(None)` for
    /// 204 and for 404 on a read (no secret at that path). A call made for a purpose (no caller records
    /// it) is reported to the observer once it ends.
    async fn call(&self, req: Req<'_>) -> Result<Option<RawResponse>, BackendError> {
        let n = self.nodes.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut k = 0;
        let result = loop {
            let i = (first + k) % n;
            match self.call_node(i, req).await {
                Err(e) if k + 1 < n && e.fails_over() => {
                    tracing::warn!(node = %self.nodes[i], error = %e, "node failed, trying the next one");
                    k += 1;
                }
                other => {
                    if other.is_ok() || !other.as_ref().is_err_and(BackendError::fails_over) {
                        // Stay on the node that answered.
                        self.settle(i);
                    }
                    break other;
                }
            }
        };
        self.report_answer(req, &result);
        result
    }

    /// Make node `i` the one in use; a move from another node is reported to the observer.
    fn settle(&self, i: usize) {
        let before = self.current.swap(i, Ordering::Relaxed);
        if before != i
            && let (Some(o), Some(previous)) = (&self.observer.0, self.nodes.get(before))
        {
            o.failover(&self.nodes[i], previous);
        }
    }

    /// One API call on node `i`.
    async fn call_node(&self, i: usize, r: Req<'_>) -> Result<Option<RawResponse>, BackendError> {
        let method = r.method;
        let path = r.path.trim_start_matches('/');
        let url = format!("{}/v1/{}", self.nodes[i], path);
        // Errors name the path, but never a token written into it.
        let shown = super::loggable_path(path);
        let path: &str = &shown;
        let mut headers = HeaderMap::new();
        if let Some(b) = r.bearer {
            let mut v = HeaderValue::from_str(b.token.expose_secret()).map_err(|_| {
                BackendError::Setup("token has characters not allowed in a header".into())
            })?;
            v.set_sensitive(true);
            headers.insert("X-Vault-Token", v);
        }
        if let Some(ns) = r.namespace.or(self.namespace.as_deref()) {
            let v = HeaderValue::from_str(ns).map_err(|_| {
                BackendError::Setup(format!("namespace {ns:?} is not a valid header value"))
            })?;
            headers.insert("X-Vault-Namespace", v);
        }
        if let Some(ttl) = r.wrap_ttl {
            headers.insert("X-Vault-Wrap-TTL", HeaderValue::from(ttl.as_secs()));
        }
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(index) = self.index.lock().ok().and_then(|g| g.clone()) {
            headers.insert("X-Vault-Index", index);
        }
        let (http, reuse) = match r.part {
            Part::AutoAuth => (&self.auth_http, self.reuse.0),
            Part::Templating => (&self.http, self.reuse.1),
        };
        if reuse.no_keep_alive {
            headers.insert(
                reqwest::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
        }
        let mut req = http.request(method.clone(), &url).headers(headers);
        if let Some(b) = r.body {
            req = req.json(b);
        }
        let call = Call {
            method,
            path,
            limits: *self.limits,
        };
        let permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| BackendError::Transport {
                method: method.to_string(),
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        // From here the server may see the call: if the caller stops waiting, it is reported.
        let unanswered = Unanswered::arm(self, i, r);
        let answer = async {
            let resp = req.send().await.map_err(|e| call.send_error(&e))?;
            let status = resp.status();
            if let Some(index) = resp.headers().get("X-Vault-Index") {
                self.remember_index(index);
            }
            let kind = content_type(resp.headers());
            let bytes = call.read_body(resp).await?;
            Ok::<_, BackendError>((status, kind, bytes))
        }
        .await;
        unanswered.disarm();
        let (status, kind, bytes) = answer?;
        // The connection goes back to the pool from its own task once the body is done; let that run
        // before the permit is released, or the next request may open one connection more than the cap.
        tokio::task::yield_now().await;
        drop(permit);
        read_body(method, path, status, &kind, &bytes)
    }

    /// Keep `seen` if it is newer than the index already kept. OpenBao's header is base64 of a JSON
    /// object carrying the cluster's index; when either cannot be read that way, the latest one wins.
    fn remember_index(&self, seen: &HeaderValue) {
        let Ok(mut kept) = self.index.lock() else {
            return;
        };
        let newer = match (kept.as_ref().and_then(index_of), index_of(seen)) {
            (Some(old), Some(new)) => new >= old,
            _ => true,
        };
        if newer {
            *kept = Some(seen.clone());
        }
    }
}

mod api;
mod body;
mod forward;
mod kv;
mod pool;
mod request;
#[cfg(test)]
mod tests;
mod token_api;

use body::{Call, content_type};
pub use body::{Limits, MAX_RESPONSE_SIZE};
pub use forward::{Forward, ForwardBody, strip_hop_by_hop};
pub use kv::KvWritten;
pub use pool::Reuse;
use pool::{Part, http_client, transport_reason};
use request::{Req, Unanswered};

/// The index number inside an `X-Vault-Index` value (base64 of a JSON object with an `index` field, in
/// whatever case), if it has one.
fn index_of(v: &HeaderValue) -> Option<u64> {
    use base64::Engine;
    let text = v.to_str().ok()?;
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    let bytes = engines.iter().find_map(|e| e.decode(text).ok())?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    json.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("index") || k.eq_ignore_ascii_case("local_index"))
        .and_then(|(_, v)| v.as_u64())
}
