//! Configuration: Vault Agent HCL (and its JSON form) read into a raw tree, validated into [`Config`].
//!
//! The pipeline, one file each:
//! - `hcl` / `json`: text → a raw tree of keys and values with line numbers (`node`); `hcl1` reads the
//!   HCL 1 forms Vault Agent accepts and HCL 2 refuses, when `hcl` refuses a file.
//! - `section` / `field`: typed getters over that tree; any key nobody reads is an "unknown key" or "not supported"
//!   error (the raw layer's `deny_unknown_fields`), unless Vault Agent skips it harmlessly (a key of another
//!   block, see `validate::keys`): then it is a warning.
//! - `validate`: the Vault Agent schema, one file → typed stanzas; `duration` and `values` parse
//!   durations, modes and signals. Vault Agent settings sidekey does not act on (its API proxy, cache,
//!   telemetry, misplaced keys) load with a [`ConfigWarning`] each, kept in [`Config::warnings`].
//! - `load`: reads the files in order and merges them into a [`Config`].
//!
//! Every error names the file, the 1-based line and the key path, e.g.
//! `agent.hcl:12: template.destinaton: unknown key (did you mean "destination"?)`.

pub(crate) mod duration;
mod field;
mod hcl;
mod hcl1;
mod json;
mod load;
mod node;
mod section;
#[cfg(test)]
mod tests;
pub mod types;
mod validate;
mod values;

use std::path::{Path, PathBuf};

/// Go-style durations and booleans, as Vault reads them in API requests too (the API proxy's cache).
pub(crate) use duration::parse as parse_duration;
#[cfg(feature = "fuzzing")]
pub(crate) use load::{load_hcl1_text, load_text};
pub use types::*;
pub(crate) use values::go_bool;

/// A configuration error: names the file, the line (when known) and the key or field path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        /// The config file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Syntax error, unknown key, wrong type or invalid value.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The config file.
        file: PathBuf,
        /// 1-based line (0 when not known).
        line: usize,
        /// What is wrong, naming the key (e.g. `template.destinaton: unknown key`).
        message: String,
    },
}

/// Read and validate the config files in order (later files add stanzas; a repeated single stanza is an error).
///
/// # Errors
/// [`ConfigError`] for the first problem found.
pub fn load(files: &[&Path]) -> Result<Config, ConfigError> {
    load::load(files)
}

/// The error for an `audit { stdout {} }` sink in exec mode (`sidekey exec`, or an `exec` stanza), where
/// stdout is the child's and audit lines would land in the middle of its output; `None` when there is
/// no `stdout` sink or `exec { child_process_stdout }` sends the child's output to a file.
pub fn stdout_sink_in_exec_mode(cfg: &Config) -> Option<ConfigError> {
    let origin = cfg.audit.stdout_origin.as_ref()?;
    let child_elsewhere = cfg.exec.as_ref().is_some_and(|e| e.child_stdout.is_some());
    (!child_elsewhere).then(|| ConfigError::Invalid {
        file: origin.file.clone(),
        line: origin.line,
        message: "audit.stdout: in exec mode stdout belongs to the child; use audit.file or a \
                  spooled sink (http, syslog, otlp), or exec.child_process_stdout for the child"
            .to_string(),
    })
}
