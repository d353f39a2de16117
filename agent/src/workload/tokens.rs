//! Each workload's own token (DESIGN.md §11). Created on first use with the agent's token: from
//! `auth/token/create/<role>` with `token_role` (an orphan when the role says so, which outlives the
//! agent's re-logins), else from `auth/token/create` (a child of the agent's token, which ends with
//! it), restricted to the workload's `policies`, its `meta` naming the workload and the host.
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
use crate::backend::{BackendError, Client};
use crate::config::WorkloadConfig;
use crate::lease::Engine;
use crate::lease::proxied::{HeldKind, NewHeld, Parent, ProxyLeases};

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
}

impl WorkloadTokenError {
    /// Whether asking again later may succeed (the server was unreachable or unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::NoAgentToken { .. } => false,
            Self::Create { source, .. } => source.is_transient(),
        }
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
}

/// What the engine publishes that tokens are made and held with.
struct Source {
    client: watch::Receiver<Client>,
    agent: watch::Receiver<Option<SecretString>>,
    leases: ProxyLeases,
}

impl Source {
    fn of(engine: &Engine) -> Arc<Self> {
        Arc::new(Self {
            client: engine.proxy_client(),
            agent: engine.auto_token(),
            leases: engine.proxy_leases(),
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
    /// Waits for the agent's first login; callers asking together for one workload share one creation.
    ///
    /// # Errors
    /// [`WorkloadTokenError`]: the server refused to create it (the agent's policies, the role's
    /// `allowed_policies`: permanent) or could not be reached (transient).
    pub async fn token_for(
        &self,
        w: &WorkloadConfig,
        caller: Option<&CallerMeta>,
    ) -> Result<WorkloadToken, WorkloadTokenError> {
        if let Some(t) = self.held(&w.name) {
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
        if let Some(t) = self.held(&w.name) {
            return Ok(t);
        }
        self.create(w, caller).await
    }

    /// The token the table holds for the workload `name` and still serves.
    fn held(&self, name: &str) -> Option<WorkloadToken> {
        let source = self.source();
        let table = source.leases.lock();
        table
            .workload_token(name, Instant::now())
            .map(|(secret, accessor)| WorkloadToken { secret, accessor })
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
            .create_token(&agent, w.token_role.as_deref(), &body)
            .await;
        self.audit(
            w,
            caller,
            &client,
            created.as_ref().map(|a| a.accessor.as_str()),
        );
        let auth = created.map_err(|source| WorkloadTokenError::Create {
            workload: w.name.clone(),
            source,
        })?;
        let leases = &source.leases;
        let parent = if auth.orphan {
            Parent::None
        } else {
            Parent::Auto(leases.token_print(&agent))
        };
        let (ttl, renewable) = match auth.lease_duration {
            0 => (NO_TTL, false),
            s => (Duration::from_secs(s), auth.renewable),
        };
        let new = NewHeld {
            kind: HeldKind::Token {
                accessor: auth.accessor.clone(),
                print: leases.token_print(&auth.client_token),
            },
            renew_with: auth.client_token.clone(),
            parent,
            path: created_path(w),
            ttl,
            renewable,
        };
        leases.lock().hold_workload_token(new, &w.name);
        leases.changed();
        tracing::info!(
            workload = %w.name,
            accessor = %auth.accessor,
            orphan = auth.orphan,
            ttl_s = auth.lease_duration,
            "workload token created"
        );
        Ok(WorkloadToken {
            secret: auth.client_token,
            accessor: auth.accessor,
        })
    }

    /// One `auth.login` event for a creation (its accessor on success), naming the workload and the
    /// caller that asked, if any.
    fn audit(
        &self,
        w: &WorkloadConfig,
        caller: Option<&CallerMeta>,
        client: &Client,
        created: Result<&str, &BackendError>,
    ) {
        let identity = identity(w, created.ok().unwrap_or_default());
        let mut r = Record::result(EventKind::AuthLogin, created.err())
            .identity(Some(identity))
            .node(client.node());
        r.caller = Some(CallerMeta {
            workload: Some(w.name.clone()),
            token_accessor: created.ok().map(str::to_string),
            ..caller.cloned().unwrap_or_default()
        });
        self.inner.auditor.record(r);
    }
}

/// Who the backend sees when `w`'s token (`accessor`) is used: its creation, and what a credential
/// fetches with it.
pub fn identity(w: &WorkloadConfig, accessor: &str) -> Identity {
    Identity {
        method: "token".into(),
        mount: "auth/token".into(),
        role: w.token_role.clone().unwrap_or_default(),
        subject: w.name.clone(),
        token_accessor: accessor.to_string(),
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
