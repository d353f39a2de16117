//! The lease engine: owns the token and the secret store, decides when anything is renewed, fetched
//! again or re-authenticated (`maintain`), and drives rendering and delivery after each change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::future::join_all;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::audit::{Auditor, EventKind, OutputMeta, Record};
use crate::auth::{AuthError, Authenticator, Token, ambient_token, sink::write_sinks};
use crate::backend::secret::{Operation, SecretRequest};
use crate::backend::{BackendError, Client};
use crate::config::Config;
use crate::output::{WriteOutcome, command, write_atomic};
use crate::runtime::EnvSource;

use super::fetch::{FetchError, Fetched, Fetcher};
use super::jobs::{EnvJob, FileJob};
use super::schedule::{
    Backoff, effective_expiry, jittered, refetch_after, renew_after, replace_at,
};
use super::side;
use super::store::{Action, Entry, Store};
use crate::template::SideWrite;

/// How many render → fetch rounds one resolution may take (secrets whose paths depend on other secrets).
const MAX_ROUNDS: usize = 8;

/// How hard to retry a failing call inside one operation.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First delay.
    pub min: Duration,
    /// Cap of the delay.
    pub max: Duration,
    /// Retries after the first attempt; `None` = until it works.
    pub times: Option<usize>,
}

impl RetryPolicy {
    /// `--once`: a few quick retries, then fail.
    pub const ONCE: Self = Self {
        min: Duration::from_millis(250),
        max: Duration::from_secs(2),
        times: Some(3),
    };

    pub(super) fn builder(&self) -> ExponentialBuilder {
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
    /// The env vars, when env_templates are configured.
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

/// A retry that is waiting: how many attempts failed, and when to try again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    pub attempts: u32,
    pub at: Instant,
}

/// What is known about the current token beyond [`Token`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TokenFlags {
    /// renew-self answered 403: never ask again for this login.
    pub renew_forbidden: bool,
    /// A renewal was capped by the max TTL: the token can only run out now.
    pub capped: bool,
    /// The TTL the token was issued with (what a renewal asks for).
    pub base_ttl: Duration,
}

/// The lease engine. See the module doc.
pub struct Engine {
    pub(super) cfg: Arc<Config>,
    pub(super) fetcher: Fetcher,
    pub(super) auth: Option<Authenticator>,
    pub(super) token: Option<Token>,
    pub(super) flags: TokenFlags,
    pub(super) token_due: Option<Instant>,
    /// Replaced tokens by accessor, with their expiry: leases they created die then.
    pub(super) old_tokens: HashMap<String, Option<Instant>>,
    pub(super) store: Store,
    pub(super) files: Vec<FileJob>,
    pub(super) envs: Vec<EnvJob>,
    pub(super) auditor: Auditor,
    pub(super) env: Arc<dyn EnvSource>,
    pub(super) retry: RetryPolicy,
    pub(super) login_retry: RetryPolicy,
    pub(super) backoff: Backoff,
    /// Set while the backend is unreachable: nothing is tried before `at`.
    pub(super) outage: Option<Pending>,
    /// Set when the last delivery had failures: render again at `at`.
    pub(super) render_retry: Option<Pending>,
    /// Per file: a post-render command that failed, to run again (without fetching anything).
    pub(super) command_retry: Vec<Option<Pending>>,
    /// Old leases to revoke once their replacement has been delivered for `revoke_old_after`.
    pub(super) revocations: Vec<(Instant, String)>,
    /// A fetch of the last delivery was refused with 403: the token may have been revoked.
    pub(super) saw_forbidden: bool,
    /// A one-shot run (`--once`, `exit_after_auth`): a failed command is reported, not retried, and does
    /// not fail the run, as with Vault Agent (the file is delivered; an init container must not stop a pod
    /// because e.g. the process it would signal is not running yet).
    pub(super) once: bool,
}

impl Engine {
    /// An engine for `cfg` with parsed `files`/`envs`, talking through `client`. `once`: a one-shot run
    /// (a few quick retries inside each operation, then fail); otherwise a long-running agent (logins
    /// retried until they work, other failures retried by the engine's own backoff).
    pub fn new(
        cfg: Arc<Config>,
        client: Client,
        files: Vec<FileJob>,
        envs: Vec<EnvJob>,
        auditor: Auditor,
        env: Arc<dyn EnvSource>,
        once: bool,
    ) -> Self {
        let auth = cfg
            .auto_auth
            .as_ref()
            .map(|a| Authenticator::new(a.method.clone(), cfg.vault.clone(), client.clone()));
        let backoff = cfg.auto_auth.as_ref().map_or(
            Backoff {
                min: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            |a| Backoff {
                min: a.method.min_backoff,
                max: a.method.max_backoff,
            },
        );
        let n = files.len();
        let (retry, login_retry) = if once {
            (RetryPolicy::ONCE, RetryPolicy::ONCE)
        } else {
            let times = cfg.template_config.exit_on_retry_failure.then_some(12);
            (
                RetryPolicy {
                    times: Some(0),
                    ..RetryPolicy::ONCE
                },
                RetryPolicy {
                    min: backoff.min,
                    max: backoff.max,
                    times,
                },
            )
        };
        Self {
            fetcher: Fetcher::new(client, auditor.clone()),
            store: Store::new(env.clone()),
            cfg,
            auth,
            token: None,
            flags: TokenFlags::default(),
            token_due: None,
            old_tokens: HashMap::new(),
            files,
            envs,
            auditor,
            env,
            retry,
            login_retry,
            backoff,
            once,
            saw_forbidden: false,
            outage: None,
            render_retry: None,
            command_retry: vec![None; n],
            revocations: Vec::new(),
        }
    }

    /// Each leased secret's (and issued certificate's) effective expiry by API path: the earlier of its
    /// own expiry and that of the token that created it (for metrics and readiness).
    pub fn lease_expiries(&self) -> Vec<(String, Instant)> {
        self.store
            .iter()
            .filter_map(|(_, e)| {
                let parent = if e.fetched.secret.lease_id.is_empty() {
                    None
                } else if let Some(old) = self.old_tokens.get(&e.token_accessor) {
                    *old
                } else {
                    self.token
                        .as_ref()
                        .filter(|t| t.accessor == e.token_accessor)
                        .and_then(Token::expires_at)
                };
                effective_expiry(e.expires_at, parent).map(|x| (e.fetched.api_path.clone(), x))
            })
            .collect()
    }

    /// How many deliveries in a row have failed (0 when the last one succeeded).
    pub fn failed_deliveries(&self) -> u32 {
        self.render_retry.map_or(0, |p| p.attempts + 1)
    }

    /// The auditor events go to (shared with the exec supervisor).
    pub fn auditor(&self) -> Auditor {
        self.auditor.clone()
    }

    /// Log in (auto-auth, with this engine's retries) or pick up the ambient token; write the sinks.
    ///
    /// # Errors
    /// [`EngineError::Auth`] once retries are exhausted or the failure is permanent.
    pub async fn authenticate(&mut self) -> Result<(), EngineError> {
        let token = match &self.auth {
            Some(a) => {
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
                    auditor.flush();
                    r
                };
                attempt
                    .retry(self.login_retry.builder())
                    .sleep(tokio::time::sleep)
                    .when(|e: &AuthError| e.is_transient() && !exit_on_err)
                    .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, "login failed"))
                    .await?
            }
            None => ambient_token(self.fetcher.client(), self.env.as_ref()).await?,
        };
        self.adopt_token(token);
        Ok(())
    }

    /// Make `token` the current one: remember the old one's expiry (its leases die then), write the
    /// sinks, schedule its renewal.
    pub(super) fn adopt_token(&mut self, token: Token) {
        tracing::info!(method = %token.identity.method, accessor = %token.accessor, ttl_s = token.ttl.as_secs(), "authenticated");
        if let Some(aa) = &self.cfg.auto_auth
            && let Err(e) = write_sinks(&aa.sinks, &token)
        {
            tracing::error!(error = %e, "token sink write failed");
        }
        if let Some(old) = self.token.take() {
            self.old_tokens
                .insert(old.accessor.clone(), old.expires_at());
        }
        // A policy that forbids renew-self forbids it for the next login of the same role too.
        self.flags = TokenFlags {
            base_ttl: token.ttl,
            renew_forbidden: self.flags.renew_forbidden,
            capped: false,
        };
        self.token_due = token.expires_at().map(|exp| {
            if token.renewable {
                token.issued_at + renew_after(token.ttl, super::schedule::TOKEN_RENEW_FRACTION)
            } else {
                replace_at(token.issued_at, exp, token.ttl)
            }
        });
        self.token = Some(token);
    }

    /// Whether the current token's expiry is final (it cannot be extended any more).
    pub(super) fn token_is_final(&self) -> bool {
        self.token.as_ref().is_some_and(|t| !t.renewable)
            || self.flags.renew_forbidden
            || self.flags.capped
    }

    /// The expiry that binds leases created by the token with `accessor`: a replaced token's expiry, or
    /// the current token's once it cannot be extended.
    pub(super) fn parent_expiry(&self, accessor: &str) -> Option<Instant> {
        if let Some(exp) = self.old_tokens.get(accessor) {
            return *exp;
        }
        match &self.token {
            Some(t) if t.accessor == accessor && self.token_is_final() => t.expires_at(),
            _ => None,
        }
    }

    /// When `e` must be acted on, and what to do then: its own schedule, or an early replacement when its
    /// effective expiry (lease or parent token, whichever is first) comes before.
    pub(super) fn entry_due(&self, e: &Entry) -> (Instant, Action) {
        if e.fetched.secret.lease_id.is_empty() {
            return (e.due, e.action);
        }
        let parent = self.parent_expiry(&e.token_accessor);
        // A lease that is still being renewed ends only with its parent token; one that can no longer be
        // renewed ends at its own expiry too.
        let own = (e.action == Action::Refetch)
            .then_some(e.expires_at)
            .flatten();
        let Some(exp) = effective_expiry(own, parent) else {
            return (e.due, e.action);
        };
        let life = Duration::from_secs(e.fetched.secret.lease_duration);
        let replace = replace_at(e.since, exp, life);
        if replace < e.due {
            (replace, Action::Refetch)
        } else {
            (e.due, e.action)
        }
    }

    /// Render everything, fetching what is missing (concurrently), then deliver the files that changed.
    pub async fn deliver(&mut self) -> Delivery {
        self.saw_forbidden = false;
        let (files, env) = self.resolve().await;
        if self.saw_forbidden {
            self.relogin_if_token_dead().await;
        }
        let mut delivery = Delivery::default();
        for (i, (job, rendered)) in self.files.iter().zip(files).enumerate() {
            let r = match rendered {
                Ok((bytes, side_writes)) => {
                    write_file(job, &bytes, &side_writes, &self.auditor).await
                }
                Err(e) => Err(FileFailure::Render(e)),
            };
            let r = match r {
                Ok(changed) => {
                    self.command_retry[i] = None;
                    Ok(changed)
                }
                Err(FileFailure::Command(e)) if self.once => {
                    tracing::error!(template = %job.name, error = %e.message, "command failed");
                    self.command_retry[i] = None;
                    Ok(true)
                }
                Err(FileFailure::Command(e)) => {
                    // The file is delivered; only its command is retried, without fetching again.
                    tracing::error!(template = %job.name, error = %e.message, "command failed; will retry");
                    self.command_retry[i] = Some(Pending {
                        attempts: 0,
                        at: Instant::now() + self.backoff.delay(0),
                    });
                    Err(e)
                }
                Err(FileFailure::Render(e)) => {
                    tracing::error!(template = %job.name, error = %e.message, "template not delivered");
                    Err(e)
                }
            };
            delivery.files.push(r);
        }
        if !self.envs.is_empty() {
            if let Err(e) = &env {
                tracing::error!(template = %e.template, error = %e.message, "env_template not rendered");
            }
            delivery.env = Some(env);
        }
        let failed = delivery
            .files
            .iter()
            .zip(&self.command_retry)
            .any(|(r, c)| r.is_err() && c.is_none())
            || matches!(delivery.env, Some(Err(_)));
        self.render_retry = if failed {
            let attempts = self.render_retry.map_or(0, |p| p.attempts + 1);
            Some(Pending {
                attempts,
                at: Instant::now() + self.backoff.delay(attempts),
            })
        } else {
            None
        };
        if delivery.failures().any(|f| f.transient) {
            self.note_transient();
        }
        self.save_state();
        self.auditor.flush();
        delivery
    }

    /// Render all jobs against the store; fetch whatever is missing and render again, up to
    /// [`MAX_ROUNDS`]. Returns per-file results and the env map (or the first env failure).
    async fn resolve(
        &mut self,
    ) -> (
        Vec<Result<(Zeroizing<String>, Vec<SideWrite>), OutputFailure>>,
        Result<EnvMap, OutputFailure>,
    ) {
        let mut failed: BTreeMap<SecretRequest, (String, bool)> = BTreeMap::new();
        let mut round = 0;
        loop {
            round += 1;
            let mut wanted: Vec<SecretRequest> = Vec::new();
            let mut reused: Vec<(SecretRequest, Fetched)> = Vec::new();
            let mut files = Vec::with_capacity(self.files.len());
            for job in &self.files {
                let mut out = job.template.render(&self.store, job.missing_key);
                let side_writes = std::mem::take(&mut out.side_writes);
                let before = wanted.len();
                files.push(
                    outcome(&job.name, out, &self.store, &failed, &mut wanted)
                        .map(|t| (t, side_writes)),
                );
                take_reusable_certs(&job.target.path, &mut wanted, before, &mut reused);
            }
            let mut env: Result<EnvMap, OutputFailure> = Ok(EnvMap::new());
            for job in &self.envs {
                let out = job.template.render(&self.store, job.missing_key);
                let r = outcome(&job.name, out, &self.store, &failed, &mut wanted);
                if let Ok(map) = &mut env {
                    match r {
                        Ok(v) => {
                            map.insert(job.name.clone(), v);
                        }
                        Err(e) => env = Err(e),
                    }
                }
            }
            let any_reused = !reused.is_empty();
            for (req, f) in reused {
                self.insert(req, f);
            }
            if (wanted.is_empty() && !any_reused) || round >= MAX_ROUNDS {
                return (files, env);
            }
            let results = self.fetch_all(&wanted).await;
            for (req, r) in wanted.into_iter().zip(results) {
                match r {
                    Ok(f) => self.insert(req, f),
                    Err(e) => {
                        self.saw_forbidden |= e.is_forbidden();
                        let msg = self.store.scrub(&format!("{}: {e}", req.path));
                        failed.insert(req, (msg, e.is_transient()));
                    }
                }
            }
        }
    }

    /// Fetch `reqs` concurrently (bounded by the client's in-flight cap), each with this engine's retries.
    pub(super) async fn fetch_all(
        &self,
        reqs: &[SecretRequest],
    ) -> Vec<Result<Fetched, FetchError>> {
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

    /// Store a fetched secret and schedule its next action (DESIGN §6).
    pub(super) fn insert(&mut self, req: SecretRequest, fetched: Fetched) {
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
        let token_accessor = self
            .token
            .as_ref()
            .map(|t| t.accessor.clone())
            .unwrap_or_default();
        self.store.insert(
            req,
            Entry {
                fetched,
                since: now,
                expires_at,
                due,
                action,
                token_accessor,
                failures: 0,
            },
        );
    }

    /// The next time anything is due: token, secrets, retries (or the end of an outage's backoff).
    pub fn next_due(&self) -> Option<Instant> {
        if let Some(o) = self.outage {
            return Some(o.at);
        }
        let entries = self.store.iter().map(|(_, e)| self.entry_due(e).0).min();
        [self.token_due, entries, self.render_retry.map(|p| p.at)]
            .into_iter()
            .chain(self.command_retry.iter().map(|c| c.map(|p| p.at)))
            .chain(self.revocations.iter().map(|(t, _)| Some(*t)))
            .flatten()
            .min()
    }

    /// Record that the backend could not be reached: hold everything back with exponential backoff.
    pub(super) fn note_transient(&mut self) {
        let attempts = self.outage.map_or(0, |o| o.attempts + 1);
        let delay = self.backoff.delay(attempts);
        tracing::warn!(retry_in = ?delay, "backend unreachable; keeping the last good outputs");
        self.outage = Some(Pending {
            attempts,
            at: Instant::now() + delay,
        });
    }
}

enum FileFailure {
    Render(OutputFailure),
    Command(OutputFailure),
}

/// Turn one render outcome into a result, collecting missing dependencies that have not failed yet.
fn outcome(
    name: &str,
    out: crate::template::RenderOutcome,
    store: &Store,
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
    // A template can pass a secret value to a function whose error quotes its argument.
    out.result.map_err(|e| OutputFailure {
        template: name.into(),
        message: store.scrub(&e.to_string()),
        transient: false,
    })
}

async fn write_file(
    job: &FileJob,
    bytes: &Zeroizing<String>,
    side_writes: &[SideWrite],
    auditor: &Auditor,
) -> Result<bool, FileFailure> {
    let destination = job.target.path.display().to_string();
    let fail = |message: String| OutputFailure {
        template: job.name.clone(),
        message,
        transient: false,
    };
    match write_atomic(&job.target, bytes.as_bytes()) {
        Ok(WriteOutcome::Unchanged) => {
            side::write_all(job, side_writes, false, auditor).map_err(FileFailure::Render)?;
            Ok(false)
        }
        Ok(WriteOutcome::Written) => {
            auditor.record(
                Record::new(EventKind::OutputWrite, crate::audit::Outcome::Success)
                    .output(OutputMeta::File { destination }),
            );
            tracing::info!(destination = %job.target.path.display(), "rendered");
            side::write_all(job, side_writes, true, auditor).map_err(FileFailure::Render)?;
            run_command(job).await.map_err(FileFailure::Command)?;
            Ok(true)
        }
        Err(e) => {
            auditor.record(
                Record::result(EventKind::OutputWrite, Some(&e))
                    .output(OutputMeta::File { destination }),
            );
            Err(FileFailure::Render(fail(format!(
                "template {}: {e}",
                job.name
            ))))
        }
    }
}

/// Run a file job's `command`, if it has one.
pub(super) async fn run_command(job: &FileJob) -> Result<(), OutputFailure> {
    let Some(cmd) = &job.command else {
        return Ok(());
    };
    command::run(cmd, job.command_timeout)
        .await
        .map_err(|e| OutputFailure {
            template: job.name.clone(),
            message: format!("template {}: {e}", job.name),
            transient: false,
        })
}

/// `pkiCert` requests among `wanted[from..]` whose certificate is still good in `destination`: moved from
/// `wanted` to `reused`, so no new certificate is issued for them (consul-template's behaviour).
fn take_reusable_certs(
    destination: &std::path::Path,
    wanted: &mut Vec<SecretRequest>,
    from: usize,
    reused: &mut Vec<(SecretRequest, Fetched)>,
) {
    // A certificate bundle is a few KiB; anything much larger is not one of ours.
    const MAX_PEM_BYTES: u64 = 1 << 20;
    if !wanted[from..].iter().any(|r| r.reuse_cert) {
        return;
    }
    let Some(pem) = crate::output::file::read_back(destination, MAX_PEM_BYTES) else {
        return;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some(secret) = super::pki::reusable(&pem, now) else {
        return;
    };
    // One destination holds one certificate: the first pkiCert of the template takes it.
    let Some(i) = (from..wanted.len()).find(|&i| wanted[i].reuse_cert) else {
        return;
    };
    let req = wanted.remove(i);
    tracing::info!(secret = %req, destination = %destination.display(), "reusing the certificate still valid in the destination");
    let fetched = Fetched {
        secret: Arc::new(secret),
        api_path: req.path.clone(),
        mount: None,
    };
    reused.push((req, fetched));
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
