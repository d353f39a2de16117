//! Secrets read with a workload's token (per-host mode: a `template` inside `workload "NAME"`). The store
//! keys them by their workload ([`SecretRequest::workload`]), and a workload's templates see only its own
//! ([`Scoped`]). Each is fetched, renewed and revoked with its workload's token, never the agent's: the
//! server enforces the workload's policies on it. The token comes from [`WorkloadTokens`], which holds it
//! in the engine's proxied table (renewed there like any token), so a lease created with it ends with it.
//! A refusal of a workload's secret is that workload's failure: it never makes the agent log in again.

use std::sync::Arc;

use secrecy::SecretString;
use tokio::time::Instant;

use super::engine::Engine;
use super::fetch::{FetchError, Fetched};
use super::resolve::fetch_each;
use super::store::{Entry, Store};
use crate::audit::{CallerMeta, EventKind, Identity, Record, SecretMeta};
use crate::backend::BackendError;
use crate::backend::secret::{Secret, SecretRequest};
use crate::template::RenderContext;
use crate::workload::Workloads;
use crate::workload::tokens::{self, WorkloadToken, WorkloadTokens};

mod retire;

pub(crate) use retire::Retired;

/// Who a request for a secret is made as: the token, who the backend sees, and the caller block of its
/// audit events (a workload's: its name and token accessor).
pub(crate) struct Acting {
    pub secret: SecretString,
    pub identity: Identity,
    pub caller: Option<CallerMeta>,
}

/// The store as the templates of one workload (or the agent's, `None`) see it: only their own secrets.
pub(crate) struct Scoped<'a> {
    pub store: &'a Store,
    pub workload: Option<&'a str>,
}

impl RenderContext for Scoped<'_> {
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
        match self.workload {
            None => self.store.secret(req),
            w => self.store.secret(&req.clone().for_workload(w)),
        }
    }
    fn env(&self, name: &str) -> Option<String> {
        self.store.env(name)
    }
    fn file(&self, path: &str) -> Option<String> {
        self.store.file(path)
    }
    fn is_secret_value(&self, text: &str) -> bool {
        self.store.is_secret_value(text)
    }
}

impl Engine {
    /// Make the workloads' templates read with tokens from `tokens` (the one instance the API proxy and
    /// the credentials socket use too).
    pub fn set_workload_tokens(&mut self, tokens: WorkloadTokens) {
        self.workload_tokens = Some(tokens);
    }

    /// The workloads as published now, and each change a reload makes: the unix listeners and the
    /// credentials socket serve from this.
    pub fn workloads(&self) -> tokio::sync::watch::Receiver<Arc<Workloads>> {
        self.published_workloads.subscribe()
    }

    /// Publish `workloads` (compiled from this engine's config).
    pub fn publish_workloads(&self, workloads: Workloads) {
        self.published_workloads.send_replace(Arc::new(workloads));
    }

    /// Publish where `old` (the engine this one replaces) did, so the listeners follow this one.
    pub fn share_workloads(&mut self, old: &Engine) {
        self.published_workloads = old.published_workloads.clone();
    }

    /// Who `workload`'s secrets (the agent's for `None`) are read as now, if its token is held: a
    /// renewal or revocation never creates a token (a lease outlives no token).
    pub(crate) fn acting_as(&self, workload: Option<&str>) -> Option<Acting> {
        let Some(name) = workload else {
            let t = self.tokens.token.as_ref()?;
            return Some(Acting {
                secret: t.secret.clone(),
                identity: t.identity.clone(),
                caller: None,
            });
        };
        let held = self.workload_tokens.as_ref()?.held(name)?;
        self.acting_with(name, held)
    }

    fn acting_with(&self, name: &str, t: WorkloadToken) -> Option<Acting> {
        let w = self.cfg.workloads.iter().find(|w| w.name == name)?;
        Some(Acting {
            identity: tokens::identity(w, &t.accessor),
            caller: Some(CallerMeta {
                workload: Some(name.to_string()),
                token_accessor: Some(t.accessor),
                ..CallerMeta::default()
            }),
            secret: t.secret,
        })
    }

    /// Record a `kind` event about `secret`, made as `token` (its identity and caller block), answered
    /// with the server's `request_id` if any.
    pub(crate) fn record_as(
        &self,
        token: Acting,
        kind: EventKind,
        secret: SecretMeta,
        request_id: Option<&str>,
        error: Option<&BackendError>,
    ) {
        let mut record = Record::result(kind, error)
            .identity(Some(token.identity))
            .secret(secret)
            .node(self.fetcher.client().node())
            .request_id(request_id);
        record.caller = token.caller;
        self.auditor.record(record);
    }

    /// The accessor of the token `workload`'s secrets are read with now (what a stored entry records).
    pub(crate) fn accessor_for(&self, workload: Option<&str>) -> String {
        match workload {
            None => self.tokens.token.as_ref().map(|t| t.accessor.clone()),
            Some(w) => self
                .workload_tokens
                .as_ref()
                .and_then(|t| t.held(w))
                .map(|t| t.accessor),
        }
        .unwrap_or_default()
    }

    /// Fetch the workload `name`'s requests `reqs` with its token, creating the token if none is held.
    pub(crate) async fn fetch_for_workload(
        &self,
        name: &str,
        reqs: &[SecretRequest],
    ) -> Vec<Result<Fetched, FetchError>> {
        let unserved = |e: &dyn Fn() -> FetchError| reqs.iter().map(|_| Err(e())).collect();
        let gone = || FetchError::NoWorkload(name.to_string());
        let (Some(w), Some(wt)) = (
            self.cfg.workloads.iter().find(|w| w.name == name),
            &self.workload_tokens,
        ) else {
            return unserved(&gone);
        };
        // A token made with the agent's waits for it: never inside the engine's own loop.
        if w.auto_auth.is_none() && self.tokens.token.is_none() {
            let e = tokens::WorkloadTokenError::NoAgentToken {
                workload: name.to_string(),
            };
            return unserved(&|| FetchError::workload_token(&e));
        }
        // The token is made with the agent's current one (a login in this very tick included).
        self.sync_proxied();
        let t = match wt.token_for(w, None).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(workload = %name, error = %e, "cannot read the workload's secrets");
                return unserved(&|| FetchError::workload_token(&e));
            }
        };
        let Some(a) = self.acting_with(name, t) else {
            return unserved(&gone);
        };
        let fetcher = match a.caller {
            Some(c) => self.fetcher.for_caller(c),
            None => self.fetcher.clone(),
        };
        fetch_each(
            &fetcher,
            reqs,
            &a.secret,
            &a.identity,
            &self.retry,
            &self.store,
        )
        .await
    }

    /// When the token that created `e` (for `req`) ends for good, if it does: the agent's token once it
    /// can no longer be extended, a workload's once the table says its end is final; a workload's token
    /// the table no longer holds (revoked, expired, its parent gone) ended already, and its leases with it.
    pub(crate) fn parent_expiry(&self, req: &SecretRequest, e: &Entry) -> Option<Instant> {
        if req.workload.is_none() {
            return self.tokens.parent_expiry(&e.token_accessor);
        }
        match self.proxied.lock().token_end(&e.token_accessor) {
            Some((end, fin)) => fin.then_some(end),
            None => Some(e.since),
        }
    }

    /// The expiry of the token that created `e` (for `req`) as known now, for reporting.
    pub(crate) fn creator_expiry(&self, req: &SecretRequest, e: &Entry) -> Option<Instant> {
        if req.workload.is_none() {
            return self.tokens.expiry_of(&e.token_accessor);
        }
        self.proxied
            .lock()
            .token_end(&e.token_accessor)
            .map_or(Some(e.since), |(end, _)| Some(end))
    }
}

/// Whether the failure of `req` says the agent's token may be gone (a 403 on a request made with it, or on
/// creating a workload's token): a workload's token refused a read only for lack of the workload's policy.
pub(crate) fn agent_refused(req: &SecretRequest, e: &FetchError) -> bool {
    e.is_forbidden() && (req.workload.is_none() || matches!(e, FetchError::WorkloadToken { .. }))
}

#[cfg(test)]
mod tests;
