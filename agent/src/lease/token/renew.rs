//! The token's upkeep: renew it, log in again when it can no longer be extended or the server no longer
//! accepts it, make sure it outlives a secret about to be issued, and revoke it on shutdown.

use std::time::Duration;

use tokio::time::Instant;

use super::{Reach, TokenKeeper};
use crate::audit::{EventKind, Record};
use crate::auth::{AuthError, Token};
use crate::backend::{BackendError, Bearer};
use crate::lease::schedule::{TOKEN_RENEW_FRACTION, capped, renew_after, replace_at};

impl TokenKeeper {
    /// Renew the token; when it can no longer be extended, log in again. A 403 on renew-self marks it
    /// non-renewable (no request storm).
    ///
    /// # Errors
    /// As [`Self::relogin`].
    pub(crate) async fn maintain(&mut self) -> Result<Reach, AuthError> {
        let Some(token) = &self.token else {
            // A wrapped login is repeated only when the method changed (a reload made it due).
            if self.wrapped.is_some() {
                return self.relogin().await;
            }
            return Ok(Reach::Done);
        };
        let now = Instant::now();
        let expired =
            token.expires_at().is_some_and(|e| e <= now) || self.flags.revoked_at.is_some();
        if !self.is_final() && !expired {
            let asked = self.flags.base_ttl;
            let bearer = Bearer::new(&token.secret, &token.accessor);
            let r = self.client.renew_self(bearer, asked.as_secs()).await;
            self.auditor.record(
                Record::result(EventKind::AuthRenew, r.as_ref().err())
                    .identity(Some(token.identity.clone()))
                    .node(self.client.node())
                    .request_id(r.as_ref().ok().map(|a| a.request_id.as_str())),
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
                        self.due = Some(replace_at(now, now + granted, asked));
                    } else {
                        self.due = Some(now + renew_after(granted, TOKEN_RENEW_FRACTION));
                    }
                    return Ok(Reach::Done);
                }
                Err(e) if e.is_transient() => {
                    // Keep the token: it is still valid; try again after the backoff.
                    tracing::warn!(error = %e, "token renewal failed");
                    return Ok(Reach::Unreachable);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "token cannot be renewed; will log in again before it expires");
                    self.flags.renew_forbidden = true;
                    if let Some(exp) = token.expires_at() {
                        let at = replace_at(now, exp, self.flags.base_ttl);
                        if at > now {
                            self.due = Some(at);
                            return Ok(Reach::Done);
                        }
                    }
                }
            }
        }
        self.relogin().await
    }

    /// After a 403: if the server no longer knows the token (revoked, or expired early), log in again now
    /// instead of failing until its scheduled renewal. A token that is alive just lacks a policy.
    ///
    /// # Errors
    /// As [`Self::relogin`].
    pub(crate) async fn relogin_if_dead(&mut self) -> Result<(), AuthError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        if self.auth.is_none() {
            return Ok(());
        }
        if let Err(BackendError::Status { status: 403, .. }) = self
            .client
            .lookup_self(Bearer::new(&token.secret, &token.accessor))
            .await
        {
            tracing::warn!(
                accessor = %token.accessor,
                "the server no longer accepts the token (revoked?); logging in again"
            );
            self.relogin().await?;
        }
        Ok(())
    }

    /// Before issuing a dynamic secret that must live `need`: if the token would die sooner, try to
    /// renew it, and if that cannot extend it far enough, log in again first.
    ///
    /// # Errors
    /// As [`Self::relogin`].
    pub(crate) async fn ensure_for(&mut self, need: Duration) -> Result<Reach, AuthError> {
        let Some(exp) = self.token.as_ref().and_then(Token::expires_at) else {
            return Ok(Reach::Done);
        };
        let now = Instant::now();
        if exp.saturating_duration_since(now) >= need {
            return Ok(Reach::Done);
        }
        if !self.is_final() {
            if self.maintain().await? == Reach::Unreachable {
                return Ok(Reach::Unreachable);
            }
            let left = self
                .token
                .as_ref()
                .and_then(Token::expires_at)
                .map(|e| e.saturating_duration_since(now));
            if left.is_none_or(|l| l >= need) {
                return Ok(Reach::Done);
            }
        }
        self.relogin().await
    }

    /// `revoke_on_shutdown`: revoke the auto-auth token (an ambient token is the operator's, not ours).
    pub(crate) async fn revoke(&self) {
        if let Some(t) = &self.token
            && self.auth.is_some()
            && let Err(e) = self
                .client
                .revoke_self(Bearer::new(&t.secret, &t.accessor))
                .await
        {
            tracing::warn!(error = %e, "token revocation failed");
        }
    }
}
