//! Each workload's own token (DESIGN.md §11). Created on first use with the agent's token: from
//! `auth/token/create/<role>` with `token_role` (an orphan when the role says so, which outlives the
//! agent's re-logins), else from `auth/token/create` (a child of the agent's token, which ends with
//! it), restricted to the workload's `policies`, its `meta` naming the workload and the host. A
//! workload with its own `auto_auth` logs in with that method instead (`login`): an orphan too.
//!
//! The lease engine keeps it alive: it is held in the engine's [`ProxyLeases`] table like a token created
//! through the API proxy, renewed in the engine's one loop, and evicted there when it expires, is revoked
//! or loses its parent. Here it is only reused while the table still serves it, and created again
//! otherwise; one creation at a time per workload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit::{Auditor, CallerMeta, EventKind, Identity, Record};
use crate::auth::{AuthError, Authenticator, method_identity};
use crate::backend::{BackendError, Bearer, Client};
use crate::config::{VaultConfig, WorkloadConfig};
use crate::lease::Engine;
use crate::lease::proxied::{
    Fingerprint, HeldKind, NewHeld, Parent, ProxyLeases, Renewal, token_after_refusal,
};

mod login;
mod refusal;

/// A workload's token: the token itself (never logged) and its accessor (logged and audited).
#[derive(Clone)]
pub struct WorkloadToken {
    /// The token requests are made with.
    pub secret: SecretString,
    /// Its accessor: joins sidekey's audit events to the server's audit log.
    pub accessor: String,
}

impl std::fmt::Debug for WorkloadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadToken")
            .field("accessor", &self.accessor)
            .finish_non_exhaustive()
    }
}

/// A workload's token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadTokenError {
    /// The agent has no token to create it with: auto-auth ended (the agent is stopping).
    #[error("workload {workload:?}: the agent has no token to create the workload's token with")]
    NoAgentToken {
        /// The workload.
        workload: String,
    },
    /// The server refused or failed to create it.
    #[error("workload {workload:?}: creating its token: {source}")]
    Create {
        /// The workload.
        workload: String,
        /// What the server said.
        #[source]
        source: BackendError,
    },
    /// The workload's own auto_auth login failed.
    #[error("workload {workload:?}: its own login at {mount}: {source}")]
    Login {
        /// The workload.
        workload: String,
        /// The method's mount (`auth/approle`).
        mount: String,
        /// Why (the auth module's error, naming the method).
        #[source]
        source: AuthError,
    },
}

impl WorkloadTokenError {
    /// Whether asking again later may succeed (the server was unreachable or unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NoAgentToken { .. } => false,
            Self::Create { source, .. } => source.is_transient(),
            Self::Login { source, .. } => source.is_transient(),
        }
    }

    /// Whether it is the workload's own login that failed (not a token the agent creates).
    pub fn is_login(&self) -> bool {
        matches!(self, Self::Login { .. })
    }
}

/// A token the server gives no TTL never expires; the table holds it this long, unrenewed.
const NO_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Every workload's token, created on first use and reused while the lease engine keeps it alive.
/// Cheap to clone: the API proxy and the `LoadCredential=` socket share one, for the agent's whole run
/// ([`WorkloadTokens::follow`] moves it to a new engine when a reload starts over).
#[derive(Clone)]
pub struct WorkloadTokens {
    inner: Arc<Inner>,
}

struct Inner {
    engine: RwLock<Arc<Source>>,
    auditor: Auditor,
    host: String,
    /// One lock per workload name, so callers asking together share one creation.
    creating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The authenticator of each workload with its own auto_auth, kept between logins (it remembers a
    /// secret_id file removed after reading).
    logins: Mutex<HashMap<String, Authenticator>>,
    /// Which tokens a refusal is checked for, and when last.
    checks: refusal::Checks,
}

/// What the engine publishes that tokens are made and held with.
struct Source {
    client: watch::Receiver<Client>,
    agent: watch::Receiver<Option<SecretString>>,
    leases: ProxyLeases,
    /// Told when the server refuses to create a token with the agent's: the engine checks its token.
    agent_refused: Arc<tokio::sync::Notify>,
    /// The `vault` stanza (the `cert` method's TLS settings).
    vault: VaultConfig,
}

impl Source {
    fn of(engine: &Engine) -> Arc<Self> {
        Arc::new(Self {
            client: engine.proxy_client(),
            agent: engine.auto_token(),
            leases: engine.proxy_leases(),
            agent_refused: engine.agent_refusals(),
            vault: engine.cfg.vault.clone(),
        })
    }
}

impl std::fmt::Debug for WorkloadTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadTokens")
            .field("host", &self.inner.host)
            .finish_non_exhaustive()
    }
}

impl WorkloadTokens {
    /// The workloads' tokens, made with `engine`'s client and token and held in its table, their
    /// creation audited by `auditor`.
    pub fn new(engine: &Engine, auditor: Auditor) -> Self {
        Self::with(Source::of(engine), auditor)
    }

    fn with(source: Arc<Source>, auditor: Auditor) -> Self {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                engine: RwLock::new(source),
                auditor,
                host,
                creating: Mutex::default(),
                logins: Mutex::default(),
                checks: refusal::Checks::default(),
            }),
        }
    }

    /// Make and hold tokens with `engine` from now on (a reload started the engine over: its table
    /// starts empty, so each workload's next caller gets a new token).
    pub fn follow(&self, engine: &Engine) {
        *self
            .inner
            .engine
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Source::of(engine);
    }

    fn source(&self) -> Arc<Source> {
        self.inner
            .engine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `w`'s token: the one the lease engine holds while it keeps it alive (a restart that resumed the
    /// state file resumes it too), else a new one, whose `auth.login` event carries `caller`'s block.
    /// Waits for the agent's first login (not with the workload's own auto_auth); callers asking together
    /// for one workload share one creation or login.
    ///
    /// # Errors
    /// [`WorkloadTokenError`]: the server refused to create it (the agent's policies, the role's
    /// `allowed_policies`: permanent) or could not be reached (transient); the workload's own login
    /// failed (as the auth module classifies it).
    pub async fn token_for(
        &self,
        w: &WorkloadConfig,
        caller: Option<&CallerMeta>,
    ) -> Result<WorkloadToken, WorkloadTokenError> {
        if let Some(t) = self.held_for(w) {
            return Ok(t);
        }
        let lock = {
            let mut creating = self
                .inner
                .creating
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            creating.entry(w.name.clone()).or_default().clone()
        };
        let _one = lock.lock().await;
        // Another caller may have created it while this one waited.
        if let Some(t) = self.held_for(w) {
            return Ok(t);
        }
        match &w.auto_auth {
            Some(method) => self.log_in(w, method, caller).await,
            None => self.create(w, caller).await,
        }
    }

    /// The token the table holds for the workload `name` and still serves; never creates one.
    pub fn held(&self, name: &str) -> Option<WorkloadToken> {
        self.held_as(name, None)
    }

    /// The token the table holds for `w` made with its current settings (a token made before a reload
    /// changed them is not served).
    fn held_for(&self, w: &WorkloadConfig) -> Option<WorkloadToken> {
        let settings = settings_print(&self.source().leases, w);
        self.held_as(&w.name, Some(settings))
    }

    fn held_as(&self, name: &str, settings: Option<Fingerprint>) -> Option<WorkloadToken> {
        let source = self.source();
        let table = source.leases.lock();
        table
            .workload_token(name, settings, Instant::now())
            .map(|(secret, accessor)| WorkloadToken { secret, accessor })
    }

    /// Forget what is kept between creations for the workload `name` (a reload removed it, or changed how
    /// its token is made): its creation lock and its own auto_auth's authenticator (with a secret_id it
    /// may remember).
    pub fn forget(&self, name: &str) {
        self.inner
            .creating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        self.inner
            .logins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
    }

    /// A request sent with `w`'s `token` was refused (403): whether the token itself is gone on the
    /// server (`lookup-self` with it, through the backend client). Looked up only when the token holds
    /// the `default` policy (else its `lookup-self` is refused alive or gone) or its policies are not
    /// known, and at most once per token every 30 s; otherwise the 403 is the server's answer (policy).
    /// A gone token is evicted from the table, so that the next [`Self::token_for`] makes a new one, and
    /// revoked (best effort: the server may know it still).
    pub async fn gone_after_refusal(&self, w: &WorkloadConfig, token: &WorkloadToken) -> bool {
        if !self
            .inner
            .checks
            .due(&w.name, &token.accessor, Instant::now())
        {
            return false;
        }
        let source = self.source();
        let client = source.client.borrow().clone();
        let bearer = Bearer::new(&token.secret, &token.accessor);
        if token_after_refusal(&client, bearer).await != Renewal::Gone {
            return false;
        }
        let revoked = match client.revoke_self(bearer).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(
                    workload = %w.name,
                    accessor = %token.accessor,
                    error = %e,
                    "the workload's replaced token could not be revoked (it is likely gone already)"
                );
                false
            }
        };
        let print = source.leases.token_print(&token.secret);
        let evicted = source
            .leases
            .lock()
            .evict_token(Some(print), Some(&token.accessor));
        source.leases.changed();
        tracing::warn!(
            workload = %w.name,
            accessor = %token.accessor,
            evicted,
            revoked,
            "the workload's token is gone on the server (a request with it was refused); a new one is made"
        );
        true
    }

    /// Create `w`'s token with the agent's current token and hand it to the table.
    async fn create(
        &self,
        w: &WorkloadConfig,
        caller: Option<&CallerMeta>,
    ) -> Result<WorkloadToken, WorkloadTokenError> {
        let source = self.source();
        let mut agent_rx = source.agent.clone();
        let agent = agent_rx
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|t| t.clone())
            .ok_or_else(|| WorkloadTokenError::NoAgentToken {
                workload: w.name.clone(),
            })?;
        let body = serde_json::json!({
            "policies": w.policies,
            "meta": { "workload": w.name, "host": self.inner.host },
            "display_name": format!("workload-{}", w.name),
        });
        let client = source.client.borrow().clone();
        let created = client
            .create_token(Bearer::new(&agent, ""), w.token_role.as_deref(), &body)
            .await;
        let accessor = created.as_ref().map(|a| a.accessor.as_str()).ok();
        let audited = identity(w, accessor.unwrap_or_default());
        let answered = created.as_ref().ok().map(|a| a.request_id.as_str());
        self.audit(
            w,
            caller,
            &client,
            audited,
            answered,
            created.as_ref().err(),
        );
        if let Err(BackendError::Status { status: 403, .. }) = &created {
            // The agent's own token may have been revoked: the engine looks it up (once for a burst)
            // and logs in again, so the next caller's creation can succeed.
            source.agent_refused.notify_one();
        }
        let auth = created.map_err(|source| WorkloadTokenError::Create {
            workload: w.name.clone(),
            source,
        })?;
        let parent = if auth.orphan {
            Parent::None
        } else {
            Parent::Auto(source.leases.token_print(&agent))
        };
        let token = WorkloadToken {
            secret: auth.client_token,
            accessor: auth.accessor,
        };
        self.inner
            .checks
            .held(&w.name, &token.accessor, &auth.policies);
        let life = Life {
            ttl: Duration::from_secs(auth.lease_duration),
            renewable: auth.renewable,
            parent,
            path: created_path(w),
        };
        hold(&source.leases, w, &token, life);
        Ok(token)
    }

    /// One `auth.login` event for a creation or a login (its accessor on success), naming the workload
    /// and the caller that asked, if any, and the server's `request_id` for it.
    fn audit<E: std::fmt::Display>(
        &self,
        w: &WorkloadConfig,
        caller: Option<&CallerMeta>,
        client: &Client,
        identity: Identity,
        request_id: Option<&str>,
        err: Option<&E>,
    ) {
        let accessor = (err.is_none() && !identity.token_accessor.is_empty())
            .then(|| identity.token_accessor.clone());
        let mut r = Record::result(EventKind::AuthLogin, err)
            .identity(Some(identity))
            .node(client.node())
            .request_id(request_id);
        r.caller = Some(CallerMeta {
            workload: Some(w.name.clone()),
            token_accessor: accessor,
            ..caller.cloned().unwrap_or_default()
        });
        self.inner.auditor.record(r);
    }
}

/// How a new workload token lives in the table.
struct Life {
    /// Its TTL as the server gave it (zero: none).
    ttl: Duration,
    renewable: bool,
    /// What it ends with.
    parent: Parent,
    /// The API path it came from (for logs and the table).
    path: String,
}

/// Hand `w`'s new `token` to the table, which renews it and evicts it when it ends.
fn hold(leases: &ProxyLeases, w: &WorkloadConfig, token: &WorkloadToken, life: Life) {
    let (ttl, renewable) = if life.ttl.is_zero() {
        (NO_TTL, false)
    } else {
        (life.ttl, life.renewable)
    };
    let orphan = life.parent == Parent::None;
    let new = NewHeld {
        kind: HeldKind::Token {
            accessor: token.accessor.clone(),
            print: leases.token_print(&token.secret),
        },
        renew_with: token.secret.clone(),
        parent: life.parent,
        path: life.path,
        ttl,
        renewable,
    };
    let settings = settings_print(leases, w);
    leases.lock().hold_workload_token(new, &w.name, settings);
    leases.changed();
    tracing::info!(
        workload = %w.name,
        accessor = %token.accessor,
        orphan,
        ttl_s = life.ttl.as_secs(),
        "workload token created"
    );
}

/// The fingerprint (keyed as the table's) of what `w`'s token is made with: its `policies` (in any
/// order), `token_role` and `auto_auth`. A token made with other settings is not `w`'s any more.
pub fn settings_print(leases: &ProxyLeases, w: &WorkloadConfig) -> Fingerprint {
    let mut policies: Vec<&str> = w.policies.iter().map(String::as_str).collect();
    policies.sort_unstable();
    policies.dedup();
    let policies = policies.join("\n");
    let role = w.token_role.as_deref().map(|r| format!("role:{r}"));
    // The method's settings hold paths and names, never a secret; its `Debug` covers every field.
    let method = w.auto_auth.as_ref().map(|m| format!("{m:?}"));
    leases.fingerprint(&[
        b"workload-settings",
        policies.as_bytes(),
        role.as_deref().unwrap_or_default().as_bytes(),
        method.as_deref().unwrap_or_default().as_bytes(),
    ])
}

/// Who the backend sees when `w`'s token (`accessor`) is used: its creation, and what a credential
/// fetches with it.
pub fn identity(w: &WorkloadConfig, accessor: &str) -> Identity {
    let base = match &w.auto_auth {
        Some(method) => method_identity(method),
        None => Identity {
            method: "token".into(),
            mount: "auth/token".into(),
            role: w.token_role.clone().unwrap_or_default(),
            ..Identity::default()
        },
    };
    Identity {
        subject: w.name.clone(),
        token_accessor: accessor.to_string(),
        ..base
    }
}

/// The API path `w`'s token is created at (for logs and the table).
fn created_path(w: &WorkloadConfig) -> String {
    match &w.token_role {
        Some(r) => format!("auth/token/create/{r}"),
        None => "auth/token/create".into(),
    }
}

#[cfg(test)]
mod tests;
