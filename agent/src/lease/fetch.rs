//! One retrieval from the backend for a [`SecretRequest`]: KV v2 path rewriting (as consul-template does,
//! from `sys/internal/ui/mounts`, looked up alongside the call when the path is endpoint-shaped), the call
//! itself, and its audit event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::join;
use secrecy::SecretString;
use serde_json::Value;

use crate::audit::{Auditor, CallerMeta, EventKind, Identity, Record, SecretMeta, SecretRef};
use crate::backend::secret::{Operation, Secret, SecretRequest};
use crate::backend::{BackendError, Bearer, Client, Exchange, MountInfo, Observer, Purpose};
use crate::template::scrub::Scrub;
use crate::workload::tokens::WorkloadTokenError;

mod kv_path;

pub use kv_path::{api_path, kv_version};
use kv_path::{likely_as_written, path_under};

/// A retrieval failure, naming the request (path, operation), never a value.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The backend refused or failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Nothing is stored at the path.
    #[error("no secret at {0}")]
    NotFound(String),
    /// The workload's token, which reads the secret, could not be had (see [`WorkloadTokenError`]).
    #[error("{message}")]
    WorkloadToken {
        /// What went wrong, naming the workload.
        message: String,
        /// Whether asking again later may succeed.
        transient: bool,
        /// Whether the server refused the agent's token the creation (403).
        forbidden: bool,
    },
    /// The secret belongs to a workload the config no longer has (a reload removed it).
    #[error("workload {0:?} is not configured")]
    NoWorkload(String),
}

impl FetchError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Backend(e) => e.is_transient(),
            Self::WorkloadToken { transient, .. } => *transient,
            Self::NotFound(_) | Self::NoWorkload(_) => false,
        }
    }

    /// Whether the server answered 403: the token may lack a policy, or may no longer exist.
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            Self::Backend(BackendError::Status { status: 403, .. })
                | Self::WorkloadToken {
                    forbidden: true,
                    ..
                }
        )
    }

    /// The failure of every request of a workload whose token could not be had.
    pub fn workload_token(e: &WorkloadTokenError) -> Self {
        Self::WorkloadToken {
            message: e.to_string(),
            transient: e.is_transient(),
            forbidden: matches!(
                e,
                WorkloadTokenError::Create {
                    source: BackendError::Status { status: 403, .. },
                    ..
                }
            ),
        }
    }
}

/// A fetched secret with where it came from.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The secret as the renderers see it.
    pub secret: Arc<Secret>,
    /// The API path actually called (after KV v2 rewriting).
    pub api_path: String,
    /// The mount, when known.
    pub mount: Option<MountInfo>,
}

impl Fetched {
    /// How an output fed by this secret (fetched for `req`) names it: the API path, the KV v2 version,
    /// the lease, and the certificate serial of an issue (a write, or a read on a `pki` mount, answered
    /// with a `certificate`). Neither is taken from data that could be a secret value: the version only
    /// from a mount not known to be other than KV v2, the serial never from a KV mount.
    pub fn secret_ref(&self, req: &SecretRequest) -> SecretRef {
        let s = &self.secret;
        let mount = self.mount.as_ref();
        let kv2 = mount.is_none_or(|m| m.kv_version == Some(2));
        let pki = match mount {
            Some(m) => m.kind == "pki",
            None => req.op == Operation::Write,
        };
        let data = &s.data.0;
        let serial = (pki && data.get("certificate").is_some_and(Value::is_string))
            .then(|| data.get("serial_number").and_then(Value::as_str))
            .flatten();
        SecretRef {
            path: self.api_path.clone(),
            version: kv2.then(|| kv_version(s)).flatten(),
            lease_id: (!s.lease_id.is_empty()).then(|| s.lease_id.clone()),
            serial: serial.map(str::to_string),
        }
    }
}

/// Resolves paths and fetches secrets; remembers mounts so each is looked up once.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    auditor: Auditor,
    mounts: Arc<Mutex<HashMap<String, MountInfo>>>,
    /// The local caller the fetches are made for: its events carry it.
    caller: Option<CallerMeta>,
}

impl Fetcher {
    /// A fetcher over `client` that reports to `auditor`.
    pub fn new(client: Client, auditor: Auditor) -> Self {
        Self {
            client,
            auditor,
            mounts: Arc::default(),
            caller: None,
        }
    }

    /// This fetcher, its events naming `caller` (a fetch a local caller caused).
    pub fn for_caller(&self, caller: CallerMeta) -> Self {
        Self {
            caller: Some(caller),
            ..self.clone()
        }
    }

    /// The backend client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetch `req` with `token`, recording a `secret.read`/`secret.write` event either way. A template can
    /// build a path from secret data: `hide` (the secrets already held, usually the store) is
    /// taken out of the event's path and error.
    ///
    /// # Errors
    /// [`FetchError`].
    pub async fn fetch(
        &self,
        req: &SecretRequest,
        token: &SecretString,
        identity: &Identity,
        hide: &dyn Scrub,
    ) -> Result<Fetched, FetchError> {
        self.auditor
            .admit(&req.path)
            .map_err(|e| FetchError::Backend(e.into_backend()))?;
        let shown = |p: &str| hide.scrub(p);
        let bearer = Bearer::new(token, &identity.token_accessor).showing(&shown);
        let (mount, guess, written_to) = match req.op {
            // A write is called as written (never rewritten); its mount is looked up alongside only to
            // name the engine in the event (`pki` for `pki/issue/ROLE`), and a failed lookup leaves it out.
            Operation::Write => {
                let (written_to, written) = join(
                    self.known_mount(&req.path, bearer),
                    self.call(req, &req.path, bearer),
                )
                .await;
                (None, Some(written), written_to)
            }
            Operation::Read | Operation::List => {
                let (mount, guess) = self.mount_for(req, bearer).await?;
                (mount, guess, None)
            }
        };
        let api_path = api_path(req, mount.as_ref());
        let result = match guess {
            Some(r) if api_path == req.path => r,
            guess => {
                if let Some(discarded) = guess {
                    self.report_guess(req, bearer, &discarded);
                }
                self.call(req, &api_path, bearer).await
            }
        };
        let result = match result {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(FetchError::NotFound(api_path.clone())),
            Err(e) => Err(FetchError::Backend(e)),
        };
        let kind = if req.op == Operation::Write {
            EventKind::SecretWrite
        } else {
            EventKind::SecretRead
        };
        let mut meta = SecretMeta {
            path: hide.scrub(&api_path),
            mount_type: mount
                .as_ref()
                .or(written_to.as_ref())
                .map(|m| m.kind.clone()),
            ..SecretMeta::default()
        };
        if let Ok(s) = &result {
            meta.lease_id = s.lease_id.clone();
            meta.lease_duration_s = s.lease_duration;
            meta.renewable = s.renewable;
            meta.version = kv_version(s);
        }
        let request_id = result.as_ref().ok().map(|s| s.request_id.as_str());
        let mut record = Record::result(kind, result.as_ref().err())
            .identity(Some(identity.clone()))
            .secret(meta)
            .node(self.client.node())
            .request_id(request_id);
        record.caller.clone_from(&self.caller);
        record.error = record.error.map(|e| hide.scrub(&e));
        self.auditor.record(record);
        let secret = result?;
        Ok(Fetched {
            secret: Arc::new(secret),
            api_path,
            mount,
        })
    }

    /// The one backend call for `req` at `api_path`.
    async fn call(
        &self,
        req: &SecretRequest,
        api_path: &str,
        bearer: Bearer<'_>,
    ) -> Result<Option<Secret>, BackendError> {
        match req.op {
            Operation::Read => self.client.read(bearer, api_path).await,
            Operation::List => self.client.list(bearer, api_path).await,
            Operation::Write => {
                let body: serde_json::Map<String, Value> = req
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                self.client
                    .write(bearer, api_path, &Value::Object(body))
                    .await
            }
        }
    }

    /// A call made alongside the mount lookup whose answer is discarded (the mount says the path must be
    /// rewritten): a `backend.request` event, as no `secret.*` event records it.
    fn report_guess(&self, req: &SecretRequest, bearer: Bearer<'_>, discarded: &CallResult) {
        let method = if req.op == Operation::List {
            "LIST"
        } else {
            "GET"
        };
        self.auditor.request(&Exchange {
            node: self.client.node(),
            method,
            path: &bearer.show(&req.path),
            purpose: Purpose::PathGuess,
            accessor: bearer.accessor,
            request_id: discarded
                .as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|s| s.request_id.as_str())
                .filter(|id| !id.is_empty()),
            error: discarded
                .as_ref()
                .err()
                .map(|e| e as &dyn std::fmt::Display),
        });
    }

    /// The mount serving `req.path`, from the cache or `sys/internal/ui/mounts`. A lookup costs a round
    /// trip before the first read of each mount, so for a path that is almost surely called as written
    /// ([`likely_as_written`]) the call is made alongside the lookup and returned too; the caller uses it
    /// only when the mount confirms the path needs no rewriting.
    async fn mount_for(
        &self,
        req: &SecretRequest,
        bearer: Bearer<'_>,
    ) -> Result<(Option<MountInfo>, Option<CallResult>), BackendError> {
        if let Some(m) = self.cached_mount(&req.path) {
            return Ok((Some(m), None));
        }
        if !likely_as_written(&req.path) {
            return Ok((self.lookup_mount(&req.path, bearer).await?, None));
        }
        let (mount, guess) = join(
            self.lookup_mount(&req.path, bearer),
            self.call(req, &req.path, bearer),
        )
        .await;
        match (mount, guess) {
            (Ok(m), guess) => Ok((m, Some(guess))),
            // The backend answered the call but not the lookup: an unknown mount gets the path as written
            // anyway, and a dynamic secret already issued is not thrown away.
            (Err(_), Ok(s)) => Ok((None, Some(Ok(s)))),
            (Err(e), Err(failed)) => {
                self.report_guess(req, bearer, &Err(failed));
                Err(e)
            }
        }
    }

    /// The mount `path` is under, from the cache or a lookup; `None` when the lookup fails.
    async fn known_mount(&self, path: &str, bearer: Bearer<'_>) -> Option<MountInfo> {
        match self.cached_mount(path) {
            Some(m) => Some(m),
            None => self.lookup_mount(path, bearer).await.ok().flatten(),
        }
    }

    fn cached_mount(&self, path: &str) -> Option<MountInfo> {
        let cache = self.mounts.lock().ok()?;
        cache
            .values()
            .filter(|m| path_under(path, &m.path))
            .max_by_key(|m| m.path.len())
            .cloned()
    }

    async fn lookup_mount(
        &self,
        path: &str,
        bearer: Bearer<'_>,
    ) -> Result<Option<MountInfo>, BackendError> {
        let info = self.client.mount_info(bearer, path).await?;
        if let (Some(m), Ok(mut cache)) = (&info, self.mounts.lock())
            && !m.path.is_empty()
        {
            cache.insert(m.path.clone(), m.clone());
        }
        Ok(info)
    }
}

/// The outcome of one backend call for a request.
type CallResult = Result<Option<Secret>, BackendError>;
