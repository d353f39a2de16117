//! How an engine is made for a config ([`Engine::new`]), and how a flow wires it before and while it runs: telemetry, the service manager, reload requests,
//! the credential-file wake-up, and what changes once an exec child runs on its env.

use std::sync::Arc;
use std::time::Duration;

use super::engine::Engine;
use super::fetch::Fetcher;
use super::jobs::{EnvJob, FileJob};
use super::outcome::{Announce, Reloads, Stage};
use super::schedule::{Backoff, RetryPolicy, outage_retries};
use super::store::{Rules, Store};
use super::token::TokenKeeper;
use crate::admin::Telemetry;
use crate::audit::Auditor;
use crate::backend::Client;
use crate::config::Config;
use crate::output::Deliverer;
use crate::runtime::{EnvSource, Notifier};

impl Engine {
    /// Report deliveries and lease expiries to `telemetry` (metrics and readiness).
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Report to the service manager (systemd) from the loop: status lines and the watchdog.
    pub fn notify(&mut self, notifier: Notifier) {
        self.notifier = notifier;
    }

    /// Never start over on a reload (an exec run: its child keeps running on this engine's env); server
    /// changes apply at the next start.
    pub fn keep_server(&mut self) {
        self.can_start_over = false;
    }

    /// Take reload requests from now on.
    pub fn reloads(&mut self, reloads: Reloads) {
        self.reloads = Some(reloads);
    }

    /// The notification a file watch sends when a credential file changes.
    pub fn credentials(&self) -> Arc<tokio::sync::Notify> {
        self.tokens.credentials.clone()
    }

    /// Be woken by `n` when a credential file changes (the watch of an engine this one replaces).
    pub fn set_credentials(&mut self, n: Arc<tokio::sync::Notify>) {
        self.tokens.credentials = n;
    }

    /// Give back the reload requests (to hand them to the engine that starts over).
    pub fn take_reloads(&mut self) -> Option<Reloads> {
        self.reloads.take()
    }

    /// End the run at once when one of these env outputs fails (`sidekey:` references).
    pub fn fail_fast(&mut self, names: Vec<String>) {
        self.fail_fast = names;
    }

    /// The exec child runs from now on: announce deliveries to its supervisor, and let no output
    /// failure end the run any more (the child keeps its last good env, as before it started).
    pub fn supervising(&mut self, announce: Announce) {
        self.announce = announce;
        self.fail_fast.clear();
        self.may_give_up = false;
        self.can_start_over = false;
    }

    /// The auditor events go to (shared with the exec supervisor).
    pub fn auditor(&self) -> Auditor {
        self.auditor.clone()
    }
}

impl Engine {
    /// An engine for `cfg` with parsed `files`/`envs`, talking through `client` (which reports to
    /// `auditor` the requests no other event records, and its failovers). `once`: a one-shot run
    /// (a few quick retries inside each operation, then fail; failed commands are reported, not retried);
    /// otherwise a long-running agent (logins retried until they work, other failures retried by the
    /// engine's own backoff).
    pub fn new(
        cfg: Arc<Config>,
        client: Client,
        files: Vec<FileJob>,
        envs: Vec<EnvJob>,
        auditor: Auditor,
        env: Arc<dyn EnvSource>,
        once: bool,
    ) -> Self {
        let client = client.observed_by(Arc::new(auditor.clone()));
        let backoff = cfg.auto_auth.as_ref().map_or(
            Backoff {
                min: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            |a| Backoff {
                min: a.method.min_backoff,
                max: a.method.max_backoff,
            },
        );
        let (retry, login_retry) = if once {
            let p = RetryPolicy::once(cfg.vault.num_retries);
            (p, p)
        } else {
            let times = cfg
                .template_config
                .exit_on_retry_failure
                .then(|| outage_retries(cfg.vault.num_retries));
            let login = RetryPolicy {
                min: backoff.min,
                max: backoff.max,
                times,
            };
            let no_retry = RetryPolicy {
                times: Some(0),
                ..RetryPolicy::ONCE
            };
            (no_retry, login)
        };
        let (renderers, outputs): (Vec<_>, Vec<_>) =
            files.into_iter().map(|j| (j.render, j.output)).unzip();
        let sinks = cfg
            .auto_auth
            .as_ref()
            .map(|a| a.sinks.clone())
            .unwrap_or_default();
        let tls = super::reload::TlsPrints::of(&cfg.vault);
        let rules = Rules {
            renewal_threshold: cfg.template_config.lease_renewal_threshold,
            static_interval: cfg.template_config.static_secret_render_interval,
        };
        Self {
            fetcher: Fetcher::new(client.clone(), auditor.clone()),
            proxy_client: tokio::sync::watch::Sender::new(client.clone()),
            tokens: TokenKeeper::new(
                cfg.clone(),
                client,
                auditor.clone(),
                env.clone(),
                login_retry,
                once,
            ),
            store: Store::new(env, rules),
            deliverer: Deliverer::new(outputs, sinks, auditor.clone(), backoff, once),
            cfg,
            renderers,
            envs,
            auditor,
            retry,
            backoff,
            outage: None,
            render_retry: None,
            fatal_streak: 0,
            revocations: Vec::new(),
            retired: Vec::new(),
            saw_forbidden: false,
            telemetry: None,
            fail_fast: Vec::new(),
            may_give_up: true,
            stale: Vec::new(),
            announce: Announce::default(),
            started: false,
            notifier: Notifier::none(),
            reloads: None,
            can_start_over: true,
            tls,
            used: std::collections::HashSet::new(),
            state: None,
            proxied: super::proxied::ProxyLeases::new(rules.renewal_threshold),
            cache_saved_at: None,
            check: None,
            anchor: None,
            refresh: Arc::default(),
            agent_refused: Arc::default(),
            auto_token: tokio::sync::watch::Sender::new(None),
            workload_tokens: None,
            published_workloads: Arc::new(tokio::sync::watch::Sender::new(Arc::default())),
            stage: tokio::sync::watch::Sender::new(Stage::Login),
        }
    }
}
