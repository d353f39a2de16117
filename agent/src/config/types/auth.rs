//! The `auto_auth` stanza: the method, and the token sinks with their wrapping and encryption.

use std::path::PathBuf;
use std::time::Duration;

/// The `auto_auth` stanza: one method and any number of sinks.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoAuthConfig {
    /// The `method` block.
    pub method: MethodConfig,
    /// Every `sink "file"` block.
    pub sinks: Vec<FileSinkConfig>,
}

/// One `auto_auth { method "<type>" { ... } }` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodConfig {
    /// The method and its `config = { ... }` settings.
    pub kind: MethodKind,
    /// `mount_path`: where the auth method is mounted, e.g. `auth/jwt` (default `auth/<type>`).
    pub mount_path: String,
    /// `namespace` of the auth mount, if different from the `vault` one.
    pub namespace: Option<String>,
    /// `min_backoff`: first retry delay after a failed login. Default 1 s.
    pub min_backoff: Duration,
    /// `max_backoff`: cap of the retry delay. Default 5 min.
    pub max_backoff: Duration,
    /// `exit_on_err`: exit when a login fails instead of retrying.
    pub exit_on_err: bool,
    /// `wrap_ttl`: the login response is response-wrapped by the server and the sink gets the wrap info
    /// (Vault Agent's JSON `SecretWrapInfo`); sidekey then holds no token of its own: nothing is renewed,
    /// and the config has exactly one sink and no templates.
    pub wrap_ttl: Option<Duration>,
}

/// The auth method type and its `config` map, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodKind {
    /// `method "jwt"`: log in with the JWT read from `path` (re-read at every login) as `role`.
    Jwt {
        /// `config.path`: the JWT file.
        path: PathBuf,
        /// `config.role`.
        role: String,
        /// `config.remove_jwt_after_reading` (default false, unlike Vault Agent).
        remove_jwt_after_reading: bool,
    },
    /// `method "kubernetes"`: log in with the service-account token file as `role`.
    Kubernetes {
        /// `config.role`.
        role: String,
        /// `config.token_path` (default `/var/run/secrets/kubernetes.io/serviceaccount/token`).
        token_path: PathBuf,
    },
    /// `method "approle"`: log in with role_id and secret_id read from files.
    AppRole {
        /// `config.role_id_file_path`.
        role_id_file_path: PathBuf,
        /// `config.secret_id_file_path`, if the role requires a secret_id.
        secret_id_file_path: Option<PathBuf>,
        /// `config.remove_secret_id_file_after_reading` (Vault Agent's default: true).
        remove_secret_id_file_after_reading: bool,
    },
    /// `method "cert"`: TLS client-certificate login.
    Cert {
        /// `config.name`: the cert role to log in as (optional).
        name: Option<String>,
        /// `config.client_cert` (falls back to the `vault` stanza's).
        client_cert: Option<PathBuf>,
        /// `config.client_key` (falls back to the `vault` stanza's).
        client_key: Option<PathBuf>,
        /// `config.ca_cert` (falls back to the `vault` stanza's).
        ca_cert: Option<PathBuf>,
    },
    /// `method "token_file"`: use the token in `token_file_path` (re-read when it changes).
    TokenFile {
        /// `config.token_file_path`.
        token_file_path: PathBuf,
    },
}

impl MethodKind {
    /// The method's type name as written in the config (`jwt`, `kubernetes`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Jwt { .. } => "jwt",
            Self::Kubernetes { .. } => "kubernetes",
            Self::AppRole { .. } => "approle",
            Self::Cert { .. } => "cert",
            Self::TokenFile { .. } => "token_file",
        }
    }
}

/// One `sink "file" { config = { path, mode } }` block.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSinkConfig {
    /// `config.path`: where the token is written.
    pub path: PathBuf,
    /// `config.mode`: file permissions (default 0640 as in Vault Agent).
    pub mode: u32,
    /// `wrap_ttl`: write a response-wrapping token of the token (`sys/wrapping/wrap`), as Vault Agent's
    /// JSON `SecretWrapInfo`, instead of the token itself.
    pub wrap_ttl: Option<Duration>,
    /// `dh_type = "curve25519"` and its settings: the value is encrypted for the consumer whose public
    /// key is in `dh_path` (Vault Agent's envelope; after wrapping, when both are set).
    pub encrypt: Option<SinkEncryption>,
}

/// An encrypted sink's settings (`dh_type = "curve25519"`).
#[derive(Clone, Debug, PartialEq)]
pub struct SinkEncryption {
    /// `dh_path`: the consumer's public key, JSON `{"curve25519_public_key": "<base64>"}`.
    pub dh_path: PathBuf,
    /// `derive_key`: the AES key is HKDF-SHA256 of the shared secret and both public keys (otherwise
    /// the shared secret itself).
    pub derive_key: bool,
    /// `aad`: additional authenticated data the consumer must give too (empty: none).
    pub aad: Aad,
    /// `aad_env_var`: the variable whose value replaces `aad` when the config is loaded.
    pub aad_env_var: Option<String>,
}

/// An encrypted sink's additional authenticated data. The consumer must know it, an attacker should
/// not: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Aad(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for Aad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Aad(none)"
        } else {
            "Aad(<redacted>)"
        })
    }
}
