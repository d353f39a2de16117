//! The `cert` method: TLS client-certificate login; the cert and key files are re-read at every login.

use std::path::PathBuf;

use serde_json::Value;

use crate::backend::{Client, tls::TlsSettings};
use crate::config::VaultConfig;

use super::AuthError;

/// A client that presents the client certificate (files re-read now): the same nodes as `client`,
/// sharing the node in use and the consistency index, with the certificate's TLS settings.
pub(super) fn client(
    client: &Client,
    vault: &VaultConfig,
    client_cert: &Option<PathBuf>,
    client_key: &Option<PathBuf>,
    ca_cert: &Option<PathBuf>,
) -> Result<Client, AuthError> {
    let cert = client_cert.as_ref().or(vault.client_cert.as_ref());
    let key = client_key.as_ref().or(vault.client_key.as_ref());
    let (Some(cert), Some(key)) = (cert, key) else {
        return Err(AuthError::Credential {
            method: "cert",
            path: PathBuf::new(),
            reason: "client_cert and client_key are required (in the method's config or the vault stanza)".into(),
        });
    };
    let tls = TlsSettings {
        ca_cert: ca_cert.as_deref().or(vault.ca_cert.as_deref()),
        ca_path: vault.ca_path.as_deref(),
        client_cert: Some((cert, key)),
        skip_verify: vault.tls_skip_verify,
        server_name: vault.tls_server_name.as_deref(),
    };
    client.with_tls(&tls).map_err(|source| AuthError::Backend {
        method: "cert",
        source,
    })
}

/// The login body: the cert role to match, if one is named.
pub(super) fn login_body(name: Option<&str>) -> Value {
    match name {
        Some(n) => serde_json::json!({ "name": n }),
        None => serde_json::json!({}),
    }
}
