//! The `cert` method: TLS client-certificate login; the cert and key files are re-read at every login.

use std::path::PathBuf;

use crate::backend::{AuthInfo, Client, ClientSettings, Reuse, tls::TlsSettings};
use crate::config::VaultConfig;

use super::AuthError;

/// Log in at `<mount>/login` over a connection that presents the client certificate, reusing connections
/// as the `auto-auth` part does (`reuse`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn login(
    vault: &VaultConfig,
    reuse: Reuse,
    mount: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    client_cert: &Option<PathBuf>,
    client_key: &Option<PathBuf>,
    ca_cert: &Option<PathBuf>,
) -> Result<AuthInfo, AuthError> {
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
    let client = Client::new(&settings).map_err(|source| AuthError::Backend {
        method: "cert",
        source,
    })?;
    let body = match name {
        Some(n) => serde_json::json!({ "name": n }),
        None => serde_json::json!({}),
    };
    client
        .login(mount, &body, namespace)
        .await
        .map_err(|source| AuthError::Backend {
            method: "cert",
            source,
        })
}
