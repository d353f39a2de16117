//! The HTTP client for the OpenBao/Vault API (`/v1/...`): one connection pool, a cap on requests in flight.
//! `disable_idle_connections` / `disable_keep_alives` name parts of the agent: a part set apart gets a
//! pool of its own, configured as asked (the login and token calls are `auto-auth`, the rest
//! `templating`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::error::BackendError;
use super::redirect::{RedirectGuard, refusal_in};
use super::response::{
    AuthInfo, LeaseRenewal, MountInfo, RawResponse, TokenInfo, WrapInfo, decode, error_text,
    into_secret, str_field, take_auth, take_wrap_info,
};
use super::secret::Secret;
use super::tls::{TlsSettings, client_config};

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
}

/// How one part of the agent reuses backend connections (Vault Agent's `disable_idle_connections` and
/// `disable_keep_alives`). The default keeps idle connections for the next request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reuse {
    /// `disable_idle_connections`: no connection is kept idle; each is closed once its request is done.
    pub no_idle: bool,
    /// `disable_keep_alives`: one connection per request, announced with `Connection: close` (so over
    /// HTTP/1.1, where that header means something).
    pub no_keep_alive: bool,
}

impl Reuse {
    /// The reuse of `part` under `cfg`'s `disable_idle_connections` and `disable_keep_alives`.
    fn of(cfg: &crate::config::Config, part: impl Fn(&crate::config::Parts) -> bool) -> Self {
        Self {
            no_idle: part(&cfg.disable_idle_connections),
            no_keep_alive: part(&cfg.disable_keep_alives),
        }
    }
}

/// Which part of the agent a call belongs to, for [`Reuse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Logging in, and the agent's own token.
    AutoAuth,
    /// Secrets and their leases.
    Templating,
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
        })
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
        let http = http_client(&nodes, &urls, &s.tls, max, s.templating)?;
        let auth_http = if s.auth == s.templating {
            http.clone()
        } else {
            http_client(&nodes, &urls, &s.tls, max, s.auth)?
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
        })
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
        let http = http_client(&self.nodes, &urls, tls, self.max_in_flight, self.reuse.0)?;
        Ok(Self {
            auth_http: http.clone(),
            http,
            ..self.clone()
        })
    }

    /// The configured address of the node that answered last (or is tried first): audit events name it.
    pub fn node(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed);
        self.nodes.get(i).unwrap_or(&self.nodes[0])
    }

    /// One API call of `part`, on the node in use, failing over to the others in configured order. `Ok(None)` for
    /// 204 and for 404 on a read (no secret at that path).
    async fn call(
        &self,
        part: Part,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&Value>,
        namespace: Option<&str>,
    ) -> Result<Option<RawResponse>, BackendError> {
        self.call_wrapped(part, method, path, token, body, namespace, None)
            .await
    }

    /// One API call whose response the server wraps when `wrap_ttl` is given (`X-Vault-Wrap-TTL`), on the
    /// node in use, failing over to the others in configured order.
    #[allow(clippy::too_many_arguments)]
    async fn call_wrapped(
        &self,
        part: Part,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&Value>,
        namespace: Option<&str>,
        wrap_ttl: Option<Duration>,
    ) -> Result<Option<RawResponse>, BackendError> {
        let n = self.nodes.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut k = 0;
        loop {
            let i = (first + k) % n;
            let result = self
                .call_node(
                    i,
                    part,
                    method.clone(),
                    path,
                    token,
                    body,
                    namespace,
                    wrap_ttl,
                )
                .await;
            match result {
                Err(e) if k + 1 < n && e.fails_over() => {
                    tracing::warn!(node = %self.nodes[i], error = %e, "node failed, trying the next one");
                    k += 1;
                }
                other => {
                    if other.is_ok() || !other.as_ref().is_err_and(BackendError::fails_over) {
                        // Stay on the node that answered.
                        self.current.store(i, Ordering::Relaxed);
                    }
                    return other;
                }
            }
        }
    }

    /// One API call on node `i`.
    #[allow(clippy::too_many_arguments)]
    async fn call_node(
        &self,
        i: usize,
        part: Part,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&Value>,
        namespace: Option<&str>,
        wrap_ttl: Option<Duration>,
    ) -> Result<Option<RawResponse>, BackendError> {
        let path = path.trim_start_matches('/');
        let url = format!("{}/v1/{}", self.nodes[i], path);
        let mut headers = HeaderMap::new();
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(t.expose_secret()).map_err(|_| {
                BackendError::Setup("token has characters not allowed in a header".into())
            })?;
            v.set_sensitive(true);
            headers.insert("X-Vault-Token", v);
        }
        if let Some(ns) = namespace.or(self.namespace.as_deref()) {
            let v = HeaderValue::from_str(ns).map_err(|_| {
                BackendError::Setup(format!("namespace {ns:?} is not a valid header value"))
            })?;
            headers.insert("X-Vault-Namespace", v);
        }
        if let Some(ttl) = wrap_ttl {
            headers.insert("X-Vault-Wrap-TTL", HeaderValue::from(ttl.as_secs()));
        }
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        if let Some(index) = self.index.lock().ok().and_then(|g| g.clone()) {
            headers.insert("X-Vault-Index", index);
        }
        let (http, reuse) = match part {
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
        if let Some(b) = body {
            req = req.json(b);
        }
        let err_ctx = |reason: String| BackendError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            reason,
        };
        let permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|e| err_ctx(e.to_string()))?;
        let resp = req.send().await.map_err(|e| match refusal_in(&e) {
            Some(refused) => BackendError::Redirect {
                method: method.to_string(),
                path: path.to_string(),
                refused: refused.clone(),
            },
            None => err_ctx(transport_reason(&e)),
        })?;
        let status = resp.status();
        if let Some(index) = resp.headers().get("X-Vault-Index") {
            self.remember_index(index);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| err_ctx(transport_reason(&e)))?;
        // The connection goes back to the pool from its own task once the body is done; let that run
        // before the permit is released, or the next request may open one connection more than the cap.
        tokio::task::yield_now().await;
        drop(permit);
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !status.is_success() {
            let message = error_text(&bytes);
            if status == StatusCode::NOT_FOUND && message.is_empty() && method == Method::GET {
                return Ok(None);
            }
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
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BackendError::Decode {
                method: method.to_string(),
                path: path.to_string(),
                reason: format!(
                    "not the expected JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })
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

    /// Log in: `PUT /v1/<mount>/login` with `body` (e.g. `{"role": .., "jwt": ..}`).
    ///
    /// # Errors
    /// [`BackendError`]; a response without `auth` is a [`BackendError::Decode`].
    pub async fn login(
        &self,
        mount: &str,
        body: &Value,
        namespace: Option<&str>,
    ) -> Result<AuthInfo, BackendError> {
        let path = format!("{}/login", mount.trim_matches('/'));
        let raw = self
            .call(
                Part::AutoAuth,
                Method::PUT,
                &path,
                None,
                Some(body),
                namespace,
            )
            .await?;
        take_auth(raw, &path)
    }

    /// Log in as [`Client::login`] does, the response wrapped for `wrap_ttl`: the wrap info, not a token
    /// sidekey could use (`auto_auth { method { wrap_ttl } }`).
    ///
    /// # Errors
    /// [`BackendError`]; a response without `wrap_info` is a [`BackendError::Decode`].
    pub async fn login_wrapped(
        &self,
        mount: &str,
        body: &Value,
        namespace: Option<&str>,
        wrap_ttl: Duration,
    ) -> Result<WrapInfo, BackendError> {
        let path = format!("{}/login", mount.trim_matches('/'));
        let raw = self
            .call_wrapped(
                Part::AutoAuth,
                Method::PUT,
                &path,
                None,
                Some(body),
                namespace,
                Some(wrap_ttl),
            )
            .await?;
        take_wrap_info(raw, &Method::PUT, &path)
    }

    /// `GET /v1/auth/token/lookup-self`, the response wrapped for `wrap_ttl` (the `token_file` method
    /// with `wrap_ttl`, as Vault Agent sends it).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn lookup_self_wrapped(
        &self,
        token: &SecretString,
        wrap_ttl: Duration,
    ) -> Result<WrapInfo, BackendError> {
        let path = "auth/token/lookup-self";
        let raw = self
            .call_wrapped(
                Part::AutoAuth,
                Method::GET,
                path,
                Some(token),
                None,
                None,
                Some(wrap_ttl),
            )
            .await?;
        take_wrap_info(raw, &Method::GET, path)
    }

    /// Wrap `token` in a response-wrapping token for `wrap_ttl`: `PUT /v1/sys/wrapping/wrap` with
    /// `{"token": ...}`, made with the token itself (a token sink's `wrap_ttl`, as Vault Agent does it),
    /// in `namespace` (else the client's).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn wrap_token(
        &self,
        token: &SecretString,
        wrap_ttl: Duration,
        namespace: Option<&str>,
    ) -> Result<WrapInfo, BackendError> {
        let path = "sys/wrapping/wrap";
        let body = serde_json::json!({ "token": token.expose_secret() });
        let raw = self
            .call_wrapped(
                Part::AutoAuth,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                namespace,
                Some(wrap_ttl),
            )
            .await?;
        take_wrap_info(raw, &Method::PUT, path)
    }

    /// Read a secret: `GET /v1/<path>`. `Ok(None)` when nothing is stored there.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn read(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<Option<Secret>, BackendError> {
        Ok(self
            .call(Part::Templating, Method::GET, path, Some(token), None, None)
            .await?
            .map(into_secret))
    }

    /// Write-style call that returns a secret: `PUT /v1/<path>` with `params` as the JSON body
    /// (e.g. `pki/issue/<role>`).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn write(
        &self,
        token: &SecretString,
        path: &str,
        params: &Value,
    ) -> Result<Option<Secret>, BackendError> {
        Ok(self
            .call(
                Part::Templating,
                Method::PUT,
                path,
                Some(token),
                Some(params),
                None,
            )
            .await?
            .map(into_secret))
    }

    /// List keys: `LIST /v1/<path>`. `Ok(None)` when nothing is there.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn list(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<Option<Secret>, BackendError> {
        let list = Method::from_bytes(b"LIST").map_err(|e| BackendError::Setup(e.to_string()))?;
        match self
            .call(Part::Templating, list, path, Some(token), None, None)
            .await
        {
            Err(BackendError::Status { status: 404, .. }) => Ok(None),
            r => Ok(r?.map(into_secret)),
        }
    }

    /// `GET /v1/auth/token/lookup-self`.
    ///
    /// # Errors
    /// [`BackendError`]; 403 means the token is not valid any more.
    pub async fn lookup_self(&self, token: &SecretString) -> Result<TokenInfo, BackendError> {
        let path = "auth/token/lookup-self";
        let raw = self
            .call(Part::AutoAuth, Method::GET, path, Some(token), None, None)
            .await?;
        let data = raw
            .and_then(|r| r.data)
            .ok_or_else(|| decode(&Method::GET, path, "no data"))?;
        Ok(TokenInfo {
            accessor: str_field(&data, "accessor"),
            ttl: data.get("ttl").and_then(Value::as_u64).unwrap_or(0),
            renewable: data
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            display_name: str_field(&data, "display_name"),
        })
    }

    /// `PUT /v1/auth/token/renew-self` with `increment` seconds.
    ///
    /// # Errors
    /// [`BackendError`]; 403 means the policy forbids renew-self or the token is gone.
    pub async fn renew_self(
        &self,
        token: &SecretString,
        increment: u64,
    ) -> Result<AuthInfo, BackendError> {
        let path = "auth/token/renew-self";
        let body = serde_json::json!({ "increment": increment });
        let raw = self
            .call(
                Part::AutoAuth,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                None,
            )
            .await?;
        take_auth(raw, path)
    }

    /// `PUT /v1/auth/token/revoke-self`.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn revoke_self(&self, token: &SecretString) -> Result<(), BackendError> {
        self.call(
            Part::AutoAuth,
            Method::PUT,
            "auth/token/revoke-self",
            Some(token),
            None,
            None,
        )
        .await
        .map(|_| ())
    }

    /// `PUT /v1/sys/leases/renew` for `lease_id` with `increment` seconds.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn renew_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
        increment: u64,
    ) -> Result<LeaseRenewal, BackendError> {
        let path = "sys/leases/renew";
        let body = serde_json::json!({ "lease_id": lease_id, "increment": increment });
        let raw = self
            .call(
                Part::Templating,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                None,
            )
            .await?
            .ok_or_else(|| decode(&Method::PUT, path, "empty body"))?;
        Ok(LeaseRenewal {
            lease_duration: raw.lease_duration,
            renewable: raw.renewable,
        })
    }

    /// `PUT /v1/sys/leases/lookup` for `lease_id`: the seconds it has left, and whether it is renewable.
    ///
    /// # Errors
    /// [`BackendError`]; a lease that no longer exists is an HTTP 400.
    pub async fn lookup_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
    ) -> Result<(u64, bool), BackendError> {
        let path = "sys/leases/lookup";
        let body = serde_json::json!({ "lease_id": lease_id });
        let raw = self
            .call(
                Part::Templating,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                None,
            )
            .await?;
        let data = raw
            .and_then(|r| r.data)
            .ok_or_else(|| decode(&Method::PUT, path, "no data"))?;
        let ttl = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
        let renewable = data
            .get("renewable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok((ttl, renewable))
    }

    /// `PUT /v1/sys/leases/revoke` for `lease_id`.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn revoke_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
    ) -> Result<(), BackendError> {
        let body = serde_json::json!({ "lease_id": lease_id });
        self.call(
            Part::Templating,
            Method::PUT,
            "sys/leases/revoke",
            Some(token),
            Some(&body),
            None,
        )
        .await
        .map(|_| ())
    }

    /// The mount that serves `path`, from `GET /v1/sys/internal/ui/mounts/<path>`. `Ok(None)` when the
    /// server does not say (older servers, or no access).
    ///
    /// # Errors
    /// Transient [`BackendError`]s only; a refusal is `Ok(None)`.
    pub async fn mount_info(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<Option<MountInfo>, BackendError> {
        let api = format!("sys/internal/ui/mounts/{}", path.trim_matches('/'));
        let raw = match self
            .call(Part::Templating, Method::GET, &api, Some(token), None, None)
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_transient() => return Err(e),
            Err(_) => return Ok(None),
        };
        let Some(data) = raw.and_then(|r| r.data) else {
            return Ok(None);
        };
        let kind = str_field(&data, "type");
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
        Ok(Some(MountInfo {
            path: str_field(&data, "path"),
            kind,
            kv_version,
        }))
    }
}

/// The HTTP client for `nodes` (their parsed `urls`): redirects followed only to one of them, TLS from
/// `tls` when any is https, up to `max` idle connections kept per node unless `reuse` says otherwise.
fn http_client(
    nodes: &[String],
    urls: &[reqwest::Url],
    tls: &TlsSettings<'_>,
    max: usize,
    reuse: Reuse,
) -> Result<reqwest::Client, BackendError> {
    // Redirects are followed only to a configured node: the token goes with them.
    let redirects = RedirectGuard::new(urls.iter());
    // Loading the system's CA roots costs milliseconds at every start: only https needs them.
    let tls = if nodes.iter().any(|n| n.starts_with("https://")) {
        client_config(tls)?
    } else {
        super::tls::unused_config()?
    };
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .redirect(redirects.policy());
    b = if reuse.no_idle || reuse.no_keep_alive {
        b.pool_max_idle_per_host(0)
    } else {
        b.pool_max_idle_per_host(max)
    };
    if reuse.no_keep_alive {
        // `Connection: close` has no meaning in HTTP/2: stay on HTTP/1.1, as Go's client does with
        // keep-alives off.
        b = b.http1_only();
    }
    b.build()
        .map_err(|e| BackendError::Setup(format!("HTTP client: {e}")))
}

/// A transport error as text, with its sources (reqwest's top-level message alone is vague).
fn transport_reason(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests;

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
