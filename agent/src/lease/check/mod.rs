//! Replacing what is held before its schedule. After a leak, operators revoke on the server and expect
//! every agent to move on at once: every `lease_check_interval` (jittered) the engine looks up the token
//! (`auth/token/lookup-self`) and every lease it holds (`sys/leases/lookup`), the cache's included, and
//! replaces at once what the server no longer knows; `POST /agent/v1/refresh` on the admin listener asks
//! for every secret to be fetched again now. Only a 403 on the token lookup, or a 400 on a lease lookup
//! ("invalid lease"), counts as revoked: errors a retry can fix (5xx, 429, a standby, no connection)
//! never do.

use std::sync::Arc;

use futures_util::future::join_all;
use secrecy::SecretString;
use tokio::time::Instant;

use super::engine::Engine;
use super::proxied::{HeldId, Renewal, lease_after_refusal, token_after_refusal};
use super::schedule::check_after;
use super::store::Replacing;
use super::token::Reach;
use crate::audit::{EventKind, Outcome, Record};
use crate::auth::AuthError;
use crate::backend::Bearer;
use crate::backend::secret::SecretRequest;

/// When the next check is due, and the period it was scheduled with (a reload may change it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckAt {
    /// `lease_check_interval` when it was scheduled.
    pub every: std::time::Duration,
    /// When it is due.
    pub at: Instant,
}

impl Engine {
    /// Keep the next check scheduled by the config's `lease_check_interval`: none when it is `0`, a new
    /// jittered one when it was changed (by a reload) or none is scheduled yet.
    pub(super) fn schedule_check(&mut self) {
        self.check = match (self.cfg.lease_check_interval.0, self.check) {
            (None, _) => None,
            (Some(every), Some(c)) if c.every == every => Some(c),
            (Some(every), _) => Some(CheckAt {
                every,
                at: Instant::now() + check_after(every),
            }),
        };
    }

    /// Whether a check is due at `now`; if so the next one is scheduled.
    pub(super) fn check_due(&mut self, now: Instant) -> bool {
        match self.check {
            Some(c) if c.at <= now => {
                self.check = Some(CheckAt {
                    every: c.every,
                    at: now + check_after(c.every),
                });
                true
            }
            _ => false,
        }
    }

    /// Look up the token and every lease held; mark what was revoked for replacement at `now` (the
    /// token: log in again first) and evict what the cache holds that is gone.
    ///
    /// # Errors
    /// A fatal login failure (`exit_on_err`).
    pub(super) async fn check_held(&mut self, now: Instant) -> Result<Reach, AuthError> {
        if self.check_token(now).await? == Reach::Unreachable {
            return Ok(Reach::Unreachable);
        }
        self.check_leases(now).await;
        self.check_proxied().await;
        Ok(Reach::Done)
    }

    /// The token: when the server no longer knows it, its leases end now and a login follows at once.
    async fn check_token(&mut self, now: Instant) -> Result<Reach, AuthError> {
        let Some(token) = self
            .tokens
            .token
            .as_ref()
            .filter(|_| self.tokens.has_auto_auth())
        else {
            return Ok(Reach::Done);
        };
        // Only a 403 on lookup-self means revoked; an unreachable server is tried at the next check.
        let bearer = Bearer::new(&token.secret, &token.accessor);
        let answer = super::proxied::token_after_refusal(self.fetcher.client(), bearer).await;
        if answer != Renewal::Gone {
            return Ok(Reach::Done);
        }
        let accessor = token.accessor.clone();
        tracing::warn!(
            accessor = %accessor,
            "lease check: the token was revoked on the server; logging in again and replacing its leases"
        );
        let dead: Vec<SecretRequest> = self
            .store
            .iter()
            .filter(|(_, e)| e.token_accessor == accessor && !e.fetched.secret.lease_id.is_empty())
            .map(|(r, _)| r.clone())
            .collect();
        for req in &dead {
            self.store.replace_now(req, Replacing::Revoked, now);
        }
        self.tokens.revoked(now);
        self.tokens.maintain().await
    }

    /// Every lease behind an output, looked up with the token that created it (a workload's, whose leases
    /// the table's token check ends when the token is gone): one the server no longer knows is fetched
    /// again at `now`.
    async fn check_leases(&mut self, now: Instant) {
        let leases: Vec<(SecretRequest, String, SecretString, String)> = self
            .store
            .iter()
            .filter(|(_, e)| e.replacing.is_none() && !e.fetched.secret.lease_id.is_empty())
            .filter_map(|(r, e)| {
                let acting = self.acting_as(r.workload.as_deref())?;
                let lease_id = e.fetched.secret.lease_id.clone();
                Some((
                    r.clone(),
                    lease_id,
                    acting.secret,
                    acting.identity.token_accessor,
                ))
            })
            .collect();
        let client = self.fetcher.client();
        let answers = join_all(leases.iter().map(|(_, lease_id, token, accessor)| {
            lease_after_refusal(client, Bearer::new(token, accessor), lease_id)
        }))
        .await;
        for ((req, lease_id, ..), answer) in leases.into_iter().zip(answers) {
            if answer == Renewal::Gone {
                tracing::warn!(
                    secret = %req,
                    lease_id = %lease_id,
                    "lease check: the lease was revoked on the server; fetching a new secret now"
                );
                self.store.replace_now(&req, Replacing::Revoked, now);
            }
        }
    }

    /// Every lease and token the cache holds, looked up with the token that created it: what is gone is
    /// evicted (with what was created under it) and never served again.
    async fn check_proxied(&self) {
        let (leases, tokens) = {
            let table = self.proxied.lock();
            (table.leases(), table.tokens())
        };
        if leases.is_empty() && tokens.is_empty() {
            return;
        }
        let client = self.fetcher.client();
        let lease_answers = join_all(leases.iter().map(|(_, lease_id, token, accessor)| {
            lease_after_refusal(client, Bearer::new(token, accessor), lease_id)
        }));
        let token_answers =
            join_all(tokens.iter().map(|(_, token, accessor)| {
                token_after_refusal(client, Bearer::new(token, accessor))
            }));
        let (lease_answers, token_answers) =
            futures_util::future::join(lease_answers, token_answers).await;
        let gone: Vec<HeldId> = leases
            .iter()
            .zip(lease_answers)
            .filter(|(_, a)| *a == Renewal::Gone)
            .map(|((id, lease_id, ..), _)| {
                tracing::warn!(lease_id = %lease_id, "lease check: a cached lease was revoked on the server; evicted");
                *id
            })
            .chain(
                tokens
                    .iter()
                    .zip(token_answers)
                    .filter(|(_, a)| *a == Renewal::Gone)
                    .map(|((id, ..), _)| {
                        tracing::warn!(entry = id, "lease check: a cached token was revoked on the server; evicted with its leases");
                        *id
                    }),
            )
            .collect();
        if gone.is_empty() {
            return;
        }
        let mut table = self.proxied.lock();
        for id in gone {
            table.evict(id);
        }
        drop(table);
        // The state file must forget them too, or a restart would serve them again.
        self.proxied.mark_dirty();
    }

    /// `POST /agent/v1/refresh`: fetch every secret again now (the old leases are revoked once the new
    /// secrets are delivered), and empty the cache so callers get new ones too. Audited as
    /// `agent.refresh`.
    pub(super) fn on_refresh(&mut self) {
        let now = Instant::now();
        self.auditor.record(
            Record::new(EventKind::AgentRefresh, Outcome::Success)
                .identity(self.tokens.token.as_ref().map(|t| t.identity.clone())),
        );
        let held: Vec<SecretRequest> = self.store.iter().map(|(r, _)| r.clone()).collect();
        tracing::info!(
            secrets = held.len(),
            "refresh requested: fetching every secret again"
        );
        for req in &held {
            self.store.replace_now(req, Replacing::Refresh, now);
        }
        self.proxied.lock().clear();
        self.proxied.mark_dirty();
        if let Some(o) = &mut self.outage {
            o.at = now;
        }
    }

    /// What the admin listener signals to ask for a refresh.
    pub fn refresh_requests(&self) -> Arc<tokio::sync::Notify> {
        self.refresh.clone()
    }

    /// Take refresh requests from `n` (the admin listener of an engine this one replaces).
    pub fn set_refresh_requests(&mut self, n: Arc<tokio::sync::Notify>) {
        self.refresh = n;
    }
}

#[cfg(test)]
mod tests;
