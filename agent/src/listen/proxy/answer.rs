//! Backend answers: read whole up to a limit, peeked when of unknown length, or streamed.

use http_body_util::{BodyExt, Limited};
use hyper::{HeaderMap, Method, Response, StatusCode};

use super::Body;
use crate::backend::BackendError;
use crate::backend::client::strip_hop_by_hop;
use crate::listen::types::ProxyResponse;

/// The most of a backend answer read whole to see whether it carries a secret (and to cache it): the
/// limit of everything sidekey reads from the backend. A bigger answer streams through, unaudited.
pub(super) const INSPECT_LIMIT: u64 = crate::backend::client::MAX_RESPONSE_SIZE as u64;

/// A backend answer read whole (hop-by-hop headers removed), up to [`INSPECT_LIMIT`]: what sidekey
/// decodes itself is bounded (a bigger answer is an error, not an unbounded buffer).
///
/// `method` and `path` (a loggable path) name the request in an error: one over the limit is a
/// [`BackendError::Decode`] (502 to the caller, not the 413 of a request body over its limit).
pub(super) async fn buffered(
    resp: reqwest::Response,
    method: &Method,
    path: &str,
) -> Result<ProxyResponse, BackendError> {
    let (status, headers, body) = split(resp);
    let limit = usize::try_from(INSPECT_LIMIT).unwrap_or(usize::MAX);
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            let too_big = e.is::<http_body_util::LengthLimitError>();
            let reason = if too_big {
                "the answer is larger than the 4 MiB the proxy reads itself".to_string()
            } else {
                e.to_string()
            };
            let (method, path) = (method.to_string(), path.to_string());
            if too_big {
                BackendError::Decode {
                    method,
                    path,
                    reason,
                }
            } else {
                BackendError::Transport {
                    method,
                    path,
                    reason,
                }
            }
        })?
        .to_bytes();
    Ok(ProxyResponse {
        status,
        headers,
        body,
    })
}

/// An answer of unknown length, read up to [`INSPECT_LIMIT`].
pub(super) enum Peeked {
    /// It fit.
    Whole(ProxyResponse),
    /// It did not: what was read, then the rest, streamed.
    Big(Response<Body>),
}

/// Read an answer of unknown length (chunked) up to [`INSPECT_LIMIT`]: whole when it fits, else
/// streamed on from where the reading stopped.
pub(super) async fn peek(
    resp: reqwest::Response,
    method: &Method,
    path: &str,
) -> Result<Peeked, BackendError> {
    let (status, headers, mut body) = split(resp);
    let mut read = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BackendError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if let Ok(data) = frame.into_data() {
            read.extend_from_slice(&data);
        }
        if read.len() as u64 > INSPECT_LIMIT {
            let first = futures_util::stream::once(std::future::ready(Ok(
                hyper::body::Frame::data(read.freeze()),
            )));
            let rest = http_body_util::BodyStream::new(body.map_err(Into::into));
            let streamed =
                http_body_util::StreamBody::new(futures_util::StreamExt::chain(first, rest));
            let mut r = Response::new(streamed.boxed_unsync());
            *r.status_mut() = status;
            *r.headers_mut() = headers;
            return Ok(Peeked::Big(r));
        }
    }
    Ok(Peeked::Whole(ProxyResponse {
        status,
        headers,
        body: read.freeze(),
    }))
}

/// A backend answer's status, headers (hop-by-hop ones removed) and body.
fn split(resp: reqwest::Response) -> (StatusCode, HeaderMap, reqwest::Body) {
    let status = resp.status();
    let mut headers = resp.headers().clone();
    strip_hop_by_hop(&mut headers);
    (status, headers, reqwest::Body::from(resp))
}

/// A backend answer streamed to the caller as it comes (hop-by-hop headers removed).
pub(super) fn streamed(resp: reqwest::Response) -> Response<Body> {
    let resp: Response<reqwest::Body> = resp.into();
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
}
