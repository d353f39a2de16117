//! The state file (docs/persistence.md): one store for `cache { persist "kubernetes" | "file" }` and
//! `lease_state_file`. It carries what a restart needs — the token and the leases (`lease::state`
//! writes that document), and later the proxy cache's entries — encrypted with a key that is never kept
//! next to it (`key`), sealed with AES-256-GCM (`sealed`), written like any output: mode 0600 before the
//! first byte, atomically, never through a symlink, on tmpfs unless allowed otherwise.
//!
//! What a read means follows Vault Agent's `keep_after_import`: kept (and written on) when `true`;
//! otherwise the restart that read it deletes it and writes no more. A file that does not open (another
//! key, altered, garbled, plain where a key is configured) is refused whole with a clear error: the
//! caller logs it and starts afresh with a login, or stops when `exit_on_err` says so.

pub(crate) mod key;
pub(crate) mod sealed;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::{Origin, PersistConfig, PersistKind};
use crate::output::file::{FileTarget, OutputError, read_back, remove, write_atomic};
use crate::runtime::EnvSource;

pub use key::KeyError;
pub use sealed::OpenError;

/// A state file larger than this is not read.
const MAX_STATE_FILE: u64 = 64 * 1024 * 1024;

/// The state file of a run.
#[derive(Debug)]
pub struct StateStore {
    config: PersistConfig,
    key: Option<(key::Key, KeyFrom)>,
    /// Whether this run writes the file (not after a read with `keep_after_import = false`).
    writes: bool,
    /// The hash of the last document written: a new nonce changes every byte of the file, so an
    /// unchanged document is not written again.
    last: Option<[u8; 32]>,
}

/// Where the key came from, for messages.
#[derive(Clone, Debug)]
enum KeyFrom {
    File(PathBuf),
    Credential(PathBuf),
}

impl std::fmt::Display for KeyFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "the key in {}", p.display()),
            Self::Credential(p) => write!(
                f,
                "the systemd credential {} ({})",
                key::CREDENTIAL,
                p.display()
            ),
        }
    }
}

/// A state file setting that cannot be used (found at start-up, and by `sidekey check`): exit 78.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// No key where one is required.
    #[error("{at}: {name}: no key to encrypt the state file with: {FILE_FIX}")]
    NoKey {
        /// `file:line` of the stanza.
        at: String,
        /// The setting (`cache.persist "file"`).
        name: &'static str,
    },
    /// The key file (or credential) holds no usable key.
    #[error("{at}: {name}: {from}: {source}")]
    Key {
        /// `file:line` of the key's setting.
        at: String,
        /// The key's setting (`key_file`, `lease_state_key_file`, the stanza for a credential).
        name: String,
        /// Where the key was read from.
        from: String,
        /// What is wrong with it.
        source: KeyError,
    },
}

/// The state file's store for `config` (its key read now, so a key that cannot be used is a
/// configuration error naming file:line), and a warning to show at start-up, if any:
/// `lease_state_file` kept unencrypted, or Vault Agent's `persist "kubernetes"` without a key, which is
/// then not served (see [`KUBERNETES_UNSERVED`]).
///
/// # Errors
/// [`PersistError`].
pub fn open(
    config: &PersistConfig,
    env: &dyn EnvSource,
) -> Result<(Option<StateStore>, Option<String>), PersistError> {
    match StateStore::open(config, env) {
        Ok(store) => {
            let warning = store.warning();
            Ok((Some(store), warning))
        }
        Err(PersistError::NoKey { at, name }) if config.kind == PersistKind::Kubernetes => {
            Ok((None, Some(format!("{at}: {name}: {KUBERNETES_UNSERVED}"))))
        }
        Err(e) => Err(e),
    }
}

/// Why a state file was not imported (the run starts afresh, or stops with `exit_on_err`).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file exists but cannot be read (a symlink, not a regular file, too large, no permission).
    #[error("{0}: cannot read it (it must be a regular file, not a symlink, at most 64 MiB)")]
    Read(PathBuf),
    /// A plain file where a key is configured: not trusted (anyone who could write it could plant a token).
    #[error(
        "{0}: not encrypted, but {1} is configured; ignoring it (written before the key was given, or not by sidekey)"
    )]
    Plain(PathBuf, String),
    /// An encrypted file, and no key.
    #[error(
        "{0}: encrypted, but no key is configured; give lease_state_key_file = \"PATH\" or the systemd credential sidekey-state-key"
    )]
    NoKey(PathBuf),
    /// The envelope does not open with the key.
    #[error("{path}: {source}, using {from}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Where the key came from.
        from: String,
        /// Why.
        source: OpenError,
    },
    /// Opened, but not a state document this sidekey reads.
    #[error("{0}: {1}")]
    Document(PathBuf, String),
    /// Read, then not removed (`keep_after_import = false`).
    #[error("{0}: cannot remove it after reading it (keep_after_import = false): {1}")]
    Remove(PathBuf, OutputError),
}

impl StateStore {
    /// The store for `config`, its key read from `key_file` or the systemd credential in `env`.
    ///
    /// # Errors
    /// [`PersistError`], naming the file:line to fix.
    pub fn open(config: &PersistConfig, env: &dyn EnvSource) -> Result<Self, PersistError> {
        let found = match (&config.key_file, key::credential(env)) {
            (Some(p), _) => Some(KeyFrom::File(p.clone())),
            (None, Some(p)) => Some(KeyFrom::Credential(p)),
            (None, None) => None,
        };
        let key = match found {
            Some(from) => {
                let path = match &from {
                    KeyFrom::File(p) | KeyFrom::Credential(p) => p.clone(),
                };
                let k = key::read(&path).map_err(|source| PersistError::Key {
                    at: origin(config.key_origin.as_ref().unwrap_or(&config.origin)),
                    name: match from {
                        KeyFrom::File(_) => config.key_name().to_string(),
                        KeyFrom::Credential(_) => config.name().to_string(),
                    },
                    from: from.to_string(),
                    source,
                })?;
                Some((k, from))
            }
            None if config.may_be_plain() => None,
            None => {
                return Err(PersistError::NoKey {
                    at: origin(&config.origin),
                    name: config.name(),
                });
            }
        };
        Ok(Self {
            config: config.clone(),
            key,
            writes: true,
            last: None,
        })
    }

    /// A warning to show at start-up: the file is kept unencrypted (`lease_state_file` without a key).
    pub fn warning(&self) -> Option<String> {
        self.key.is_none().then(|| {
            format!(
                "{}: {}: the token and leases are kept unencrypted; give lease_state_key_file = \"PATH\" \
                 (32 random bytes, e.g. `openssl rand -base64 32`) or the systemd credential {} to encrypt them",
                origin(&self.config.origin),
                self.config.name(),
                key::CREDENTIAL
            )
        })
    }

    /// How messages name the store: `cache.persist "file" (agent.hcl:3)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.config.name(), origin(&self.config.origin))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// `exit_on_err`: whether a file that is not imported ends the run.
    pub fn exit_on_err(&self) -> bool {
        self.config.exit_on_err
    }

    /// Read the file: its document, or `None` when there is none. With `keep_after_import = false` a file
    /// that was there is then removed — whether it opened or not, as Vault Agent does — and this run
    /// writes no more.
    ///
    /// # Errors
    /// [`ImportError`]: nothing of the file is returned then.
    pub fn import(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, ImportError> {
        let path = self.config.path.clone();
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        let read = self.read();
        if !self.config.keep_after_import {
            self.writes = false;
            if let Err(e) = remove(&path) {
                let e = ImportError::Remove(path, e);
                if self.config.exit_on_err {
                    return Err(e);
                }
                tracing::warn!(store = %self.describe(), "{e}");
            }
        }
        read.map(Some)
    }

    fn read(&self) -> Result<Zeroizing<Vec<u8>>, ImportError> {
        let path = &self.config.path;
        let bytes =
            read_back(path, MAX_STATE_FILE).ok_or_else(|| ImportError::Read(path.clone()))?;
        match &self.key {
            Some((k, from)) => sealed::open(k, &bytes).map_err(|source| match source {
                OpenError::NotSealed if bytes.trim_ascii().first() == Some(&b'{') => {
                    ImportError::Plain(path.clone(), from.to_string())
                }
                source => ImportError::Open {
                    path: path.clone(),
                    from: from.to_string(),
                    source,
                },
            }),
            None if sealed::is_sealed(&bytes) => Err(ImportError::NoKey(path.clone())),
            None => Ok(bytes),
        }
    }

    /// Write `document` (encrypted when there is a key), unless this run writes no more or it is what
    /// was last written.
    ///
    /// # Errors
    /// The write's error, with a hint for a file outside tmpfs; the previous file is left as it was.
    pub fn save(&mut self, document: &[u8]) -> Result<(), String> {
        if !self.writes {
            return Ok(());
        }
        let hash: [u8; 32] = Sha256::digest(document).into();
        if self.last == Some(hash) && std::fs::symlink_metadata(self.path()).is_ok() {
            return Ok(());
        }
        let bytes = match &self.key {
            Some((k, _)) => Zeroizing::new(sealed::seal(k, document)),
            None => Zeroizing::new(document.to_vec()),
        };
        let mut target = FileTarget::new(self.config.path.clone(), 0o600);
        target.allow_non_tmpfs = self.config.allow_non_tmpfs;
        match write_atomic(&target, &bytes) {
            Ok(_) => {
                self.last = Some(hash);
                Ok(())
            }
            Err(OutputError::NotTmpfs(p)) => Err(format!(
                "{}: refusing to keep the token and leases outside tmpfs/ramfs ({})",
                p.display(),
                match self.config.kind {
                    PersistKind::LeaseStateFile =>
                        "mount a tmpfs there, or use cache { persist \"file\" { allow_non_tmpfs = true ... } }",
                    _ => "mount a tmpfs there, or set allow_non_tmpfs = true in the persist block",
                }
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Remove the file (its token and leases were revoked); a missing file is not an error.
    ///
    /// # Errors
    /// The unlink's error.
    pub fn remove(&mut self) -> Result<(), OutputError> {
        self.last = None;
        remove(&self.config.path)
    }

    /// Whether the config's state file settings are still `config` (a reload that changes them opens the
    /// store again).
    pub fn same_config(&self, config: &PersistConfig) -> bool {
        self.config.same_settings(config)
    }
}

/// `file:line`.
fn origin(o: &Origin) -> String {
    format!("{}:{}", o.file.display(), o.line)
}

/// Vault Agent's `persist "kubernetes"` without a key: loaded, not served. Vault Agent's generated configs
/// (the injector's `agent-cache-enable`) carry it without any key; refusing them would stop the pod, while
/// without the hand-off the sidecar only logs in again and issues its own secrets.
pub const KUBERNETES_UNSERVED: &str = "not served: no key_file, and sidekey never keeps the key next to the \
    data (Vault Agent keeps its key inside the cache file, so anyone who can read the file can decrypt it); \
    the sidecar logs in again and issues new secrets instead of resuming the init container's. To hand them \
    over, give key_file = \"PATH\": 32 random bytes (e.g. `openssl rand -base64 32`) from a Kubernetes Secret \
    mounted in both the init and the sidecar container";

/// How to give a key to `persist "file"`.
const FILE_FIX: &str = "give key_file = \"PATH\" (32 random bytes, raw, hex or base64, e.g. `openssl rand \
    -base64 32 > PATH`, readable by sidekey only), or the systemd credential sidekey-state-key \
    (LoadCredential=sidekey-state-key:/etc/sidekey/state.key)";
