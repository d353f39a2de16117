//! The lease engine: owns the token and the secret store, decides when anything is renewed, fetched
//! again or re-authenticated, and drives rendering and delivery after each change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::future::join_all;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::audit::{Auditor, EventKind, OutputMeta, Record, SecretMeta};
use crate::auth::{AuthError, Authenticator, Token, ambient_token, sink::write_sinks};
use crate::backend::secret::{Operation, SecretRequest};
use crate::backend::{BackendError, Client};
use crate::config::Config;
use crate::output::{WriteOutcome, command, write_atomic};
use crate::runtime::EnvSource;

use super::fetch::{FetchError, Fetched, Fetcher};
use super::jobs::{EnvJob, FileJob};
use super::schedule::{TOKEN_RENEW_FRACTION, at_max_ttl, jittered, refetch_after, renew_after};
use super::store::{Action, Entry, Store};

/// How many render → fetch rounds one resolution may take (secrets whose paths depend on other secrets).
const MAX_ROUNDS: usize = 8;

/// How hard to retry transient failures.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First delay.
    pub min: Duration,
    /// Cap of the delay.
    pub max: Duration,
    /// Attempts after the first; `None` = until it works.
    pub times: Option<usize>,
}

impl RetryPolicy {
    /// `--once`: a few quick retries, then fail.
    pub const ONCE: Self = Self {
        min: Duration::from_millis(250),
        max: Duration::from_secs(2),
        times: Some(3),
    };

    fn builder(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_jitter();
        match self.times {
            Some(n) => b.with_max_times(n),
            None => b.without_max_times(),
        }
    }
}

/// A failure of one output (file or env var) in a delivery cycle. Names the template and, for fetch
/// failures, the secret path; never a value.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct OutputFailure {
    /// The template (source or destination) or env var.
    pub template: String,
    /// What went wrong.
    pub message: String,
    /// Whether it may work on a later try (backend unreachable).
    pub transient: bool,
}

/// What the engine could not do at all.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Authentication failed (after retries).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The client could not be built.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// The rendered env_template variables.
pub type EnvMap = BTreeMap<String, Zeroizing<String>>;

/// The outcome of one delivery cycle.
#[derive(Default)]
pub struct Delivery {
    /// Per template file: `Ok(changed)` or why it failed.
    pub files: Vec<Result<bool, OutputFailure>>,
    /// The env vars, when every one rendered.
    pub env: Option<Result<EnvMap, OutputFailure>>,
}

impl Delivery {
    /// Every failure of this cycle.
    pub fn failures(&self) -> impl Iterator<Item = &OutputFailure> {
        self.files
            .iter()
            .filter_map(|r| r.as_ref().err())
            .chain(self.env.iter().filter_map(|r| r.as_ref().err()))
    }
}

/// The lease engine. See the module doc.
pub struct Engine {
    cfg: Arc<Config>,
    fetcher: Fetcher,
    auth: Option<Authenticator>,
    token: Option<Token>,
    token_due: Option<Instant>,
    store: Store,
    files: Vec<FileJob>,
    envs: Vec<EnvJob>,
    auditor: Auditor,
    env: Arc<dyn EnvSource>,
    retry: RetryPolicy,
}

impl Engine {
    /// An engine for `cfg` with parsed `files`/`envs`, talking through `client`.
    pub fn new(
        cfg: Arc<Config>,
        client: Client,
        files: Vec<FileJob>,
        envs: Vec<EnvJob>,
        auditor: Auditor,
        env: Arc<dyn EnvSource>,
        retry: RetryPolicy,
    ) -> Self {
        let auth = cfg
            .auto_auth
            .as_ref()
            .map(|a| Authenticator::new(a.method.clone(), cfg.vault.clone(), client.clone()));
        Self {
            fetcher: Fetcher::new(client, auditor.clone()),
            store: Store::new(env.clone()),
            cfg,
            auth,
            token: None,
            token_due: None,
            files,
            envs,
            auditor,
            env,
            retry,
        }
    }

    /// The auditor events go to (shared with the exec supervisor).
    pub fn auditor(&self) -> Auditor {
        self.auditor.clone()
    }

    /// Whether any env_template is configured.
    pub fn has_env(&self) -> bool {
        !self.envs.is_empty()
    }

    /// Log in (auto-auth, with retries) or pick up the ambient token; write the sinks.
    ///
    /// # Errors
    /// [`EngineError::Auth`] once retries are exhausted or the failure is permanent.
    pub async fn authenticate(&mut self) -> Result<(), EngineError> {
        let token = match &self.auth {
            Some(a) => {
                let (min, max) = self
                    .cfg
                    .auto_auth
                    .as_ref()
                    .map(|c| (c.method.min_backoff, c.method.max_backoff))
                    .unwrap_or((self.retry.min, self.retry.max));
                let policy = RetryPolicy {
                    min: min.min(self.retry.max),
                    max: max.min(if self.retry.times.is_some() {
                        self.retry.max
                    } else {
                        max
                    }),
                    ..self.retry
                };
                let exit_on_err = self
                    .cfg
                    .auto_auth
                    .as_ref()
                    .is_some_and(|c| c.method.exit_on_err);
                let auditor = self.auditor.clone();
                let attempt = || async {
                    let r = a.login().await;
                    let identity = match &r {
                        Ok(t) => t.identity.clone(),
                        Err(_) => a.base_identity(),
                    };
                    auditor.record(
                        Record::result(EventKind::AuthLogin, r.as_ref().err())
                            .identity(Some(identity)),
                    );
                    r
                };
                attempt
                    .retry(policy.builder())
                    .sleep(tokio::time::sleep)
                    .when(|e: &AuthError| e.is_transient() && !exit_on_err)
                    .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, "login failed"))
                    .await?
            }
            None => ambient_token(self.fetcher.client(), self.env.as_ref()).await?,
        };
        tracing::info!(method = %token.identity.method, accessor = %token.accessor, ttl_s = token.ttl.as_secs(), "authenticated");
        if let Some(aa) = &self.cfg.auto_auth
            && let Err(e) = write_sinks(&aa.sinks, &token)
        {
            tracing::error!(error = %e, "token sink write failed");
        }
        self.token_due = token.expires_at().map(|_| {
            let frac = if token.renewable {
                TOKEN_RENEW_FRACTION
            } else {
                0.9
            };
            token.issued_at + jittered(token.ttl, frac, 0.1)
        });
        self.token = Some(token);
        Ok(())
    }

    /// Render everything, fetching what is missing (concurrently), then deliver the files that changed.
    pub async fn deliver(&mut self) -> Delivery {
        let (files, env) = self.resolve().await;
        let mut delivery = Delivery::default();
        for (job, rendered) in self.files.iter().zip(files) {
            let r = match rendered {
                Ok(bytes) => write_file(job, &bytes, &self.auditor).await,
                Err(e) => Err(e),
            };
            if let Err(e) = &r {
                tracing::error!(template = %job.name, error = %e.message, "template not delivered");
            }
            delivery.files.push(r);
        }
        if !self.envs.is_empty() {
            delivery.env = Some(env);
        }
        self.auditor.flush();
        delivery
    }

    /// Render all jobs against the store; fetch whatever is missing and render again, up to
    /// [`MAX_ROUNDS`]. Returns per-file results and the env map (or the first env failure).
    async fn resolve(
        &mut self,
    ) -> (
        Vec<Result<Zeroizing<String>, OutputFailure>>,
        Result<EnvMap, OutputFailure>,
    ) {
        let mut failed: BTreeMap<SecretRequest, (String, bool)> = BTreeMap::new();
        for round in 0..MAX_ROUNDS {
            let mut wanted: Vec<SecretRequest> = Vec::new();
            let mut files = Vec::with_capacity(self.files.len());
            for job in &self.files {
                let out = job.template.render(&self.store, job.missing_key);
                files.push(outcome(&job.name, out, &failed, &mut wanted));
            }
            let mut env: Result<EnvMap, OutputFailure> = Ok(EnvMap::new());
            for job in &self.envs {
                let out = job.template.render(&self.store, job.missing_key);
                let r = outcome(&job.name, out, &failed, &mut wanted);
                if let Ok(map) = &mut env {
                    match r {
                        Ok(v) => {
                            map.insert(job.name.clone(), v);
                        }
                        Err(e) => env = Err(e),
                    }
                }
            }
            if wanted.is_empty() || round + 1 == MAX_ROUNDS {
                return (files, env);
            }
            for (req, r) in wanted.iter().zip(self.fetch_all(&wanted).await) {
                match r {
                    Ok(f) => self.insert(req.clone(), f),
                    Err(e) => {
                        failed.insert(req.clone(), (format!("{req}: {e}"), e.is_transient()));
                    }
                }
            }
        }
        (Vec::new(), Ok(EnvMap::new()))
    }

    /// Fetch `reqs` concurrently (bounded by the client's in-flight cap), each with retries.
    async fn fetch_all(&self, reqs: &[SecretRequest]) -> Vec<Result<Fetched, FetchError>> {
        let Some(token) = &self.token else {
            return reqs
                .iter()
                .map(|r| Err(FetchError::NotFound(r.path.clone())))
                .collect();
        };
        let policy = self.retry.builder();
        join_all(reqs.iter().map(|req| {
            let fetch = || self.fetcher.fetch(req, &token.secret, &token.identity);
            fetch
                .retry(policy)
                .sleep(tokio::time::sleep)
                .when(FetchError::is_transient)
                .notify(move |e, d| tracing::warn!(secret = %req, error = %e, retry_in = ?d, "fetch failed"))
        }))
        .await
    }

    fn insert(&mut self, req: SecretRequest, fetched: Fetched) {
        let now = Instant::now();
        let s = &fetched.secret;
        let (due, action, expires_at) = if s.lease_duration > 0 {
            let lease = Duration::from_secs(s.lease_duration);
            if s.renewable {
                (
                    now + renew_after(lease, self.cfg.template_config.lease_renewal_threshold),
                    Action::Renew,
                    Some(now + lease),
                )
            } else {
                (
                    now + refetch_after(lease),
                    Action::Refetch,
                    Some(now + lease),
                )
            }
        } else if let Some(left) = pki_time_left(&req, s) {
            (
                now + jittered(left, 2.0 / 3.0, 0.05),
                Action::Refetch,
                Some(now + left),
            )
        } else {
            (
                now + self.cfg.template_config.static_secret_render_interval,
                Action::Refetch,
                None,
            )
        };
        self.store.insert(
            req,
            Entry {
                fetched,
                since: now,
                expires_at,
                due,
                action,
            },
        );
    }

    /// The next time anything is due (token or secret).
    pub fn next_due(&self) -> Option<Instant> {
        match (self.token_due, self.store.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Do everything that is due now: renew or replace the token, renew or re-fetch secrets. Returns
    /// whether any secret was replaced (so outputs must be rendered again).
    pub async fn tick(&mut self) -> bool {
        let now = Instant::now();
        let mut changed = false;
        if self.token_due.is_some_and(|d| d <= now) {
            changed |= self.maintain_token().await;
        }
        let due: Vec<(SecretRequest, Action)> = self
            .store
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(r, e)| (r.clone(), e.action))
            .collect();
        let mut refetch = Vec::new();
        for (req, action) in due {
            match action {
                Action::Renew if self.renew_lease(&req).await => {}
                _ => refetch.push(req),
            }
        }
        if !refetch.is_empty() {
            for (req, r) in refetch.iter().zip(self.fetch_all(&refetch).await) {
                match r {
                    Ok(f) => {
                        self.insert(req.clone(), f);
                        changed = true;
                    }
                    Err(e) => {
                        // Keep the old secret (outputs stay as they are) and try again later.
                        tracing::warn!(secret = %req, error = %e, "refresh failed; keeping the last good value");
                        if let Some(entry) = self.store.get_mut(req) {
                            entry.due = Instant::now() + retry_delay(entry.expires_at);
                        }
                    }
                }
            }
        }
        changed
    }

    /// Renew the token at ~2/3 of its TTL; log in again when it cannot be renewed any more. Returns
    /// whether leased secrets were dropped (they die with the old token and must be fetched again).
    async fn maintain_token(&mut self) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        let asked = token.ttl;
        let renewed = if token.renewable {
            let r = self
                .fetcher
                .client()
                .renew_self(&token.secret, asked.as_secs())
                .await;
            self.auditor.record(
                Record::result(EventKind::AuthRenew, r.as_ref().err())
                    .identity(Some(token.identity.clone())),
            );
            match r {
                Ok(a) if !at_max_ttl(Duration::from_secs(a.lease_duration), asked) => {
                    let granted = Duration::from_secs(a.lease_duration);
                    if let Some(t) = &mut self.token {
                        t.issued_at = Instant::now();
                        t.ttl = granted;
                    }
                    self.token_due =
                        Some(Instant::now() + jittered(granted, TOKEN_RENEW_FRACTION, 0.1));
                    true
                }
                Ok(_) => false,
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "token renewal failed; will retry");
                    self.token_due = Some(Instant::now() + retry_delay(token.expires_at()));
                    return false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "token cannot be renewed; logging in again");
                    false
                }
            }
        } else {
            false
        };
        if renewed || self.auth.is_none() {
            if !renewed {
                self.token_due = None;
            }
            return false;
        }
        if let Err(e) = self.authenticate().await {
            tracing::error!(error = %e, "re-authentication failed");
            let expires = self.token.as_ref().and_then(Token::expires_at);
            self.token_due = Some(Instant::now() + retry_delay(expires));
            return false;
        }
        // Leases created with the old token are revoked when it expires: replace them now.
        let now = Instant::now();
        let mut any = false;
        self.store.retain(|_, e| {
            if !e.fetched.secret.lease_id.is_empty() {
                e.due = now;
                e.action = Action::Refetch;
                any = true;
            }
            true
        });
        any
    }

    /// Renew one lease. Returns false when it must be fetched again instead.
    async fn renew_lease(&mut self, req: &SecretRequest) -> bool {
        let (Some(token), Some(entry)) = (&self.token, self.store.get(req)) else {
            return false;
        };
        let lease_id = entry.fetched.secret.lease_id.clone();
        let asked = Duration::from_secs(entry.fetched.secret.lease_duration);
        let r = self
            .fetcher
            .client()
            .renew_lease(&token.secret, &lease_id, asked.as_secs())
            .await;
        let mut meta = SecretMeta {
            path: entry.fetched.api_path.clone(),
            lease_id: lease_id.clone(),
            ..SecretMeta::default()
        };
        if let Ok(l) = &r {
            meta.lease_duration_s = l.lease_duration;
            meta.renewable = l.renewable;
        }
        self.auditor.record(
            Record::result(EventKind::SecretRenew, r.as_ref().err())
                .identity(Some(token.identity.clone()))
                .secret(meta),
        );
        let threshold = self.cfg.template_config.lease_renewal_threshold;
        let token_expiry = token.expires_at();
        let Some(entry) = self.store.get_mut(req) else {
            return false;
        };
        match r {
            Ok(l) => {
                let granted = Duration::from_secs(l.lease_duration);
                let now = Instant::now();
                entry.expires_at = Some(now + granted);
                if at_max_ttl(granted, asked) || !l.renewable {
                    // Fetch the replacement while the old credential is still valid.
                    entry.action = Action::Refetch;
                    entry.due = now + granted.mul_f64(0.5);
                } else {
                    entry.due = now + renew_after(granted, threshold);
                }
                if let Some(t) = token_expiry {
                    entry.due = entry.due.min(t);
                }
                true
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(secret = %req, error = %e, "lease renewal failed; will retry");
                entry.due = Instant::now() + retry_delay(entry.expires_at);
                true
            }
            Err(e) => {
                tracing::warn!(secret = %req, error = %e, "lease cannot be renewed; fetching a new secret");
                false
            }
        }
    }
}

/// Turn one render outcome into a result, collecting missing dependencies that have not failed yet.
fn outcome(
    name: &str,
    out: crate::template::RenderOutcome,
    failed: &BTreeMap<SecretRequest, (String, bool)>,
    wanted: &mut Vec<SecretRequest>,
) -> Result<Zeroizing<String>, OutputFailure> {
    let mut failure = None;
    for m in out.missing {
        if let Some((msg, transient)) = failed.get(&m) {
            failure.get_or_insert(OutputFailure {
                template: name.into(),
                message: format!("template {name}: {msg}"),
                transient: *transient,
            });
        } else if !wanted.contains(&m) {
            wanted.push(m);
        }
    }
    if let Some(f) = failure {
        return Err(f);
    }
    out.result.map_err(|e| OutputFailure {
        template: name.into(),
        message: e.to_string(),
        transient: false,
    })
}

async fn write_file(
    job: &FileJob,
    bytes: &Zeroizing<String>,
    auditor: &Auditor,
) -> Result<bool, OutputFailure> {
    let destination = job.target.path.display().to_string();
    let r = write_atomic(&job.target, bytes.as_bytes());
    let fail = |message: String| OutputFailure {
        template: job.name.clone(),
        message,
        transient: false,
    };
    match r {
        Ok(WriteOutcome::Unchanged) => Ok(false),
        Ok(WriteOutcome::Written) => {
            auditor.record(
                Record::new(EventKind::OutputWrite, crate::audit::Outcome::Success)
                    .output(OutputMeta::File { destination }),
            );
            tracing::info!(destination = %job.target.path.display(), "rendered");
            if let Some(cmd) = &job.command {
                command::run(cmd, job.command_timeout)
                    .await
                    .map_err(|e| fail(format!("template {}: {e}", job.name)))?;
            }
            Ok(true)
        }
        Err(e) => {
            auditor.record(
                Record::result(EventKind::OutputWrite, Some(&e))
                    .output(OutputMeta::File { destination }),
            );
            Err(fail(format!("template {}: {e}", job.name)))
        }
    }
}

/// Time left on a PKI certificate: write-style requests whose data carries the server's `expiration`
/// (Unix seconds). Never derived from NotAfter−NotBefore (leaf certs are back-dated).
fn pki_time_left(req: &SecretRequest, s: &crate::backend::secret::Secret) -> Option<Duration> {
    if req.op != Operation::Write {
        return None;
    }
    let exp = s.data.0.get("expiration")?.as_i64()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Some(Duration::from_secs(
        exp.saturating_sub(now).max(1).unsigned_abs(),
    ))
}

/// Delay before retrying a failed renewal or refresh: a tenth of what is left, between 5 s and 60 s.
fn retry_delay(expires_at: Option<Instant>) -> Duration {
    let left = expires_at
        .map(|e| e.saturating_duration_since(Instant::now()))
        .unwrap_or(Duration::from_secs(600));
    (left / 10).clamp(Duration::from_secs(5), Duration::from_secs(60))
}
