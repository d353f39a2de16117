//! Configuration: Vault Agent HCL (and its JSON form) read into raw structs, validated into [`Config`].
//!
//! INTERFACE STUB: `load` is being written; its signature is the contract.

pub mod types;

use std::path::{Path, PathBuf};

pub use types::*;

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
    let _ = files;
    Ok(Config::default())
}
