//! The admin HTTP server (HTTP/1.1, hyper): `GET /healthz`, `/readyz`, `/metrics` and
//! `POST /agent/v1/refresh` on a TCP address or a unix socket. It serves no secret: only liveness,
//! readiness and counters, and a refresh request, which it hands to the lease engine (202 Accepted: the
//! engine fetches every secret again in its own loop).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Telemetry;
use crate::config::AdminListener;
use crate::listen::{PRIVATE_MODE, Slots, SocketFile, bind_unix, holding, http1_server};

/// Connections the admin listener serves at once: health probes and a metrics scraper need a few.
const MAX_CONNECTIONS: usize = 64;

/// The admin listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("listener \"admin\" {address}: {reason}")]
pub struct BindError {
    /// The address, as configured.
    pub address: String,
    /// Why (the OS error, or another process listening on the socket).
    pub reason: String,
}

/// A bound listener, ready to serve.
pub enum Bound {
    /// TCP.
    Tcp(tokio::net::TcpListener),
    /// Unix socket.
    Unix(tokio::net::UnixListener),
}

/// Bind `addr`: a unix socket as every unix listener is bound (a stale socket file is replaced, one
/// another process listens on is not), coming back with its file to remove at stop.
///
/// # Errors
/// [`BindError`].
pub async fn bind(addr: &AdminListener) -> Result<(Bound, Option<SocketFile>), BindError> {
    match addr {
        AdminListener::Tcp(a) => tokio::net::TcpListener::bind(a)
            .await
            .map(|l| (Bound::Tcp(l), None))
            .map_err(|e| BindError {
                address: a.to_string(),
                reason: e.to_string(),
            }),
        // Only sidekey's own user may connect (the refresh request acts on the agent).
        AdminListener::Unix(p) => bind_unix(p, Some(PRIVATE_MODE), None, None)
            .map(|(l, file)| (Bound::Unix(l), Some(file)))
            .map_err(|reason| BindError {
                address: p.display().to_string(),
                reason,
            }),
    }
}

/// What the handlers answer from: the engine's counters, and where a refresh request goes.
#[derive(Clone)]
pub struct Admin {
    /// Counters and readiness.
    pub telemetry: Arc<Telemetry>,
    /// Signals the lease engine to fetch every secret again.
    pub refresh: Arc<Notify>,
}

/// Serve until `stop` is cancelled, at most [`MAX_CONNECTIONS`] connections at once, with the request
/// limits of every local listener ([`http1_server`]).
pub async fn serve(bound: Bound, admin: Admin, stop: CancellationToken) {
    let mut slots = Slots::new(MAX_CONNECTIONS, "admin listener");
    loop {
        let Some(slot) = slots.next(&stop).await else {
            return;
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = accept(&bound) => a,
        };
        match accepted {
            Ok(Conn::Tcp(s)) => spawn_conn(s, admin.clone(), slot),
            Ok(Conn::Unix(s)) => spawn_conn(s, admin.clone(), slot),
            Err(e) => crate::listen::accept_failed("admin listener", &e).await,
        }
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(b: &Bound) -> std::io::Result<Conn> {
    match b {
        Bound::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
        Bound::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
    }
}

fn spawn_conn<S>(stream: S, admin: Admin, slot: tokio::sync::OwnedSemaphorePermit)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(holding(slot, async move {
        let svc = service_fn(move |req| {
            let a = admin.clone();
            async move { Ok::<_, Infallible>(route(&req, &a)) }
        });
        if let Err(e) = http1_server()
            .serve_connection(TokioIo::new(stream), svc)
            .await
        {
            tracing::debug!(error = %e, "admin connection ended");
        }
    }));
}

/// Answer one request.
fn route(req: &Request<Incoming>, admin: &Admin) -> Response<Full<Bytes>> {
    if req.uri().path() == REFRESH {
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "POST only\n".into());
        }
        // Requests that come in before the engine takes one up are served by that one refresh.
        admin.refresh.notify_one();
        tracing::info!("refresh requested on the admin listener");
        return text(StatusCode::ACCEPTED, "refresh requested\n".into());
    }
    let t = &admin.telemetry;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match t.ready() {
            Ok(notes) => {
                let mut body = String::from("ready\n");
                for n in notes {
                    body.push_str(&n);
                    body.push('\n');
                }
                text(StatusCode::OK, body)
            }
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        "/metrics" => match t.encode() {
            Ok(body) => {
                let mut r = text(StatusCode::OK, body);
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                r
            }
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encode failed\n".into()),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// The path of the refresh request (Vault Agent's `/agent/v1/...` family).
const REFRESH: &str = "/agent/v1/refresh";

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
