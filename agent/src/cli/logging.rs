//! Setting up the process's logging: stderr, and the config's `log_file`, level and format.

use std::sync::Arc;

use super::Logs;
use crate::config::{self, Config};

/// Logs go to stderr (never stdout: it belongs to the child in exec mode), and also to `log_file` when the
/// config names one (rotated as Vault Agent rotates it, see [`crate::runtime::logfile`]). Level from
/// `SIDEKEY_LOG` or `RUST_LOG`, else the config's `log_level`, default `info`; `log_format = "json"` writes
/// one JSON object per line; both apply to stderr and the file alike, as in Vault Agent. Secret values are
/// never logged at any level: they are `SecretString`s and `Zeroizing` buffers without `Display`, and
/// backend error bodies are reduced to the server's `errors` list.
///
/// # Errors
/// The log file cannot be opened; logging then goes to stderr alone.
pub(super) fn init_logging(cfg: Option<&Config>, logs: Logs) -> Result<(), String> {
    use crate::runtime::logfile::{LogFile, LogOutputs};
    use tracing_subscriber::EnvFilter;
    let (file, failed) = match cfg.and_then(|c| c.log_file.as_ref()) {
        Some(lf) if logs == Logs::AsConfigured => match LogFile::open(lf) {
            Ok(f) => (Some(Arc::new(f)), None),
            Err(e) => (None, Some(format!("log_file: cannot open {e}"))),
        },
        _ => (None, None),
    };
    let level = cfg.and_then(|c| c.log_level.as_deref()).unwrap_or("info");
    let filter = EnvFilter::try_from_env("SIDEKEY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(level));
    // Colours are for a terminal only: the file gets the same bytes as stderr.
    let ansi = file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_writer(LogOutputs { file })
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let json = cfg.is_some_and(|c| c.log_format == config::LogFormat::Json);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    failed.map_or(Ok(()), Err)
}
