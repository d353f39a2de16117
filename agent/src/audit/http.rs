//! The `http` sink's transport: a batch is POSTed to the collector as a JSON array of event lines (in
//! `seq` order); any answer but a 2xx is tried again, a redirect included (it is not followed). Also the
//! HTTP client the `otlp` sink shares.

use std::path::Path;
use std::time::Duration;

use super::sender::{SendError, SetupError};
use crate::backend::tls::{TlsSettings, client_config};

/// POSTs batches to the collector's URL.
pub(super) struct Post {
    client: reqwest::Client,
    url: String,
}

impl Post {
    /// A POST transport to `url`, trusting `ca_cert` (or the system roots).
    ///
    /// # Errors
    /// [`SetupError`] for an unusable CA file.
    pub(super) fn new(
        url: &str,
        ca_cert: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        Ok(Self {
            client: client("http", ca_cert, timeout)?,
            url: url.to_string(),
        })
    }

    /// POST one batch as a JSON array.
    pub(super) async fn send(&self, lines: &[String]) -> Result<(), SendError> {
        let mut body = Vec::with_capacity(lines.iter().map(String::len).sum::<usize>() + 2);
        body.push(b'[');
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(l.as_bytes());
        }
        body.push(b']');
        let r = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                SendError::retry(format!(
                    "POST to the audit collector failed: {}",
                    without_url(&e)
                ))
            })?;
        // The status only: a collector's error body is not ours to log.
        if r.status().is_success() {
            Ok(())
        } else if r.status().is_redirection() {
            Err(redirected(
                "POST to the audit collector",
                r.status().as_u16(),
            ))
        } else {
            Err(SendError::retry(format!(
                "POST to the audit collector failed: HTTP {}",
                r.status().as_u16()
            )))
        }
    }
}

/// A 3xx answer: not followed (a POST re-sent as a GET would be answered 2xx without the batch, and the
/// sink's headers would go to the new host), so a failure to retry until the URL is fixed.
pub(super) fn redirected(what: &str, status: u16) -> SendError {
    SendError::retry(format!(
        "{what} failed: HTTP {status}: the receiver redirects, which sidekey does not follow; set the final URL"
    ))
}

/// The HTTP client of an HTTP-based sink: rustls trusting `ca_cert` (or the system roots), no proxy,
/// no redirects (see [`redirected`]), 5 s to connect, `timeout` per request.
///
/// # Errors
/// [`SetupError`] naming `sink`.
pub(super) fn client(
    sink: &'static str,
    ca_cert: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, SetupError> {
    let err = |reason| SetupError { sink, reason };
    let tls = client_config(&TlsSettings {
        ca_cert,
        ..TlsSettings::default()
    })
    .map_err(|e| err(e.to_string()))?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| err(e.to_string()))
}

/// A reqwest error as text without the URL (it may carry credentials in its userinfo or query).
pub(super) fn without_url(e: &reqwest::Error) -> String {
    if e.is_connect() {
        return "cannot connect".into();
    }
    if e.is_timeout() {
        return "timed out".into();
    }
    let s = e.to_string();
    match e.url() {
        Some(u) => s.replace(u.as_str(), "<collector>"),
        None => s,
    }
}

#[cfg(test)]
pub(super) mod tests;
