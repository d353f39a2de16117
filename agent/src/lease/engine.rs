//! The lease engine: orchestrates the token owner ([`TokenKeeper`]), the self-scheduling secret store,
//! the pure renderers and the [`Deliverer`], and owns the one loop that drives them:
//! [`Engine::run`]`(shutdown, until) -> Outcome`. Nothing here ends the process: a fatal condition is
//! an [`Outcome`], and the caller tears down once.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fetch::Fetcher;
use super::jobs::{EnvJob, Renderer};
use super::outcome::{Announce, Fatal, Outcome, Reloads, Stage, Until};
use super::reload::Reloaded;
use super::schedule::{Backoff, RetryPolicy, once_deadline, sleep_until};
use super::store::Store;
use super::token::TokenKeeper;
use super::wake::{reload_requested, watchdog};
use crate::admin::Telemetry;
use crate::audit::Auditor;
use crate::backend::Client;
use crate::config::Config;
use crate::output::Deliverer;
use crate::runtime::Notifier;

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
    /// Deliveries in a row with failures that may end the run (`exit_on_retry_failure` counts them; a
    /// template with `error_fatal = false` does not add to them).
    pub(super) fatal_streak: u32,
    /// Old leases to revoke once their replacement has been delivered for `revoke_old_after`, and when.
    pub(crate) revocations: Vec<(Instant, super::store::Lease)>,
    /// Workload tokens a reload (or a restart) retired, to revoke with their leases.
    pub(crate) retired: Vec<super::workload::Retired>,
    /// A fetch of the last delivery was refused with 403: the token may have been revoked.
    pub(crate) saw_forbidden: bool,
    pub(super) telemetry: Option<Arc<Telemetry>>,
    /// Env outputs whose failure ends the run at once (`sidekey:` references, as `op run` does).
    pub(super) fail_fast: Vec<String>,
    /// Whether `exit_on_retry_failure` may end the run (not once an exec child runs on its env).
    pub(super) may_give_up: bool,
    /// Static secrets a template read before it failed to render: read again before the next try, so
    /// a key written on the server since is seen (a retry of the same data could never succeed).
    pub(crate) stale: Vec<crate::backend::secret::SecretRequest>,
    pub(super) announce: Announce,
    pub(super) started: bool,
    /// The service manager: status lines, and `WATCHDOG=1` from inside the loop.
    pub(super) notifier: Notifier,
    /// Reload requests and how to read the config again (`run`, and watched files).
    pub(super) reloads: Option<Reloads>,
    /// Whether a reload that changes the server may start over (not while an exec child runs on the env).
    pub(crate) can_start_over: bool,
    /// What the TLS files of the `vault` stanza held when the client was built (see `reload`).
    pub(crate) tls: super::reload::TlsPrints,
    /// Every secret request the templates made in the last resolution.
    pub(crate) used: std::collections::HashSet<crate::backend::secret::SecretRequest>,
    /// The state file a restart resumes from (`cache { persist }` / `lease_state_file`), if configured.
    pub(crate) state: Option<crate::persist::StateStore>,
    /// The leases and tokens the API proxy's cache holds, renewed here like the templates' leases.
    pub(crate) proxied: super::proxied::ProxyLeases,
    /// When the state file was last written (the cache's changes are written at most once a second).
    pub(crate) cache_saved_at: Option<Instant>,
    /// The next revocation check (`lease_check_interval`), if it is on.
    pub(crate) check: Option<super::check::CheckAt>,
    /// The next anchor of the audit trail (`audit { anchor }`), if it is on.
    pub(crate) anchor: Option<super::anchor::AnchorAt>,
    /// Signalled by `POST /agent/v1/refresh`: fetch every secret again now.
    pub(crate) refresh: Arc<tokio::sync::Notify>,
    /// Signalled when the server refused the agent's token elsewhere (a workload's token could not be
    /// created with it): the loop looks the token up and logs in again if it was revoked.
    pub(crate) agent_refused: Arc<tokio::sync::Notify>,
    /// The agent's current token, published for the API proxy (`use_auto_auth_token`).
    pub(crate) auto_token: tokio::sync::watch::Sender<Option<secrecy::SecretString>>,
    /// The backend client in use, published for the API proxy (a reload may build a new one).
    pub(crate) proxy_client: tokio::sync::watch::Sender<Client>,
    /// The workloads' tokens (per-host mode), which their templates' secrets are read with.
    pub(crate) workload_tokens: Option<crate::workload::tokens::WorkloadTokens>,
    /// The workloads, published for the unix listeners and the credentials socket (a reload replaces them).
    pub(crate) published_workloads:
        Arc<tokio::sync::watch::Sender<Arc<crate::workload::Workloads>>>,
    /// Where a one-shot run is (see [`Engine::run`]).
    pub(crate) stage: tokio::sync::watch::Sender<Stage>,
}

impl Engine {
    /// Whether this agent only forwards callers' requests (listeners, and no template, env_template or
    /// exec that would read secrets with a token of its own).
    fn only_forwards(&self) -> bool {
        let c = &self.cfg;
        !c.listeners.is_empty()
            && c.auto_auth.is_none()
            // Workloads' tokens are made with the agent's.
            && c.workloads.is_empty()
            && c.templates.is_empty()
            && c.env_templates.is_empty()
            && c.exec.is_none()
    }

    /// Run: log in (or resume the state file) and deliver everything, then keep it fresh — every timer
    /// of the token, the leases, the retries and the commands is served here — until `until` is met,
    /// `shutdown` is cancelled, or a fatal condition ends it. A one-shot run ([`Until::Once`]) also
    /// ends at its deadline ([`once_deadline`]) while it logs in or fetches, whatever the backend does:
    /// each file is written whole or not at all, so giving up between two steps leaves no partial
    /// output. Once the outputs are written, the templates' commands run to their own
    /// `command_timeout`, uncut.
    pub async fn run(&mut self, shutdown: &CancellationToken, until: Until) -> Outcome {
        if until != Until::Once {
            return self.run_until(shutdown, until).await;
        }
        let limit = once_deadline(self.cfg.vault.client_timeout);
        self.stage.send_replace(Stage::Login);
        let stage = self.stage.subscribe();
        let run = self.run_until(shutdown, until);
        tokio::pin!(run);
        tokio::select! {
            outcome = &mut run => return outcome,
            () = tokio::time::sleep(limit) => {}
        }
        let pending = *stage.borrow();
        if pending == Stage::Commands {
            return run.await;
        }
        Outcome::Fatal(Fatal::Deadline(limit, pending))
    }

    async fn run_until(&mut self, shutdown: &CancellationToken, until: Until) -> Outcome {
        if !self.started {
            self.started = true;
            let notifier = self.notifier;
            // A reload while logging in (a wrong address fixed, a ConfigMap swapped) is applied and the
            // login starts again with the new config.
            loop {
                notifier.status("logging in");
                let mut reloads = self.reloads.take();
                let start = async {
                    // As Vault Agent: listeners with neither auto_auth nor anything to render are a
                    // plain forwarding proxy (callers' own tokens pass through): no token is looked
                    // for, not even an operator's ~/.vault-token.
                    if self.only_forwards() {
                        tracing::info!(
                            "no auto_auth and nothing to render: the API proxy forwards callers' own tokens"
                        );
                    } else if !self.resume().await? {
                        self.tokens.login().await.map_err(Fatal::Login)?;
                    }
                    Ok::<_, Fatal>(())
                };
                let started = tokio::select! {
                    () = shutdown.cancelled() => return Outcome::Stopped,
                    r = start => Some(r),
                    () = reload_requested(&mut reloads) => None,
                    () = watchdog(notifier) => return Outcome::Stopped,
                };
                self.reloads = reloads;
                match started {
                    Some(Ok(())) => break,
                    Some(Err(e)) => return Outcome::Fatal(e),
                    None => {
                        if let Some(Reloaded::StartOver(cfg)) = self.on_reload(false) {
                            return Outcome::StartOver(cfg);
                        }
                    }
                }
            }
            // The API proxy may use the token before the first delivery is done.
            self.sync_proxied();
            match guarded(shutdown, notifier, self.cycle(until)).await {
                None => return Outcome::Stopped,
                Some(Some(o)) => return o,
                Some(None) => {}
            }
        }
        let every = self.notifier.watchdog_every();
        let mut pulse = every.map(|e| Instant::now() + e);
        let credentials = self.tokens.credentials.clone();
        let proxied = self.proxied.clone();
        let refresh = self.refresh.clone();
        let agent_refused = self.agent_refused.clone();
        loop {
            self.sync_proxied();
            self.schedule_check();
            self.schedule_anchor();
            let save = self.save_cache_changes(Instant::now());
            let due = [self.next_due(), save].into_iter().flatten().min();
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
                // The cache stored or renewed something: its due time may come first now.
                () = proxied.wait_changed() => continue,
                // Everything is due now: the next turn fetches it.
                () = refresh.notified() => {
                    self.on_refresh();
                    continue;
                }
                // Many refusals in a burst are one wake-up: one lookup-self.
                () = agent_refused.notified() => {
                    let notifier = self.notifier;
                    match guarded(shutdown, notifier, self.tokens.relogin_if_dead()).await {
                        None => return Outcome::Stopped,
                        Some(Err(e)) => return Outcome::Fatal(Fatal::Login(e)),
                        Some(Ok(())) => {}
                    }
                    continue;
                }
                () = credentials.notified() => {
                    let notifier = self.notifier;
                    match guarded(shutdown, notifier, self.on_credentials()).await {
                        None => return Outcome::Stopped,
                        Some(Err(e)) => return Outcome::Fatal(Fatal::Login(e)),
                        Some(Ok(())) => {}
                    }
                    continue;
                }
                () = reload_requested(&mut self.reloads) => {
                    // RELOADING=1 and its READY=1 belong to a service that reported READY already.
                    let ready_sent = until == Until::Stopped;
                    match self.on_reload(ready_sent) {
                        Some(Reloaded::StartOver(cfg)) => return Outcome::StartOver(cfg),
                        Some(Reloaded::Applied(m)) => {
                            if let Some(w) = self.reloads.as_mut().and_then(|r| r.watch.as_mut()) {
                                w.set(&self.cfg);
                            }
                            match guarded(shutdown, self.notifier, self.cycle(until)).await {
                                None => return Outcome::Stopped,
                                Some(Some(o)) => return o,
                                Some(None) => {}
                            }
                            let (a, c, r) = (m.added.len(), m.changed.len(), m.removed.len());
                            let line = format!(
                                "reloaded ({a} added, {c} changed, {r} removed); {}",
                                self.status_now()
                            );
                            if ready_sent {
                                self.notifier.ready(&line);
                            } else {
                                self.notifier.status(&line);
                            }
                        }
                        Some(Reloaded::Rejected(e)) => {
                            let line = format!("reload rejected ({e}); running the previous configuration");
                            if ready_sent {
                                self.notifier.ready(&line);
                            } else {
                                self.notifier.status(&line);
                            }
                        }
                        None => {}
                    }
                    continue;
                }
                () = sleep_until(due) => {}
            }
            // A backend call may hang until the client's timeout: shutdown (and the watchdog) must not
            // wait for it.
            let notifier = self.notifier;
            match guarded(shutdown, notifier, self.tick()).await {
                None => return Outcome::Stopped,
                Some(Err(e)) => return Outcome::Fatal(Fatal::Login(e)),
                // With nothing new to write, a mode or owner changed from outside is still put back on
                // every refresh, and a destination deleted from outside is delivered again.
                Some(Ok(changed)) => {
                    if changed || self.deliverer.recheck() {
                        match guarded(shutdown, notifier, self.cycle(until)).await {
                            None => return Outcome::Stopped,
                            Some(Some(o)) => return o,
                            Some(None) => {}
                        }
                    }
                }
            }
            if let Some(f) = self.outage_exhausted() {
                return Outcome::Fatal(f);
            }
            self.report_expiries();
        }
    }

    /// The next time anything is due: token, secrets, retries (or the end of an outage's backoff), and
    /// command retries (which need no backend, so an outage does not hold them).
    pub fn next_due(&self) -> Option<Instant> {
        let backend = if let Some(o) = self.outage {
            Some(o.at)
        } else {
            let entries = self.store.iter().map(|(r, e)| self.entry_due(r, e).0).min();
            let held = self.proxied.lock().next_due();
            [
                self.tokens.due,
                entries,
                held,
                self.render_retry.map(|p| p.at),
                self.check.map(|c| c.at),
                self.anchor.as_ref().map(|a| a.at),
            ]
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
}

/// `f`, unless `shutdown` comes first (`None`); the watchdog is fed while it runs.
async fn guarded<F: std::future::Future>(
    shutdown: &CancellationToken,
    notifier: Notifier,
    f: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => None,
        r = f => Some(r),
        () = watchdog(notifier) => None,
    }
}
