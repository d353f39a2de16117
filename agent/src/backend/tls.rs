//! TLS settings of the `vault` stanza turned into a rustls client configuration (ring provider).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::BackendError;

/// TLS inputs: the `vault` stanza's CA, client certificate and verification settings.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings<'a> {
    /// `ca_cert`: PEM bundle to trust instead of the system roots.
    pub ca_cert: Option<&'a Path>,
    /// `ca_path`: directory of PEM files to trust.
    pub ca_path: Option<&'a Path>,
    /// `client_cert` + `client_key`: PEM client certificate and key for mutual TLS.
    pub client_cert: Option<(&'a Path, &'a Path)>,
    /// `tls_skip_verify`.
    pub skip_verify: bool,
    /// `tls_server_name`: verify the server's certificate against this name.
    pub server_name: Option<&'a str>,
}

/// Build the rustls client config.
///
/// # Errors
/// [`BackendError::Setup`] naming the unreadable or invalid file.
pub fn client_config(s: &TlsSettings<'_>) -> Result<ClientConfig, BackendError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| BackendError::Setup(format!("TLS: {e}")))?;

    let verifier: Arc<dyn ServerCertVerifier> = if s.skip_verify {
        Arc::new(NoVerify(provider.clone()))
    } else if s.ca_cert.is_some() || s.ca_path.is_some() {
        let mut roots = RootCertStore::empty();
        if let Some(f) = s.ca_cert {
            add_pem_certs(&mut roots, f, "ca_cert")?;
        }
        if let Some(dir) = s.ca_path {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| BackendError::Setup(format!("ca_path {}: {e}", dir.display())))?;
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    add_pem_certs(&mut roots, &entry.path(), "ca_path")?;
                }
            }
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| BackendError::Setup(format!("ca_cert: {e}")))?
    } else {
        Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| BackendError::Setup(format!("system CA roots: {e}")))?,
        )
    };
    let verifier: Arc<dyn ServerCertVerifier> = match s.server_name {
        Some(name) => {
            let name = ServerName::try_from(name.to_string()).map_err(|_| {
                BackendError::Setup(format!("tls_server_name {name:?} is not a DNS name"))
            })?;
            Arc::new(FixedName {
                inner: verifier,
                name,
            })
        }
        None => verifier,
    };

    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match s.client_cert {
        Some((cert, key)) => {
            let (chain, key) = load_client_identity(cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| BackendError::Setup(format!("client_cert: {e}")))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// A TLS config that trusts nothing, for an `http://` address (never used for a handshake).
///
/// # Errors
/// [`BackendError::Setup`] if the crypto provider cannot be set up.
pub fn unused_config() -> Result<ClientConfig, BackendError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BackendError::Setup(format!("TLS: {e}")))?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

/// Read a PEM certificate chain and its private key (the `cert` method and mutual TLS).
///
/// # Errors
/// [`BackendError::Setup`] naming the file that is missing or holds no certificate/key.
pub fn load_client_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), BackendError> {
    let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| BackendError::Setup(format!("client_cert {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| BackendError::Setup(format!("client_cert {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(BackendError::Setup(format!(
            "client_cert {}: no certificate found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| BackendError::Setup(format!("client_key {}: {e}", key.display())))?;
    Ok((chain, key))
}

fn add_pem_certs(roots: &mut RootCertStore, file: &Path, field: &str) -> Result<(), BackendError> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| BackendError::Setup(format!("{field} {}: {e}", file.display())))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| BackendError::Setup(format!("{field} {}: {e}", file.display())))?;
        roots
            .add(cert)
            .map_err(|e| BackendError::Setup(format!("{field} {}: {e}", file.display())))?;
    }
    Ok(())
}

/// Verifies the chain but against `tls_server_name` instead of the URL's host.
#[derive(Debug)]
struct FixedName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tls_skip_verify = true`: accepts any server certificate but still checks handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
