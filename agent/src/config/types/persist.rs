//! The state file that carries the token and the leases across a restart: Vault Agent's `cache { persist
//! "kubernetes" { ... } }`, sidekey's `cache { persist "file" { ... } }`, and the older `lease_state_file`
//! (see docs/persistence.md). All three are one store (`crate::persist`); they differ in defaults only.

use std::path::PathBuf;

use super::Origin;

/// The file name inside a `persist "kubernetes"` directory (Vault Agent's `path` is a directory, where it
/// keeps `vault-agent-cache.db`; sidekey's file has its own name, so neither reads the other's).
pub const KUBERNETES_FILE_NAME: &str = "sidekey-state";

/// Which stanza configured the state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistKind {
    /// `cache { persist "kubernetes" { path } }`: Vault Agent's init → sidecar hand-off; `path` is a
    /// directory.
    Kubernetes,
    /// `cache { persist "file" { path, key_file } }` (sidekey): `path` is the file.
    File,
    /// `lease_state_file = "PATH"` (sidekey, top level), with `lease_state_key_file` to encrypt it.
    LeaseStateFile,
}

/// The state file: where it is, how it is protected, and what happens to it after a restart read it.
#[derive(Clone, Debug)]
pub struct PersistConfig {
    /// Which stanza configured it.
    pub kind: PersistKind,
    /// The state file itself (for `"kubernetes"`, [`KUBERNETES_FILE_NAME`] inside the given directory).
    pub path: PathBuf,
    /// `key_file` / `lease_state_key_file`: the 32-byte key (raw, hex or base64). Without it, the
    /// systemd credential `sidekey-state-key` is used if present; a plain file is written only for
    /// `lease_state_file` (as before encryption existed).
    pub key_file: Option<PathBuf>,
    /// `keep_after_import`: keep the file (and keep writing it) after a restart read it. Vault Agent's
    /// default `false` for `"kubernetes"` (the sidecar reads it once, deletes it and writes no more);
    /// `true` for `"file"` and `lease_state_file`, which serve every restart (systemd).
    pub keep_after_import: bool,
    /// `exit_on_err`: a state file that cannot be read, decrypted or removed ends the run instead of
    /// being ignored (then the agent logs in afresh). Default `false`, as in Vault Agent.
    pub exit_on_err: bool,
    /// `allow_non_tmpfs` (sidekey): allow a state file that is not on tmpfs/ramfs.
    pub allow_non_tmpfs: bool,
    /// Where the stanza (or `lease_state_file`) is, for messages.
    pub origin: Origin,
    /// Where `key_file` / `lease_state_key_file` is, for errors about the key.
    pub key_origin: Option<Origin>,
}

impl PersistConfig {
    /// How messages name the setting: `cache.persist "kubernetes"`, `lease_state_file`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            PersistKind::Kubernetes => "cache.persist \"kubernetes\"",
            PersistKind::File => "cache.persist \"file\"",
            PersistKind::LeaseStateFile => "lease_state_file",
        }
    }

    /// The key the key file is given with, for messages.
    pub fn key_name(&self) -> &'static str {
        match self.kind {
            PersistKind::LeaseStateFile => "lease_state_key_file",
            _ => "key_file",
        }
    }

    /// Whether `other` says the same (where it is written aside).
    pub fn same_settings(&self, other: &PersistConfig) -> bool {
        self.kind == other.kind
            && self.path == other.path
            && self.key_file == other.key_file
            && self.keep_after_import == other.keep_after_import
            && self.exit_on_err == other.exit_on_err
            && self.allow_non_tmpfs == other.allow_non_tmpfs
    }

    /// Whether a file without encryption may be read and written (only `lease_state_file` without a
    /// key, kept for compatibility).
    pub fn may_be_plain(&self) -> bool {
        self.kind == PersistKind::LeaseStateFile
    }
}
