//! One template rendered on demand with a given token (the `LoadCredential=` socket): render, fetch what it
//! asked for, render again until complete, as a delivery cycle does ([`super::resolve`]). Nothing is kept,
//! scheduled or written: the bytes go to whoever asked, and a lease issued for them is left to its TTL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::fetch::Fetcher;
use super::jobs::Renderer;
use super::resolve::{MAX_ROUNDS, fetch_each, outcome};
use super::schedule::RetryPolicy;
use super::store::{Rules, Store, life_of};
use crate::audit::Identity;
use crate::output::{OutputFailure, OutputId, Step};
use crate::runtime::EnvSource;

/// Render `job` (reported as `id`) with `token`, fetching through `fetcher` (each fetch retried as
/// `sidekey run --once` does: someone is waiting); `env` serves the template's `env` function.
///
/// # Errors
/// [`OutputFailure`]: a secret could not be fetched, the template failed to render, or it still asked
/// for secrets after [`MAX_ROUNDS`] rounds. Its message never holds a secret value.
pub async fn render_once(
    job: &Renderer,
    id: OutputId,
    fetcher: &Fetcher,
    token: &SecretString,
    identity: &Identity,
    env: Arc<dyn EnvSource>,
) -> Result<Zeroizing<String>, OutputFailure> {
    // The store is only what the template reads: dropped after this render, nothing it schedules runs.
    let rules = Rules {
        renewal_threshold: 0.0,
        static_interval: Duration::ZERO,
    };
    let mut store = Store::new(env, rules);
    let mut failed = BTreeMap::new();
    for _ in 0..MAX_ROUNDS {
        let mut wanted = Vec::new();
        let r = job.template.render(&store, job.missing_key);
        let rendered = outcome(id.clone(), r, &store, &failed, &mut wanted);
        if wanted.is_empty() {
            return rendered;
        }
        let results = fetch_each(
            fetcher,
            &wanted,
            token,
            identity,
            &RetryPolicy::ONCE,
            &store,
        )
        .await;
        for (req, r) in wanted.into_iter().zip(results) {
            match r {
                Ok(f) => {
                    let life = life_of(&req, &f.secret);
                    store.schedule(req, f, identity.token_accessor.clone(), life);
                }
                Err(e) => {
                    let msg = store.scrub(&format!("{}: {e}", req.path));
                    failed.insert(req, (msg, e.is_transient()));
                }
            }
        }
    }
    Err(OutputFailure::permanent(
        id,
        Step::Render,
        format!(
            "{}: still asks for secrets after {MAX_ROUNDS} rounds",
            job.name
        ),
    ))
}
