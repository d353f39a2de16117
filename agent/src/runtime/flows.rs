//! The three ways sidekey runs: one-shot render (`run --once`), the long-running agent (`run`), and the
//! exec wrapper (`exec`). Each is setup → [`Engine::run`] → one teardown ([`Session::teardown`]) on
//! every exit path, and returns the process exit code (DESIGN §3, §12).

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Parts};
use crate::exec::refs::references;
use crate::exec::{ChildOutput, ExecSpec, hand_over, supervise};
use crate::lease::{Announce, Fatal, Outcome, Until};
use crate::output::{OutputFailure, OutputId, RenderedEnv};

use super::EnvSource;
use super::exit::ExitCode;
use super::session::{Session, config_error, reloads};

/// `BAO_ADDR`/`VAULT_ADDR`, `BAO_CACERT`/`VAULT_CACERT`, `BAO_NAMESPACE`/`VAULT_NAMESPACE` and
/// `BAO_MAX_RETRIES`/`VAULT_MAX_RETRIES` override the `vault` stanza (the `BAO_` name wins);
/// `BAO_CLIENT_TIMEOUT`/`VAULT_CLIENT_TIMEOUT` bounds each request (a Go duration or seconds). An address from the environment replaces the whole set: the
/// config's `addresses` name another cluster's nodes, or the same ones, and mixing would be a guess.
/// An encrypted sink's `aad_env_var` replaces its `aad` with the variable's value (empty when unset),
/// read once here as Vault Agent reads it when loading the config.
/// `BAO_AGENT_DISABLE_IDLE_CONNECTIONS` / `BAO_AGENT_DISABLE_KEEP_ALIVES` (or their `VAULT_AGENT_` names),
/// comma-separated part names, replace `disable_idle_connections` / `disable_keep_alives`, as in Vault Agent.
pub fn apply_env_overrides(cfg: &mut Config, env: &dyn EnvSource) {
    let sinks = cfg.auto_auth.iter_mut().flat_map(|a| a.sinks.iter_mut());
    for e in sinks.filter_map(|s| s.encrypt.as_mut()) {
        if let Some(name) = &e.aad_env_var {
            e.aad = crate::config::Aad(zeroize::Zeroizing::new(env.var(name).unwrap_or_default()));
        }
    }
    let pick = |a: &str, b: &str| env.var(a).or_else(|| env.var(b)).filter(|v| !v.is_empty());
    if let Some(a) = pick("BAO_ADDR", "VAULT_ADDR") {
        cfg.vault.address = a.trim_end_matches('/').to_string();
        cfg.vault.addresses.clear();
    }
    if let Some(c) = pick("BAO_CACERT", "VAULT_CACERT") {
        cfg.vault.ca_cert = Some(c.into());
    }
    if let Some(n) = pick("BAO_NAMESPACE", "VAULT_NAMESPACE") {
        cfg.vault.namespace = Some(n);
    }
    // Vault's client settings: a value that cannot be read is reported and the default kept, as the
    // config is already loaded.
    if let Some(t) = pick("BAO_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT") {
        match crate::config::duration::parse(&t) {
            Ok(d) if !d.is_zero() => cfg.vault.client_timeout = d,
            Ok(_) => tracing::warn!("BAO_CLIENT_TIMEOUT: must be more than 0; ignored"),
            Err(m) => tracing::warn!("BAO_CLIENT_TIMEOUT: {m}; ignored"),
        }
    }
    // Vault's API client reads the variable as an unsigned count (`0`: no retries), unlike the
    // stanza's `num_retries`, where `0` keeps the default and a negative number turns retries off.
    if let Some(n) = pick("BAO_MAX_RETRIES", "VAULT_MAX_RETRIES") {
        match n.trim().parse::<u32>() {
            Ok(n) => cfg.vault.num_retries = Some(n),
            Err(_) => tracing::warn!("BAO_MAX_RETRIES: {n:?} is not a count of 0 or more; ignored"),
        }
    }
    for (suffix, parts) in [
        (
            "DISABLE_IDLE_CONNECTIONS",
            &mut cfg.disable_idle_connections,
        ),
        ("DISABLE_KEEP_ALIVES", &mut cfg.disable_keep_alives),
    ] {
        let (bao, vault) = (
            format!("BAO_AGENT_{suffix}"),
            format!("VAULT_AGENT_{suffix}"),
        );
        let Some(list) = pick(&bao, &vault) else {
            continue;
        };
        *parts = Parts::default();
        for name in list.to_ascii_lowercase().split(',').map(str::trim) {
            // Vault Agent refuses to start on an unknown name; here the config is already loaded.
            if let Err(m) = parts.add(name) {
                tracing::warn!("{bao}: {m}; ignored");
            }
        }
    }
}

/// `sidekey run --once`: authenticate, render every output, run their commands, exit.
pub async fn once(cfg: Config, env: Arc<dyn EnvSource>, shutdown: CancellationToken) -> ExitCode {
    let cfg = Arc::new(cfg);
    match Session::setup(&cfg, env, true).await {
        Ok(s) => s.run_to_end(&shutdown, Until::Once).await,
        Err(code) => code,
    }
}

/// `sidekey run`: keep every output fresh until SIGINT/SIGTERM; SIGHUP reloads the config (`load`).
/// With `exit_after_auth` (an init container's config), render everything once and exit, as Vault Agent
/// does.
pub async fn run(
    cfg: Config,
    env: Arc<dyn EnvSource>,
    shutdown: CancellationToken,
    source: ConfigSource,
) -> ExitCode {
    if cfg.exit_after_auth {
        return once(cfg, env, shutdown).await;
    }
    let cfg = Arc::new(cfg);
    let mut s = match Session::setup(&cfg, env, false).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Err(code) = s.serve_listeners(&cfg, &shutdown).await {
        s.teardown().await;
        return code;
    }
    let r = reloads(&cfg, &source, true, s.engine.credentials());
    s.engine.reloads(r);
    loop {
        // READY=1 once every output was delivered the first time; until then the loop retries.
        let outcome = match s.engine.run(&shutdown, Until::Delivered).await {
            Outcome::Delivered(d) => {
                let fresh = d.files.len() + usize::from(d.env.is_some());
                s.notifier.ready(&format!("{fresh} outputs delivered"));
                s.engine.run(&shutdown, Until::Stopped).await
            }
            outcome => outcome,
        };
        match outcome {
            Outcome::StartOver(cfg) => {
                if let Err(code) = s.start_over(*cfg).await {
                    s.teardown().await;
                    return code;
                }
            }
            outcome => {
                if let Outcome::Stopped = outcome {
                    tracing::info!("shutting down");
                }
                let code = ExitCode::for_outcome(&outcome);
                s.teardown().await;
                return code;
            }
        }
    }
}

/// Reads the config files again for a reload: the same files, the same environment overrides; the
/// error names file:line.
pub type Loader = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// Where the config came from: its files (watched where that is how they change) and how to read them
/// again.
#[derive(Clone)]
pub struct ConfigSource {
    /// The `-c` files and directories.
    pub files: Vec<std::path::PathBuf>,
    /// Read them again.
    pub load: Loader,
}

/// How `sidekey exec` was asked to run the child (command-line options).
#[derive(Clone, Default)]
pub struct ExecOptions {
    /// The child's argv.
    pub argv: Vec<String>,
    /// `--mask`: mask secret values in the child's output.
    pub mask: bool,
    /// `--no-supervise`: replace sidekey with the child once the env is rendered.
    pub no_supervise: bool,
    /// Where the config came from, to reload it when its files change (none without `-c`).
    pub source: Option<ConfigSource>,
    /// `sidekey run` with an `exec` stanza: SIGHUP reloads the config and is not forwarded (`sidekey
    /// exec` forwards every signal, SIGHUP included, and reloads on file changes only).
    pub reload_on_hup: bool,
}

/// `sidekey exec`: render the env (`env_template`s and `sidekey:` references in the inherited env),
/// start the child, keep its secrets fresh, exit with its status. The child starts only once every env
/// var rendered and every file was delivered: as with Vault Agent's exec, a template whose secret is not
/// there yet is retried until it renders; a `sidekey:` reference fails at once, as `op run` does, and so
/// does everything `exit_on_retry_failure` gives up on.
pub async fn exec(
    cfg: Config,
    opts: ExecOptions,
    env: Arc<dyn EnvSource>,
    shutdown: CancellationToken,
) -> ExitCode {
    let mut cfg = cfg;
    let inherited = env.vars_os();
    let refs = match references(&inherited) {
        Ok(r) => r,
        Err(e) => return config_error(&e),
    };
    // An env_template of the same name is the more explicit of the two.
    let refs: Vec<_> = refs
        .into_iter()
        .filter(|r| !cfg.env_templates.iter().any(|t| t.name == r.name))
        .collect();
    cfg.env_templates
        .extend(refs.iter().map(|r| r.env_template()));
    // The child's output files are opened before anything is fetched: a path that cannot be used stops
    // the start, as it stops Vault Agent's.
    let exec_cfg = cfg.exec.clone().unwrap_or_default();
    let output = match ChildOutput::open(&exec_cfg) {
        Ok(o) => o,
        Err(e) => return config_error(&e),
    };
    let cfg = Arc::new(cfg);
    let mut s = match Session::setup(&cfg, env, false).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    s.engine
        .fail_fast(refs.iter().map(|r| r.name.clone()).collect());
    s.engine.keep_server();
    if let Some(source) = &opts.source {
        let r = reloads(&cfg, source, opts.reload_on_hup, s.engine.credentials());
        s.engine.reloads(r);
    }
    let initial = match s.engine.run(&shutdown, Until::Delivered).await {
        Outcome::Delivered(d) => match d.env {
            Some(Ok(m)) => m,
            _ => RenderedEnv::default(),
        },
        Outcome::Stopped => {
            eprintln!("sidekey: exec: stopped before the child was started");
            s.teardown().await;
            return ExitCode::Failed;
        }
        outcome @ (Outcome::Fatal(_) | Outcome::StartOver(_)) => {
            let code = ExitCode::for_outcome(&outcome);
            if let Outcome::Fatal(Fatal::Outputs(failures)) = &outcome {
                for r in refs
                    .iter()
                    .filter(|r| failures.iter().any(|f| names_var(f, &r.name)))
                {
                    eprintln!(
                        "sidekey: environment variable {}: cannot resolve {r}",
                        r.name
                    );
                }
            }
            eprintln!("sidekey: exec: the child was not started");
            s.teardown().await;
            return code;
        }
    };
    let mut spec = ExecSpec::new(opts.argv, &exec_cfg, opts.mask);
    spec.forward_hup = !opts.reload_on_hup;
    spec.output = output;
    if opts.no_supervise {
        s.evidence.finish().await;
        // sidekey becomes the child: readiness is reported now, or by the child itself.
        s.notifier.ready("starting the child in sidekey's place");
        let e = hand_over(&spec, inherited, &initial.vars);
        tracing::error!("{e}");
        return ExitCode::Child(e.exit_code());
    }
    let (env_tx, env_rx) = watch::channel(initial);
    let (files_tx, files_rx) = watch::channel(0u64);
    s.engine.supervising(Announce {
        env: Some(env_tx),
        files: Some(files_tx),
    });
    // The child is stopped only by what it is sent (signals are forwarded), by its own exit, or — when
    // the engine cannot go on — by the stop signal, kill_timeout, SIGKILL.
    let stop_child = CancellationToken::new();
    let child = supervise(
        &spec,
        inherited,
        env_rx,
        files_rx,
        s.engine.auditor(),
        stop_child.clone(),
        s.notifier,
    );
    tokio::pin!(child);
    let never = CancellationToken::new();
    let first = tokio::select! {
        r = &mut child => Ok(r),
        outcome = s.engine.run(&never, Until::Stopped) => Err(outcome),
    };
    let ended = match first {
        Ok(r) => r,
        Err(outcome) => {
            ExitCode::for_outcome(&outcome);
            tracing::error!("stopping the child: the agent cannot go on");
            stop_child.cancel();
            child.await
        }
    };
    let code = match ended {
        Ok(code) => ExitCode::Child(code),
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::Child(e.exit_code())
        }
    };
    s.teardown().await;
    code
}

/// Whether `f` is the failure of env var `name`.
fn names_var(f: &OutputFailure, name: &str) -> bool {
    matches!(&f.output, OutputId::Env(n) if n == name)
}

/// `pid_file`: written at start, removed at exit.
pub(super) struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    pub(super) fn write(path: Option<&std::path::Path>) -> Self {
        let Some(p) = path else { return Self(None) };
        if let Err(e) = write_pid(p) {
            tracing::error!(path = %p.display(), error = %e, "cannot write pid_file");
            return Self(None);
        }
        Self(Some(p.to_path_buf()))
    }
}

/// The pid file is replaced, never followed: written as a new file beside it and renamed over the name (a
/// symlink planted there is replaced, not written through), and always 0644, as Vault Agent writes it,
/// whatever the umask. Through the same directory checks as every output; it need not be on tmpfs.
fn write_pid(p: &std::path::Path) -> Result<(), crate::output::file::OutputError> {
    let target = crate::output::FileTarget {
        create_dirs: false,
        allow_non_tmpfs: true,
        ..crate::output::FileTarget::new(p.to_path_buf(), 0o644)
    };
    crate::output::write_atomic(&target, format!("{}\n", std::process::id()).as_bytes()).map(|_| ())
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::*;

    /// An environment of fixed variables.
    struct Vars(HashMap<&'static str, &'static str>);

    impl EnvSource for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| (*v).to_string())
        }
        fn vars_os(&self) -> Vec<(OsString, OsString)> {
            Vec::new()
        }
    }

    #[test]
    fn the_pid_file_replaces_a_symlink_at_its_name_instead_of_following_it() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pid = d.path().join("agent.pid");
        std::os::unix::fs::symlink(&victim, &pid).unwrap();
        write_pid(&pid).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the symlink's target is not chmod'ed");
        let meta = std::fs::symlink_metadata(&pid).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        let want = format!("{}\n", std::process::id());
        assert_eq!(std::fs::read_to_string(&pid).unwrap(), want);
    }

    #[test]
    fn max_retries_in_the_environment_reads_as_vaults_client_reads_it() {
        for (value, want) in [
            ("0", Some(0)),
            ("5", Some(5)),
            ("-1", Some(7)),
            ("x", Some(7)),
        ] {
            let mut cfg = Config::default();
            cfg.vault.num_retries = Some(7);
            apply_env_overrides(
                &mut cfg,
                &Vars(HashMap::from([("VAULT_MAX_RETRIES", value)])),
            );
            assert_eq!(cfg.vault.num_retries, want, "{value}");
        }
    }

    #[test]
    fn agent_disable_variables_replace_the_configs_parts_the_bao_name_first() {
        let mut cfg = Config::default();
        cfg.disable_keep_alives.templating = true;
        cfg.disable_idle_connections.templating = true;
        let env = Vars(HashMap::from([
            ("BAO_AGENT_DISABLE_KEEP_ALIVES", "Auto-Auth, caching"),
            ("VAULT_AGENT_DISABLE_KEEP_ALIVES", "templating"),
            (
                "VAULT_AGENT_DISABLE_IDLE_CONNECTIONS",
                "templating,nonsense",
            ),
        ]));
        apply_env_overrides(&mut cfg, &env);
        assert_eq!(
            cfg.disable_keep_alives,
            Parts {
                auto_auth: true,
                templating: false
            }
        );
        assert_eq!(
            cfg.disable_idle_connections,
            Parts {
                auto_auth: false,
                templating: true
            }
        );
    }
}
