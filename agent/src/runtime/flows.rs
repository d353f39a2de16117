//! The three ways sidekey runs: one-shot render (`run --once`), the long-running agent (`run`), and the
//! exec wrapper (`exec`). Each returns the process exit code (DESIGN §3).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::audit::Auditor;
use crate::backend::{Client, ClientSettings, tls::TlsSettings};
use crate::config::Config;
use crate::exec::{ExecSpec, supervise};
use crate::lease::jobs::prepare;
use crate::lease::{Delivery, Engine, EnvMap, RetryPolicy};

use super::EnvSource;

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
pub fn build_engine(
    cfg: Arc<Config>,
    env: Arc<dyn EnvSource>,
    retry: RetryPolicy,
) -> Result<Engine, i32> {
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
    let auditor = Auditor::new(cfg.audit.file.as_deref(), cfg.audit.stdout)
        .map_err(|e| report(EXIT_CONFIG, &e))?;
    Ok(Engine::new(cfg, client, files, envs, auditor, env, retry))
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
    let mut engine = match build_engine(cfg.clone(), env, RetryPolicy::ONCE) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if let Err(e) = engine.authenticate().await {
        return report(EXIT_UNAVAILABLE, &e);
    }
    // `exit_after_auth` changes nothing here: like Vault Agent, the templates are still rendered once.
    let d = engine.deliver().await;
    delivery_code(&d)
}

/// `sidekey run`: keep every output fresh until SIGINT/SIGTERM.
pub async fn run(cfg: Config, env: Arc<dyn EnvSource>) -> i32 {
    let cfg = Arc::new(cfg);
    let retry = forever(&cfg);
    let mut engine = match build_engine(cfg.clone(), env, retry) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let _pid = PidFile::write(cfg.pid_file.as_deref());
    let work = async {
        if let Err(e) = engine.authenticate().await {
            return report(EXIT_UNAVAILABLE, &e);
        }
        let d = engine.deliver().await;
        // Vault Agent with `exit_after_auth` renders every template once, then exits (init containers
        // rely on it): the same as `--once`.
        if cfg.exit_after_auth {
            return delivery_code(&d);
        }
        if cfg.template_config.exit_on_retry_failure && d.failures().next().is_some() {
            return delivery_code(&d);
        }
        loop {
            sleep_until(engine.next_due()).await;
            if engine.tick().await {
                let d = engine.deliver().await;
                if cfg.template_config.exit_on_retry_failure && d.failures().next().is_some() {
                    return delivery_code(&d);
                }
            }
        }
    };
    tokio::select! {
        code = work => code,
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            EXIT_OK
        }
    }
}

/// `sidekey exec`: render the env, start the child, keep its secrets fresh, exit with its status.
pub async fn exec(cfg: Config, argv: Vec<String>, env: Arc<dyn EnvSource>) -> i32 {
    let cfg = Arc::new(cfg);
    let retry = forever(&cfg);
    let mut engine = match build_engine(cfg.clone(), env.clone(), retry) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if let Err(e) = engine.authenticate().await {
        return report(EXIT_UNAVAILABLE, &e);
    }
    let first = engine.deliver().await;
    // The child starts only once every env var rendered and every file was delivered.
    let code = delivery_code(&first);
    if code != EXIT_OK {
        return code;
    }
    let initial = match first.env {
        Some(Ok(m)) => m,
        _ => EnvMap::new(),
    };
    let exec_cfg = cfg.exec.clone();
    let spec = ExecSpec {
        argv,
        restart_on_change: exec_cfg
            .as_ref()
            .is_none_or(|e| e.restart_on_secret_changes),
        stop_signal: exec_cfg
            .as_ref()
            .and_then(|e| nix::sys::signal::Signal::try_from(e.restart_stop_signal).ok())
            .unwrap_or(nix::sys::signal::Signal::SIGTERM),
        kill_timeout: exec_cfg
            .as_ref()
            .map_or(std::time::Duration::from_secs(30), |e| e.kill_timeout),
    };
    let (tx, rx) = watch::channel(initial);
    let audit = engine.auditor();
    let refresh = async {
        loop {
            sleep_until(engine.next_due()).await;
            if engine.tick().await {
                let d = engine.deliver().await;
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
    tokio::select! {
        r = supervise(&spec, env.vars_os(), rx, audit) => match r {
            Ok(code) => code,
            Err(e) => report(127, &e),
        },
        () = refresh => EXIT_OK,
    }
}

fn same_env(a: &EnvMap, b: &EnvMap) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && va.as_str() == vb.as_str())
}

/// Long-running modes retry until it works, from `min_backoff` up to `max_backoff`.
fn forever(cfg: &Config) -> RetryPolicy {
    let (min, max) = cfg.auto_auth.as_ref().map_or(
        (
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(300),
        ),
        |a| (a.method.min_backoff, a.method.max_backoff),
    );
    let times = cfg.template_config.exit_on_retry_failure.then_some(12);
    RetryPolicy { min, max, times }
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
