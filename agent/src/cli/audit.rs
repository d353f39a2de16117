//! `sidekey audit`: its subcommands (`verify`, `reconcile`) and running them.

use std::path::PathBuf;

use clap::Subcommand;

use super::{ConfigArgs, Logs, load};
use crate::runtime::EnvSource;

#[derive(Subcommand)]
pub(super) enum AuditCommand {
    /// Check an audit trail's hash chain; exit 1 naming the first edited, missing or reordered line.
    Verify {
        /// The audit file (its rotated files beside it are verified first, oldest first), or several
        /// files in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The `hmac_key_file` the trail was written with.
        #[arg(long)]
        hmac_key_file: Option<PathBuf>,
        /// Accept a first line that continues an earlier file's chain (a rotated file).
        #[arg(long)]
        allow_continuation: bool,
        /// A collector's copy (`stdout`, `http`, `syslog`, `otlp`): each agent run (`agent.id`) is a
        /// chain of its own from 64 zeros; lines delivered again (same agent.id, seq and bytes) are
        /// skipped and counted.
        #[arg(long, conflicts_with = "anchors")]
        per_run: bool,
        /// Also check the trail against the anchors the agent wrote to the backend (`audit { anchor }`
        /// of the config given with -c), read with BAO_TOKEN/VAULT_TOKEN or else the config's auto-auth.
        #[arg(long, requires = "config")]
        anchors: bool,
        /// The agent's config (with --anchors): vault address and TLS, auto-auth, the anchor path, and
        /// `hmac_key_file` when --hmac-key-file is not given.
        #[arg(
            short = 'c',
            long = "config",
            value_delimiter = ',',
            requires = "anchors"
        )]
        config: Vec<PathBuf>,
    },
    /// Match the agent's trail against the server's audit device log; exit 1 when anything is unmatched.
    ///
    /// The server's log is OpenBao/Vault's JSON file audit format. Entries are matched by the server's
    /// request_id, else by path, time and token. Reports per token and path the
    /// server's entries for sidekey's tokens that the agent did not record, and the agent's events the
    /// server has no entry for. Exit 0 when everything matched, 1 when anything is unmatched, 2 when an
    /// input cannot be read. Entries without a request_id (errors) match by token only where the
    /// server's accessor is plain (`hmac_accessor = false`) or paired by a request_id match.
    #[command(
        after_help = "Exit status: 0 every request matched, 1 something unmatched, 2 unreadable input."
    )]
    Reconcile {
        /// The agent's audit file (its rotated files beside it are read too), or several files, oldest first.
        #[arg(long, num_args = 1.., required = true)]
        agent: Vec<PathBuf>,
        /// The server's file audit device log.
        #[arg(long)]
        server: PathBuf,
        /// How far apart in time an agent event and a server entry without a request_id may be.
        #[arg(long, default_value = "5s", value_parser = parse_window)]
        window: std::time::Duration,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ReconcileFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum ReconcileFormat {
    Text,
    Json,
}

/// `--window`: a Go-style duration (`5s`, `1m`) or seconds.
fn parse_window(text: &str) -> Result<std::time::Duration, String> {
    crate::config::duration::parse(text)
}

/// Run an `audit` subcommand; returns the process exit code.
pub(super) fn run(command: AuditCommand, env: &dyn EnvSource) -> i32 {
    match command {
        AuditCommand::Verify {
            files,
            hmac_key_file,
            allow_continuation,
            per_run,
            anchors,
            config,
        } => {
            if !anchors {
                return crate::audit::tools::verify(
                    &files,
                    hmac_key_file.as_deref(),
                    allow_continuation,
                    per_run,
                );
            }
            match load(&ConfigArgs { config }, env, Logs::StderrOnly) {
                Ok(cfg) => crate::audit::tools::verify_anchored(
                    &files,
                    hmac_key_file.as_deref(),
                    allow_continuation,
                    &cfg,
                    env,
                ),
                Err(code) => code,
            }
        }
        AuditCommand::Reconcile {
            agent,
            server,
            window,
            format,
        } => crate::audit::tools::reconcile(
            &agent,
            &server,
            window,
            matches!(format, ReconcileFormat::Json),
        ),
    }
}
