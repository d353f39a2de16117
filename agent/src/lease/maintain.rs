//! The engine's clock-driven work: token upkeep (through the token owner), lease renewal, early
//! replacement, refreshes, revocation of replaced leases — and backing off while the backend is
//! unreachable, so an outage costs a few requests a minute and never forces a re-login.

use std::time::Duration;

use tokio::time::Instant;

use crate::audit::{EventKind, SecretMeta};
use crate::auth::AuthError;
use crate::backend::Bearer;
use crate::backend::secret::SecretRequest;

use super::engine::{Engine, Pending};
use super::outcome::Fatal;
use super::schedule::{capped, outage_retries, renew_after, replace_at};
use super::store::{Action, Lease, Replacing};
use super::token::Reach;
use super::workload::agent_refused;

/// How long the teardown may spend revoking leases and the token.
const REVOKE_LIMIT: Duration = Duration::from_secs(10);

impl Engine {
    /// Under `exit_on_retry_failure` (and before an exec child runs), an outage that outlasted the retry
    /// budget ends the run, as Vault Agent gives up after its retries.
    pub(super) fn outage_exhausted(&self) -> Option<Fatal> {
        let o = self.outage?;
        let budget = u32::try_from(outage_retries(self.cfg.vault.num_retries)).unwrap_or(u32::MAX);
        (self.may_give_up && self.cfg.template_config.exit_on_retry_failure && o.attempts >= budget)
            .then_some(Fatal::Unreachable(o.attempts + 1))
    }

    /// Record that the backend could not be reached: hold everything back with exponential backoff.
    ///
    /// The wait is also capped by what is held: never past half the time left before the token or a
    /// lease expires (a jittered half, at least the minimum backoff), so a renewal that failed during a
    /// leader election is tried again while it can still save the token and the leases, instead of the
    /// backoff sleeping past their expiry and forcing a re-login and re-issue.
    pub(crate) fn note_transient(&mut self) {
        let attempts = self.outage.map_or(0, |o| o.attempts + 1);
        let now = Instant::now();
        let mut delay = self.backoff.delay(attempts);
        if let Some(horizon) = self.life_horizon(now) {
            let half = horizon.saturating_duration_since(now) / 2;
            let cap = half
                .mul_f64(rand::random_range(0.5..=1.0))
                .max(self.backoff.min);
            delay = delay.min(cap);
        }
        tracing::warn!(retry_in = ?delay, "backend unreachable; keeping the last good outputs");
        self.outage = Some(Pending {
            attempts,
            at: now + delay,
        });
    }

    /// The first future expiry among the token and the leases held (the cache's included): what an
    /// outage must not outlast untried.
    fn life_horizon(&self, now: Instant) -> Option<Instant> {
        let held = self.proxied.lock().first_expiry();
        self.store
            .iter()
            .filter_map(|(_, e)| e.expires_at)
            .chain(self.tokens.current_expiry())
            .chain(held)
            .filter(|t| *t > now)
            .min()
    }

    /// Do everything that is due now. Returns whether outputs must be rendered again (a secret was
    /// replaced, or a failed delivery is due for another try).
    ///
    /// # Errors
    /// A fatal login failure (`exit_on_err` with a permanent failure).
    pub async fn tick(&mut self) -> Result<bool, AuthError> {
        let now = Instant::now();
        // Commands need no backend: an outage does not hold their retries back.
        self.deliverer.retry_due(now);
        if self.outage.is_some_and(|o| o.at > now) {
            return Ok(false);
        }
        if self.tokens.is_due(now) && self.tokens.maintain().await? == Reach::Unreachable {
            self.note_transient();
            return Ok(false);
        }
        // Before the secrets: a lease replaced in this tick is revoked in a later one, once its
        // replacement has been delivered.
        self.revoke_due(now).await;
        if self.check_due(now) && self.check_held(now).await? == Reach::Unreachable {
            self.note_transient();
            return Ok(false);
        }
        let (changed, mut reach) = self.maintain_secrets(now).await?;
        if self.maintain_proxied(now).await == Reach::Unreachable {
            reach = Reach::Unreachable;
        }
        if reach == Reach::Unreachable {
            self.note_transient();
        } else {
            self.outage = None;
        }
        // A new token goes to the sinks now, even when no output changes with it; a sink that failed is
        // tried again with the next delivery.
        if self.write_sinks().await.iter().any(Result::is_err) && self.render_retry.is_none() {
            self.render_retry = Some(super::engine::Pending {
                attempts: 0,
                at: now + self.backoff.delay(0),
            });
        }
        // After the secrets: the events of this tick are anchored with it.
        self.anchor_if_due(now).await;
        Ok(changed || self.render_retry.is_some_and(|p| p.at <= now))
    }

    /// Renew or replace every secret that is due. Returns whether any secret was replaced.
    async fn maintain_secrets(&mut self, now: Instant) -> Result<(bool, Reach), AuthError> {
        let due: Vec<(SecretRequest, Action)> = self
            .store
            .iter()
            .filter_map(|(r, e)| {
                let (at, action) = self.entry_due(r, e);
                (at <= now).then(|| (r.clone(), action))
            })
            .collect();
        let mut refetch = Vec::new();
        for (req, action) in due {
            if action == Action::Renew {
                match self.renew_lease(&req).await {
                    Some(true) => continue,
                    Some(false) => {}
                    None => return Ok((false, Reach::Unreachable)),
                }
            }
            refetch.push(req);
        }
        if refetch.is_empty() {
            return Ok((false, Reach::Done));
        }
        // Never create a dynamic secret with a token that dies before the secret is needed (a workload's
        // token is the table's to keep alive).
        let need = refetch
            .iter()
            .filter(|r| r.workload.is_none())
            .filter_map(|r| self.store.get(r))
            .filter(|e| !e.fetched.secret.lease_id.is_empty())
            .map(|e| Duration::from_secs(e.fetched.secret.lease_duration))
            .max();
        if let Some(need) = need
            && self.tokens.ensure_for(need).await? == Reach::Unreachable
        {
            return Ok((false, Reach::Unreachable));
        }
        let mut changed = false;
        let mut step = Reach::Done;
        let results = self.fetch_all(&refetch).await;
        let mut forbidden = false;
        for (req, r) in refetch.into_iter().zip(results) {
            match r {
                Ok(f) => {
                    let old = self.store.get(&req).and_then(|e| Lease::of(&req, e));
                    let same = self
                        .store
                        .get(&req)
                        .is_some_and(|e| e.fetched.secret.data == f.secret.data);
                    if let Some(old) = old
                        && let Some(grace) = self.revoke_grace(&req)
                    {
                        self.revocations.push((Instant::now() + grace, old));
                    }
                    self.insert(req, f);
                    changed |= !same;
                }
                Err(e) if e.is_transient() => step = Reach::Unreachable,
                Err(e) => {
                    forbidden |= agent_refused(&req, &e);
                    // Keep the last good secret (outputs stay as they are) and try again with backoff.
                    tracing::warn!(
                        secret = %self.store.scrub(&req.to_string()),
                        error = %self.store.scrub(&e.to_string()),
                        "refresh failed; keeping the last good value"
                    );
                    let backoff = self.backoff;
                    if let Some(entry) = self.store.get_mut(&req) {
                        entry.failures += 1;
                        entry.due = Instant::now() + backoff.delay(entry.failures);
                        entry.action = Action::Refetch;
                    }
                }
            }
        }
        if forbidden {
            self.tokens.relogin_if_dead().await?;
        }
        Ok((changed, step))
    }

    /// How long after its replacement the old lease of `req` is revoked: `revoke_old_after`; after a
    /// refresh as soon as the new secret is delivered if that is unset; never when it is gone already.
    fn revoke_grace(&self, req: &SecretRequest) -> Option<Duration> {
        let configured = self.cfg.template_config.revoke_old_after;
        match self.store.get(req).and_then(|e| e.replacing) {
            Some(Replacing::Revoked) => None,
            Some(Replacing::Refresh) => Some(configured.unwrap_or_default()),
            None => configured,
        }
    }

    /// Renew one lease, with the token that created it (a workload's: the agent's may lack its policy).
    /// `Some(true)`: renewed (or replaced later on schedule); `Some(false)`: it must be fetched again now
    /// (also when that token is no longer held: the lease ended with it); `None`: the backend is
    /// unreachable.
    async fn renew_lease(&mut self, req: &SecretRequest) -> Option<bool> {
        let (Some(token), Some(entry)) =
            (self.acting_as(req.workload.as_deref()), self.store.get(req))
        else {
            return Some(false);
        };
        let lease_id = entry.fetched.secret.lease_id.clone();
        let asked = Duration::from_secs(entry.fetched.secret.lease_duration);
        let r = self
            .fetcher
            .client()
            .renew_lease(
                Bearer::new(&token.secret, &token.identity.token_accessor),
                &lease_id,
                asked.as_secs(),
            )
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
        let answered = r.as_ref().ok().map(|l| l.request_id.as_str());
        self.record_as(
            token,
            EventKind::SecretRenew,
            meta,
            answered,
            r.as_ref().err(),
        );
        let threshold = self.cfg.template_config.lease_renewal_threshold;
        let Some(entry) = self.store.get_mut(req) else {
            return Some(false);
        };
        match r {
            Ok(l) => {
                let granted = Duration::from_secs(l.lease_duration);
                let now = Instant::now();
                entry.expires_at = Some(now + granted);
                entry.failures = 0;
                if capped(granted, asked) || !l.renewable {
                    // At its max TTL: fetch the replacement while this credential is still valid.
                    entry.action = Action::Refetch;
                    entry.due = replace_at(now, now + granted, asked);
                } else {
                    entry.due = now + renew_after(granted, threshold);
                }
                Some(true)
            }
            Err(e) if e.is_transient() => {
                let secret = self.store.scrub(&req.to_string());
                tracing::warn!(%secret, error = %e, "lease renewal failed");
                None
            }
            Err(e) => {
                let secret = self.store.scrub(&req.to_string());
                tracing::warn!(%secret, error = %e, "lease cannot be renewed; fetching a new secret");
                Some(false)
            }
        }
    }

    /// Revoke replaced leases whose grace period (`revoke_old_after`) is over.
    async fn revoke_due(&mut self, now: Instant) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.revocations)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.revocations = rest;
        for (_, lease) in due {
            self.revoke(&lease).await;
        }
    }

    /// Revoke `lease` with the token that created it; a workload's token no longer held took its
    /// leases with it.
    pub(crate) async fn revoke(&self, lease: &Lease) {
        if let Some(token) = self.acting_as(lease.workload.as_deref()) {
            self.revoke_as(token, lease).await;
        }
    }

    /// Revoke `lease` as `token` (the one that created it).
    pub(crate) async fn revoke_as(&self, token: super::workload::Acting, lease: &Lease) {
        let r = self
            .fetcher
            .client()
            .revoke_lease(
                Bearer::new(&token.secret, &token.identity.token_accessor),
                &lease.lease_id,
            )
            .await;
        let meta = SecretMeta {
            path: lease.path.clone(),
            lease_id: lease.lease_id.clone(),
            ..SecretMeta::default()
        };
        // A revocation is answered with 204 and no body: no request_id to record.
        self.record_as(token, EventKind::SecretRevoke, meta, None, r.as_ref().err());
        if let Err(e) = r {
            tracing::warn!(error = %e, "lease revocation failed");
        }
    }

    /// The end of every run: stop running commands; with `revoke_on_shutdown` revoke every lease and the
    /// token; with `remove_on_exit` remove the rendered files; flush the audit trail. `keep_outputs`: a
    /// one-shot run, whose outputs (and the leases behind them) are what it was run for, keeps them.
    pub async fn teardown(&mut self, keep_outputs: bool) {
        self.deliverer.stop().await;
        // Before any revocation: the token writes it.
        self.anchor_final().await;
        // What the cache changed in the last second, not written yet (a revocation removes it below).
        if self.proxied.is_dirty() {
            self.save_state();
        }
        if keep_outputs {
            self.auditor.flush();
            return;
        }
        if self.cfg.template_config.revoke_on_shutdown {
            let leases: Vec<Lease> = self
                .store
                .iter()
                .filter_map(|(r, e)| Lease::of(r, e))
                .collect();
            let revoke_all = async {
                for l in &leases {
                    self.revoke(l).await;
                }
                self.tokens.revoke().await;
            };
            // A backend that hangs must not hold the exit for a client timeout per lease: Kubernetes and
            // systemd kill a process that overstays its grace period, and then nothing is torn down.
            if tokio::time::timeout(REVOKE_LIMIT, revoke_all)
                .await
                .is_err()
            {
                tracing::warn!(limit = ?REVOKE_LIMIT, "revocation did not finish in time; the rest expire on their own");
            }
            self.remove_state();
        }
        if self.cfg.template_config.remove_on_exit {
            self.deliverer.remove_files();
        }
        self.auditor.flush();
    }
}
