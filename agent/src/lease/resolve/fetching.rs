//! Fetching for a resolution: many requests at once, grouped by the token they are read with, each retried
//! while its failure is transient.

use std::collections::BTreeMap;

use backon::Retryable;
use futures_util::future::join_all;
use secrecy::SecretString;

use crate::audit::Identity;
use crate::backend::secret::SecretRequest;
use crate::lease::engine::Engine;
use crate::lease::fetch::{FetchError, Fetched, Fetcher};
use crate::lease::schedule::RetryPolicy;
use crate::template::scrub::Scrub;

impl Engine {
    /// Fetch `reqs` concurrently (bounded by the client's in-flight cap), each with this engine's retries,
    /// and each with its token: the agent's, or its workload's.
    pub(crate) async fn fetch_all(
        &self,
        reqs: &[SecretRequest],
    ) -> Vec<Result<Fetched, FetchError>> {
        let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for (i, r) in reqs.iter().enumerate() {
            groups.entry(r.workload.as_deref()).or_default().push(i);
        }
        let fetched = join_all(groups.into_iter().map(|(workload, at)| async move {
            let batch: Vec<SecretRequest> = at.iter().map(|i| reqs[*i].clone()).collect();
            let results = match workload {
                Some(w) => self.fetch_for_workload(w, &batch).await,
                None => self.fetch_as_agent(&batch).await,
            };
            at.into_iter().zip(results).collect::<Vec<_>>()
        }))
        .await;
        let mut out: Vec<Option<Result<Fetched, FetchError>>> = reqs.iter().map(|_| None).collect();
        for (i, r) in fetched.into_iter().flatten() {
            out[i] = Some(r);
        }
        out.into_iter()
            .zip(reqs)
            .map(|(r, req)| r.unwrap_or_else(|| Err(FetchError::NotFound(req.path.clone()))))
            .collect()
    }

    /// Fetch `reqs` with the agent's token.
    async fn fetch_as_agent(&self, reqs: &[SecretRequest]) -> Vec<Result<Fetched, FetchError>> {
        let Some(token) = &self.tokens.token else {
            return reqs
                .iter()
                .map(|r| Err(FetchError::NotFound(r.path.clone())))
                .collect();
        };
        fetch_each(
            &self.fetcher,
            reqs,
            &token.secret,
            &token.identity,
            &self.retry,
            &self.store,
        )
        .await
    }
}

/// Fetch `reqs` concurrently with `token` (bounded by the client's in-flight cap), each retried by
/// `retry` while its failure is transient.
///
/// `hide` (the secrets already held) is taken out of what is logged and audited: a template may build a
/// request from secret data.
pub(in crate::lease) async fn fetch_each(
    fetcher: &Fetcher,
    reqs: &[SecretRequest],
    token: &SecretString,
    identity: &Identity,
    retry: &RetryPolicy,
    hide: &dyn Scrub,
) -> Vec<Result<Fetched, FetchError>> {
    let policy = retry.delays();
    join_all(reqs.iter().map(|req| {
        let policy = policy.clone();
        async move {
            let fetch = || fetcher.fetch(req, token, identity, hide);
            fetch
                .retry(policy)
                .sleep(tokio::time::sleep)
                .when(FetchError::is_transient)
                .notify(|e, d| {
                    tracing::warn!(
                        secret = %hide.scrub(&req.to_string()),
                        error = %hide.scrub(&e.to_string()),
                        retry_in = ?d,
                        "fetch failed"
                    );
                })
                .await
        }
    }))
    .await
}
