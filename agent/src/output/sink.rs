//! Token sinks (`auto_auth { sink "file" { ... } }`): what each one holds, and the bytes it gets, as
//! Vault Agent writes them — the token, or a wrap info JSON (wrapped by the engine, which talks to the
//! server), encrypted for the consumer when `dh_type` is set.

use std::path::Path;

use zeroize::Zeroizing;

use super::dh::{self, KeyPair};
use super::{FileTarget, WriteOutcome, write_atomic};
use crate::config::FileSinkConfig;

/// One file sink and its state.
#[derive(Debug)]
pub struct Sink {
    config: FileSinkConfig,
    /// The agent's key pair for an encrypted sink: made at its first write, kept for the sink's life.
    keys: Option<KeyPair>,
    /// The consumer's public key, read from `dh_path` at the first write and then trusted, as Vault
    /// Agent does (a key written there later is not read).
    consumer: Option<[u8; 32]>,
    /// What the file holds (a token accessor or a wrapping accessor); `None` until written.
    holds: Option<String>,
}

impl Sink {
    /// A sink not written yet.
    pub fn new(config: FileSinkConfig) -> Self {
        Self {
            config,
            keys: None,
            consumer: None,
            holds: None,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &FileSinkConfig {
        &self.config
    }

    /// Whether it holds what `id` names.
    pub fn holds(&self, id: &str) -> bool {
        self.holds.as_deref() == Some(id)
    }

    /// Write `value` (what `id` names), encrypted first when the sink says so.
    ///
    /// # Errors
    /// Why it was not written: the public key file, or the write itself (never the value).
    pub fn write(&mut self, id: &str, value: &[u8]) -> Result<WriteOutcome, String> {
        let encrypted;
        let bytes = match &self.config.encrypt {
            None => value,
            Some(e) => {
                let consumer = match self.consumer {
                    Some(k) => k,
                    None => {
                        let k = read_public_key(&e.dh_path)?;
                        self.consumer = Some(k);
                        k
                    }
                };
                let keys = self.keys.get_or_insert_with(KeyPair::generate);
                encrypted = dh::seal(keys, &consumer, e.derive_key, e.aad.0.as_bytes(), value)
                    .map_err(|m| format!("dh_path {}: {m}", e.dh_path.display()))?;
                encrypted.as_slice()
            }
        };
        // Sinks need not be on tmpfs: Vault Agent users put them anywhere.
        let target = FileTarget {
            allow_non_tmpfs: true,
            ..FileTarget::new(self.config.path.clone(), self.config.mode)
        };
        let outcome = write_atomic(&target, bytes).map_err(|e| e.to_string())?;
        self.holds = Some(id.to_string());
        Ok(outcome)
    }
}

/// The consumer's public key from `path` (`dh_path`).
fn read_public_key(path: &Path) -> Result<[u8; 32], String> {
    let text = Zeroizing::new(std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "dh_path {}: no public key file yet (the consumer writes it)",
                path.display()
            )
        } else {
            format!("dh_path {}: {e}", path.display())
        }
    })?);
    dh::parse_public_key(&text).map_err(|m| format!("dh_path {}: {m}", path.display()))
}
