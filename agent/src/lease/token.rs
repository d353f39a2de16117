//! The token owner: logs in (one login path, for the first login and every later one), renews the token
//! at ~2/3 of its TTL, logs in again before a token that can no longer be extended expires, and
//! remembers replaced tokens (the leases they created die with them). With `method { wrap_ttl }` a login
//! gives a wrapped response instead, kept for the sink: nothing to renew, no login again (Vault Agent).
//! It writes nothing: the deliverer writes the sinks after each new token. Renewal (and re-login when
//! renewal cannot help) is in `renew`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use tokio::time::Instant;

use super::schedule::RetryPolicy;
use super::schedule::{TOKEN_RENEW_FRACTION, renew_after, replace_at};
use crate::audit::{Auditor, EventKind, Record};
use crate::auth::{AuthError, Authenticator, Login, Token, WrappedLogin, ambient_token};
use crate::backend::Client;
use crate::config::Config;
use crate::runtime::EnvSource;

mod renew;

/// What is known about the current token beyond [`Token`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TokenFlags {
    /// renew-self answered 403: never ask again for this login.
    pub renew_forbidden: bool,
    /// A renewal was capped by the max TTL: the token can only run out now.
    pub capped: bool,
    /// The TTL the token was issued with (what a renewal asks for).
    pub base_ttl: Duration,
    /// When a lookup showed the token revoked on the server: its life (and its leases') ended then.
    pub revoked_at: Option<Instant>,
}

/// The result of token work that did not end the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Done (or nothing to do).
    Done,
    /// The backend could not be reached: back off and try again.
    Unreachable,
}

/// Keeps the token alive (see the module doc).
pub(crate) struct TokenKeeper {
    cfg: Arc<Config>,
    auth: Option<Authenticator>,
    client: Client,
    auditor: Auditor,
    env: Arc<dyn EnvSource>,
    login_retry: RetryPolicy,
    pub(crate) token: Option<Token>,
    /// The wrapped login response (`method { wrap_ttl }`), in place of a token.
    pub(crate) wrapped: Option<WrappedLogin>,
    pub(crate) flags: TokenFlags,
    /// When the token must next be renewed or replaced.
    pub(crate) due: Option<Instant>,
    /// Replaced tokens by accessor, with their expiry: leases they created die then.
    pub(crate) old: HashMap<String, Option<Instant>>,
    /// Retry a refused login too (a long-running agent), not only an unreachable backend.
    pub(crate) retry_refusals: bool,
    /// Woken when a credential file changed (a file watch): a login waiting out its backoff tries now.
    pub(crate) credentials: Arc<tokio::sync::Notify>,
}

impl TokenKeeper {
    /// A keeper for `cfg`'s auto-auth (or the ambient token), logging in through `client`; `once`: a
    /// one-shot run, which retries only what a retry can fix.
    pub(crate) fn new(
        cfg: Arc<Config>,
        client: Client,
        auditor: Auditor,
        env: Arc<dyn EnvSource>,
        login_retry: RetryPolicy,
        once: bool,
    ) -> Self {
        let auth = cfg
            .auto_auth
            .as_ref()
            .map(|a| Authenticator::new(a.method.clone(), cfg.vault.clone(), client.clone()));
        Self {
            cfg,
            auth,
            client,
            auditor,
            env,
            login_retry,
            token: None,
            wrapped: None,
            flags: TokenFlags::default(),
            due: None,
            old: HashMap::new(),
            credentials: Arc::new(tokio::sync::Notify::new()),
            retry_refusals: !once,
        }
    }

    /// Talk through `client` from now on (its TLS files were rotated); the token and its leases stay.
    pub(crate) fn set_client(&mut self, client: Client) {
        self.auth =
            self.cfg.auto_auth.as_ref().map(|a| {
                Authenticator::new(a.method.clone(), self.cfg.vault.clone(), client.clone())
            });
        self.client = client;
    }

    /// Take a reloaded config. A changed auth method (type, mount, role, credentials) logs in again at
    /// the next tick; the old token's leases are kept until their effective expiry, then replaced.
    pub(crate) fn reconfigure(&mut self, cfg: Arc<Config>, login_retry: RetryPolicy) {
        let method = |c: &Config| c.auto_auth.as_ref().map(|a| a.method.clone());
        if method(&cfg) != method(&self.cfg) {
            self.auth = cfg.auto_auth.as_ref().map(|a| {
                Authenticator::new(a.method.clone(), cfg.vault.clone(), self.client.clone())
            });
            self.flags.renew_forbidden = false;
            if self.token.is_some() || self.wrapped.is_some() {
                tracing::info!("auto_auth method changed; logging in again");
                self.due = Some(Instant::now());
                self.flags.capped = true;
            }
        }
        self.cfg = cfg;
        self.login_retry = login_retry;
    }

    /// Whether the method reads its token from a file (`token_file`): a replaced file is used at once
    /// (not with `wrap_ttl`: as with Vault Agent, a wrapped login is not repeated for new credentials).
    pub(crate) fn token_from_file(&self) -> bool {
        self.cfg.auto_auth.as_ref().is_some_and(|a| {
            matches!(a.method.kind, crate::config::MethodKind::TokenFile { .. })
                && a.method.wrap_ttl.is_none()
        })
    }

    /// Whether tokens come from auto-auth (and so can be replaced by logging in again).
    pub(crate) fn has_auto_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// The identity known before any login, for events about a token that is not there yet.
    pub(crate) fn base_identity(&self) -> crate::audit::Identity {
        self.auth
            .as_ref()
            .map(Authenticator::base_identity)
            .unwrap_or_default()
    }

    fn exit_on_err(&self) -> bool {
        self.cfg
            .auto_auth
            .as_ref()
            .is_some_and(|c| c.method.exit_on_err)
    }

    /// Log in with `policy`'s retries (every attempt audited), or pick up the ambient token.
    async fn login_with(&self, policy: RetryPolicy) -> Result<Login, AuthError> {
        let Some(a) = &self.auth else {
            return ambient_token(&self.client, self.env.as_ref())
                .await
                .map(Login::Token);
        };
        let exit_on_err = self.exit_on_err();
        let attempt = || async {
            let r = a.authenticate().await;
            let identity = match &r {
                Ok(l) => l.identity().clone(),
                Err(_) => a.base_identity(),
            };
            self.auditor.record(
                Record::result(EventKind::AuthLogin, r.as_ref().err())
                    .identity(Some(identity))
                    .node(self.client.node())
                    .request_id(r.as_ref().ok().map(Login::request_id)),
            );
            self.auditor.flush();
            r
        };
        // A backoff step ends early when a credential file changes: a token or JWT that appears after
        // start is used within a second, not at the next step of a backoff that grows to minutes.
        let credentials = self.credentials.clone();
        let sleep = move |d: Duration| {
            let credentials = credentials.clone();
            async move {
                tokio::select! {
                    () = tokio::time::sleep(d) => {}
                    () = credentials.notified() => {}
                }
            }
        };
        attempt
            .retry(policy.delays())
            .sleep(sleep)
            // Vault Agent's rules: with exit_on_err any login error ends the run; otherwise a long-running
            // agent retries every login error (a refused credential may be fixed by rotating its file,
            // which the file watch notices), a one-shot run only what a retry can fix.
            .when(|e: &AuthError| !exit_on_err && (e.is_transient() || self.retry_refusals))
            .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, "login failed"))
            .await
    }

    /// The first login, with this run's login retries.
    ///
    /// # Errors
    /// The login failure once retries are spent or it is permanent.
    pub(crate) async fn login(&mut self) -> Result<(), AuthError> {
        let login = self.login_with(self.login_retry).await?;
        self.accept(login);
        Ok(())
    }

    /// Log in again (one attempt, re-reading the credential files); the engine's backoff spaces tries.
    ///
    /// # Errors
    /// A permanent login failure under `exit_on_err`: the run must end.
    pub(crate) async fn relogin(&mut self) -> Result<Reach, AuthError> {
        if self.auth.is_none() {
            self.due = None;
            return Ok(Reach::Done);
        }
        let once = RetryPolicy {
            times: Some(0),
            ..self.login_retry
        };
        match self.login_with(once).await {
            Ok(login) => {
                self.accept(login);
                Ok(Reach::Done)
            }
            Err(e) if self.exit_on_err() => {
                tracing::error!(error = %e, "login failed; exit_on_err is set");
                Err(e)
            }
            Err(e) => {
                tracing::error!(error = %e, "login failed");
                Ok(Reach::Unreachable)
            }
        }
    }

    /// Take what a login gave: a token ([`Self::adopt`]), or a wrapped response, which replaces the token
    /// and schedules nothing.
    pub(crate) fn accept(&mut self, login: Login) {
        match login {
            Login::Token(t) => {
                tracing::info!(method = %t.identity.method, accessor = %t.accessor, ttl_s = t.ttl.as_secs(), "authenticated");
                self.adopt(t);
            }
            Login::Wrapped(w) => {
                tracing::info!(
                    method = %w.identity.method,
                    wrapping_accessor = %w.info.accessor,
                    wrap_ttl_s = w.info.ttl,
                    "authenticated; the login response is wrapped for the sink (nothing to renew)"
                );
                if let Some(old) = self.token.take() {
                    self.old.insert(old.accessor.clone(), old.expires_at());
                }
                self.wrapped = Some(w);
                self.due = None;
            }
        }
    }

    /// Make `token` the current one: remember the old one's expiry (its leases die then), schedule the
    /// renewal.
    pub(crate) fn adopt(&mut self, token: Token) {
        if let Some(old) = self.token.take() {
            let end = self.flags.revoked_at.or(old.expires_at());
            self.old.insert(old.accessor.clone(), end);
        }
        self.wrapped = None;
        // A policy that forbids renew-self forbids it for the next login of the same role too.
        self.flags = TokenFlags {
            base_ttl: token.ttl,
            renew_forbidden: self.flags.renew_forbidden,
            capped: false,
            revoked_at: None,
        };
        self.due = token.expires_at().map(|exp| {
            if token.renewable {
                token.issued_at + renew_after(token.ttl, TOKEN_RENEW_FRACTION)
            } else {
                replace_at(token.issued_at, exp, token.ttl)
            }
        });
        self.token = Some(token);
    }

    /// Whether the current token's expiry is final (it cannot be extended any more).
    pub(crate) fn is_final(&self) -> bool {
        self.token.as_ref().is_some_and(|t| !t.renewable)
            || self.flags.renew_forbidden
            || self.flags.capped
            || self.flags.revoked_at.is_some()
    }

    /// A lookup showed the current token revoked on the server: it (and every lease it created) ended at
    /// `now`; logging in again is due at once.
    pub(crate) fn revoked(&mut self, now: Instant) {
        if self.token.is_some() {
            self.flags.revoked_at = Some(now);
            self.due = Some(now);
        }
    }

    /// The expiry that binds leases created by the token with `accessor`: a replaced token's expiry, or
    /// the current token's once it cannot be extended.
    pub(crate) fn parent_expiry(&self, accessor: &str) -> Option<Instant> {
        if let Some(exp) = self.old.get(accessor) {
            return *exp;
        }
        match &self.token {
            Some(t) if t.accessor == accessor && self.is_final() => {
                self.flags.revoked_at.or(t.expires_at())
            }
            _ => None,
        }
    }

    /// The expiry of the token with `accessor` as known now (replaced or current), for reporting.
    pub(crate) fn expiry_of(&self, accessor: &str) -> Option<Instant> {
        if let Some(old) = self.old.get(accessor) {
            return *old;
        }
        self.token
            .as_ref()
            .filter(|t| t.accessor == accessor)
            .and_then(Token::expires_at)
    }

    /// When the current token expires, if it does.
    pub(crate) fn current_expiry(&self) -> Option<Instant> {
        self.token.as_ref().and_then(Token::expires_at)
    }

    /// Whether the token's renewal or replacement is due at `now`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|d| d <= now)
            || self
                .token
                .as_ref()
                .is_some_and(|t| t.expires_at().is_some_and(|e| e <= now))
    }
}
