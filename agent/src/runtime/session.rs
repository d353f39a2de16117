//! What every flow sets up and tears down once: the engine, the audit trail and its evidence tasks, the
//! service manager's notifier, the pid file, and the reload requests (SIGHUP and watched files).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::admin::Telemetry;
use crate::audit::Auditor;
use crate::backend::Client;
use crate::config::Config;
use crate::lease::jobs::prepare;
use crate::lease::{Engine, Outcome, Reloads, Until};
use crate::listen::cache::Cache;
use crate::listen::{Door, Listeners, Proxy, Upstream};
use crate::persist::{PersistError, StateStore};
use crate::workload::Workloads;
use crate::workload::credentials::Credentials;
use crate::workload::tokens::WorkloadTokens;

use super::EnvSource;
use super::evidence::Evidence;
use super::exit::ExitCode;
use super::flows::{ConfigSource, PidFile};
use super::notify::Notifier;
use super::watch::FileWatch;

/// What a flow set up, and the one way to end it.
pub(super) struct Session {
    pub(super) engine: Engine,
    pub(super) evidence: Evidence,
    pub(super) notifier: Notifier,
    auditor: Auditor,
    telemetry: Arc<Telemetry>,
    env: Arc<dyn EnvSource>,
    _pid_file: PidFile,
    once: bool,
    /// The API proxy's listeners (`run` only).
    listeners: Option<Listeners>,
    /// The `LoadCredential=` socket (`run` only).
    credentials: Option<Credentials>,
    /// Each workload's token (per-host mode), made with the current engine.
    pub(super) workload_tokens: WorkloadTokens,
}

impl Session {
    /// Build the engine (backend client, audit sinks, parsed templates), start the evidence tasks (the
    /// admin listener unless `once`), write the pid file. Errors are configuration errors (exit 78),
    /// already reported.
    pub(super) async fn setup(
        cfg: &Arc<Config>,
        env: Arc<dyn EnvSource>,
        once: bool,
    ) -> Result<Self, ExitCode> {
        let outputs = cfg.templates.len() + usize::from(!cfg.env_templates.is_empty());
        let telemetry = Arc::new(Telemetry::new(outputs));
        let auditor = Auditor::from_config(&cfg.audit, Some(telemetry.clone()))
            .map_err(|e| config_error(&e))?;
        // With `exec { notify = "child" }` the child reports readiness; sidekey still feeds the watchdog.
        let child_notifies = cfg.exec.as_ref().is_some_and(|e| e.notify_child);
        let notifier = Notifier::from_env(env.as_ref(), !child_notifies);
        let mut engine = build_engine(cfg, &auditor, &telemetry, notifier, env.clone(), once)?;
        let refresh = engine.refresh_requests();
        let workloads = Workloads::compile(&cfg.workloads).map_err(|e| config_error(&e))?;
        engine.publish_workloads(workloads);
        let workload_tokens = WorkloadTokens::new(&engine, auditor.clone());
        // One instance: the workloads' templates, the API proxy and the credentials socket share it.
        engine.set_workload_tokens(workload_tokens.clone());
        let evidence = Evidence::start(cfg, auditor.clone(), telemetry.clone(), refresh, !once)
            .await
            .map_err(|e| config_error(&e))?;
        Ok(Self {
            engine,
            evidence,
            notifier,
            auditor,
            telemetry,
            env,
            _pid_file: PidFile::write(cfg.pid_file.as_deref()),
            once,
            listeners: None,
            credentials: None,
            workload_tokens,
        })
    }

    /// Bind `cfg`'s `listener "tcp"`/`"unix"` and serve the API proxy through this session's engine;
    /// `/agent/v1/quit` cancels `shutdown`; and `listener "credentials"`. A listener that cannot be
    /// bound is a configuration error (exit 78), already reported.
    pub(super) async fn serve_listeners(
        &mut self,
        cfg: &Config,
        shutdown: &CancellationToken,
    ) -> Result<(), ExitCode> {
        if let Some(l) = &cfg.credential_listener {
            let c = Credentials::start(
                l,
                self.engine.workloads(),
                self.engine.proxy_client(),
                self.workload_tokens.clone(),
                self.auditor.clone(),
                self.env.clone(),
            )
            .map_err(|e| config_error(&e))?;
            self.credentials = Some(c);
        }
        if cfg.listeners.is_empty() {
            if cfg.cache.is_some() {
                tracing::warn!("config: cache: no listener \"tcp\" or \"unix\" to serve it from");
            }
            return Ok(());
        }
        let nodes = self.engine.fetcher.client().nodes();
        if let Some((node, l)) = nodes.iter().find_map(|n| {
            cfg.listeners
                .iter()
                .find(|l| crate::listen::is_own_address(n, &l.bind))
                .map(|l| (n, l))
        }) {
            return Err(config_error(&format!(
                "{}:{}: the server address {node} is this listener: requests would come back to \
                 sidekey itself (is BAO_ADDR/VAULT_ADDR set to the agent's listener?)",
                l.origin.file.display(),
                l.origin.line
            )));
        }
        let proxy = Proxy::new(
            upstream(cfg, &self.engine),
            cfg.api_proxy,
            self.auditor.clone(),
            self.telemetry.clone(),
            shutdown.clone(),
        );
        let door = (!cfg.workloads.is_empty())
            .then(|| Door::new(self.engine.workloads(), self.workload_tokens.clone()));
        let listeners = Listeners::start(&cfg.listeners, proxy, door)
            .await
            .map_err(|e| config_error(&e))?;
        self.listeners = Some(listeners);
        Ok(())
    }

    /// A reload changed the server: the old engine's token and leases belong to it, so they are left
    /// (not revoked, files not removed: the new engine overwrites them); a new engine starts with `cfg`,
    /// keeping the audit trail, the admin listener, the pid file and the reload requests; the listeners
    /// serve the new config's workloads.
    pub(super) async fn start_over(&mut self, cfg: Config) -> Result<(), ExitCode> {
        let cfg = Arc::new(cfg);
        let workloads = Workloads::compile(&cfg.workloads).map_err(|e| config_error(&e))?;
        let mut engine = build_engine(
            &cfg,
            &self.auditor,
            &self.telemetry,
            self.notifier,
            self.env.clone(),
            self.once,
        )?;
        engine.set_credentials(self.engine.credentials());
        engine.set_refresh_requests(self.engine.refresh_requests());
        engine.share_workloads(&self.engine);
        engine.publish_workloads(workloads);
        // The same state file settings: the running store goes on (after a `keep_after_import = false`
        // import it writes no more, and a new store must not start again).
        if let Some(old) = self.engine.state.take()
            && cfg.persist.as_ref().is_some_and(|p| old.same_config(p))
        {
            engine.set_state_store(Some(old));
        }
        if let Some(mut r) = self.engine.take_reloads() {
            if let Some(w) = &mut r.watch {
                w.set(&cfg);
            }
            engine.reloads(r);
        }
        // Everything serves with the new engine before the old one is torn down: meanwhile a caller
        // would get a token held in a table nobody renews, or none at all.
        let mut old = std::mem::replace(&mut self.engine, engine);
        if let Some(c) = &self.credentials {
            c.set_client(self.engine.proxy_client());
        }
        self.workload_tokens.follow(&self.engine);
        self.engine
            .set_workload_tokens(self.workload_tokens.clone());
        if let Some(l) = &self.listeners {
            l.set_upstream(upstream(&cfg, &self.engine));
            if l.running() != cfg.listeners.as_slice() {
                tracing::warn!(
                    "config: the listeners changed; the running ones are kept until the next start"
                );
            }
        }
        old.teardown(true).await;
        Ok(())
    }

    /// The one teardown: stop commands, revoke and remove if configured, drain the audit sinks, remove
    /// the pid file (on drop).
    pub(super) async fn teardown(mut self) {
        self.notifier.stopping();
        if let Some(l) = self.listeners.take() {
            l.stop().await;
        }
        if let Some(c) = self.credentials.take() {
            c.stop().await;
        }
        self.engine.teardown(self.once).await;
        self.evidence.finish().await;
    }

    /// Run the engine until `until`, tear down, and return the exit code for the outcome.
    pub(super) async fn run_to_end(
        mut self,
        shutdown: &CancellationToken,
        until: Until,
    ) -> ExitCode {
        let outcome = self.engine.run(shutdown, until).await;
        let code = match outcome {
            // A one-shot run that was stopped before it delivered everything did not do its job: a
            // `sidekey run --once && start-app` script must not go on.
            Outcome::Stopped if until == Until::Once => {
                eprintln!("sidekey: stopped before every output was delivered");
                ExitCode::Failed
            }
            Outcome::Stopped => {
                tracing::info!("shutting down");
                ExitCode::Ok
            }
            ref o => ExitCode::for_outcome(o),
        };
        self.teardown().await;
        code
    }
}

/// The engine for `cfg`: backend client, parsed templates, reporting to the flow's auditor, telemetry and
/// service manager.
fn build_engine(
    cfg: &Arc<Config>,
    auditor: &Auditor,
    telemetry: &Arc<Telemetry>,
    notifier: Notifier,
    env: Arc<dyn EnvSource>,
    once: bool,
) -> Result<Engine, ExitCode> {
    let (files, envs) = prepare(cfg).map_err(|e| config_error(&e))?;
    let client = Client::for_config(cfg).map_err(|e| config_error(&e))?;
    let (state, warning) = open_state(cfg, env.as_ref()).map_err(|e| config_error(&e))?;
    if let Some(w) = warning {
        tracing::warn!("config: {w}");
    }
    let mut engine = Engine::new(cfg.clone(), client, files, envs, auditor.clone(), env, once)
        .with_telemetry(telemetry.clone());
    engine.set_state_store(state);
    engine.notify(notifier);
    Ok(engine)
}

/// What the API proxy forwards through: `engine`'s client, token and (with `cache {}`) a cache whose
/// leases the engine renews.
fn upstream(cfg: &Config, engine: &Engine) -> Upstream {
    let client = engine.fetcher.client().clone();
    let cache = cfg
        .cache
        .clone()
        .map(|c| Arc::new(Cache::new(c, client.clone(), engine.proxy_leases())));
    Upstream {
        client: engine.proxy_client(),
        cache,
        token: engine.auto_token(),
    }
}

/// The state file's store, if one is configured and served, and a warning about it (see
/// [`crate::persist::open`]); `sidekey check` calls this too.
///
/// # Errors
/// [`PersistError`] naming the setting to fix.
pub(crate) fn open_state(
    cfg: &Config,
    env: &dyn EnvSource,
) -> Result<(Option<StateStore>, Option<String>), PersistError> {
    match &cfg.persist {
        Some(p) => crate::persist::open(p, env),
        None => Ok((None, None)),
    }
}

/// Reload requests from file changes (and SIGHUP when `hup`), with `source` to read the config again;
/// credential file changes wake `credentials`.
pub(super) fn reloads(
    cfg: &Config,
    source: &ConfigSource,
    hup: bool,
    credentials: Arc<tokio::sync::Notify>,
) -> Reloads {
    let (tx, requests) = tokio::sync::mpsc::unbounded_channel();
    if hup {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        if tx.send(()).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP; no reload on signal"),
        }
    }
    let watch = FileWatch::start(cfg, source.files.clone(), Some(tx), credentials);
    let load = source.load.clone();
    Reloads {
        requests,
        load: Box::new(move || load()),
        watch,
    }
}

/// A configuration problem found while setting up: reported, exit 78.
pub(super) fn config_error(e: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{e}");
    ExitCode::Config
}
