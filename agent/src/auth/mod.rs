//! Auto-auth: log in with the configured method (one file each). The deliverer writes the token to its sinks.
//!
//! Credential files (JWT, AppRole secret_id, client cert) are re-read at every login so that rotated
//! files are picked up. Only the lease engine decides *when* to log in again.

mod approle;
mod cert;
mod jwt;
mod token_file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::audit::Identity;
use crate::backend::{AuthInfo, BackendError, Client, WrapInfo};
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
    /// Its policies as the login gave them (empty when not known: a token read from a file or resumed).
    pub policies: Vec<String>,
    /// The server's `request_id` for the login that issued it; empty for a token read from a file, the
    /// environment or the state file (its lookup-self is a `backend.request` event of its own).
    pub request_id: String,
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
            policies: a.policies,
            request_id: a.request_id,
        }
    }
}

/// What a login gave: a token to keep alive, or (`method { wrap_ttl }`) a response wrapped for the sink.
#[derive(Debug)]
pub enum Login {
    /// A token sidekey uses and keeps alive.
    Token(Token),
    /// A wrapped login response, for the sink's consumer to unwrap.
    Wrapped(WrappedLogin),
}

impl Login {
    /// Who the backend saw.
    pub fn identity(&self) -> &Identity {
        match self {
            Self::Token(t) => &t.identity,
            Self::Wrapped(w) => &w.identity,
        }
    }

    /// The server's `request_id` for the login (empty when there was none of its own).
    pub fn request_id(&self) -> &str {
        match self {
            Self::Token(t) => &t.request_id,
            Self::Wrapped(w) => &w.info.request_id,
        }
    }
}

/// A login response the server wrapped (`auto_auth { method { wrap_ttl } }`): sidekey cannot use or renew
/// the token inside; the sink gets the wrap info.
#[derive(Debug)]
pub struct WrappedLogin {
    /// The wrapping token and its details.
    pub info: WrapInfo,
    /// Who logged in; `token_accessor` is the accessor of the wrapped token.
    pub identity: Identity,
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

    /// The same method logging in through `client` from now on (a new client: rotated TLS files, a
    /// reload), remembering what the old one did (a secret_id file removed after reading).
    #[must_use]
    pub fn through(self, client: Client) -> Self {
        Self { client, ..self }
    }

    /// The method's type name.
    pub fn method_name(&self) -> &'static str {
        self.method.kind.type_name()
    }

    /// The identity fields known before login (method, mount, role).
    pub fn base_identity(&self) -> Identity {
        method_identity(&self.method)
    }

    /// What one login sends, with the credential files read afresh.
    fn prepare(&self) -> Result<Prepared, AuthError> {
        let jwt = |path: &Path, remove: bool| -> Result<Prepared, AuthError> {
            let jwt = jwt::read_jwt(self.method_name(), path, remove)?;
            let role = self.base_identity().role;
            Ok(Prepared::Login {
                client: self.client.clone(),
                body: jwt::login_body(&role, &jwt),
                subject: jwt::subject(&jwt),
            })
        };
        match &self.method.kind {
            MethodKind::Jwt {
                path,
                remove_jwt_after_reading,
                ..
            } => jwt(path, *remove_jwt_after_reading),
            MethodKind::Kubernetes { token_path, .. } => jwt(token_path, false),
            MethodKind::AppRole {
                role_id_file_path,
                secret_id_file_path,
                remove_secret_id_file_after_reading,
            } => Ok(Prepared::Login {
                client: self.client.clone(),
                body: approle::login_body(
                    role_id_file_path,
                    secret_id_file_path.as_deref(),
                    *remove_secret_id_file_after_reading,
                    &self.cached_secret_id,
                )?,
                subject: String::new(),
            }),
            MethodKind::Cert {
                name,
                client_cert,
                client_key,
                ca_cert,
            } => Ok(Prepared::Login {
                client: cert::client(&self.client, &self.vault, client_cert, client_key, ca_cert)?,
                body: cert::login_body(name.as_deref()),
                subject: String::new(),
            }),
            MethodKind::TokenFile { token_file_path } => {
                token_file::read(token_file_path).map(Prepared::Token)
            }
        }
    }

    /// Who the backend saw: the JWT's subject, or what the method put in the token's metadata.
    fn identity(&self, subject: String, metadata: &BTreeMap<String, String>) -> Identity {
        let base = self.base_identity();
        let meta = |k: &str| metadata.get(k).cloned().unwrap_or_default();
        match &self.method.kind {
            MethodKind::AppRole { .. } => Identity {
                subject: meta("role_name"),
                role: meta("role_name"),
                ..base
            },
            MethodKind::Cert { .. } => Identity {
                subject: meta("common_name"),
                ..base
            },
            _ => Identity { subject, ..base },
        }
    }

    fn backend_error(&self) -> impl Fn(BackendError) -> AuthError {
        let method = self.method_name();
        move |source| AuthError::Backend { method, source }
    }

    /// Log in once (re-reading credential files): a token, or with `wrap_ttl` the wrapped response.
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn authenticate(&self) -> Result<Login, AuthError> {
        match self.method.wrap_ttl {
            None => self.login().await.map(Login::Token),
            Some(ttl) => self.login_wrapped(ttl).await.map(Login::Wrapped),
        }
    }

    /// Log in once (re-reading credential files).
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn login(&self) -> Result<Token, AuthError> {
        let m = &self.method;
        match self.prepare()? {
            Prepared::Login {
                client,
                body,
                subject,
            } => {
                let a = client
                    .login(&m.mount_path, &body, m.namespace.as_deref())
                    .await
                    .map_err(self.backend_error())?;
                let identity = self.identity(subject, &a.metadata);
                Ok(Token::from_auth(a, identity))
            }
            Prepared::Token(token) => {
                token_file::from_token(&self.client, token, self.base_identity())
                    .await
                    .map_err(self.backend_error())
            }
        }
    }

    /// Log in once with the response wrapped by the server for `ttl`, as Vault Agent does with
    /// `method { wrap_ttl }` (for `token_file`: its lookup-self, wrapped).
    ///
    /// # Errors
    /// [`AuthError`].
    async fn login_wrapped(&self, ttl: Duration) -> Result<WrappedLogin, AuthError> {
        let m = &self.method;
        let (info, subject) = match self.prepare()? {
            Prepared::Login {
                client,
                body,
                subject,
            } => {
                let info = client
                    .login_wrapped(&m.mount_path, &body, m.namespace.as_deref(), ttl)
                    .await
                    .map_err(self.backend_error())?;
                (info, subject)
            }
            Prepared::Token(token) => {
                let info = self
                    .client
                    .lookup_self_wrapped(crate::backend::Bearer::new(&token, ""), ttl)
                    .await
                    .map_err(self.backend_error())?;
                (info, String::new())
            }
        };
        let identity = Identity {
            token_accessor: info.wrapped_accessor.clone(),
            ..self.identity(subject, &BTreeMap::new())
        };
        Ok(WrappedLogin { info, identity })
    }
}

/// The identity fields `method` gives before any login (method, mount, role).
pub fn method_identity(method: &MethodConfig) -> Identity {
    let role = match &method.kind {
        MethodKind::Jwt { role, .. } | MethodKind::Kubernetes { role, .. } => role.clone(),
        MethodKind::Cert { name, .. } => name.clone().unwrap_or_default(),
        MethodKind::AppRole { .. } | MethodKind::TokenFile { .. } => String::new(),
    };
    Identity {
        method: method.kind.type_name().into(),
        mount: method.mount_path.clone(),
        role,
        ..Identity::default()
    }
}

/// What one login sends.
enum Prepared {
    /// `PUT <mount>/login` with `body` through `client`; `subject`: who the credential names, if known.
    Login {
        client: Client,
        body: serde_json::Value,
        subject: String,
    },
    /// A token to look up (`token_file`).
    Token(SecretString),
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
