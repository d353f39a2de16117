//! An answer's body read whole, bounded: never more than the limit is held (a `Content-Length` over it
//! is refused before anything is read), and a body that breaks off or runs past the client's timeout
//! is an error, never a partial answer. Transport errors are classified here for every call.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use zeroize::Zeroizing;

use super::super::error::BackendError;
use super::super::redirect::refusal_in;

/// The most of an answer's body the client reads (and the API proxy reads to inspect one): 4 MiB, far
/// above any secret, token or listing a template reads, small enough that a hostile or broken server
/// cannot make the agent hold much.
pub const MAX_RESPONSE_SIZE: usize = 4 * 1024 * 1024;

/// What bounds each request: its total time, body included (`BAO_CLIENT_TIMEOUT`), and the size of
/// the answer read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most one request may take, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Where `timeout` comes from, for error messages.
    pub timeout_setting: &'static str,
    /// The most of an answer's body read (see [`MAX_RESPONSE_SIZE`]).
    pub max_response_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: crate::config::DEFAULT_CLIENT_TIMEOUT,
            timeout_setting: "BAO_CLIENT_TIMEOUT",
            max_response_size: MAX_RESPONSE_SIZE,
        }
    }
}

/// Which request an error is about, and the limits it ran under.
pub(super) struct Call<'a> {
    pub method: &'a Method,
    /// The loggable API path below `/v1/`.
    pub path: &'a str,
    pub limits: Limits,
}

impl Call<'_> {
    /// A failed send (no answer's head came): a refused redirect, a timeout, or a transport error.
    pub(super) fn send_error(&self, e: &reqwest::Error) -> BackendError {
        if let Some(refused) = refusal_in(e) {
            return BackendError::Redirect {
                method: self.method.to_string(),
                path: self.path.to_string(),
                refused: refused.clone(),
            };
        }
        if e.is_timeout() {
            return self.timeout();
        }
        BackendError::Transport {
            method: self.method.to_string(),
            path: self.path.to_string(),
            reason: super::transport_reason(e),
        }
    }

    /// A body that could not be read to its end.
    fn body_error(&self, e: &reqwest::Error) -> BackendError {
        if e.is_timeout() {
            return self.timeout();
        }
        BackendError::Incomplete {
            method: self.method.to_string(),
            path: self.path.to_string(),
            reason: causes(e),
        }
    }

    fn timeout(&self) -> BackendError {
        BackendError::Timeout {
            method: self.method.to_string(),
            path: self.path.to_string(),
            after: self.limits.timeout,
            setting: self.limits.timeout_setting,
        }
    }

    fn too_large(&self) -> BackendError {
        BackendError::TooLarge {
            method: self.method.to_string(),
            path: self.path.to_string(),
            limit: self.limits.max_response_size,
        }
    }

    /// Read `resp`'s body whole, up to the limit, into a buffer zeroed when dropped: it is the JSON of
    /// every secret read (the chunks reqwest hands over are its own and are freed as read).
    ///
    /// # Errors
    /// [`BackendError::TooLarge`] (a `Content-Length` over the limit, or more bytes than it),
    /// [`BackendError::Timeout`], [`BackendError::Incomplete`].
    pub(super) async fn read_body(
        &self,
        mut resp: reqwest::Response,
    ) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        let limit = self.limits.max_response_size;
        let most = u64::try_from(limit).unwrap_or(u64::MAX);
        let announced = resp.content_length();
        if announced.is_some_and(|l| l > most) {
            return Err(self.too_large());
        }
        let expected = announced.map_or(0, |l| usize::try_from(l).unwrap_or(limit));
        let mut body = Zeroizing::new(Vec::with_capacity(expected));
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.body_error(&e))? {
            if chunk.len() > limit - body.len() {
                return Err(self.too_large());
            }
            extend(&mut body, &chunk);
        }
        Ok(body)
    }
}

/// An answer's media type for an error message (`text/html`): only a short token of the header, so a
/// hostile server cannot write into the message through it.
pub(super) fn content_type(headers: &HeaderMap) -> String {
    let Some(value) = headers.get(reqwest::header::CONTENT_TYPE) else {
        return "no Content-Type".into();
    };
    let media = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .filter(|m| {
            !m.is_empty()
                && m.len() <= 64
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/.+-_".contains(&b))
        });
    media.map_or_else(|| "an unusual Content-Type".into(), str::to_string)
}

/// Append `chunk` to `body`, moving to a bigger buffer by hand when full: `Vec`'s own growth would free
/// the old buffer with the bytes still in it.
fn extend(body: &mut Zeroizing<Vec<u8>>, chunk: &[u8]) {
    let needed = body.len() + chunk.len();
    if needed > body.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(body.capacity() * 2)));
        bigger.extend_from_slice(body);
        *body = bigger;
    }
    body.extend_from_slice(chunk);
}

/// What broke a body off, as its innermost cause says it (`end of file before message length
/// reached`): the layers above it only repeat that a body could not be read.
fn causes(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(inner) = last.source() {
        last = inner;
    }
    last.to_string()
}

#[cfg(test)]
mod tests;
