//! The engine's clock-driven work: token renewal and re-authentication, lease renewal, early replacement,
//! refreshes, retries of failed commands, revocation of replaced leases — and backing off while the
//! backend is unreachable, so an outage costs a few requests a minute and never forces a re-login.

use std::time::Duration;

use tokio::time::Instant;

use crate::audit::{EventKind, Record, SecretMeta};
use crate::backend::secret::SecretRequest;

use super::engine::{Engine, Pending, run_command};
use super::schedule::{TOKEN_RENEW_FRACTION, capped, renew_after, replace_at};
use super::store::Action;

/// Whether a step of a tick could reach the backend.
enum Step {
    Done,
    Unreachable,
}

impl Engine {
    /// Do everything that is due now. Returns whether outputs must be rendered again (a secret was
    /// replaced, or a failed delivery is due for another try).
    pub async fn tick(&mut self) -> bool {
        let now = Instant::now();
        if self.outage.is_some_and(|o| o.at > now) {
            return false;
        }
        let mut changed = false;
        let mut unreachable = false;
        let token_due = self.token_due.is_some_and(|d| d <= now)
            || self
                .token
                .as_ref()
                .is_some_and(|t| t.expires_at().is_some_and(|e| e <= now));
        if token_due && let Step::Unreachable = self.maintain_token().await {
            self.note_transient();
            return false;
        }
        match self.maintain_secrets(now).await {
            (c, Step::Done) => changed |= c,
            (c, Step::Unreachable) => {
                changed |= c;
                unreachable = true;
            }
        }
        self.retry_commands(now).await;
        self.revoke_due(now).await;
        if unreachable {
            self.note_transient();
        } else {
            self.outage = None;
        }
        changed || self.render_retry.is_some_and(|p| p.at <= now)
    }

    /// Renew the token at ~2/3 of its TTL; when it can no longer be extended, log in again shortly
    /// before it expires. A 403 on renew-self marks it non-renewable (no request storm).
    async fn maintain_token(&mut self) -> Step {
        let Some(token) = &self.token else {
            return Step::Done;
        };
        let now = Instant::now();
        let expired = token.expires_at().is_some_and(|e| e <= now);
        if !self.token_is_final() && !expired {
            let asked = self.flags.base_ttl;
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
                Ok(a) => {
                    let granted = Duration::from_secs(a.lease_duration);
                    if let Some(t) = &mut self.token {
                        t.issued_at = now;
                        t.ttl = granted;
                    }
                    if capped(granted, asked) {
                        self.flags.capped = true;
                        tracing::info!(
                            ttl_s = granted.as_secs(),
                            "token reached its max TTL; will log in again before it expires"
                        );
                        self.token_due = Some(replace_at(now, now + granted, asked));
                    } else {
                        self.token_due = Some(now + renew_after(granted, TOKEN_RENEW_FRACTION));
                    }
                    return Step::Done;
                }
                Err(e) if e.is_transient() => {
                    // Keep the token: it is still valid; try again after the backoff.
                    tracing::warn!(error = %e, "token renewal failed");
                    return Step::Unreachable;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "token cannot be renewed; will log in again before it expires");
                    self.flags.renew_forbidden = true;
                    if let Some(exp) = token.expires_at() {
                        let at = replace_at(now, exp, self.flags.base_ttl);
                        if at > now {
                            self.token_due = Some(at);
                            return Step::Done;
                        }
                    }
                }
            }
        }
        self.relogin().await
    }

    /// After a 403: if the server no longer knows the token (revoked, or expired early), log in again now
    /// instead of failing until its scheduled renewal. A token that is alive just lacks a policy: nothing to do.
    pub(super) async fn relogin_if_token_dead(&mut self) {
        let Some(token) = &self.token else { return };
        if self.auth.is_none() {
            return;
        }
        if let Err(crate::backend::BackendError::Status { status: 403, .. }) =
            self.fetcher.client().lookup_self(&token.secret).await
        {
            tracing::warn!(
                accessor = %token.accessor,
                "the server no longer accepts the token (revoked?); logging in again"
            );
            let _ = self.relogin().await;
        }
    }

    /// Log in again (re-reading the credential files). Without auto_auth there is nothing to do.
    async fn relogin(&mut self) -> Step {
        let Some(a) = &self.auth else {
            self.token_due = None;
            return Step::Done;
        };
        let r = a.login().await;
        let identity = match &r {
            Ok(t) => t.identity.clone(),
            Err(_) => a.base_identity(),
        };
        self.auditor.record(
            Record::result(EventKind::AuthLogin, r.as_ref().err()).identity(Some(identity)),
        );
        match r {
            Ok(t) => {
                self.adopt_token(t);
                Step::Done
            }
            Err(e) => {
                tracing::error!(error = %e, "login failed");
                if self
                    .cfg
                    .auto_auth
                    .as_ref()
                    .is_some_and(|c| c.method.exit_on_err)
                    && !e.is_transient()
                {
                    tracing::error!("exit_on_err is set; exiting");
                    std::process::exit(crate::runtime::EXIT_UNAVAILABLE);
                }
                Step::Unreachable
            }
        }
    }

    /// Renew or replace every secret that is due. Returns whether any secret was replaced.
    async fn maintain_secrets(&mut self, now: Instant) -> (bool, Step) {
        let due: Vec<(SecretRequest, Action)> = self
            .store
            .iter()
            .filter_map(|(r, e)| {
                let (at, action) = self.entry_due(e);
                (at <= now).then(|| (r.clone(), action))
            })
            .collect();
        let mut refetch = Vec::new();
        for (req, action) in due {
            if action == Action::Renew {
                match self.renew_lease(&req).await {
                    Some(true) => continue,
                    Some(false) => {}
                    None => return (false, Step::Unreachable),
                }
            }
            refetch.push(req);
        }
        if refetch.is_empty() {
            return (false, Step::Done);
        }
        // Never create a dynamic secret with a token that dies before the secret is needed.
        let need = refetch
            .iter()
            .filter_map(|r| self.store.get(r))
            .filter(|e| !e.fetched.secret.lease_id.is_empty())
            .map(|e| Duration::from_secs(e.fetched.secret.lease_duration))
            .max();
        if let Some(need) = need
            && let Step::Unreachable = self.ensure_token_for(need).await
        {
            return (false, Step::Unreachable);
        }
        let mut changed = false;
        let mut step = Step::Done;
        let results = self.fetch_all(&refetch).await;
        let mut forbidden = false;
        for (req, r) in refetch.into_iter().zip(results) {
            match r {
                Ok(f) => {
                    let old = self
                        .store
                        .get(&req)
                        .map(|e| e.fetched.secret.lease_id.clone())
                        .unwrap_or_default();
                    let same = self
                        .store
                        .get(&req)
                        .is_some_and(|e| e.fetched.secret.data == f.secret.data);
                    if !old.is_empty()
                        && let Some(grace) = self.cfg.template_config.revoke_old_after
                    {
                        self.revocations.push((Instant::now() + grace, old));
                    }
                    self.insert(req, f);
                    changed |= !same;
                }
                Err(e) if e.is_transient() => step = Step::Unreachable,
                Err(e) => {
                    forbidden |= e.is_forbidden();
                    // Keep the last good secret (outputs stay as they are) and try again with backoff.
                    tracing::warn!(secret = %req, error = %e, "refresh failed; keeping the last good value");
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
            self.relogin_if_token_dead().await;
        }
        (changed, step)
    }

    /// Before issuing a dynamic secret that must live `need`: if the token would die sooner, try to
    /// renew it, and if that cannot extend it far enough, log in again first.
    async fn ensure_token_for(&mut self, need: Duration) -> Step {
        let Some(token) = &self.token else {
            return Step::Done;
        };
        let Some(exp) = token.expires_at() else {
            return Step::Done;
        };
        let now = Instant::now();
        if exp.saturating_duration_since(now) >= need {
            return Step::Done;
        }
        if !self.token_is_final() {
            if let Step::Unreachable = self.maintain_token().await {
                return Step::Unreachable;
            }
            let left = self
                .token
                .as_ref()
                .and_then(|t| t.expires_at())
                .map(|e| e.saturating_duration_since(now));
            if left.is_none_or(|l| l >= need) {
                return Step::Done;
            }
        }
        self.relogin().await
    }

    /// Renew one lease. `Some(true)`: renewed (or replaced later on schedule); `Some(false)`: it must be
    /// fetched again now; `None`: the backend is unreachable.
    async fn renew_lease(&mut self, req: &SecretRequest) -> Option<bool> {
        let (Some(token), Some(entry)) = (&self.token, self.store.get(req)) else {
            return Some(false);
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
                tracing::warn!(secret = %req, error = %e, "lease renewal failed");
                None
            }
            Err(e) => {
                tracing::warn!(secret = %req, error = %e, "lease cannot be renewed; fetching a new secret");
                Some(false)
            }
        }
    }

    /// Run again the post-render commands that failed, with backoff; nothing is fetched.
    async fn retry_commands(&mut self, now: Instant) {
        for i in 0..self.files.len() {
            let Some(p) = self.command_retry[i] else {
                continue;
            };
            if p.at > now {
                continue;
            }
            match run_command(&self.files[i]).await {
                Ok(()) => self.command_retry[i] = None,
                Err(e) => {
                    let attempts = p.attempts + 1;
                    let delay = self.backoff.delay(attempts);
                    tracing::error!(template = %self.files[i].name, error = %e.message, retry_in = ?delay, "command failed");
                    self.command_retry[i] = Some(Pending {
                        attempts,
                        at: Instant::now() + delay,
                    });
                }
            }
        }
    }

    /// Revoke replaced leases whose grace period (`revoke_old_after`) is over.
    async fn revoke_due(&mut self, now: Instant) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.revocations)
            .into_iter()
            .partition(|(t, _)| *t <= now);
        self.revocations = rest;
        for (_, lease_id) in due {
            self.revoke(&lease_id).await;
        }
    }

    async fn revoke(&self, lease_id: &str) {
        let Some(token) = &self.token else { return };
        let r = self
            .fetcher
            .client()
            .revoke_lease(&token.secret, lease_id)
            .await;
        let meta = SecretMeta {
            lease_id: lease_id.to_string(),
            ..SecretMeta::default()
        };
        self.auditor.record(
            Record::result(EventKind::SecretRevoke, r.as_ref().err())
                .identity(Some(token.identity.clone()))
                .secret(meta),
        );
        if let Err(e) = r {
            tracing::warn!(error = %e, "lease revocation failed");
        }
    }

    /// On shutdown: revoke every lease and the token when `revoke_on_shutdown` is set, and remove the
    /// rendered files when `remove_on_exit` is set.
    pub async fn shutdown(&mut self) {
        if self.cfg.template_config.revoke_on_shutdown {
            let leases: Vec<String> = self
                .store
                .iter()
                .map(|(_, e)| e.fetched.secret.lease_id.clone())
                .filter(|l| !l.is_empty())
                .collect();
            for l in leases {
                self.revoke(&l).await;
            }
            if let Some(t) = &self.token
                && self.auth.is_some()
            {
                let r = self.fetcher.client().revoke_self(&t.secret).await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "token revocation failed");
                }
            }
            self.remove_state();
        }
        if self.cfg.template_config.remove_on_exit {
            for job in &self.files {
                if let Err(e) = crate::output::file::remove(&job.target.path) {
                    tracing::warn!(error = %e, "cannot remove rendered file");
                }
            }
        }
        self.auditor.flush();
    }
}
