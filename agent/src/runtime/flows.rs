//! The three ways sidekey runs: one-shot render (`run --once`), the long-running agent (`run`), and the
//! exec wrapper (`exec`). Each returns the process exit code (DESIGN §3).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::admin::Telemetry;
use crate::audit::Auditor;
use crate::backend::{Client, ClientSettings, tls::TlsSettings};
use crate::config::Config;
use crate::exec::refs::references;
use crate::exec::{ExecSpec, hand_over, same_env, supervise};
use crate::lease::jobs::prepare;
use crate::lease::{Delivery, Engine, EnvMap};

use super::EnvSource;
use super::evidence::Evidence;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: an output failed (render, permission, write).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: backend unavailable or authentication failed.
pub const EXIT_UNAVAILABLE: i32 = 69;
/// Exit code: configuration error.
pub const EXIT_CONFIG: i32 = 78;

/// `BAO_ADDR`/`VAULT_ADDR`, `BAO_CACERT`/`VAULT_CACERT`, `BAO_NAMESPACE`/`VAULT_NAMESPACE` override the
/// `vault` stanza (the `BAO_` name wins).
pub fn apply_env_overrides(cfg: &mut Config, env: &dyn EnvSource) {
    let pick = |a: &str, b: &str| env.var(a).or_else(|| env.var(b)).filter(|v| !v.is_empty());
    if let Some(a) = pick("BAO_ADDR", "VAULT_ADDR") {
        cfg.vault.address = a;
    }
    if let Some(c) = pick("BAO_CACERT", "VAULT_CACERT") {
        cfg.vault.ca_cert = Some(c.into());
    }
    if let Some(n) = pick("BAO_NAMESPACE", "VAULT_NAMESPACE") {
        cfg.vault.namespace = Some(n);
    }
}

/// Build the engine: backend client, audit sinks, parsed templates. Errors are configuration errors
/// (exit 78), already printed.
///
/// # Errors
/// The exit code to use.
pub fn build_engine(cfg: Arc<Config>, env: Arc<dyn EnvSource>, once: bool) -> Result<Engine, i32> {
    build(cfg, env, once).map(|(e, _)| e)
}

/// [`build_engine`], also returning the telemetry its auditor feeds (metrics and readiness).
fn build(
    cfg: Arc<Config>,
    env: Arc<dyn EnvSource>,
    once: bool,
) -> Result<(Engine, Arc<Telemetry>), i32> {
    let (files, envs) = prepare(&cfg).map_err(|e| report(EXIT_CONFIG, &e))?;
    let v = &cfg.vault;
    let settings = ClientSettings {
        address: &v.address,
        namespace: v.namespace.as_deref(),
        tls: TlsSettings {
            ca_cert: v.ca_cert.as_deref(),
            ca_path: v.ca_path.as_deref(),
            client_cert: v.client_cert.as_deref().zip(v.client_key.as_deref()),
            skip_verify: v.tls_skip_verify,
            server_name: v.tls_server_name.as_deref(),
        },
        max_in_flight: cfg.template_config.max_connections_per_host,
    };
    let client = Client::new(&settings).map_err(|e| report(EXIT_CONFIG, &e))?;
    let outputs = files.len() + usize::from(!envs.is_empty());
    let telemetry = Arc::new(Telemetry::new(outputs));
    let auditor = Auditor::from_config(&cfg.audit, Some(telemetry.clone()))
        .map_err(|e| report(EXIT_CONFIG, &e))?;
    let engine = Engine::new(cfg, client, files, envs, auditor, env, once);
    Ok((engine, telemetry))
}

fn report(code: i32, e: &dyn std::fmt::Display) -> i32 {
    tracing::error!("{e}");
    code
}

/// The exit code for a delivery: 0 when every output was delivered, 69 when only the backend was
/// unreachable, 1 otherwise.
fn delivery_code(d: &Delivery) -> i32 {
    let mut code = EXIT_OK;
    for f in d.failures() {
        eprintln!("sidekey: {}", f.message);
        code = if !f.transient || code == EXIT_FAILED {
            EXIT_FAILED
        } else {
            EXIT_UNAVAILABLE
        };
    }
    code
}

/// `sidekey run --once`: authenticate, render every output, run their commands, exit.
pub async fn once(cfg: Config, env: Arc<dyn EnvSource>) -> i32 {
    let cfg = Arc::new(cfg);
    let mut engine = match build_engine(cfg.clone(), env, true) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let auditor = engine.auditor();
    let code = async {
        if !engine.resume().await
            && let Err(e) = engine.authenticate().await
        {
            return report(EXIT_UNAVAILABLE, &e);
        }
        let d = engine.deliver().await;
        delivery_code(&d)
    }
    .await;
    auditor.drain(std::time::Duration::from_secs(5)).await;
    code
}

/// `sidekey run`: keep every output fresh until SIGINT/SIGTERM. With `exit_after_auth` (an init
/// container's config), render everything once and exit, as Vault Agent does.
pub async fn run(cfg: Config, env: Arc<dyn EnvSource>) -> i32 {
    if cfg.exit_after_auth {
        return once(cfg, env).await;
    }
    let cfg = Arc::new(cfg);
    let (mut engine, telemetry) = match build(cfg.clone(), env, false) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let evidence = match Evidence::start(&cfg, engine.auditor(), telemetry.clone()).await {
        Ok(e) => e,
        Err(e) => return report(EXIT_CONFIG, &e),
    };
    let _pid = PidFile::write(cfg.pid_file.as_deref());
    let work = async {
        if !engine.resume().await
            && let Err(e) = engine.authenticate().await
        {
            return report(EXIT_UNAVAILABLE, &e);
        }
        let mut d = engine.deliver().await;
        telemetry.delivered(&d);
        telemetry.set_lease_expiries(engine.lease_expiries());
        loop {
            if cfg.template_config.exit_on_retry_failure
                && engine.failed_deliveries() > RETRIES_BEFORE_EXIT
            {
                tracing::error!("exit_on_retry_failure: giving up");
                return delivery_code(&d);
            }
            sleep_until(engine.next_due()).await;
            if engine.tick().await {
                d = engine.deliver().await;
                telemetry.delivered(&d);
            }
            telemetry.set_lease_expiries(engine.lease_expiries());
        }
    };
    let code = tokio::select! {
        code = work => code,
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            EXIT_OK
        }
    };
    engine.shutdown().await;
    evidence.finish().await;
    code
}

/// Failed deliveries in a row after which `exit_on_retry_failure` stops the agent.
const RETRIES_BEFORE_EXIT: u32 = 5;

/// How `sidekey exec` was asked to run the child (command-line options).
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// The child's argv.
    pub argv: Vec<String>,
    /// `--mask`: mask secret values in the child's output.
    pub mask: bool,
    /// `--no-supervise`: replace sidekey with the child once the env is rendered.
    pub no_supervise: bool,
}

/// `sidekey exec`: render the env (`env_template`s and `sidekey:` references in the inherited env),
/// start the child, keep its secrets fresh, exit with its status.
pub async fn exec(cfg: Config, opts: ExecOptions, env: Arc<dyn EnvSource>) -> i32 {
    let mut cfg = cfg;
    let inherited = env.vars_os();
    let refs = match references(&inherited) {
        Ok(r) => r,
        Err(e) => return report(EXIT_CONFIG, &e),
    };
    // An env_template of the same name is the more explicit of the two.
    let refs: Vec<_> = refs
        .into_iter()
        .filter(|r| !cfg.env_templates.iter().any(|t| t.name == r.name))
        .collect();
    cfg.env_templates
        .extend(refs.iter().map(|r| r.env_template()));
    let cfg = Arc::new(cfg);
    let (mut engine, telemetry) = match build(cfg.clone(), env.clone(), false) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let evidence = match Evidence::start(&cfg, engine.auditor(), telemetry.clone()).await {
        Ok(e) => e,
        Err(e) => return report(EXIT_CONFIG, &e),
    };
    if !engine.resume().await
        && let Err(e) = engine.authenticate().await
    {
        return report(EXIT_UNAVAILABLE, &e);
    }
    let mut first = engine.deliver().await;
    telemetry.delivered(&first);
    telemetry.set_lease_expiries(engine.lease_expiries());
    // The child starts only once every env var rendered and every file was delivered. As with Vault Agent's
    // exec, a template whose secret is not there yet is retried (with the engine's backoff) until it renders;
    // a `sidekey:` reference fails at once, as `op run` does, and so does everything under
    // `exit_on_retry_failure` once its retries are spent.
    loop {
        if first.failures().next().is_none() {
            break;
        }
        let reference = match &first.env {
            Some(Err(f)) => refs.iter().find(|r| r.name == f.template),
            _ => None,
        };
        let give_up = reference.is_some()
            || (cfg.template_config.exit_on_retry_failure
                && engine.failed_deliveries() > RETRIES_BEFORE_EXIT);
        if give_up {
            let code = delivery_code(&first);
            if let Some(r) = reference {
                eprintln!(
                    "sidekey: environment variable {}: cannot resolve {r}",
                    r.name
                );
            }
            eprintln!("sidekey: exec: the child was not started");
            return code;
        }
        tracing::warn!("exec: the child starts once every template has rendered; retrying");
        let waited = tokio::select! {
            () = sleep_until(engine.next_due()) => true,
            () = shutdown_signal() => false,
        };
        if !waited {
            eprintln!("sidekey: exec: stopped before the child was started");
            engine.shutdown().await;
            evidence.finish().await;
            return EXIT_OK;
        }
        if engine.tick().await {
            first = engine.deliver().await;
            telemetry.delivered(&first);
        }
    }
    let initial = match first.env {
        Some(Ok(m)) => m,
        _ => EnvMap::new(),
    };
    let spec = ExecSpec::new(opts.argv, &cfg.exec.clone().unwrap_or_default(), opts.mask);
    let audit = engine.auditor();
    if opts.no_supervise {
        audit.flush();
        let e = hand_over(&spec, inherited, &initial);
        return report(e.exit_code(), &e);
    }
    let (tx, rx) = watch::channel(initial);
    let (files_tx, files_rx) = watch::channel(0u64);
    let refresh = async {
        loop {
            sleep_until(engine.next_due()).await;
            let changed = engine.tick().await;
            telemetry.set_lease_expiries(engine.lease_expiries());
            if changed {
                let d = engine.deliver().await;
                telemetry.delivered(&d);
                telemetry.set_lease_expiries(engine.lease_expiries());
                if d.files.iter().any(|r| matches!(r, Ok(true))) {
                    files_tx.send_modify(|n| *n += 1);
                }
                if let Some(Ok(m)) = d.env {
                    tx.send_if_modified(|cur| {
                        let changed = !same_env(cur, &m);
                        if changed {
                            *cur = m;
                        }
                        changed
                    });
                }
            }
        }
    };
    let code = tokio::select! {
        r = supervise(&spec, inherited, rx, files_rx, audit) => match r {
            Ok(code) => code,
            Err(e) => report(e.exit_code(), &e),
        },
        () = refresh => EXIT_OK,
    };
    engine.shutdown().await;
    evidence.finish().await;
    code
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `pid_file`: written at start, removed at exit.
struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    fn write(path: Option<&std::path::Path>) -> Self {
        let Some(p) = path else { return Self(None) };
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::error!(path = %p.display(), error = %e, "cannot write pid_file");
            return Self(None);
        }
        Self(Some(p.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
