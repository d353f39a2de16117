//! The spooled sinks (`http`, `syslog`, `otlp`): each event is encoded for the sink's transport and
//! appended to its bounded on-disk spool, and a background task delivers the spool in batches, in `seq`
//! order, retrying with exponential backoff and jitter until the receiver takes them.
//!
//! Delivery is at least once: a batch is acknowledged in the spool only once the transport says it was
//! delivered, so a receiver that answers after a timeout, or a crash between delivery and the
//! acknowledgement, may see a batch twice. Receivers deduplicate on (`agent.id`, `seq`), which every
//! transport carries. A record the receiver refuses as malformed (OTLP's 400 for a single record, a
//! syslog message too large for a UDP datagram) cannot be fixed by sending it again: it is dropped,
//! counted and logged loudly; the transport splits a refused batch so that only such records go.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::Notify;

use super::event::Event;
use super::spool::{Batch, Spool, SpoolFull};
use super::{http, otlp, syslog};
use crate::admin::Telemetry;

/// The longest a receiver's `Retry-After` may hold the next try back.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);

/// A spooled sink could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("audit {sink} sink: {reason}")]
pub struct SetupError {
    /// `http`, `syslog` or `otlp`.
    pub sink: &'static str,
    /// What is wrong (the CA file, the TLS setup, the receiver's name).
    pub reason: String,
}

/// An event was not kept in a sink's spool.
#[derive(Debug, thiserror::Error)]
pub enum NotKept {
    /// The spool is at its cap, or cannot be written.
    #[error(transparent)]
    Full(#[from] SpoolFull),
    /// A thread panicked holding the spool: nothing more can be appended to it safely.
    #[error("audit {sink} spool unusable: a thread failed while holding it")]
    Poisoned {
        /// `http`, `syslog` or `otlp`.
        sink: &'static str,
    },
}

/// A batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub(super) enum SendError {
    /// Worth trying again: the receiver is down or busy, or answered an error an operator can fix.
    #[error("{reason}")]
    Retry {
        /// What went wrong (never the receiver's response body, never a credential).
        reason: String,
        /// How long the receiver asked us to wait (`Retry-After`).
        after: Option<Duration>,
    },
    /// The receiver refused the batch as malformed: the same bytes will be refused again.
    #[error("{0}")]
    Refused(String),
}

impl SendError {
    /// A transient failure without a hint of when to try again.
    pub(super) fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: None,
        }
    }
}

/// The value of one key field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// Text.
    Str(String),
    /// A count (`seq`).
    Int(u64),
}

/// How a sink encodes its spool records and delivers them.
pub(super) enum Transport {
    /// `http`: a JSON array of event lines POSTed to a collector.
    Http(http::Post),
    /// `syslog`: RFC 5424 messages over TCP (TLS) or UDP.
    Syslog(syslog::Syslog),
    /// `otlp`: OTLP/HTTP log export requests.
    Otlp(otlp::Export),
}

impl Transport {
    /// The sink's name, in logs and as the spool metric's label.
    fn name(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Syslog(_) => "syslog",
            Self::Otlp(_) => "otlp",
        }
    }

    /// The spool record (one line, no newline) for an event whose sink-format line is `line`.
    fn encode(&self, ev: &Event, line: &[u8]) -> Vec<u8> {
        match self {
            Self::Http(_) => line.to_vec(),
            Self::Syslog(s) => s.encode(ev, line),
            Self::Otlp(o) => o.encode(ev, line),
        }
    }

    /// Deliver spool records, in order; `Ok` with how many of them the receiver took but rejected.
    async fn send(&self, records: &[String]) -> Result<u64, SendError> {
        match self {
            Self::Http(h) => h.send(records).await.map(|()| 0),
            Self::Syslog(s) => s.send(records).await,
            Self::Otlp(o) => o.send(records).await,
        }
    }
}

/// A spooled sink: the spool the auditor appends to, and the wake-up of its delivery task. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    transport: Arc<Transport>,
    spool: Arc<Mutex<Spool>>,
    wake: Arc<Notify>,
    batch_max: usize,
    telemetry: Option<Arc<Telemetry>>,
}

impl Sender {
    /// Start delivering `spool` through `transport` in batches of at most `batch_max` (spawns the task,
    /// so call it inside the runtime).
    pub(super) fn start(
        transport: Transport,
        spool: Spool,
        batch_max: usize,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Self {
        let s = Self {
            transport: Arc::new(transport),
            spool: Arc::new(Mutex::new(spool)),
            wake: Arc::new(Notify::new()),
            batch_max,
            telemetry,
        };
        s.report(s.pending());
        tokio::spawn(s.clone().run());
        s
    }

    /// The sink's name (`http`, `syslog`, `otlp`).
    pub fn name(&self) -> &'static str {
        self.transport.name()
    }

    /// Append the event (`line`: its bytes in the sink's format) to the spool and wake the task.
    ///
    /// # Errors
    /// [`NotKept`] when it does not fit (or cannot be written), or the spool is unusable.
    pub fn push(&self, ev: &Event, line: &[u8]) -> Result<(), NotKept> {
        let record = self.transport.encode(ev, line);
        let pushed = match self.spool.lock() {
            Ok(mut sp) => {
                let r = sp.push(&record);
                self.report(sp.pending_events());
                r.map_err(NotKept::from)
            }
            Err(_) => Err(NotKept::Poisoned { sink: self.name() }),
        };
        self.wake.notify_one();
        pushed
    }

    /// Make appended records durable.
    pub fn sync(&self) {
        if let Ok(sp) = self.spool.lock() {
            sp.sync();
            self.report(sp.pending_events());
        }
    }

    /// Whether the spool is empty (everything delivered).
    pub fn drained(&self) -> bool {
        self.pending() == 0
    }

    /// Wake the delivery task (at exit: try now rather than after the backoff).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn pending(&self) -> u64 {
        self.spool.lock().map_or(0, |s| s.pending_events())
    }

    fn report(&self, pending: u64) {
        if let Some(t) = &self.telemetry {
            t.set_spool_events(self.name(), pending);
        }
    }

    /// Deliver spooled records forever.
    async fn run(self) {
        loop {
            let batch = match self.spool.lock() {
                Ok(s) => s.peek(self.batch_max),
                Err(_) => {
                    tracing::error!(
                        sink = self.name(),
                        "audit delivery stopped: a thread failed while holding the spool; the spooled \
                         events stay on disk for the next start"
                    );
                    return;
                }
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
                    tracing::error!(sink = self.name(), error = %e, "cannot read the audit spool");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            let dropped = match self.deliver(&batch).await {
                Ok(rejected) => rejected,
                Err(reason) => {
                    tracing::error!(
                        sink = self.name(),
                        events = batch.lines.len(),
                        error = %reason,
                        "AUDIT EVENTS DROPPED: the receiver refused them"
                    );
                    batch.lines.len() as u64
                }
            };
            if let Some(t) = &self.telemetry {
                for _ in 0..dropped {
                    t.dropped_event();
                }
            }
            if let Ok(mut s) = self.spool.lock() {
                if let Err(e) = s.ack(&batch) {
                    tracing::error!(sink = self.name(), error = %e, "cannot record delivered audit events");
                }
                self.report(s.pending_events());
            }
        }
    }

    /// Send one batch until it is delivered (`Ok`, with the records rejected) or refused (`Err`, why).
    async fn deliver(&self, batch: &Batch) -> Result<u64, String> {
        let send = || self.transport.send(&batch.lines);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .without_max_times();
        let sent = send
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, SendError::Retry { .. }))
            .adjust(|e, d| match e {
                SendError::Retry { after: Some(a), .. } => Some((*a).min(RETRY_AFTER_MAX)),
                _ => d,
            })
            .notify(|e, d| {
                tracing::warn!(
                    sink = self.name(),
                    error = %e,
                    retry_in = ?d,
                    events = batch.lines.len(),
                    "audit receiver unavailable"
                );
            })
            .await;
        sent.map_err(|e| e.to_string())
    }
}

/// The fields a SIEM indexes and deduplicates on, whatever the sink's format: `event`, `outcome`, `seq`,
/// `agent_id`, and where the event has them `path`, `lease_id`, `accessor` (the token's), `subject` (the
/// workload's identity) and `workload` (a per-host caller's). Syslog's structured data and OTLP's
/// attributes carry them.
pub(super) fn key_fields(ev: &Event) -> Vec<(&'static str, Key)> {
    let name = |v: serde_json::Result<serde_json::Value>| {
        v.ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut out = vec![
        ("event", Key::Str(name(serde_json::to_value(ev.event)))),
        ("outcome", Key::Str(name(serde_json::to_value(ev.outcome)))),
        ("seq", Key::Int(ev.seq)),
        ("agent_id", Key::Str(ev.agent.id.clone())),
    ];
    let secret = ev.secret.as_ref();
    let identity = ev.identity.as_ref();
    let caller = ev.caller.as_ref();
    let accessor = identity
        .map(|i| i.token_accessor.as_str())
        .filter(|a| !a.is_empty())
        .or_else(|| caller.and_then(|c| c.token_accessor.as_deref()));
    let optional = [
        ("path", secret.map(|s| s.path.as_str())),
        ("lease_id", secret.map(|s| s.lease_id.as_str())),
        ("accessor", accessor),
        ("subject", identity.map(|i| i.subject.as_str())),
        ("workload", caller.and_then(|c| c.workload.as_deref())),
    ];
    for (k, v) in optional {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push((k, Key::Str(v.to_string())));
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests;
