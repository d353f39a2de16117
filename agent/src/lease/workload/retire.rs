//! Retiring a workload's token: a reload that removes the workload, or changes how its token is made
//! (`policies`, `token_role`, `auto_auth`), or a restart whose config did so, must not serve its callers
//! with the old token, nor keep renewing it. The table keeps with each workload token the fingerprint of
//! the settings it was made with; a token whose workload is gone or whose fingerprint differs is taken
//! out of the table at once (the next caller gets a new one), and the secrets its templates read with it
//! leave the store (read again with the new token). Then, outside the synchronous reload, its leases are
//! revoked with it, and it is revoked itself (best effort: revoking a token revokes its leases anyway).

use std::time::Duration;

use super::{Acting, Engine};
use crate::audit::{CallerMeta, Identity};
use crate::backend::Bearer;
use crate::config::WorkloadConfig;
use crate::lease::store::Lease;
use crate::workload::tokens::{self, WorkloadToken, settings_print};

/// How long revoking the retired tokens and their leases may hold the engine's loop.
const REVOKE_LIMIT: Duration = Duration::from_secs(10);

/// A workload token taken out of the table, waiting to be revoked with its leases.
pub(crate) struct Retired {
    pub(super) workload: String,
    pub(super) token: WorkloadToken,
    /// Who the backend sees with it (as its stanza described it when it was made).
    identity: Identity,
    pub(super) leases: Vec<Lease>,
}

impl Engine {
    /// Take out of the table every workload token that the config no longer makes alike (its workload
    /// removed, or its settings changed), with the store's secrets read with it; they are revoked by
    /// [`Self::revoke_retired`]. `before`: the stanzas the tokens were made under (the config a reload
    /// replaced), to name them in the audit events.
    pub(crate) fn retire_workload_tokens(&mut self, before: &[WorkloadConfig]) {
        let stale: Vec<(crate::lease::proxied::HeldId, String)> = self
            .proxied
            .lock()
            .workload_tokens()
            .into_iter()
            .filter(|(_, name, settings)| {
                let now = self.cfg.workloads.iter().find(|w| w.name == *name);
                now.is_none_or(|w| *settings != Some(settings_print(&self.proxied, w)))
            })
            .map(|(id, name, _)| (id, name))
            .collect();
        for (id, name) in stale {
            let token = {
                let mut table = self.proxied.lock();
                let token = table.get(id).and_then(|e| match &e.kind {
                    crate::lease::proxied::HeldKind::Token { accessor, .. } => {
                        Some(WorkloadToken {
                            secret: e.renew_with.clone(),
                            accessor: accessor.clone(),
                        })
                    }
                    crate::lease::proxied::HeldKind::Lease { .. } => None,
                });
                table.evict(id);
                token
            };
            self.proxied.changed();
            let Some(token) = token else { continue };
            tracing::info!(
                workload = %name,
                accessor = %token.accessor,
                "the workload is removed or its token's settings changed: its token is retired"
            );
            let mine: Vec<_> = self
                .store
                .iter()
                .filter(|(r, e)| {
                    r.workload.as_deref() == Some(name.as_str())
                        && e.token_accessor == token.accessor
                })
                .map(|(r, _)| r.clone())
                .collect();
            let mut leases: Vec<Lease> = mine
                .iter()
                .filter_map(|r| self.store.remove(r).and_then(|e| Lease::of(r, &e)))
                .collect();
            // Replaced leases still waiting for `revoke_old_after`: revoked with it now.
            let (theirs, rest) = std::mem::take(&mut self.revocations)
                .into_iter()
                .partition(|(_, l)| l.workload.as_deref() == Some(name.as_str()));
            self.revocations = rest;
            leases.extend(theirs.into_iter().map(|(_, l): (_, Lease)| l));
            let stanza = before
                .iter()
                .chain(&self.cfg.workloads)
                .find(|w| w.name == name);
            let identity = match stanza {
                Some(w) => tokens::identity(w, &token.accessor),
                None => Identity {
                    subject: name.clone(),
                    token_accessor: token.accessor.clone(),
                    ..Identity::default()
                },
            };
            self.retired.push(Retired {
                workload: name,
                token,
                identity,
                leases,
            });
        }
    }

    /// Revoke the retired tokens' leases, each with its token, then the tokens (best effort, for
    /// [`REVOKE_LIMIT`] at most: what is left expires on its own).
    pub(crate) async fn revoke_retired(&mut self) {
        let retired = std::mem::take(&mut self.retired);
        let all = async {
            for r in &retired {
                for l in &r.leases {
                    let acting = Acting {
                        secret: r.token.secret.clone(),
                        identity: r.identity.clone(),
                        caller: Some(CallerMeta {
                            workload: Some(r.workload.clone()),
                            token_accessor: Some(r.token.accessor.clone()),
                            ..CallerMeta::default()
                        }),
                    };
                    self.revoke_as(acting, l).await;
                }
                let bearer = Bearer::new(&r.token.secret, &r.token.accessor);
                match self.fetcher.client().revoke_self(bearer).await {
                    Ok(()) => tracing::info!(
                        workload = %r.workload,
                        accessor = %r.token.accessor,
                        "retired workload token revoked"
                    ),
                    Err(e) => tracing::warn!(
                        workload = %r.workload,
                        accessor = %r.token.accessor,
                        error = %e,
                        "the retired workload token could not be revoked; it expires on its own"
                    ),
                }
            }
        };
        if tokio::time::timeout(REVOKE_LIMIT, all).await.is_err() {
            tracing::warn!(limit = ?REVOKE_LIMIT, "revoking the retired workload tokens did not finish in time; the rest expire on their own");
        }
    }
}
