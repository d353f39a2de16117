//! Receivers for the audit sinks that speak a SIEM's protocol, run on loopback by a test: an RFC 5424
//! syslog listener over TLS ([`syslog`]) and an OTLP/HTTP logs endpoint ([`otlp`]). Each can be stopped
//! (listener and every connection closed: an outage) and started again on the same port; [`scenario`]
//! drives one through an outage across an agent restart.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod otlp;
pub mod scenario;
pub mod syslog;

/// A server on a fixed loopback port that can be stopped and started again.
struct Loopback {
    port: u16,
    rt: tokio::runtime::Runtime,
    running: Option<CancellationToken>,
}

impl Loopback {
    fn new() -> Loopback {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Loopback {
            port: crate::ports::free_port(),
            rt,
            running: None,
        }
    }

    /// Listen, and give every accepted connection to `serve` until [`Loopback::stop`].
    fn start<F, Fut>(&mut self, serve: F)
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        assert!(self.running.is_none(), "already listening");
        let stop = CancellationToken::new();
        let l = self
            .rt
            .block_on(TcpListener::bind(("127.0.0.1", self.port)))
            .unwrap_or_else(|e| panic!("listen on 127.0.0.1:{}: {e}", self.port));
        let token = stop.clone();
        self.rt.spawn(async move {
            loop {
                let conn = tokio::select! {
                    () = token.cancelled() => return,
                    c = l.accept() => c,
                };
                let Ok((conn, _)) = conn else { continue };
                let token = token.clone();
                let work = serve(conn);
                tokio::spawn(async move {
                    tokio::select! {
                        () = token.cancelled() => {}
                        () = work => {}
                    }
                });
            }
        });
        self.running = Some(stop);
    }

    /// Close the listener and every connection.
    fn stop(&mut self) {
        if let Some(t) = self.running.take() {
            t.cancel();
            // Let the tasks drop their sockets.
            self.rt.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            });
        }
    }
}

/// A CA and a server certificate for `127.0.0.1` signed by it: writes the CA to `dir/receiver-ca.pem`
/// and returns its path with a TLS server config using the leaf.
fn tls(dir: &Path) -> (PathBuf, Arc<ServerConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "sidekey test receivers");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("leaf params")
        .signed_by(&key, &ca)
        .expect("leaf");
    let ca_path = dir.join("receiver-ca.pem");
    std::fs::write(&ca_path, ca.pem()).expect("write CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    (ca_path, Arc::new(config))
}
