//! Applying a reloaded config to a running engine (DESIGN §12): the difference only. Templates whose
//! stanza and text are unchanged keep their renderer, their file and their command's state, and the
//! secrets they use (no new credential, no rewrite, no command run); changed ones re-render from the
//! secrets already held where they can; new ones render; removed ones stop (their files are removed only
//! with `remove_on_exit`). A changed auth method logs in again and keeps the old leases until their
//! effective expiry. Changed `workload` stanzas are published to the unix listeners and the credentials
//! socket, which serve the new ones from the next request on. A changed server (address, namespace,
//! TLS) cannot be applied in place: the caller starts over.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::engine::Engine;
use super::jobs::{EnvJob, FileJob, Renderer, prepare};
use super::schedule::Backoff;
use super::schedule::RetryPolicy;
use super::store::Rules;
use crate::audit::{EventKind, Record, ReloadMeta};
use crate::backend::Client;
use crate::config::{Config, VaultConfig, WorkloadConfig};
use crate::output::FileOutput;
use crate::workload::Workloads;

/// The API proxy's listeners and settings keep running as they started: a reload that changes them says
/// so (they apply at the next start). The workloads apply now, but whether the unix listeners serve per
/// caller (there are workloads at all) is decided at the start.
fn proxy_reloaded(old: &Config, new: &Config) {
    if old.listeners != new.listeners
        || old.api_proxy != new.api_proxy
        || old.cache != new.cache
        || old.credential_listener != new.credential_listener
        || old.workloads.is_empty() != new.workloads.is_empty()
    {
        tracing::warn!(
            "config: the listeners, api_proxy, cache, or whether there are workloads at all changed; \
             the running listeners keep their settings until the next start"
        );
    }
}

/// Name the workloads `new` adds, changes or removes from `old` in `meta` (`workload "NAME"`). Where a
/// stanza is in the files does not count as a change.
fn workloads_reloaded(old: &[WorkloadConfig], new: &[WorkloadConfig], meta: &mut ReloadMeta) {
    let named = |w: &WorkloadConfig| format!("workload {:?}", w.name);
    for w in new {
        match old.iter().find(|o| o.name == w.name) {
            None => meta.added.push(named(w)),
            Some(o) if !same_workload(o, w) => meta.changed.push(named(w)),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|w| w.name == o.name) {
            meta.removed.push(named(o));
        }
    }
}

/// Whether `a` and `b` serve alike (their origins aside).
fn same_workload(a: &WorkloadConfig, b: &WorkloadConfig) -> bool {
    let placeless = |w: &WorkloadConfig| {
        let mut w = w.clone();
        w.origin = Default::default();
        w.matcher.origin = Default::default();
        for c in &mut w.credentials {
            c.origin = Default::default();
        }
        w
    };
    placeless(a) == placeless(b)
}

/// Whether `a` and `b` make their tokens alike (`policies`, `token_role`, `auto_auth`).
fn same_token(a: &WorkloadConfig, b: &WorkloadConfig) -> bool {
    a.policies == b.policies && a.token_role == b.token_role && a.auto_auth == b.auto_auth
}

/// What a reload did.
pub enum Reloaded {
    /// Applied in place; what changed.
    Applied(ReloadMeta),
    /// The server settings changed: the caller must start over with this config.
    StartOver(Box<Config>),
    /// The new config was refused (it does not load, or a template does not parse); the old one runs on.
    Rejected(String),
}

impl Engine {
    /// Reload with `loaded` (the config files read again, or why they cannot be used), audit it as a
    /// `config.reload` event, and apply the difference.
    pub(crate) fn reload(&mut self, loaded: Result<Config, String>) -> Reloaded {
        let r = loaded
            .and_then(|cfg| {
                let jobs = prepare(&cfg).map_err(|e| e.to_string())?;
                let workloads = Workloads::compile(&cfg.workloads).map_err(|e| e.to_string())?;
                Ok((cfg, jobs, workloads))
            })
            .and_then(|(cfg, jobs, workloads)| {
                self.switch_server(cfg).map(|next| (next, jobs, workloads))
            });
        let r = match r {
            Ok((Next::StartOver(cfg), _, _)) => {
                // The new engine publishes the workloads; the event names what changed.
                let mut meta = ReloadMeta::default();
                workloads_reloaded(&self.cfg.workloads, &cfg.workloads, &mut meta);
                self.auditor.record(
                    Record::new(EventKind::ConfigReload, crate::audit::Outcome::Success)
                        .reload(meta),
                );
                self.auditor.flush();
                tracing::info!(
                    "the server settings or CA changed: starting over with a new token and new leases"
                );
                return Reloaded::StartOver(cfg);
            }
            Ok((Next::InPlace(cfg), (files, envs), workloads)) => {
                Ok(self.apply(Arc::new(*cfg), files, envs, workloads))
            }
            Err(e) => Err(e),
        };
        self.auditor.record(
            Record::result(EventKind::ConfigReload, r.as_ref().err())
                .reload(r.as_ref().cloned().unwrap_or_default()),
        );
        self.auditor.flush();
        match r {
            Ok(meta) => {
                tracing::info!(added = ?meta.added, changed = ?meta.changed, removed = ?meta.removed, "configuration reloaded");
                Reloaded::Applied(meta)
            }
            Err(e) => {
                tracing::error!(error = %e, "reload rejected; the running configuration is kept");
                Reloaded::Rejected(e)
            }
        }
    }

    /// What a new config means for the server side: the same server (a rotated client certificate gets a
    /// new client now), or another one (a changed `vault` stanza or CA), which needs a new engine — unless an
    /// exec child runs on this one's env: then the server settings stay as they are until the next start
    /// and the rest of the config applies.
    ///
    /// # Errors
    /// A client that cannot be built from the new TLS files (the reload is rejected; the old config runs on).
    fn switch_server(&mut self, mut cfg: Config) -> Result<Next, String> {
        let prints = TlsPrints::of(&cfg.vault);
        if server_changed(&self.cfg.vault, &cfg.vault) || prints.ca != self.tls.ca {
            if self.can_start_over {
                // Checked now, so a broken CA file is a rejected reload, not an agent that stops.
                Client::for_config(&cfg).map_err(|e| e.to_string())?;
                return Ok(Next::StartOver(Box::new(cfg)));
            }
            tracing::warn!(
                "the vault settings or CA changed; while the exec child runs they apply at the next start"
            );
            cfg.vault = self.cfg.vault.clone();
            // The warning is given once per change, not at every later reload.
            self.tls.ca = TlsPrints::of(&cfg.vault).ca;
            return Ok(Next::InPlace(Box::new(cfg)));
        }
        // A new client certificate, or other connection reuse (`disable_idle_connections`,
        // `disable_keep_alives`), needs new connections but neither a new token nor new leases.
        let reuse_changed = cfg.disable_idle_connections != self.cfg.disable_idle_connections
            || cfg.disable_keep_alives != self.cfg.disable_keep_alives;
        if prints.client != self.tls.client || reuse_changed {
            let client = Client::for_config(&cfg)
                .map_err(|e| e.to_string())?
                .observed_by(std::sync::Arc::new(self.auditor.clone()));
            if prints.client == self.tls.client {
                tracing::info!("the connection settings changed: new connections follow them");
            } else {
                tracing::info!("the client certificate changed: new connections use it");
            }
            self.fetcher = super::fetch::Fetcher::new(client.clone(), self.auditor.clone());
            self.proxy_client.send_replace(client.clone());
            self.tokens.set_client(client);
            self.tls = prints;
        }
        Ok(Next::InPlace(Box::new(cfg)))
    }

    /// Swap in `cfg` with its parsed jobs and compiled workloads, keeping what did not change.
    fn apply(
        &mut self,
        cfg: Arc<Config>,
        files: Vec<FileJob>,
        envs: Vec<EnvJob>,
        workloads: Workloads,
    ) -> ReloadMeta {
        let mut meta = ReloadMeta::default();
        let old_cfg = std::mem::replace(&mut self.cfg, cfg.clone());
        self.state_reloaded(&old_cfg);
        proxy_reloaded(&old_cfg, &cfg);
        // The listeners match callers, and the credentials socket renders, with these from now on.
        workloads_reloaded(&old_cfg.workloads, &cfg.workloads, &mut meta);
        self.publish_workloads(workloads);
        // A removed workload's token, or one made with settings that changed, serves no caller from now
        // on; the next caller gets a new one, made with the new settings.
        if let Some(wt) = &self.workload_tokens {
            for o in &old_cfg.workloads {
                let now = cfg.workloads.iter().find(|w| w.name == o.name);
                if now.is_none_or(|w| !same_token(o, w)) {
                    wt.forget(&o.name);
                }
            }
        }
        self.retire_workload_tokens(&old_cfg.workloads);

        // Template files, by destination.
        let mut old_renderers: Vec<Option<Renderer>> = std::mem::take(&mut self.renderers)
            .into_iter()
            .map(Some)
            .collect();
        let mut renderers = Vec::with_capacity(files.len());
        let mut outputs: Vec<FileOutput> = Vec::with_capacity(files.len());
        for (t, job) in cfg.templates.iter().zip(files) {
            let dest = t.destination.display().to_string();
            let old = old_cfg
                .templates
                .iter()
                .position(|o| o.destination == t.destination);
            let kept = old.and_then(|k| {
                let same = old_cfg.templates[k] == *t
                    && old_renderers[k]
                        .as_ref()
                        .is_some_and(|r| r.text == job.render.text);
                if same { old_renderers[k].take() } else { None }
            });
            match (old, kept) {
                (_, Some(r)) => renderers.push(r),
                (Some(_), None) => {
                    meta.changed.push(dest);
                    renderers.push(job.render);
                }
                (None, None) => {
                    meta.added.push(dest);
                    renderers.push(job.render);
                }
            }
            outputs.push(job.output);
        }
        for old in &old_cfg.templates {
            if !cfg
                .templates
                .iter()
                .any(|t| t.destination == old.destination)
            {
                meta.removed.push(old.destination.display().to_string());
            }
        }
        self.renderers = renderers;

        // env_templates, by variable name.
        let mut old_envs: Vec<Option<Renderer>> = std::mem::take(&mut self.envs)
            .into_iter()
            .map(Some)
            .collect();
        let mut new_envs = Vec::with_capacity(envs.len());
        for (t, job) in cfg.env_templates.iter().zip(envs) {
            let old = old_cfg.env_templates.iter().position(|o| o.name == t.name);
            let same = |k: usize| {
                old_cfg.env_templates[k] == *t
                    && old_envs[k].as_ref().is_some_and(|r| r.text == job.text)
            };
            match old {
                Some(k) if same(k) => {
                    new_envs.push(old_envs[k].take().unwrap_or(job));
                }
                Some(_) => {
                    meta.changed.push(t.name.clone());
                    new_envs.push(job);
                }
                None => {
                    meta.added.push(t.name.clone());
                    new_envs.push(job);
                }
            }
        }
        for old in &old_cfg.env_templates {
            if !cfg.env_templates.iter().any(|t| t.name == old.name) {
                meta.removed.push(old.name.clone());
            }
        }
        self.envs = new_envs;

        // Auth, sinks, timing rules.
        self.backoff = cfg.auto_auth.as_ref().map_or(self.backoff, |a| Backoff {
            min: a.method.min_backoff,
            max: a.method.max_backoff,
        });
        let login_retry = RetryPolicy {
            min: self.backoff.min,
            max: self.backoff.max,
            times: cfg
                .template_config
                .exit_on_retry_failure
                .then(|| super::schedule::outage_retries(cfg.vault.num_retries)),
        };
        self.tokens.reconfigure(cfg.clone(), login_retry);
        let sinks = cfg
            .auto_auth
            .as_ref()
            .map(|a| a.sinks.clone())
            .unwrap_or_default();
        self.deliverer.reconfigure(
            outputs,
            sinks,
            self.backoff,
            cfg.template_config.remove_on_exit,
        );
        self.store.set_rules(Rules {
            renewal_threshold: cfg.template_config.lease_renewal_threshold,
            static_interval: cfg.template_config.static_secret_render_interval,
        });
        for (what, same) in [
            (
                "audit",
                format!("{:?}", old_cfg.audit) == format!("{:?}", cfg.audit),
            ),
            (
                "listener \"admin\"",
                old_cfg.admin_listener == cfg.admin_listener,
            ),
            (
                "exec",
                format!("{:?}", old_cfg.exec) == format!("{:?}", cfg.exec),
            ),
            ("pid_file", old_cfg.pid_file == cfg.pid_file),
        ] {
            if !same {
                tracing::warn!(
                    "reload: the {what} settings changed; they take effect at the next start"
                );
            }
        }
        meta
    }
}

/// Where a reload goes next.
enum Next {
    /// Apply this config to the running engine.
    InPlace(Box<Config>),
    /// Build a new engine for this config.
    StartOver(Box<Config>),
}

/// Whether the server a token and leases belong to changed: they cannot be carried over.
fn server_changed(old: &VaultConfig, new: &VaultConfig) -> bool {
    old != new
}

/// Digests of the TLS files behind the backend client: the CA (file or directory) and the client
/// certificate with its key. Empty when a file cannot be read (the client build reports that).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsPrints {
    ca: Vec<u8>,
    client: Vec<u8>,
}

impl TlsPrints {
    /// The digests of `v`'s files now.
    pub(crate) fn of(v: &VaultConfig) -> Self {
        let digest = |paths: &[Option<&Path>]| {
            let mut h = Sha256::new();
            for p in paths.iter().flatten() {
                h.update(p.as_os_str().as_encoded_bytes());
                if p.is_dir() {
                    let mut names: Vec<_> = std::fs::read_dir(p)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .collect();
                    names.sort();
                    for n in names {
                        h.update(zeroize::Zeroizing::new(
                            std::fs::read(&n).unwrap_or_default(),
                        ));
                    }
                } else {
                    // A key read to be hashed is wiped after.
                    h.update(zeroize::Zeroizing::new(
                        std::fs::read(p).unwrap_or_default(),
                    ));
                }
            }
            h.finalize().to_vec()
        };
        Self {
            ca: digest(&[v.ca_cert.as_deref(), v.ca_path.as_deref()]),
            client: digest(&[v.client_cert.as_deref(), v.client_key.as_deref()]),
        }
    }
}

#[cfg(test)]
mod tests;
