//! The lease engine: orchestrates the token owner ([`TokenKeeper`]), the self-scheduling secret store,
//! the pure renderers and the [`Deliverer`], and owns the one loop that drives them:
//! [`Engine::run`]`(shutdown, until) -> Outcome`. Nothing here ends the process: a fatal condition is
//! an [`Outcome`], and the caller tears down once.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fetch::Fetcher;
use super::jobs::{EnvJob, FileJob, Renderer};
use super::outcome::{Announce, Fatal, Outcome, Reloads, Until};
use super::reload::Reloaded;
use super::schedule::{Backoff, effective_expiry};
use super::store::{Rules, Store};
use super::token::TokenKeeper;
use crate::admin::Telemetry;
use crate::audit::Auditor;
use crate::auth::AuthError;
use crate::backend::Client;
use crate::config::Config;
use crate::output::{Deliverer, Delivery, OutputFailure, OutputId, Step};
use crate::runtime::{EnvSource, Notifier};

/// Failed deliveries in a row after which `exit_on_retry_failure` ends the run.
const RETRIES_BEFORE_EXIT: u32 = 5;

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

    /// The waits between tries: [`Backoff`]'s doubling with ±20% jitter, never past `max` (backon's own
    /// jitter is added after its cap, up to twice `max_backoff`).
    pub(super) fn delays(
        &self,
    ) -> impl Iterator<Item = Duration> + Send + Sync + Unpin + Clone + use<> {
        let b = Backoff {
            min: self.min,
            max: self.max,
        };
        (0..self.times.unwrap_or(usize::MAX))
            .map(move |i| b.delay(u32::try_from(i).unwrap_or(u32::MAX)))
    }
}

/// A retry that is waiting: how many attempts failed, and when to try again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub attempts: u32,
    pub at: Instant,
}

/// The lease engine. See the module doc.
pub struct Engine {
    pub(crate) cfg: Arc<Config>,
    pub(crate) fetcher: Fetcher,
    pub(crate) tokens: TokenKeeper,
    pub(crate) store: Store,
    pub(crate) renderers: Vec<Renderer>,
    pub(crate) envs: Vec<EnvJob>,
    pub(crate) deliverer: Deliverer,
    pub(crate) auditor: Auditor,
    pub(crate) retry: RetryPolicy,
    pub(crate) backoff: Backoff,
    /// Set while the backend is unreachable: nothing is tried before `at`.
    pub(crate) outage: Option<Pending>,
    /// Set when the last delivery had failures: render again at `at`.
    pub(crate) render_retry: Option<Pending>,
    /// Old leases to revoke once their replacement has been delivered for `revoke_old_after`.
    pub(crate) revocations: Vec<(Instant, String)>,
    /// A fetch of the last delivery was refused with 403: the token may have been revoked.
    pub(crate) saw_forbidden: bool,
    telemetry: Option<Arc<Telemetry>>,
    /// Env outputs whose failure ends the run at once (`sidekey:` references, as `op run` does).
    fail_fast: Vec<String>,
    /// Whether `exit_on_retry_failure` may end the run (not once an exec child runs on its env).
    may_give_up: bool,
    /// Static secrets a template read before it failed to render: read again before the next try, so
    /// a key written on the server since is seen (a retry of the same data could never succeed).
    pub(crate) stale: Vec<crate::backend::secret::SecretRequest>,
    announce: Announce,
    started: bool,
    /// The service manager: status lines, and `WATCHDOG=1` from inside the loop.
    notifier: Notifier,
    /// Reload requests and how to read the config again (`run`, and watched files).
    reloads: Option<Reloads>,
    /// Whether a reload that changes the server may start over (not while an exec child runs on the env).
    pub(crate) can_start_over: bool,
    /// What the TLS files of the `vault` stanza held when the client was built (see `reload`).
    pub(crate) tls: super::reload::TlsPrints,
    /// Every secret request the templates made in the last resolution.
    pub(crate) used: std::collections::HashSet<crate::backend::secret::SecretRequest>,
}

impl Engine {
    /// An engine for `cfg` with parsed `files`/`envs`, talking through `client`. `once`: a one-shot run
    /// (a few quick retries inside each operation, then fail; failed commands are reported, not retried);
    /// otherwise a long-running agent (logins retried until they work, other failures retried by the
    /// engine's own backoff).
    pub fn new(
        cfg: Arc<Config>,
        client: Client,
        files: Vec<FileJob>,
        envs: Vec<EnvJob>,
        auditor: Auditor,
        env: Arc<dyn EnvSource>,
        once: bool,
    ) -> Self {
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
        let (retry, login_retry) = if once {
            (RetryPolicy::ONCE, RetryPolicy::ONCE)
        } else {
            let times = cfg.template_config.exit_on_retry_failure.then_some(12);
            let login = RetryPolicy {
                min: backoff.min,
                max: backoff.max,
                times,
            };
            let no_retry = RetryPolicy {
                times: Some(0),
                ..RetryPolicy::ONCE
            };
            (no_retry, login)
        };
        let (renderers, outputs): (Vec<_>, Vec<_>) =
            files.into_iter().map(|j| (j.render, j.output)).unzip();
        let sinks = cfg
            .auto_auth
            .as_ref()
            .map(|a| a.sinks.clone())
            .unwrap_or_default();
        let tls = super::reload::TlsPrints::of(&cfg.vault);
        let rules = Rules {
            renewal_threshold: cfg.template_config.lease_renewal_threshold,
            static_interval: cfg.template_config.static_secret_render_interval,
        };
        Self {
            fetcher: Fetcher::new(client.clone(), auditor.clone()),
            tokens: TokenKeeper::new(
                cfg.clone(),
                client,
                auditor.clone(),
                env.clone(),
                login_retry,
            ),
            store: Store::new(env, rules),
            deliverer: Deliverer::new(outputs, sinks, auditor.clone(), backoff, once),
            cfg,
            renderers,
            envs,
            auditor,
            retry,
            backoff,
            outage: None,
            render_retry: None,
            revocations: Vec::new(),
            saw_forbidden: false,
            telemetry: None,
            fail_fast: Vec::new(),
            may_give_up: true,
            stale: Vec::new(),
            announce: Announce::default(),
            started: false,
            notifier: Notifier::none(),
            reloads: None,
            can_start_over: true,
            tls,
            used: std::collections::HashSet::new(),
        }
    }

    /// Report deliveries and lease expiries to `telemetry` (metrics and readiness).
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Report to the service manager (systemd) from the loop: status lines and the watchdog.
    pub fn notify(&mut self, notifier: Notifier) {
        self.notifier = notifier;
    }

    /// Take reload requests from now on.
    pub fn reloads(&mut self, reloads: Reloads) {
        self.reloads = Some(reloads);
    }

    /// The notification a file watch sends when a credential file changes.
    pub fn credentials(&self) -> Arc<tokio::sync::Notify> {
        self.tokens.credentials.clone()
    }

    /// Be woken by `n` when a credential file changes (the watch of an engine this one replaces).
    pub fn set_credentials(&mut self, n: Arc<tokio::sync::Notify>) {
        self.tokens.credentials = n;
    }

    /// Give back the reload requests (to hand them to the engine that starts over).
    pub fn take_reloads(&mut self) -> Option<Reloads> {
        self.reloads.take()
    }

    /// End the run at once when one of these env outputs fails (`sidekey:` references).
    pub fn fail_fast(&mut self, names: Vec<String>) {
        self.fail_fast = names;
    }

    /// The exec child runs from now on: announce deliveries to its supervisor, and let no output
    /// failure end the run any more (the child keeps its last good env, as before it started).
    pub fn supervising(&mut self, announce: Announce) {
        self.announce = announce;
        self.fail_fast.clear();
        self.may_give_up = false;
        self.can_start_over = false;
    }

    /// The auditor events go to (shared with the exec supervisor).
    pub fn auditor(&self) -> Auditor {
        self.auditor.clone()
    }

    /// Run: log in (or resume the state file) and deliver everything, then keep it fresh — every timer
    /// of the token, the leases, the retries and the commands is served here — until `until` is met,
    /// `shutdown` is cancelled, or a fatal condition ends it.
    pub async fn run(&mut self, shutdown: &CancellationToken, until: Until) -> Outcome {
        if !self.started {
            self.started = true;
            let notifier = self.notifier;
            notifier.status("logging in");
            let start = async {
                if !self.resume().await {
                    self.tokens.login().await?;
                }
                Ok::<_, AuthError>(())
            };
            let started = tokio::select! {
                () = shutdown.cancelled() => return Outcome::Stopped,
                r = start => r,
                () = watchdog(notifier) => return Outcome::Stopped,
            };
            if let Err(e) = started {
                return Outcome::Fatal(Fatal::Login(e));
            }
            if let Some(o) = self.cycle(until).await {
                return o;
            }
        }
        let every = self.notifier.watchdog_every();
        let mut pulse = every.map(|e| Instant::now() + e);
        let credentials = self.tokens.credentials.clone();
        loop {
            let due = self.next_due();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Outcome::Stopped,
                () = sleep_until(pulse) => {
                    // The loop is turning: tell the watchdog.
                    self.notifier.watchdog();
                    pulse = every.map(|e| Instant::now() + e);
                    continue;
                }
                done = self.deliverer.next_done() => {
                    self.deliverer.on_done(done);
                    continue;
                }
                () = credentials.notified() => {
                    if let Err(e) = self.on_credentials().await {
                        return Outcome::Fatal(Fatal::Login(e));
                    }
                    continue;
                }
                () = reload_requested(&mut self.reloads) => {
                    match self.on_reload() {
                        Some(Reloaded::StartOver(cfg)) => return Outcome::StartOver(cfg),
                        Some(Reloaded::Applied(m)) => {
                            if let Some(w) = self.reloads.as_mut().and_then(|r| r.watch.as_mut()) {
                                w.set(&self.cfg);
                            }
                            if let Some(o) = self.cycle(until).await {
                                return o;
                            }
                            let (a, c, r) = (m.added.len(), m.changed.len(), m.removed.len());
                            self.notifier.ready(&format!(
                                "reloaded ({a} added, {c} changed, {r} removed); {}",
                                self.status_now()
                            ));
                        }
                        Some(Reloaded::Rejected(e)) => {
                            self.notifier.ready(&format!("reload rejected ({e}); running the previous configuration"));
                        }
                        None => {}
                    }
                    continue;
                }
                () = sleep_until(due) => {}
            }
            match self.tick().await {
                Err(e) => return Outcome::Fatal(Fatal::Login(e)),
                Ok(true) => {
                    if let Some(o) = self.cycle(until).await {
                        return o;
                    }
                }
                Ok(false) => {}
            }
            self.report_expiries();
        }
    }

    /// One delivery, announced; returns the outcome when it ends the run.
    async fn cycle(&mut self, until: Until) -> Option<Outcome> {
        let d = match self.deliver().await {
            Ok(d) => d,
            Err(e) => return Some(Outcome::Fatal(Fatal::Login(e))),
        };
        if until == Until::Once {
            self.deliverer.settle().await;
        }
        if let Some(t) = &self.telemetry {
            t.delivered(&d);
        }
        self.report_expiries();
        if d.files_changed()
            && let Some(tx) = &self.announce.files
        {
            tx.send_modify(|n| *n += 1);
        }
        if let (Some(tx), Some(Ok(m))) = (&self.announce.env, &d.env) {
            tx.send_if_modified(|cur| {
                let changed = !crate::exec::same_env(cur, m);
                if changed {
                    cur.clone_from(m);
                }
                changed
            });
        }
        if let Some(f) = self.fatal(&d, until) {
            return Some(Outcome::Fatal(Fatal::Outputs(f)));
        }
        let done = match until {
            Until::Once => true,
            Until::Delivered => d.failures().next().is_none(),
            Until::Stopped => false,
        };
        if until == Until::Delivered && !done {
            tracing::warn!(
                "not every output is delivered yet (the exec child and READY=1 wait for them); retrying"
            );
        }
        self.notifier.status(&self.status_line(&d));
        done.then_some(Outcome::Delivered(d))
    }

    /// The failures of `d` that end the run: a `sidekey:` reference at once; under
    /// `exit_on_retry_failure` (before an exec child runs), a template that cannot render from data the
    /// server returned at once (a retry cannot fix it), anything else once its retries are spent.
    fn fatal(&self, d: &Delivery, until: Until) -> Option<Vec<OutputFailure>> {
        let referenced = |f: &&OutputFailure| matches!(&f.output, OutputId::Env(name) if self.fail_fast.contains(name));
        if d.failures().any(|f| referenced(&f)) {
            return Some(d.failures().cloned().collect());
        }
        let gives_up = until != Until::Once
            && self.may_give_up
            && self.cfg.template_config.exit_on_retry_failure;
        if !gives_up || d.failures().next().is_none() {
            return None;
        }
        let unfixable = d.failures().any(|f| f.step == Step::Render && !f.transient);
        let spent = self.failed_deliveries() > RETRIES_BEFORE_EXIT;
        if unfixable || spent {
            tracing::error!("exit_on_retry_failure: giving up");
            return Some(d.failures().cloned().collect());
        }
        None
    }

    /// A credential file changed: a `token_file` holds a new token, used at once; for other methods a
    /// login held back by the backoff (the file was missing or bad) is tried now, and otherwise the next
    /// login simply reads the new file.
    async fn on_credentials(&mut self) -> Result<(), AuthError> {
        if self.tokens.token_from_file() {
            tracing::info!("the token file changed; using the new token");
            if self.tokens.relogin().await? == super::token::Reach::Unreachable {
                self.note_transient();
            }
            for r in self.write_sinks() {
                if let Err(e) = r {
                    tracing::error!(error = %e, "token sink not written; will retry");
                }
            }
        } else if let Some(o) = &mut self.outage {
            o.at = Instant::now();
        }
        Ok(())
    }

    /// Handle a reload request: read the config again and apply it (requests that came in a burst are
    /// handled once).
    fn on_reload(&mut self) -> Option<Reloaded> {
        let r = self.reloads.as_mut()?;
        while r.requests.try_recv().is_ok() {}
        // RELOADING=1's MONOTONIC_USEC marks when the reload began, before the files are read.
        self.notifier.reloading();
        let loaded = (r.load)();
        Some(self.reload(loaded))
    }

    /// The status line without a delivery at hand.
    fn status_now(&self) -> String {
        let total = self.renderers.len() + usize::from(!self.envs.is_empty());
        let next = self
            .next_due()
            .map(|t| t.saturating_duration_since(Instant::now()).as_secs())
            .unwrap_or(0);
        format!("{total} outputs, next refresh in {next} s")
    }

    /// `systemctl status`'s line: counts and the next due time, never a value or a path.
    fn status_line(&self, d: &Delivery) -> String {
        let total = d.files.len() + usize::from(d.env.is_some());
        let failed = d.files.iter().filter(|r| r.is_err()).count()
            + usize::from(matches!(d.env, Some(Err(_))));
        let next = self
            .next_due()
            .map(|t| t.saturating_duration_since(Instant::now()).as_secs());
        let mut line = format!("{} of {total} outputs fresh", total - failed);
        if failed > 0 {
            line.push_str(&format!(", {failed} failing (retrying)"));
        }
        if let Some(s) = next {
            line.push_str(&format!(", next refresh in {s} s"));
        }
        line
    }

    fn report_expiries(&self) {
        if let Some(t) = &self.telemetry {
            t.set_lease_expiries(self.lease_expiries());
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
                } else {
                    self.tokens.expiry_of(&e.token_accessor)
                };
                effective_expiry(e.expires_at, parent).map(|x| (e.fetched.api_path.clone(), x))
            })
            .collect()
    }

    /// How many deliveries in a row have failed (0 when the last one succeeded).
    pub fn failed_deliveries(&self) -> u32 {
        self.render_retry.map_or(0, |p| p.attempts + 1)
    }

    /// The next time anything is due: token, secrets, retries (or the end of an outage's backoff), and
    /// command retries (which need no backend, so an outage does not hold them).
    pub fn next_due(&self) -> Option<Instant> {
        let backend = if let Some(o) = self.outage {
            Some(o.at)
        } else {
            let entries = self.store.iter().map(|(_, e)| self.entry_due(e).0).min();
            [self.tokens.due, entries, self.render_retry.map(|p| p.at)]
                .into_iter()
                .chain(self.revocations.iter().map(|(t, _)| Some(*t)))
                .flatten()
                .min()
        };
        [backend, self.deliverer.next_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Record that the backend could not be reached: hold everything back with exponential backoff.
    pub(crate) fn note_transient(&mut self) {
        let attempts = self.outage.map_or(0, |o| o.attempts + 1);
        let delay = self.backoff.delay(attempts);
        tracing::warn!(retry_in = ?delay, "backend unreachable; keeping the last good outputs");
        self.outage = Some(Pending {
            attempts,
            at: Instant::now() + delay,
        });
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// `WATCHDOG=1` at the notifier's pace while the start (login) runs; never completes.
async fn watchdog(notifier: Notifier) {
    let Some(every) = notifier.watchdog_every() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(every).await;
        notifier.watchdog();
    }
}

/// The next reload request; pending forever without a source of them.
async fn reload_requested(reloads: &mut Option<Reloads>) {
    match reloads {
        Some(r) => {
            if r.requests.recv().await.is_none() {
                // Every sender is gone: no more requests.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
