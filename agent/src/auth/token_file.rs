//! The `token_file` method, and tokens given directly: the token is looked up to learn its TTL and accessor.

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::audit::Identity;
use crate::backend::{BackendError, Bearer, Client};

use super::{AuthError, Token};

/// The token in the token file.
pub(super) fn read(path: &Path) -> Result<SecretString, AuthError> {
    let raw = std::fs::read_to_string(path).map_err(|e| AuthError::Credential {
        method: "token_file",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if raw.trim().is_empty() {
        return Err(AuthError::Credential {
            method: "token_file",
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        });
    }
    Ok(SecretString::from(raw.trim().to_string()))
}

/// A [`Token`] for an existing token, from `auth/token/lookup-self`.
pub(super) async fn from_token(
    client: &Client,
    secret: SecretString,
    base: Identity,
) -> Result<Token, BackendError> {
    let info = client.lookup_self(Bearer::new(&secret, "")).await?;
    Ok(Token {
        secret,
        accessor: info.accessor.clone(),
        ttl: Duration::from_secs(info.ttl),
        renewable: info.renewable,
        issued_at: Instant::now(),
        identity: Identity {
            subject: info.display_name,
            token_accessor: info.accessor,
            ..base
        },
        policies: Vec::new(),
        request_id: String::new(),
    })
}
