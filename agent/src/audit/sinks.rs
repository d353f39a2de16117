//! The sinks an [`Auditor`] writes to: where each one's lines go, and making them durable, reopening
//! and draining them.

use std::sync::atomic::Ordering;

use super::{Auditor, Event, Format, GENESIS, file, sender};

/// One configured sink: the format it writes, its own chain, and where its lines go.
pub(super) struct Sink {
    pub(super) format: Format,
    /// The hash of the last line this sink wrote.
    pub(super) prev_hash: String,
    pub(super) out: Out,
}

/// Where a sink's lines go.
pub(super) enum Out {
    /// Appended to a file (rotated with `log_rotate_*`), fsync'd per batch (`dirty` until then).
    File {
        file: Box<file::FileSink>,
        dirty: bool,
    },
    /// One line per event on stdout.
    Stdout,
    /// Spooled, then delivered by the sink's task (`http`, `syslog`, `otlp`).
    Spooled(sender::Sender),
}

impl Sink {
    /// A sink whose chain starts afresh (a stream, not a file: each agent run is its own chain).
    pub(super) fn new(format: Format, out: Out) -> Self {
        Self {
            format,
            prev_hash: GENESIS.to_string(),
            out,
        }
    }
}

impl Auditor {
    /// Append `ev` (`line`: its sealed bytes in the sink's format) to a sink's spool; whether it was
    /// kept. A full spool is reported loudly and (with `fail_closed`) stops retrievals.
    pub(super) fn spool(&self, h: &sender::Sender, ev: &Event, line: &[u8]) -> bool {
        let Err(e) = h.push(ev, line) else {
            return true;
        };
        if !self.degraded.swap(true, Ordering::Relaxed) || !self.fail_closed {
            tracing::error!(sink = h.name(), error = %e, fail_closed = self.fail_closed, "AUDIT EVENT DROPPED");
        }
        if let Some(t) = &self.telemetry {
            t.dropped_event();
        }
        false
    }

    /// Make every event recorded so far durable (fsync per batch: called after each delivery cycle).
    pub fn flush(&self) {
        let Ok(mut s) = self.inner.lock() else { return };
        for sink in &mut s.sinks {
            match &mut sink.out {
                Out::Spooled(h) => h.sync(),
                Out::File { file, dirty } if *dirty => {
                    *dirty = false;
                    file.sync();
                }
                Out::File { .. } | Out::Stdout => {}
            }
        }
    }

    /// Reopen the audit files (after log rotation renamed them); each chain continues across files.
    pub fn reopen(&self) {
        let Ok(mut s) = self.inner.lock() else { return };
        for sink in &mut s.sinks {
            if let Out::File { file, .. } = &mut sink.out {
                file.sync();
                file.reopen();
            }
        }
    }

    /// The newest event the file sink has written in this run: what an anchor records. The file is
    /// made durable first, so that an anchor never names an event a power loss could still take back
    /// (which `verify --anchors` would report as events removed).
    pub fn file_head(&self) -> Option<file::ChainHead> {
        let mut s = self.inner.lock().ok()?;
        s.sinks.iter_mut().find_map(|sink| match &mut sink.out {
            Out::File { file, dirty } => {
                if *dirty {
                    *dirty = false;
                    file.sync();
                }
                file.head().cloned()
            }
            _ => None,
        })
    }

    /// Wait (at most `limit`) until the spooling sinks have delivered everything spooled.
    pub async fn drain(&self, limit: std::time::Duration) {
        self.flush();
        let senders: Vec<sender::Sender> = match self.inner.lock() {
            Ok(s) => s
                .sinks
                .iter()
                .filter_map(|k| match &k.out {
                    Out::Spooled(h) => Some(h.clone()),
                    _ => None,
                })
                .collect(),
            Err(_) => return,
        };
        if senders.is_empty() {
            return;
        }
        let wait = async {
            while !senders.iter().all(sender::Sender::drained) {
                for s in &senders {
                    s.wake();
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            tracing::warn!("audit events still spooled at exit; they are sent on the next start");
        }
    }
}

/// Reopen the audit file on every SIGHUP until the process ends (spawn it). In exec mode the
/// supervisor also forwards SIGHUP to the child: tokio delivers the signal to every listener.
pub async fn reopen_on_hup(auditor: Auditor) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        auditor.reopen();
    }
}
