//! Audit: one JSON event per retrieval, renewal, login, output write and child start/exit (DESIGN §8),
//! hash-chained, written to the configured sinks.
//!
//! - `event`: the event schema (v1) and [`Record`], what callers report.
//! - [`Auditor`]: numbers, timestamps, chains and writes events; cheap to clone.

pub mod event;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

pub use event::{AgentInfo, Event, EventKind, Identity, Outcome, OutputMeta, Record, SecretMeta};

/// An audit sink could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("audit {path}: {source}")]
pub struct AuditError {
    /// The sink's file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Writes audit events. Cloning shares the sequence, the chain and the sinks.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Mutex<State>>,
}

struct State {
    seq: u64,
    prev_hash: String,
    agent: AgentInfo,
    file: Option<(PathBuf, File)>,
    stdout: bool,
    dirty: bool,
}

impl Auditor {
    /// An auditor writing to `file` (appended, created 0600) and/or stdout; with neither it records nothing.
    ///
    /// # Errors
    /// [`AuditError`] when the file cannot be opened.
    pub fn new(file: Option<&Path>, stdout: bool) -> Result<Self, AuditError> {
        let mut prev_hash = "0".repeat(64);
        let file = match file {
            Some(p) => {
                // A restarted agent continues the file's chain, so one file verifies as one chain.
                if let Some(h) = last_hash(p) {
                    prev_hash = h;
                }
                let f = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(p)
                    .map_err(|source| AuditError {
                        path: p.to_path_buf(),
                        source,
                    })?;
                Some((p.to_path_buf(), f))
            }
            None => None,
        };
        let agent = AgentInfo {
            id: format!("{:016x}", rand::random::<u64>()),
            host: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
        };
        let state = State {
            seq: 0,
            prev_hash,
            agent,
            file,
            stdout,
            dirty: false,
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(state)),
        })
    }

    /// An auditor that records nothing.
    pub fn disabled() -> Self {
        let agent = AgentInfo {
            id: String::new(),
            host: String::new(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION"),
        };
        let state = State {
            seq: 0,
            prev_hash: String::new(),
            agent,
            file: None,
            stdout: false,
            dirty: false,
        };
        Self {
            inner: Arc::new(Mutex::new(state)),
        }
    }

    /// Record one event. A sink write failure is logged, never hidden, and never stops delivery.
    pub fn record(&self, r: Record) {
        let Ok(mut s) = self.inner.lock() else { return };
        if s.file.is_none() && !s.stdout {
            return;
        }
        s.seq += 1;
        let mut ev = Event {
            v: event::SCHEMA_VERSION,
            time: now_rfc3339(),
            seq: s.seq,
            event: r.event,
            outcome: r.outcome,
            agent: s.agent.clone(),
            identity: r.identity,
            secret: r.secret,
            output: r.output,
            error: r.error,
            prev_hash: s.prev_hash.clone(),
            hash: String::new(),
        };
        let Ok(canonical) = serde_json::to_vec(&ev) else {
            return;
        };
        ev.hash = hex::encode(Sha256::digest(&canonical));
        let Ok(mut line) = serde_json::to_vec(&ev) else {
            return;
        };
        line.push(b'\n');
        s.prev_hash = ev.hash;
        if let Some((path, f)) = s.file.as_mut() {
            if let Err(e) = f.write_all(&line) {
                tracing::error!(path = %path.display(), error = %e, "audit write failed");
            }
            s.dirty = true;
        }
        if s.stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&line);
            let _ = out.flush();
        }
    }

    /// Make every event recorded so far durable (fsync per batch: called after each delivery cycle).
    pub fn flush(&self) {
        let Ok(mut s) = self.inner.lock() else { return };
        if !s.dirty {
            return;
        }
        s.dirty = false;
        if let Some((path, f)) = s.file.as_mut()
            && let Err(e) = f.sync_data()
        {
            tracing::error!(path = %path.display(), error = %e, "audit fsync failed");
        }
    }
}

/// The `hash` of the last complete event in an existing audit file.
fn last_hash(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    // One event is well under 8 KiB; read only the tail.
    let start = len.saturating_sub(8192);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = String::new();
    f.read_to_string(&mut tail).ok()?;
    let line = tail.lines().rev().find(|l| l.trim_end().ends_with('}'))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get("hash")?.as_str().map(str::to_string)
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt).unwrap_or_default()
}
