//! One delivery cycle: render every template against the store, fetch what is missing (concurrently),
//! render again, then hand the results to the deliverer. Rendering is pure; every write goes through
//! [`crate::output::Deliverer`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::engine::{Engine, Pending};
use super::fetch::Fetched;
use super::schedule::{effective_expiry, replace_at};
use super::store::{Action, Entry, Store, life_of};
use super::workload::{Scoped, agent_refused};
use crate::auth::AuthError;
use crate::backend::secret::SecretRequest;
use crate::backend::{BackendError, Bearer};
use crate::output::deliver::Rendered;
use crate::output::{Delivery, EnvMap, OutputFailure, OutputId, RenderedEnv, RenderedFile, Step};
use crate::template::RenderOutcome;

pub(super) use fetching::fetch_each;

mod fetching;

/// How many render → fetch rounds one resolution may take (secrets whose paths depend on other secrets).
pub(super) const MAX_ROUNDS: usize = 8;

impl Engine {
    /// Render everything, fetching what is missing, then deliver the files that changed and the sinks.
    ///
    /// # Errors
    /// A fatal login failure (a 403 showed the token was revoked, and logging in again failed for good).
    pub async fn deliver(&mut self) -> Result<Delivery, AuthError> {
        self.saw_forbidden = false;
        self.forget_stale();
        let (files, env) = self.resolve().await;
        if self.saw_forbidden {
            self.tokens.relogin_if_dead().await?;
        }
        let mut delivery = Delivery {
            sinks: self.write_sinks().await,
            ..Delivery::default()
        };
        let written = self.deliverer.write_files(files, &self.store);
        for (i, mut r) in written.into_iter().enumerate() {
            let error_fatal = self.deliverer.files().get(i).is_none_or(|o| o.error_fatal);
            if let Err(e) = &mut r {
                e.fatal = error_fatal;
                if error_fatal {
                    tracing::error!(error = %e, "template not delivered");
                } else {
                    tracing::error!(error = %e, "template not delivered (error_fatal = false: the others go on)");
                }
            }
            delivery.files.push(r);
        }
        if !self.envs.is_empty() {
            if let Err(e) = &env {
                tracing::error!(error = %e, "env_template not rendered");
            }
            delivery.env = Some(env);
        }
        self.render_retry = if delivery.failures().next().is_some() {
            let attempts = self.render_retry.map_or(0, |p| p.attempts + 1);
            Some(Pending {
                attempts,
                at: Instant::now() + self.backoff.delay(attempts),
            })
        } else {
            None
        };
        if delivery.failures().any(|f| f.transient) {
            self.note_transient();
        }
        if delivery.failures().next().is_none() {
            self.forget_unused();
        }
        self.save_state();
        self.auditor.flush();
        Ok(delivery)
    }

    /// Drop the static secrets that templates failed to render from, so this cycle reads them again. Leased
    /// secrets and issued certificates stay: reading them again would issue new ones.
    fn forget_stale(&mut self) {
        for req in std::mem::take(&mut self.stale) {
            let static_secret = self
                .store
                .get(&req)
                .is_some_and(|e| e.fetched.secret.lease_id.is_empty() && e.expires_at.is_none());
            if static_secret {
                self.store.remove(&req);
            }
        }
    }

    /// Stop keeping secrets no template used in this (complete) delivery: after a reload removed or
    /// changed the templates that read them. A lease is left to expire, or revoked after
    /// `revoke_old_after` when that is set.
    fn forget_unused(&mut self) {
        let dropped = self.store.keep_only(&self.used);
        if let Some(grace) = self.cfg.template_config.revoke_old_after {
            let at = Instant::now() + grace;
            self.revocations
                .extend(dropped.into_iter().map(|l| (at, l)));
        }
    }

    /// Write the current token (or the wrapped login) to the sinks that do not hold it yet, as Vault
    /// Agent writes it: a sink with `wrap_ttl` gets a new response-wrapping token of it
    /// (`sys/wrapping/wrap`, made with the token itself), a wrapped login its wrap info.
    pub(crate) async fn write_sinks(&mut self) -> Vec<Result<(), OutputFailure>> {
        let (token, wrapped) = (&self.tokens.token, &self.tokens.wrapped);
        let id = match (token, wrapped) {
            (Some(t), _) => t.accessor.clone(),
            (None, Some(w)) => w.info.accessor.clone(),
            (None, None) => return Vec::new(),
        };
        // The namespace Vault Agent's sink client uses: the vault stanza's, else the method's.
        let namespace = self.cfg.vault.namespace.clone().or_else(|| {
            self.cfg
                .auto_auth
                .as_ref()
                .and_then(|a| a.method.namespace.clone())
        });
        let mut results = Vec::new();
        for (i, wrap_ttl) in self.deliverer.sinks_missing(&id) {
            let value: Result<Zeroizing<String>, BackendError> = match (token, wrapped, wrap_ttl) {
                (Some(t), _, Some(ttl)) => self
                    .fetcher
                    .client()
                    .wrap_token(
                        Bearer::new(&t.secret, &t.accessor),
                        ttl,
                        namespace.as_deref(),
                    )
                    .await
                    .map(|w| w.sink_json()),
                (Some(t), _, None) => Ok(Zeroizing::new(t.secret.expose_secret().to_string())),
                (None, Some(w), _) => Ok(w.info.sink_json()),
                (None, None, _) => continue,
            };
            let value = value.as_ref().map(|v| v.as_bytes());
            results.push(self.deliverer.write_sink(i, &id, value));
        }
        results
    }

    /// Render all jobs against the store; fetch whatever is missing and render again, up to
    /// [`MAX_ROUNDS`]. Returns per-file results and the env map (or the first env failure), each with the
    /// secrets it was rendered from.
    async fn resolve(&mut self) -> (Vec<Rendered>, Result<RenderedEnv, OutputFailure>) {
        let mut failed: BTreeMap<SecretRequest, (String, bool)> = BTreeMap::new();
        let mut round = 0;
        loop {
            round += 1;
            self.stale.clear();
            self.used.clear();
            let mut wanted: Vec<SecretRequest> = Vec::new();
            let mut reused: Vec<(SecretRequest, Fetched)> = Vec::new();
            let mut files = Vec::with_capacity(self.renderers.len());
            for (job, out) in self.renderers.iter().zip(self.deliverer.files()) {
                let workload = job.workload.as_deref();
                let view = Scoped {
                    store: &self.store,
                    workload,
                };
                let mut r = job.template.render(&view, job.missing_key);
                scope(&mut r, workload);
                let side_writes = std::mem::take(&mut r.side_writes);
                let used = std::mem::take(&mut r.used);
                self.used.extend(used.iter().cloned());
                let before = wanted.len();
                let id = OutputId::File(job.name.clone());
                let rendered = outcome(id, r, &self.store, &failed, &mut wanted);
                note_stale(&rendered, &used, &mut self.stale);
                let rendered = rendered.map(|text| RenderedFile {
                    text,
                    side_writes,
                    secrets: Vec::new(),
                });
                files.push((rendered, used));
                take_reusable_certs(&out.target.path, &mut wanted, before, &mut reused);
            }
            let mut env: Result<EnvMap, OutputFailure> = Ok(EnvMap::new());
            let mut env_used = Vec::new();
            for job in &self.envs {
                let mut r = job.template.render(&self.store, job.missing_key);
                let used = std::mem::take(&mut r.used);
                self.used.extend(used.iter().cloned());
                let id = OutputId::Env(job.name.clone());
                let r = outcome(id, r, &self.store, &failed, &mut wanted);
                note_stale(&r, &used, &mut self.stale);
                env_used.extend(used);
                if let Ok(map) = &mut env {
                    match r {
                        Ok(v) => {
                            map.insert(job.name.clone(), v);
                        }
                        Err(e) => env = Err(e),
                    }
                }
            }
            let any_reused = !reused.is_empty();
            for (req, f) in reused {
                self.insert(req, f);
            }
            if (wanted.is_empty() && !any_reused) || round >= MAX_ROUNDS {
                // What each output was rendered from, named only once the last round is known.
                let files = files
                    .into_iter()
                    .map(|(r, used)| {
                        r.map(|f| RenderedFile {
                            secrets: self.store.sources(&used),
                            ..f
                        })
                    })
                    .collect();
                let env = env.map(|vars| RenderedEnv {
                    vars,
                    secrets: self.store.sources(&env_used),
                });
                return (files, env);
            }
            let results = self.fetch_all(&wanted).await;
            for (req, r) in wanted.into_iter().zip(results) {
                match r {
                    Ok(f) => self.insert(req, f),
                    Err(e) => {
                        self.saw_forbidden |= agent_refused(&req, &e);
                        let msg = self.store.scrub(&format!("{}: {e}", req.path));
                        failed.insert(req, (msg, e.is_transient()));
                    }
                }
            }
        }
    }

    /// Store a fetched secret, scheduled by the store's one rule (DESIGN §6), with the accessor of the
    /// token it was read with.
    pub(crate) fn insert(&mut self, req: SecretRequest, fetched: Fetched) {
        let life = life_of(&req, &fetched.secret);
        let accessor = self.accessor_for(req.workload.as_deref());
        self.store.schedule(req, fetched, accessor, life);
    }

    /// When `e` must be acted on, and what to do then: its own schedule, or an early replacement when its
    /// effective expiry (lease or parent token, whichever is first) comes before.
    pub(crate) fn entry_due(&self, req: &SecretRequest, e: &Entry) -> (Instant, Action) {
        if e.fetched.secret.lease_id.is_empty() {
            return (e.due, e.action);
        }
        let parent = self.parent_expiry(req, e);
        // A lease that is still being renewed ends only with its parent token; one that can no longer be
        // renewed ends at its own expiry too.
        let own = (e.action == Action::Refetch)
            .then_some(e.expires_at)
            .flatten();
        let Some(exp) = effective_expiry(own, parent) else {
            return (e.due, e.action);
        };
        let life = Duration::from_secs(e.fetched.secret.lease_duration);
        let replace = replace_at(e.since, exp, life);
        if replace < e.due {
            (replace, Action::Refetch)
        } else {
            (e.due, e.action)
        }
    }
}

/// Tag what a template of `workload` read and still needs as that workload's (see [`Scoped`]).
fn scope(r: &mut RenderOutcome, workload: Option<&str>) {
    if workload.is_some() {
        for req in r.used.iter_mut().chain(r.missing.iter_mut()) {
            req.workload = workload.map(str::to_string);
        }
    }
}

/// After a render failure, remember what the template read: see [`Engine::forget_stale`].
fn note_stale<T>(
    r: &Result<T, OutputFailure>,
    used: &[SecretRequest],
    stale: &mut Vec<SecretRequest>,
) {
    if matches!(r, Err(f) if f.step == Step::Render) {
        stale.extend_from_slice(used);
    }
}

/// Turn one render outcome into a result, collecting missing dependencies that have not failed yet.
pub(super) fn outcome(
    id: OutputId,
    out: RenderOutcome,
    store: &Store,
    failed: &BTreeMap<SecretRequest, (String, bool)>,
    wanted: &mut Vec<SecretRequest>,
) -> Result<Zeroizing<String>, OutputFailure> {
    let mut failure = None;
    for m in out.missing {
        if let Some((msg, transient)) = failed.get(&m) {
            failure.get_or_insert(OutputFailure {
                output: id.clone(),
                step: Step::Fetch(m.path.clone()),
                message: msg.clone(),
                transient: *transient,
                fatal: true,
            });
        } else if !wanted.contains(&m) {
            wanted.push(m);
        }
    }
    if let Some(f) = failure {
        return Err(f);
    }
    // A template can pass a secret value to a function whose error quotes its argument.
    out.result
        .map_err(|e| OutputFailure::permanent(id, Step::Render, store.scrub(&e.to_string())))
}

/// `pkiCert` requests among `wanted[from..]` whose certificate is still good in `destination`: moved from
/// `wanted` to `reused`, so no new certificate is issued for them (consul-template's behaviour).
fn take_reusable_certs(
    destination: &std::path::Path,
    wanted: &mut Vec<SecretRequest>,
    from: usize,
    reused: &mut Vec<(SecretRequest, Fetched)>,
) {
    // A certificate bundle is a few KiB; anything much larger is not one of ours.
    const MAX_PEM_BYTES: u64 = 1 << 20;
    if !wanted[from..].iter().any(|r| r.reuse_cert) {
        return;
    }
    let Some(pem) = crate::output::file::read_back(destination, MAX_PEM_BYTES) else {
        return;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some(secret) = super::pki::reusable(&pem, now) else {
        return;
    };
    // One destination holds one certificate: the first pkiCert of the template takes it.
    let Some(i) = (from..wanted.len()).find(|&i| wanted[i].reuse_cert) else {
        return;
    };
    let req = wanted.remove(i);
    tracing::info!(secret = %req, destination = %destination.display(), "reusing the certificate still valid in the destination");
    let fetched = Fetched {
        secret: Arc::new(secret),
        api_path: req.path.clone(),
        mount: None,
    };
    reused.push((req, fetched));
}
