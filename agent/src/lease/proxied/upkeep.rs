//! The engine's side of the cache's leases: it tells the table which tokens are its own, renews what is
//! due with the token that created it, and reads the answer. A 400 or 403 is never taken at its word:
//! a lookup of the lease (and of the token) tells "gone" (evict, never serve again) from "cannot be
//! renewed by this token" (serve it until a third of its life is left).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{HeldId, HeldKind, ProxyLeases, Renewal, Step};
use crate::audit::{CallerMeta, EventKind, Identity, Record, SecretMeta};
use crate::backend::{BackendError, Bearer, Client};
use crate::lease::engine::Engine;
use crate::lease::token::Reach;

/// One renewal to make, copied out of the table so that no lock is held across the call.
struct Job {
    kind: HeldKind,
    token: SecretString,
    full: Duration,
    path: String,
    accessor: String,
    /// The workload whose own token this is (per-host mode).
    workload: Option<String>,
}

impl Engine {
    /// The leases and tokens the API proxy's cache holds: hand this to the cache.
    pub fn proxy_leases(&self) -> ProxyLeases {
        self.proxied.clone()
    }

    /// What a refusal of the agent's token seen outside the engine is signalled on (see
    /// `Engine::agent_refused`).
    pub fn agent_refusals(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.agent_refused.clone()
    }

    /// The agent's current token as the API proxy adds it (`use_auto_auth_token`): `None` until the
    /// first login, and with a wrapped login.
    pub fn auto_token(&self) -> tokio::sync::watch::Receiver<Option<SecretString>> {
        self.auto_token.subscribe()
    }

    /// The backend client the API proxy forwards through: replaced when a reload builds a new one (a
    /// rotated client certificate, other connection reuse).
    pub fn proxy_client(&self) -> tokio::sync::watch::Receiver<Client> {
        self.proxy_client.subscribe()
    }

    /// Tell the table which tokens are the agent's own (current and replaced), and the renewal
    /// threshold, and publish the current token to the API proxy; called at every turn of the loop, so
    /// a new login is known before the next request.
    pub(crate) fn sync_proxied(&self) {
        let token = self.tokens.token.as_ref().map(|t| t.secret.clone());
        let now = Instant::now();
        let current = self.tokens.token.as_ref().map(|t| {
            (
                self.proxied.token_print(&t.secret),
                t.accessor.clone(),
                t.expires_at(),
                self.tokens.is_final(),
            )
        });
        {
            let mut table = self.proxied.lock();
            table.set_threshold(self.cfg.template_config.lease_renewal_threshold);
            table.set_auto(current, &self.tokens.old, now);
        }
        // Published once the table knows it: a workload token created with it at once is held under a
        // parent the table can tell the life of.
        self.auto_token.send_if_modified(|held| {
            let same = match (held.as_ref(), token.as_ref()) {
                (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
                (None, None) => true,
                _ => false,
            };
            if !same {
                held.clone_from(&token);
            }
            !same
        });
    }

    /// Renew (or drop) every held entry that is due at `now`.
    pub(crate) async fn maintain_proxied(&mut self, now: Instant) -> Reach {
        let jobs: Vec<(HeldId, Step, Option<Job>)> = {
            let table = self.proxied.lock();
            table
                .due_now(now)
                .into_iter()
                .map(|(id, step)| {
                    let job = table.get(id).map(|e| Job {
                        kind: e.kind.clone(),
                        token: e.renew_with.clone(),
                        full: e.full,
                        path: e.path.clone(),
                        accessor: table.renewing_accessor(id),
                        workload: e.workload.clone(),
                    });
                    (id, step, job)
                })
                .collect()
        };
        let mut reach = Reach::Done;
        for (id, step, job) in jobs {
            let renewal = match (step, job) {
                (Step::Renew, Some(job)) => {
                    let (r, unreachable) = self.renew_held(&job).await;
                    if unreachable {
                        reach = Reach::Unreachable;
                    }
                    r
                }
                _ => {
                    tracing::debug!(entry = id, "cache entry at the end of its life; dropped");
                    Renewal::Gone
                }
            };
            if renewal == Renewal::Gone && step == Step::Renew {
                tracing::info!(
                    entry = id,
                    "a cached lease or token is gone on the server; evicted"
                );
            }
            self.proxied
                .lock()
                .apply(id, renewal, Instant::now(), &self.backoff);
            // A renewal moves the saved expiry: the state document is written again.
            self.proxied.mark_dirty();
        }
        reach
    }

    /// Renew one entry; returns what it means, and whether the backend was unreachable.
    async fn renew_held(&self, job: &Job) -> (Renewal, bool) {
        let client = self.fetcher.client();
        let identity = Identity {
            token_accessor: job.accessor.clone(),
            ..Identity::default()
        };
        match &job.kind {
            HeldKind::Lease { lease_id } => {
                let r = client
                    .renew_lease(
                        Bearer::new(&job.token, &job.accessor),
                        lease_id,
                        job.full.as_secs(),
                    )
                    .await;
                let mut meta = SecretMeta {
                    path: job.path.clone(),
                    lease_id: lease_id.clone(),
                    ..SecretMeta::default()
                };
                if let Ok(l) = &r {
                    meta.lease_duration_s = l.lease_duration;
                    meta.renewable = l.renewable;
                }
                self.auditor.record(
                    Record::result(EventKind::SecretRenew, r.as_ref().err())
                        .identity(Some(identity))
                        .secret(meta)
                        .node(client.node())
                        .request_id(r.as_ref().ok().map(|l| l.request_id.as_str())),
                );
                match r {
                    Ok(l) => (
                        Renewal::Granted {
                            ttl: Duration::from_secs(l.lease_duration),
                            renewable: l.renewable,
                            asked: None,
                        },
                        false,
                    ),
                    Err(e) if e.is_transient() => {
                        tracing::warn!(error = %e, "renewal of a cached lease failed; retrying");
                        (Renewal::Transient, true)
                    }
                    Err(e) => {
                        let bearer = Bearer::new(&job.token, &job.accessor);
                        let r = lease_after_refusal(client, bearer, lease_id).await;
                        tracing::warn!(error = %e, outcome = ?r, "a cached lease could not be renewed");
                        (r, r == Renewal::Transient)
                    }
                }
            }
            HeldKind::Token { .. } => {
                let bearer = Bearer::new(&job.token, &job.accessor);
                let r = client.renew_self(bearer, job.full.as_secs()).await;
                let mut record = Record::result(EventKind::AuthRenew, r.as_ref().err())
                    .identity(Some(identity))
                    .node(client.node())
                    .request_id(r.as_ref().ok().map(|a| a.request_id.as_str()));
                // A workload's token: named as its creation was (method, mount, role, the workload).
                if let Some(name) = &job.workload {
                    if let Some(w) = self.cfg.workloads.iter().find(|w| w.name == *name) {
                        record.identity = Some(crate::workload::tokens::identity(w, &job.accessor));
                    }
                    record.caller = Some(CallerMeta {
                        workload: Some(name.clone()),
                        token_accessor: Some(job.accessor.clone()),
                        ..CallerMeta::default()
                    });
                }
                self.auditor.record(record);
                match r {
                    Ok(a) => (
                        Renewal::Granted {
                            ttl: Duration::from_secs(a.lease_duration),
                            renewable: a.renewable,
                            asked: None,
                        },
                        false,
                    ),
                    Err(e) if e.is_transient() => {
                        tracing::warn!(
                            workload = job.workload.as_deref().unwrap_or_default(),
                            error = %e,
                            "renewal of a cached token failed; retrying"
                        );
                        (Renewal::Transient, true)
                    }
                    Err(e) => {
                        let r = token_after_refusal(client, Bearer::new(&job.token, &job.accessor))
                            .await;
                        tracing::warn!(
                            workload = job.workload.as_deref().unwrap_or_default(),
                            error = %e,
                            outcome = ?r,
                            "a cached token could not be renewed"
                        );
                        (r, r == Renewal::Transient)
                    }
                }
            }
        }
    }
}

/// After a renewal of `lease_id` was refused, or at the periodic check: look the lease up. Gone when the
/// server no longer knows it (400), or when it refuses the lookup and the token itself is gone; otherwise
/// it lives on (unrenewed, after a refusal).
pub(crate) async fn lease_after_refusal(
    client: &Client,
    token: Bearer<'_>,
    lease_id: &str,
) -> Renewal {
    match client.lookup_lease(token, lease_id).await {
        Ok((ttl, _)) => Renewal::Final {
            left: Some(Duration::from_secs(ttl)),
        },
        Err(e) if e.is_transient() => Renewal::Transient,
        Err(BackendError::Status { status: 400, .. }) => Renewal::Gone,
        Err(BackendError::Status { status: 403, .. }) => {
            match token_after_refusal(client, token).await {
                Renewal::Gone => Renewal::Gone,
                Renewal::Transient => Renewal::Transient,
                _ => Renewal::Final { left: None },
            }
        }
        Err(_) => Renewal::Final { left: None },
    }
}

/// After a renewal made with `token` was refused, or at the periodic check: is the token itself still
/// there (`lookup-self`)?
/// Gone only on a 403, the server's answer for a revoked or expired token.
pub(crate) async fn token_after_refusal(client: &Client, token: Bearer<'_>) -> Renewal {
    match client.lookup_self(token).await {
        Ok(info) => Renewal::Final {
            left: Some(Duration::from_secs(info.ttl)),
        },
        Err(e) if e.is_transient() => Renewal::Transient,
        Err(BackendError::Status { status: 403, .. }) => Renewal::Gone,
        Err(_) => Renewal::Final { left: None },
    }
}
