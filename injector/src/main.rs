//! `sidekey-injector`: command line, TLS files and signals around the webhook in the library (see its
//! crate doc for the layout).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use sidekey_injector::{Defaults, Settings, server};

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "sidekey-injector", version, about)]
struct Cli {
    /// Address to listen on (HTTPS).
    #[arg(long, env = "SIDEKEY_INJECTOR_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// PEM certificate chain served to the API server.
    #[arg(long, env = "SIDEKEY_INJECTOR_TLS_CERT")]
    tls_cert: PathBuf,
    /// PEM private key of that certificate.
    #[arg(long, env = "SIDEKEY_INJECTOR_TLS_KEY")]
    tls_key: PathBuf,
    /// Image of the injected agent containers (a pod's `agent-image` annotation overrides it).
    #[arg(
        long,
        env = "SIDEKEY_INJECTOR_AGENT_IMAGE",
        default_value = "sidekey:latest"
    )]
    agent_image: String,
    /// Server URL the agents use when a pod sets no `vault.hashicorp.com/service`.
    #[arg(long, env = "SIDEKEY_INJECTOR_VAULT_ADDRESS")]
    vault_address: Option<String>,
    /// Auth mount path when a pod sets no `vault.hashicorp.com/auth-path`.
    #[arg(
        long,
        env = "SIDEKEY_INJECTOR_AUTH_PATH",
        default_value = "auth/kubernetes"
    )]
    auth_path: String,
}

/// Reading the TLS files failed.
#[derive(Debug, thiserror::Error)]
enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// rustls refused the pair.
    #[error("TLS certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

fn main() -> ExitCode {
    // Before any thread or key exists: no core dump or same-uid ptrace can read the TLS key, and a panic
    // in admission (whatever a pod's annotations hold) is reported without its message.
    let (_, failed) = sidekey_harden::harden("sidekey-injector");
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Pod logs are collected from a pipe: colour codes would end up in them as text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    for f in failed {
        tracing::warn!("{f}");
    }
    let cli = Cli::parse();
    let tls = match tls_config(&cli.tls_cert, &cli.tls_key) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(78);
        }
    };
    let settings = Arc::new(Settings {
        agent_image: cli.agent_image,
        defaults: Defaults {
            vault_address: cli.vault_address,
            auth_path: cli.auth_path,
        },
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(70);
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen on {}: {e}", cli.listen);
                return ExitCode::from(69);
            }
        };
        tracing::info!(address = %cli.listen, "serving /mutate and /healthz");
        server::serve(listener, tls, settings, shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// The certificate chain and key from PEM files, as a rustls server config (ring provider, HTTP/1.1).
fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| TlsError::File {
            path: cert.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: cert.to_path_buf(),
            message: "no PEM certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        path: key.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("stopping");
}
