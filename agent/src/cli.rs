//! The command line (DESIGN §3): `run`, `exec`, `check`, `audit verify`, `report`, `version`, and their
//! exit codes.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::runtime::{EnvSource, ExitCode, ProcessEnv, apply_env_overrides, shutdown_on_signals};

mod audit;
mod check;
mod logging;

use audit::AuditCommand;
use logging::init_logging;

#[derive(Parser)]
#[command(
    name = "sidekey",
    version,
    about = "A light secrets agent for OpenBao / HashiCorp Vault"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ConfigArgs {
    /// Config file (Vault Agent HCL or JSON) or a directory of them; repeat to merge several.
    #[arg(
        short = 'c',
        long = "config",
        env = "SIDEKEY_CONFIG",
        value_delimiter = ',',
        required = true
    )]
    config: Vec<PathBuf>,
}

/// `exec` needs no config file: `sidekey exec -- app` works from `sidekey:` references in the env.
#[derive(clap::Args)]
struct OptionalConfigArgs {
    /// Config file (Vault Agent HCL or JSON) or a directory of them; repeat to merge several. Optional
    /// for `exec`.
    #[arg(
        short = 'c',
        long = "config",
        env = "SIDEKEY_CONFIG",
        value_delimiter = ','
    )]
    config: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: render templates and keep them fresh (sidecar / systemd).
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// Render every output once, run their commands, and exit (non-zero if any output failed).
        #[arg(long)]
        once: bool,
    },
    /// Run a command with secrets in its environment, and supervise it.
    Exec {
        #[command(flatten)]
        config: OptionalConfigArgs,
        /// Replace secret values in the child's stdout/stderr with `****` (as `exec { mask_output }`).
        #[arg(long)]
        mask: bool,
        /// Render, then replace sidekey with the child (execve): for static secrets, nothing is renewed.
        #[arg(long)]
        no_supervise: bool,
        /// The command and its arguments (default: the config's `exec { command }`).
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Validate the config (and parse its templates); exit 0, or 78 with file:line and reason.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The evidence pack for auditors, built from an audit trail: inventory, rotation compliance, access
    /// by identity, workload and caller, failures, chain gaps and restarts.
    Report {
        /// The audit file (the files sidekey rotated it to are read too), or several files of a set (any
        /// order: they are read in chain order).
        #[arg(long = "audit", required = true, num_args = 1..)]
        audit: Vec<PathBuf>,
        /// Output format: Markdown, CSV (one table, see --table), JSON, or one self-contained HTML page
        /// with a timeline per secret.
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// With --format csv: the table (secrets, identities, workloads, callers, failures, chain,
        /// restarts).
        #[arg(long)]
        table: Option<String>,
        /// Start of the observation window: an RFC 3339 time, or a date (from its start, UTC).
        #[arg(long, value_parser = crate::audit::tools::window_start)]
        from: Option<i64>,
        /// End of the observation window: an RFC 3339 time, or a date (to its end, UTC).
        #[arg(long, value_parser = crate::audit::tools::window_end)]
        to: Option<i64>,
        /// The `hmac_key_file` the trail was written with, to check its chain.
        #[arg(long)]
        hmac_key_file: Option<PathBuf>,
    },
    /// Print the version.
    Version,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Csv,
    Html,
    Json,
    Md,
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    // Before anything is read: the environment may already hold a token.
    crate::runtime::harden::harden();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                0
            };
            let _ = e.print();
            return code;
        }
    };
    let env: Arc<dyn EnvSource> = Arc::new(ProcessEnv);
    match cli.command {
        Command::Audit { command } => audit::run(command, env.as_ref()),
        Command::Report {
            audit,
            format,
            table,
            from,
            to,
            hmac_key_file,
        } => {
            use crate::audit::tools::Format;
            let format = match format {
                ReportFormat::Csv => Format::Csv,
                ReportFormat::Html => Format::Html,
                ReportFormat::Json => Format::Json,
                ReportFormat::Md => Format::Markdown,
            };
            let opts = crate::audit::tools::ReportOptions {
                format,
                table,
                window: crate::audit::report::Window {
                    from_ms: from,
                    to_ms: to,
                },
            };
            crate::audit::tools::report(&audit, hmac_key_file.as_deref(), &opts)
        }
        #[allow(clippy::print_stdout)] // `version` prints to stdout, as every CLI does
        Command::Version => {
            let _ = init_logging(None, Logs::StderrOnly);
            println!("sidekey {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Command::Check { config } => match load(&config, env.as_ref(), Logs::StderrOnly) {
            Ok(cfg) => match crate::lease::jobs::prepare(&cfg)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    crate::runtime::open_state(&cfg, env.as_ref()).map_err(|e| e.to_string())
                }) {
                Ok((_, state_warning)) => {
                    for w in cfg
                        .warnings
                        .iter()
                        .map(ToString::to_string)
                        .chain(state_warning)
                    {
                        eprintln!("sidekey: warning: {w}");
                    }
                    for w in check::destinations_off_tmpfs(&cfg)
                        .into_iter()
                        .chain(check::destinations_in_unsafe_dirs(&cfg))
                    {
                        eprintln!("sidekey: warning: {w}");
                    }
                    eprintln!("sidekey: configuration is valid");
                    0
                }
                Err(e) => {
                    eprintln!("sidekey: {e}");
                    ExitCode::Config.code()
                }
            },
            Err(code) => code,
        },
        Command::Run { config, once } => {
            let cfg = match load(&config, env.as_ref(), Logs::AsConfigured) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let source = config_source(config.config.clone(), env.clone());
            log_warnings(&cfg);
            crate::runtime::harden::lock_memory(cfg.disable_mlock);
            // A config with an `exec` stanza that names a command is Vault Agent's process supervisor
            // mode: `bao agent -config=FILE` starts that child, so `sidekey run -c FILE` does too.
            let supervise = cfg
                .exec
                .as_ref()
                .map(|e| e.command.clone())
                .filter(|argv| !once && !cfg.exit_after_auth && !argv.is_empty());
            if supervise.is_none() && !cfg.env_templates.is_empty() {
                // Vault Agent refuses this config; sidekey keeps it usable with `sidekey exec`.
                tracing::warn!(
                    "env_template: nothing here uses it (it is for `sidekey exec`, or an exec stanza with a command)"
                );
            }
            block_on(move |shutdown| async move {
                if once {
                    crate::runtime::once(cfg, env, shutdown).await
                } else if let Some(argv) = supervise {
                    let opts = crate::runtime::ExecOptions {
                        argv,
                        source: Some(source),
                        reload_on_hup: true,
                        ..Default::default()
                    };
                    crate::runtime::exec(cfg, opts, env, shutdown).await
                } else {
                    crate::runtime::run(cfg, env, shutdown, source).await
                }
            })
        }
        Command::Exec {
            config,
            mask,
            no_supervise,
            command,
        } => {
            let source = (!config.config.is_empty())
                .then(|| config_source(config.config.clone(), env.clone()));
            let cfg = if config.config.is_empty() {
                let mut cfg = Config::default();
                let _ = init_logging(Some(&cfg), Logs::StderrOnly);
                apply_env_overrides(&mut cfg, env.as_ref());
                cfg
            } else {
                let args = ConfigArgs {
                    config: config.config,
                };
                match load(&args, env.as_ref(), Logs::AsConfigured) {
                    Ok(c) => c,
                    Err(code) => return code,
                }
            };
            if let Some(e) = config::stdout_sink_in_exec_mode(&cfg) {
                eprintln!("sidekey: {e}");
                return ExitCode::Config.code();
            }
            log_warnings(&cfg);
            crate::runtime::harden::lock_memory(cfg.disable_mlock);
            let argv = if command.is_empty() {
                cfg.exec
                    .as_ref()
                    .map(|e| e.command.clone())
                    .unwrap_or_default()
            } else {
                command
            };
            if argv.is_empty() {
                eprintln!(
                    "sidekey: exec: no command given (after `--` or in the config's exec {{ command }})"
                );
                return ExitCode::Usage.code();
            }
            let opts = crate::runtime::ExecOptions {
                argv,
                mask,
                no_supervise,
                source,
                reload_on_hup: false,
            };
            block_on(move |shutdown| crate::runtime::exec(cfg, opts, env, shutdown))
        }
    }
}

/// Whether logging starts with the config's `log_file` (`check` only reads the config: it writes no log).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logs {
    AsConfigured,
    StderrOnly,
}

/// Load the config and start logging as it says (before anything is logged). A `log_file` that cannot
/// be opened is a configuration error, as it stops Vault Agent from starting.
fn load(args: &ConfigArgs, env: &dyn EnvSource, logs: Logs) -> Result<Config, i32> {
    let files: Vec<&std::path::Path> = args.config.iter().map(PathBuf::as_path).collect();
    match config::load(&files) {
        Ok(mut cfg) => {
            if let Err(e) = init_logging(Some(&cfg), logs) {
                eprintln!("sidekey: {e}");
                return Err(ExitCode::Config.code());
            }
            apply_env_overrides(&mut cfg, env);
            Ok(cfg)
        }
        Err(e) => {
            let _ = init_logging(None, Logs::StderrOnly);
            eprintln!("sidekey: {e}");
            Err(ExitCode::Config.code())
        }
    }
}

/// The config files and how a reload reads them again: the same files (and directories), the same
/// environment overrides. The error is the loader's, naming file:line.
fn config_source(files: Vec<PathBuf>, env: Arc<dyn EnvSource>) -> crate::runtime::ConfigSource {
    let paths = files.clone();
    crate::runtime::ConfigSource {
        files,
        load: Arc::new(move || {
            let paths: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
            let mut cfg = config::load(&paths).map_err(|e| e.to_string())?;
            apply_env_overrides(&mut cfg, env.as_ref());
            Ok(cfg)
        }),
    }
}

/// Log, once at startup, each setting that loaded but is not served (`sidekey check` prints them instead).
fn log_warnings(cfg: &Config) {
    for w in &cfg.warnings {
        tracing::warn!("config: {w}");
    }
}

/// Run a flow on a single-threaded runtime with the shutdown token made from SIGINT/SIGTERM; the flow
/// has torn down by the time it returns its exit code.
fn block_on<F, Fut>(flow: F) -> i32
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async { flow(shutdown_on_signals()).await.code() }),
        Err(e) => {
            eprintln!("sidekey: cannot start the runtime: {e}");
            1
        }
    }
}
