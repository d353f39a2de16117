//! The `cert` method: TLS client-certificate login; the cert and key files are re-read at every login.

use std::path::PathBuf;

use crate::backend::{Client, ClientSettings, Reuse, tls::TlsSettings};
use crate::config::VaultConfig;

use super::AuthError;

/// A client whose connections present the client certificate, for `<mount>/login`, reusing connections
/// as the `auto-auth` part does (`reuse`).
pub(super) fn client(
    vault: &VaultConfig,
    reuse: Reuse,
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
    let settings = ClientSettings {
        address: &vault.address,
        addresses: &vault.addresses,
        namespace: vault.namespace.as_deref(),
        tls: TlsSettings {
            ca_cert: ca_cert.as_deref().or(vault.ca_cert.as_deref()),
            ca_path: vault.ca_path.as_deref(),
            client_cert: Some((cert, key)),
            skip_verify: vault.tls_skip_verify,
            server_name: vault.tls_server_name.as_deref(),
        },
        max_in_flight: 1,
        auth: reuse,
        templating: reuse,
    };
    Client::new(&settings).map_err(|source| AuthError::Backend {
        method: "cert",
        source,
    })
}

/// The login body: the cert role to log in as, if given.
pub(super) fn login_body(name: Option<&str>) -> serde_json::Value {
    match name {
        Some(n) => serde_json::json!({ "name": n }),
        None => serde_json::json!({}),
    }
}
