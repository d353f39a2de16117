//! The `http` sink: a background task POSTs spooled events to the collector in batches (a JSON array
//! of events, in `seq` order), retrying with exponential backoff until it accepts them.
//!
//! Delivery is at least once: a batch is acknowledged in the spool only after a 2xx, so a collector
//! that answers after a timeout, or a crash between the 2xx and the acknowledgement, may see a batch
//! twice. Collectors deduplicate on (`agent.id`, `seq`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::Notify;

use super::spool::{Batch, Spool};
use crate::admin::Telemetry;
use crate::backend::tls::{TlsSettings, client_config};
use crate::config::AuditHttpConfig;

/// The HTTP sink could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("audit http sink: {0}")]
pub struct HttpSetupError(String);

/// One POST failed (never includes the collector's response body).
#[derive(Debug, thiserror::Error)]
#[error("POST to the audit collector failed: {0}")]
struct PostError(String);

/// The sender's handle: the shared spool and the wake-up for new events.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    batch_max: usize,
    telemetry: Option<Arc<Telemetry>>,
    /// The spool, shared with the auditor that appends to it.
    pub spool: Arc<Mutex<Spool>>,
    /// Notified when events were appended.
    pub wake: Arc<Notify>,
}

impl Sender {
    /// A sender for `cfg` over an opened spool, reporting the spool's depth to `telemetry`.
    ///
    /// # Errors
    /// [`HttpSetupError`] for an unusable CA file.
    pub fn new(
        cfg: &AuditHttpConfig,
        spool: Spool,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Result<Self, HttpSetupError> {
        let tls = client_config(&TlsSettings {
            ca_cert: cfg.ca_cert.as_deref(),
            ..TlsSettings::default()
        })
        .map_err(|e| HttpSetupError(e.to_string()))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(5))
            .timeout(cfg.timeout)
            .no_proxy()
            .build()
            .map_err(|e| HttpSetupError(e.to_string()))?;
        Ok(Self {
            client,
            url: cfg.url.clone(),
            batch_max: cfg.batch_max,
            telemetry,
            spool: Arc::new(Mutex::new(spool)),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Deliver spooled events forever (spawn it).
    pub async fn run(self) {
        loop {
            let batch = match self.spool.lock() {
                Ok(s) => s.peek(self.batch_max),
                Err(_) => return,
            };
            let batch = match batch {
                Ok(b) if !b.lines.is_empty() => b,
                Ok(_) => {
                    // Events wake us; the timer only guards against a missed wake-up.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the audit spool");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            self.send(&batch).await;
            if let Ok(mut s) = self.spool.lock() {
                if let Err(e) = s.ack(&batch) {
                    tracing::error!(error = %e, "cannot record delivered audit events");
                }
                if let Some(t) = &self.telemetry {
                    t.set_spool_events(s.pending_events());
                }
            }
        }
    }

    /// Whether the spool is empty (everything delivered).
    pub fn drained(&self) -> bool {
        self.spool.lock().map_or(true, |s| s.pending_events() == 0)
    }

    /// POST one batch until the collector accepts it.
    async fn send(&self, batch: &Batch) {
        let mut body = Vec::with_capacity(batch.lines.iter().map(String::len).sum::<usize>() + 2);
        body.push(b'[');
        for (i, l) in batch.lines.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(l.as_bytes());
        }
        body.push(b']');
        let body = bytes::Bytes::from(body);
        let post = || async {
            let r = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| PostError(without_url(&e)))?;
            // The status only: a collector's error body is not ours to log.
            if r.status().is_success() {
                Ok(())
            } else {
                Err(PostError(format!("HTTP {}", r.status().as_u16())))
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .without_max_times();
        let _ = post
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, events = batch.lines.len(), "audit collector unavailable"))
            .await;
    }
}

/// A reqwest error as text without the URL (it may carry credentials in its userinfo or query).
fn without_url(e: &reqwest::Error) -> String {
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
