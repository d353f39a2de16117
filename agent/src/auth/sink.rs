//! `sink "file"`: the auto-auth token written to a file, atomically, with its mode.

use secrecy::ExposeSecret;

use crate::config::FileSinkConfig;
use crate::output::{FileTarget, OutputError, write_atomic};

use super::Token;

/// Write `token` to every sink. Sinks are not required to be on tmpfs (Vault Agent users put them anywhere).
///
/// # Errors
/// The first [`OutputError`].
pub fn write_sinks(sinks: &[FileSinkConfig], token: &Token) -> Result<(), OutputError> {
    for s in sinks {
        let target = FileTarget {
            allow_non_tmpfs: true,
            ..FileTarget::new(s.path.clone(), s.mode)
        };
        write_atomic(&target, token.secret.expose_secret().as_bytes())?;
    }
    Ok(())
}
