//! [`Hasher`]: how a line's hash is computed (SHA-256, or HMAC-SHA-256 keyed with `hmac_key_file`).

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// How event hashes are computed: plain SHA-256 or HMAC-SHA-256 with a secret key.
#[derive(Clone)]
pub struct Hasher {
    key: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.key.is_some() {
            "Hasher(hmac-sha256)"
        } else {
            "Hasher(sha256)"
        })
    }
}

/// The HMAC key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// It could not be read.
    #[error("hmac_key_file {path}: {source}")]
    Read {
        /// The key file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// It is empty (after trimming a final newline).
    #[error("hmac_key_file {0}: the file is empty")]
    Empty(String),
}

impl Hasher {
    /// Plain SHA-256.
    pub fn sha256() -> Self {
        Self { key: None }
    }

    /// HMAC-SHA-256 keyed by the file's contents (a trailing newline is ignored).
    ///
    /// # Errors
    /// [`KeyError`] when the file cannot be read or is empty.
    pub fn from_key_file(path: &Path) -> Result<Self, KeyError> {
        let mut key = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?);
        while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            key.pop();
        }
        if key.is_empty() {
            return Err(KeyError::Empty(path.display().to_string()));
        }
        Ok(Self { key: Some(key) })
    }

    /// The hex hash of `canonical`.
    pub fn hash(&self, canonical: &[u8]) -> String {
        match &self.key {
            None => hex::encode(Sha256::digest(canonical)),
            Some(k) => match Hmac::<Sha256>::new_from_slice(k) {
                Ok(mut m) => {
                    m.update(canonical);
                    hex::encode(m.finalize().into_bytes())
                }
                // HMAC accepts keys of any length; unreachable, but never fall back silently.
                Err(_) => String::new(),
            },
        }
    }

    /// The hex HMAC-SHA-256 of `parts` one after another, or `None` without a key: delivered content is
    /// only ever hashed keyed, as a plain hash of a short secret could be guessed.
    pub fn mac<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
        let mut m = Hmac::<Sha256>::new_from_slice(self.key.as_ref()?).ok()?;
        for p in parts {
            m.update(p);
        }
        Some(hex::encode(m.finalize().into_bytes()))
    }
}
