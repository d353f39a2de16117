//! The listeners' servers (HTTP/1.1, hyper): binding `listener "tcp"` (TLS through rustls unless
//! `tls_disable`) and `listener "unix"` (mode and owner set on the socket), accepting connections with
//! who is calling (the peer address, or `SO_PEERCRED`; with workloads, the peer attested through the
//! [`Door`]), and draining them at teardown.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::door::{Admission, Attested, Door, Sender};
use super::proxy::{Proxy, Served};
use super::unix::{SocketFile, bind_unix};
use crate::audit::CallerMeta;
use crate::config::{ApiListener, ListenerBind, ListenerTls, TlsVersion};

/// How long teardown waits for open connections to finish their requests.
const DRAIN: Duration = Duration::from_secs(5);

/// How long a client may take to send a request's head (request line and headers), counted from when
/// the server starts waiting for it, an idle keep-alive connection included: a client that sends a
/// header a byte at a time (slowloris) is cut off. hyper's own default once a timer is set.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request head accepted: a bigger one gets 431. Tokens, namespaces and Vault's headers
/// take a few hundred bytes.
pub(crate) const MAX_HEADER_SIZE: usize = 64 * 1024;

/// Connections one API listener serves at once; more wait in the kernel's backlog until one closes, so
/// slow or idle clients cannot take every file descriptor the agent has.
pub(crate) const MAX_CONNECTIONS: usize = 512;

/// A listener could not be bound: a configuration error naming the stanza's file:line.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: listener {what}: {reason}")]
pub struct BindError {
    /// The config file.
    pub file: String,
    /// The stanza's line.
    pub line: usize,
    /// `"tcp" (127.0.0.1:8100)` or `"unix" (/run/agent.sock)`.
    pub what: String,
    /// Why.
    pub reason: String,
}

/// A bound listener.
pub(super) enum Bound {
    Tcp(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>),
    Unix(tokio::net::UnixListener),
}

/// A unix listener's mode when it serves workloads and `socket_mode` is not set: every local process may
/// connect, since the kernel-attested identity of the caller is the gate, not the file's mode.
const PER_CALLER_MODE: u32 = 0o666;

/// A unix socket's mode when nothing else is set: only sidekey's own user may connect.
pub(crate) const PRIVATE_MODE: u32 = 0o600;

/// Bind `l`; `per_caller` when its unix socket serves workloads.
///
/// # Errors
/// [`BindError`]: the address is taken or not local (or another process listens on the socket), the TLS
/// files are unusable, the socket's mode or owner cannot be set. The socket file comes back with a unix
/// listener, to be removed at stop.
pub(super) async fn bind(
    l: &ApiListener,
    per_caller: bool,
) -> Result<(Bound, Option<SocketFile>), BindError> {
    let fail = |what: String, reason: String| BindError {
        file: l.origin.file.display().to_string(),
        line: l.origin.line,
        what,
        reason,
    };
    match &l.bind {
        ListenerBind::Tcp { address, tls } => {
            let what = format!("\"tcp\" ({address})");
            let acceptor = match tls {
                Some(t) => Some(acceptor(t).map_err(|e| fail(what.clone(), e))?),
                None => None,
            };
            let bound = tokio::net::TcpListener::bind(address.as_str())
                .await
                .map_err(|e| fail(what.clone(), e.to_string()))?;
            Ok((Bound::Tcp(bound, acceptor), None))
        }
        ListenerBind::Unix {
            path,
            mode,
            user,
            group,
        } => {
            let what = format!("\"unix\" ({})", path.display());
            let mode = mode.unwrap_or(if per_caller {
                PER_CALLER_MODE
            } else {
                PRIVATE_MODE
            });
            let (bound, file) = bind_unix(path, Some(mode), user.as_deref(), group.as_deref())
                .map_err(|e| fail(what, e))?;
            Ok((Bound::Unix(bound), Some(file)))
        }
    }
}

/// The TLS acceptor for `t`'s certificate chain and key.
fn acceptor(t: &ListenerTls) -> Result<tokio_rustls::TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("tls_cert_file {}: {e}", t.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_cert_file {}: no PEM certificate found",
            t.cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key_file)
        .map_err(|e| format!("tls_key_file {}: {e}", t.key_file.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("tls_cert_file/tls_key_file: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accept on `bound` until `stop`, serving each connection with `proxy` (a unix one through `door`
/// when workloads are configured); connections are tracked by `tracker`, and finish their request in
/// progress once `stop` is cancelled.
pub(super) async fn serve(
    bound: Bound,
    served: Served,
    proxy: Arc<Proxy>,
    door: Option<Arc<Door>>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let mut slots = Slots::new(MAX_CONNECTIONS, "API listener");
    loop {
        let Some(slot) = slots.next(&stop).await else {
            return;
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = accept(&bound) => a,
        };
        match accepted {
            Ok((Conn::Tcp(s), caller)) => match &bound {
                Bound::Tcp(_, Some(tls)) => {
                    let tls = tls.clone();
                    let (proxy, stop, served) = (proxy.clone(), stop.clone(), served.clone());
                    tracker.spawn(async move {
                        let _slot = slot;
                        // A handshake that never completes must not hold the drain.
                        let hs = tokio::time::timeout(Duration::from_secs(10), tls.accept(s));
                        match hs.await {
                            Ok(Ok(s)) => {
                                connection(s, Peer::Plain(caller), served, proxy, stop).await;
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    });
                }
                _ => {
                    let conn = connection(
                        s,
                        Peer::Plain(caller),
                        served.clone(),
                        proxy.clone(),
                        stop.clone(),
                    );
                    tracker.spawn(holding(slot, conn));
                }
            },
            Ok((Conn::Unix(s), caller)) => match &door {
                Some(door) => {
                    let (door, proxy, stop, served) =
                        (door.clone(), proxy.clone(), stop.clone(), served.clone());
                    tracker.spawn(holding(slot, async move {
                        let peer = attest(&door, &s, caller).await;
                        connection(s, Peer::Attested(door, peer), served, proxy, stop).await;
                    }));
                }
                None => {
                    let conn = connection(
                        s,
                        Peer::Plain(caller),
                        served.clone(),
                        proxy.clone(),
                        stop.clone(),
                    );
                    tracker.spawn(holding(slot, conn));
                }
            },
            Err(e) => accept_failed("listener", &e).await,
        }
    }
}

/// The connections a listener may serve at once. When none is free, accepting pauses (new clients wait
/// in the kernel's backlog); that is logged once each time the listener fills up.
pub(crate) struct Slots {
    free: Arc<Semaphore>,
    /// The listener, in the log line.
    what: &'static str,
    full: bool,
}

impl Slots {
    /// `n` slots for the listener `what`.
    pub(crate) fn new(n: usize, what: &'static str) -> Self {
        Self {
            free: Arc::new(Semaphore::new(n)),
            what,
            full: false,
        }
    }

    /// A free slot, held until the connection ends; `None` once `stop` is cancelled.
    pub(crate) async fn next(&mut self, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
        if let Ok(p) = self.free.clone().try_acquire_owned() {
            self.full = false;
            return Some(p);
        }
        if !self.full {
            self.full = true;
            tracing::warn!(
                "{} serves as many connections as it may at once; new ones wait until one closes",
                self.what
            );
        }
        tokio::select! {
            () = stop.cancelled() => None,
            p = self.free.clone().acquire_owned() => p.ok(),
        }
    }
}

/// `conn`, holding `slot` until it ends.
pub(crate) async fn holding(
    slot: OwnedSemaphorePermit,
    conn: impl std::future::Future<Output = ()>,
) {
    conn.await;
    drop(slot);
}

/// An HTTP/1.1 server connection builder with the request limits every local listener applies:
/// [`HEADER_READ_TIMEOUT`], [`MAX_HEADER_SIZE`] (hyper answers 431 past it), hyper's 100 headers.
pub(crate) fn http1_server() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_SIZE);
    b
}

/// After a failed `accept` (out of file descriptors, most often): log it and pause briefly, so a
/// listener that keeps failing does not spin. `what` names the listener in the log line.
pub(crate) async fn accept_failed(what: &str, e: &std::io::Error) {
    tracing::warn!(error = %e, "{what} accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Wait for the connections `tracker` holds (after their listeners' `stop`), at most [`DRAIN`].
pub(super) async fn drain(tracker: &TaskTracker) {
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::warn!("API proxy connections still open at shutdown; closed");
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

/// One connection and who is on the other end.
async fn accept(b: &Bound) -> std::io::Result<(Conn, CallerMeta)> {
    match b {
        Bound::Tcp(l, _) => {
            let (s, peer) = l.accept().await?;
            let caller = CallerMeta {
                address: Some(peer.to_string()),
                ..CallerMeta::default()
            };
            Ok((Conn::Tcp(s), caller))
        }
        Bound::Unix(l) => {
            let (s, _) = l.accept().await?;
            // The kernel's word on the peer, taken at connect time.
            let caller = match s.peer_cred() {
                Ok(c) => CallerMeta {
                    pid: c.pid(),
                    uid: Some(c.uid()),
                    gid: Some(c.gid()),
                    ..CallerMeta::default()
                },
                Err(_) => CallerMeta::default(),
            };
            Ok((Conn::Unix(s), caller))
        }
    }
}

/// Who is on the other end of a connection.
enum Peer {
    /// A tcp peer, or a unix peer where no workloads are configured.
    Plain(CallerMeta),
    /// A unix peer attested for the workloads behind the door.
    Attested(Arc<Door>, Attested),
}

/// Attest the peer of `s` through `door` (`caller`: what `SO_PEERCRED` said at accept).
async fn attest(door: &Door, s: &tokio::net::UnixStream, caller: CallerMeta) -> Attested {
    use std::os::fd::AsFd;
    // The blocking attestation gets its own descriptor of the same socket.
    match s.as_fd().try_clone_to_owned() {
        Ok(fd) => door.attest(fd, caller).await,
        Err(e) => Attested::failed(caller, format!("the caller's socket: {e}")),
    }
}

/// Serve one connection until it closes, or until `stop` (then the request in progress finishes).
async fn connection<S>(
    stream: S,
    peer: Peer,
    served: Served,
    proxy: Arc<Proxy>,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let svc = service_fn(move |req| {
        let (proxy, peer, served) = (proxy.clone(), peer.clone(), served.clone());
        async move {
            let answer = match &*peer {
                Peer::Plain(caller) => proxy.handle(req, &served, Sender::Shared(caller)).await,
                Peer::Attested(door, attested) => {
                    // Each request is matched against the workloads as a reload left them.
                    let workloads = door.workloads();
                    match door.admit(&workloads, attested) {
                        Admission::Serve(sender) => proxy.handle(req, &served, sender).await,
                        Admission::Refuse { caller, kind, why } => {
                            proxy.refuse(&req, *caller, kind, &why)
                        }
                    }
                }
            };
            Ok::<_, std::convert::Infallible>(answer)
        }
    });
    let conn = http1_server().serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let ended = tokio::select! {
        r = conn.as_mut() => r,
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "API proxy connection ended");
    }
}

#[cfg(test)]
mod tests;
