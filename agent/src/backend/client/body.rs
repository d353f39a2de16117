//! An answer's body read whole, bounded: never more than the limit is held (a `Content-Length` over it
//! is refused before anything is read), and a body that breaks off or runs past the client's timeout
//! is an error, never a partial answer. Transport errors are classified here for every call.

use bytes::{Bytes, BytesMut};
use reqwest::Method;

use super::super::error::BackendError;
use super::super::redirect::refusal_in;
use super::Limits;

/// The most of an answer's body the client reads (and the API proxy reads to inspect one): 4 MiB, far
/// above any secret, token or listing a template reads, small enough that a hostile or broken server
/// cannot make the agent hold much.
pub const MAX_RESPONSE_SIZE: usize = 4 * 1024 * 1024;

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

    /// Read `resp`'s body whole, up to the limit.
    ///
    /// # Errors
    /// [`BackendError::TooLarge`] (a `Content-Length` over the limit, or more bytes than it),
    /// [`BackendError::Timeout`], [`BackendError::Incomplete`].
    pub(super) async fn read_body(
        &self,
        mut resp: reqwest::Response,
    ) -> Result<Bytes, BackendError> {
        let limit = self.limits.max_response_size;
        let most = u64::try_from(limit).unwrap_or(u64::MAX);
        if resp.content_length().is_some_and(|l| l > most) {
            return Err(self.too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.body_error(&e))? {
            if chunk.len() > limit - body.len() {
                return Err(self.too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
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
