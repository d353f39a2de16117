//! Auto-auth: log in with the configured method (one file each). The deliverer writes the token to its sinks.
//!
//! Credential files (JWT, AppRole secret_id, client cert) are re-read at every login so that rotated
//! files are picked up. Only the lease engine decides *when* to log in again.

mod approle;
mod cert;
mod jwt;
mod token_file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::audit::Identity;
use crate::backend::{AuthInfo, BackendError, Client};
use crate::config::{MethodConfig, MethodKind, VaultConfig};

/// A login failure.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A credential file could not be read, or is empty. Permanent until the file is fixed.
    #[error("auto_auth method {method:?}: {path}: {reason}")]
    Credential {
        /// Method type.
        method: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The backend refused or could not be reached.
    #[error("auto_auth method {method:?}: login failed: {source}")]
    Backend {
        /// Method type.
        method: &'static str,
        /// The backend error.
        source: BackendError,
    },
    /// No auto_auth and no token in `BAO_TOKEN`/`VAULT_TOKEN`/`~/.vault-token`.
    #[error("no auto_auth stanza and no token in BAO_TOKEN, VAULT_TOKEN or ~/.vault-token")]
    NoToken,
}

impl AuthError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Backend { source, .. } => source.is_transient(),
            // A file that is missing now may appear (a projected token being mounted); retry with backoff.
            Self::Credential { .. } => true,
            Self::NoToken => false,
        }
    }
}

/// A token obtained by auto-auth, with what the lease engine needs to keep it alive.
#[derive(Debug)]
pub struct Token {
    /// The token itself.
    pub secret: SecretString,
    /// Its accessor.
    pub accessor: String,
    /// Its TTL when obtained or last renewed.
    pub ttl: Duration,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// When it was obtained or last renewed.
    pub issued_at: Instant,
    /// Who the backend saw (for audit events).
    pub identity: Identity,
}

impl Token {
    /// When the token stops being valid; `None` for a token without TTL (root).
    pub fn expires_at(&self) -> Option<Instant> {
        (!self.ttl.is_zero()).then(|| self.issued_at + self.ttl)
    }

    fn from_auth(a: AuthInfo, identity: Identity) -> Self {
        let identity = Identity {
            token_accessor: a.accessor.clone(),
            ..identity
        };
        Self {
            secret: a.client_token,
            accessor: a.accessor,
            ttl: Duration::from_secs(a.lease_duration),
            renewable: a.renewable,
            issued_at: Instant::now(),
            identity,
        }
    }
}

/// Logs in with one configured method.
pub struct Authenticator {
    method: MethodConfig,
    vault: VaultConfig,
    client: Client,
    cached_secret_id: std::sync::Mutex<Option<SecretString>>,
}

impl Authenticator {
    /// An authenticator for `method`, using `client` (and `vault` for the `cert` method's TLS).
    pub fn new(method: MethodConfig, vault: VaultConfig, client: Client) -> Self {
        Self {
            method,
            vault,
            client,
            cached_secret_id: std::sync::Mutex::new(None),
        }
    }

    /// The method's type name.
    pub fn method_name(&self) -> &'static str {
        self.method.kind.type_name()
    }

    /// The identity fields known before login (method, mount, role).
    pub fn base_identity(&self) -> Identity {
        let role = match &self.method.kind {
            MethodKind::Jwt { role, .. } | MethodKind::Kubernetes { role, .. } => role.clone(),
            MethodKind::Cert { name, .. } => name.clone().unwrap_or_default(),
            MethodKind::AppRole { .. } | MethodKind::TokenFile { .. } => String::new(),
        };
        Identity {
            method: self.method_name().into(),
            mount: self.method.mount_path.clone(),
            role,
            ..Identity::default()
        }
    }

    /// `jwt` and `kubernetes`: send the (projected service-account) JWT, read fresh from its file.
    async fn jwt_login(
        &self,
        path: &Path,
        role: &str,
        remove: bool,
        base: Identity,
    ) -> Result<Token, AuthError> {
        let name = self.method_name();
        let jwt = jwt::read_jwt(name, path, remove)?;
        let subject = jwt::subject(&jwt);
        let body = jwt::login_body(role, &jwt);
        let a = self
            .client
            .login(
                &self.method.mount_path,
                &body,
                self.method.namespace.as_deref(),
            )
            .await
            .map_err(|source| AuthError::Backend {
                method: name,
                source,
            })?;
        Ok(Token::from_auth(a, Identity { subject, ..base }))
    }

    /// Log in once (re-reading credential files).
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn login(&self) -> Result<Token, AuthError> {
        let m = &self.method;
        let ns = m.namespace.as_deref();
        let name = self.method_name();
        let backend = |source| AuthError::Backend {
            method: name,
            source,
        };
        let base = self.base_identity();
        match &m.kind {
            MethodKind::Jwt {
                path,
                role,
                remove_jwt_after_reading,
            } => {
                self.jwt_login(path, role, *remove_jwt_after_reading, base)
                    .await
            }
            MethodKind::Kubernetes { role, token_path } => {
                self.jwt_login(token_path, role, false, base).await
            }
            MethodKind::AppRole {
                role_id_file_path,
                secret_id_file_path,
                remove_secret_id_file_after_reading,
            } => {
                let body = approle::login_body(
                    role_id_file_path,
                    secret_id_file_path.as_deref(),
                    *remove_secret_id_file_after_reading,
                    &self.cached_secret_id,
                )?;
                let a = self
                    .client
                    .login(&m.mount_path, &body, ns)
                    .await
                    .map_err(backend)?;
                let role = a.metadata.get("role_name").cloned().unwrap_or_default();
                Ok(Token::from_auth(
                    a,
                    Identity {
                        subject: role.clone(),
                        role,
                        ..base
                    },
                ))
            }
            MethodKind::Cert {
                name: cert_name,
                client_cert,
                client_key,
                ca_cert,
            } => {
                let a = cert::client(&self.client, &self.vault, client_cert, client_key, ca_cert)?
                    .login(&m.mount_path, &cert::login_body(cert_name.as_deref()), ns)
                    .await
                    .map_err(backend)?;
                let subject = a.metadata.get("common_name").cloned().unwrap_or_default();
                Ok(Token::from_auth(a, Identity { subject, ..base }))
            }
            MethodKind::TokenFile { token_file_path } => {
                token_file::login(&self.client, token_file_path, base).await
            }
        }
    }
}

/// Use a token given in `BAO_TOKEN`/`VAULT_TOKEN` or `~/.vault-token` (no auto_auth stanza).
///
/// # Errors
/// [`AuthError::NoToken`] when there is none; a backend error when lookup-self fails.
pub async fn ambient_token(
    client: &Client,
    env: &dyn crate::runtime::EnvSource,
) -> Result<Token, AuthError> {
    let from_env = env
        .var("BAO_TOKEN")
        .or_else(|| env.var("VAULT_TOKEN"))
        .filter(|t| !t.trim().is_empty());
    let token = match from_env {
        Some(t) => t.trim().to_string(),
        None => {
            let home = env.var("HOME").ok_or(AuthError::NoToken)?;
            let t = std::fs::read_to_string(PathBuf::from(home).join(".vault-token"))
                .map_err(|_| AuthError::NoToken)?;
            if t.trim().is_empty() {
                return Err(AuthError::NoToken);
            }
            t.trim().to_string()
        }
    };
    token_file::from_token(
        client,
        SecretString::from(token),
        Identity {
            method: "token".into(),
            ..Identity::default()
        },
    )
    .await
    .map_err(|source| AuthError::Backend {
        method: "token",
        source,
    })
}
