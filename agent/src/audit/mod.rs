//! Audit: one JSON event per retrieval, renewal, login, output write and child start/exit (DESIGN §8),
//! hash-chained, written to the configured sinks.
//!
//! - `event`: the event schema (v1) and [`Record`], what callers report.
//! - `chain`: the canonical encoding, SHA-256 / HMAC hashing, and `sidekey audit verify`.
//! - `spool` / `http`: the HTTP sink's bounded on-disk spool and its sender.
//! - `observer`: the backend client's reports (`backend.request`, `backend.failover`).
//! - `report`: `sidekey report`, the evidence pack built from a trail; `reconcile`: `sidekey audit
//!   reconcile`, the trail against the server's audit log; `tools`: the commands.
//! - [`Auditor`]: numbers, timestamps, chains and writes events; cheap to clone.

pub mod chain;
pub mod event;
pub mod http;
mod observer;
pub mod reconcile;
pub mod report;
pub mod spool;
pub mod tools;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use chain::{GENESIS, Hasher};
pub use event::{
    AgentInfo, BackendMeta, CallerMeta, Event, EventKind, EventMeta, Identity, Outcome, OutputMeta,
    ProxyMeta, Record, ReloadMeta, SecretMeta,
};

use crate::admin::Telemetry;
use crate::config::{AuditConfig, Metadata};

/// An audit sink could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The audit file could not be opened.
    #[error("audit {path}: {source}")]
    File {
        /// The sink's file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HMAC key file could not be used.
    #[error(transparent)]
    Key(#[from] chain::KeyError),
    /// The HTTP spool could not be opened.
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    /// The HTTP sink could not be set up.
    #[error(transparent)]
    Http(#[from] http::HttpSetupError),
}

/// `fail_closed` is set and the audit trail cannot take more events: retrievals are refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "audit trail unavailable (spool full) and audit.fail_closed = true: refusing to retrieve {0} unaudited"
)]
pub struct AuditUnavailable(pub String);

impl AuditUnavailable {
    /// As a transient backend error for `path`, so the engine retries it later like an outage.
    pub fn into_backend(self) -> crate::backend::BackendError {
        crate::backend::BackendError::Transport {
            method: "GET".into(),
            path: self.0.clone(),
            reason: self.to_string(),
        }
    }
}

/// Writes audit events. Cloning shares the sequence, the chain and the sinks.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Mutex<State>>,
    telemetry: Option<Arc<Telemetry>>,
    fail_closed: bool,
    /// Set while events cannot be kept (spool full); cleared once one is kept again.
    degraded: Arc<AtomicBool>,
}

struct State {
    seq: u64,
    prev_hash: String,
    hasher: Hasher,
    agent: AgentInfo,
    file: Option<(PathBuf, File)>,
    stdout: bool,
    http: Option<http::Sender>,
    meta: EventMeta,
    secrets: BTreeMap<String, EventMeta>,
    dirty: bool,
    /// Who each token seen in an event is (by accessor): a `backend.request` made with it names the same
    /// identity.
    identities: HashMap<String, Identity>,
}

/// The most identities an auditor remembers; past it they are forgotten and learned again from the
/// next events (a long-running agent meets one new token per login).
const MAX_IDENTITIES: usize = 1024;

impl Auditor {
    /// An auditor for the `audit` stanza, reporting to `telemetry`. Starts the HTTP sender task, so call
    /// it inside the runtime.
    ///
    /// # Errors
    /// [`AuditError`] when a sink cannot be opened.
    pub fn from_config(
        cfg: &AuditConfig,
        telemetry: Option<Arc<Telemetry>>,
    ) -> Result<Self, AuditError> {
        let hasher = match &cfg.hmac_key_file {
            Some(p) => Hasher::from_key_file(p)?,
            None => Hasher::sha256(),
        };
        let mut prev_hash = GENESIS.to_string();
        let file = match cfg.file.as_deref() {
            Some(p) => {
                // A restarted agent continues the file's chain, so one file verifies as one chain.
                if let Some(h) = last_hash(p) {
                    prev_hash = h;
                }
                Some((p.to_path_buf(), open_append(p)?))
            }
            None => None,
        };
        let http = match &cfg.http {
            Some(h) => {
                let s = spool::Spool::open(&h.spool_path, h.spool_max_bytes)?;
                let sender = http::Sender::new(h, s, telemetry.clone())?;
                tokio::spawn(sender.clone().run());
                Some(sender)
            }
            None => None,
        };
        let state = State {
            seq: 0,
            prev_hash,
            hasher,
            agent: agent_info(),
            file,
            stdout: cfg.stdout,
            http,
            meta: event_meta(&cfg.metadata),
            secrets: cfg
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), event_meta(v)))
                .collect(),
            dirty: false,
            identities: HashMap::new(),
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(state)),
            telemetry,
            fail_closed: cfg.fail_closed,
            degraded: Arc::default(),
        })
    }

    /// An auditor that records nothing.
    #[cfg(test)]
    pub fn disabled() -> Self {
        let state = State {
            seq: 0,
            prev_hash: GENESIS.to_string(),
            hasher: Hasher::sha256(),
            agent: agent_info(),
            file: None,
            stdout: false,
            http: None,
            meta: EventMeta::default(),
            secrets: BTreeMap::new(),
            dirty: false,
            identities: HashMap::new(),
        };
        Self {
            inner: Arc::new(Mutex::new(state)),
            telemetry: None,
            fail_closed: false,
            degraded: Arc::default(),
        }
    }

    /// Whether a new retrieval of `path` may go ahead: with `fail_closed`, not while events cannot be
    /// kept. The fetch path calls this before every retrieval.
    ///
    /// # Errors
    /// [`AuditUnavailable`].
    pub fn admit(&self, path: &str) -> Result<(), AuditUnavailable> {
        if self.fail_closed && self.degraded.load(Ordering::Relaxed) {
            return Err(AuditUnavailable(path.to_string()));
        }
        Ok(())
    }

    /// Record one event. A sink write failure is logged, never hidden, and never stops delivery.
    pub fn record(&self, r: Record) {
        let Ok(mut s) = self.inner.lock() else { return };
        s.learn(r.identity.as_ref());
        s.seq += 1;
        let meta = r
            .secret
            .as_ref()
            .and_then(|sec| lookup(&s.secrets, &sec.path))
            .map_or_else(|| s.meta.clone(), |m| merge(m, &s.meta));
        let mut ev = Event {
            v: event::SCHEMA_VERSION,
            time: now_rfc3339(),
            seq: s.seq,
            event: r.event,
            outcome: r.outcome,
            agent: s.agent.clone(),
            identity: r.identity,
            secret: r.secret,
            backend: r.backend,
            output: r.output,
            reload: r.reload,
            proxy: r.proxy,
            caller: r.caller,
            credential: r.credential,
            meta,
            error: r.error,
            prev_hash: s.prev_hash.clone(),
            hash: String::new(),
        };
        if let Some(t) = &self.telemetry {
            t.observe(&ev);
        }
        if s.file.is_none() && !s.stdout && s.http.is_none() {
            return;
        }
        let Ok(canonical) = serde_json::to_vec(&ev) else {
            return;
        };
        ev.hash = s.hasher.hash(&canonical);
        let Ok(mut line) = serde_json::to_vec(&ev) else {
            return;
        };
        s.prev_hash = ev.hash;
        if let Some(h) = &s.http {
            self.spool(h, &line);
        }
        line.push(b'\n');
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

    /// Append to the HTTP spool; a full spool is reported loudly and (with `fail_closed`) stops retrievals.
    fn spool(&self, h: &http::Sender, line: &[u8]) {
        let Ok(mut sp) = h.spool.lock() else { return };
        match sp.push(line) {
            Ok(()) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::warn!("audit spool has room again; events are kept");
                }
            }
            Err(e) => {
                if !self.degraded.swap(true, Ordering::Relaxed) || !self.fail_closed {
                    tracing::error!(error = %e, fail_closed = self.fail_closed, "AUDIT EVENT DROPPED");
                }
                if let Some(t) = &self.telemetry {
                    t.dropped_event();
                }
            }
        }
        if let Some(t) = &self.telemetry {
            t.set_spool_events(sp.pending_events());
        }
        h.wake.notify_one();
    }

    /// Make every event recorded so far durable (fsync per batch: called after each delivery cycle).
    pub fn flush(&self) {
        let Ok(mut s) = self.inner.lock() else { return };
        if let Some(h) = &s.http
            && let Ok(sp) = h.spool.lock()
        {
            sp.sync();
            if let Some(t) = &self.telemetry {
                t.set_spool_events(sp.pending_events());
            }
        }
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

    /// Reopen the audit file (after log rotation renamed it); the chain continues across files.
    pub fn reopen(&self) {
        let Ok(mut s) = self.inner.lock() else { return };
        let Some((path, old)) = s.file.as_mut() else {
            return;
        };
        let _ = old.sync_data();
        match open_append(path) {
            Ok(f) => {
                *old = f;
                tracing::info!(path = %path.display(), "audit file reopened");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen the audit file; still writing the old one")
            }
        }
    }

    /// Wait (at most `limit`) until the HTTP sink has delivered everything spooled.
    pub async fn drain(&self, limit: std::time::Duration) {
        self.flush();
        let sender = self.inner.lock().ok().and_then(|s| s.http.clone());
        let Some(sender) = sender else { return };
        let wait = async {
            while !sender.drained() {
                sender.wake.notify_one();
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            tracing::warn!("audit events still spooled at exit; they are sent on the next start");
        }
    }
}

impl State {
    /// Remember who the token in `identity` is, when the identity says more than its accessor.
    fn learn(&mut self, identity: Option<&Identity>) {
        let Some(i) = identity.filter(|i| !i.token_accessor.is_empty() && !i.method.is_empty())
        else {
            return;
        };
        if self.identities.get(&i.token_accessor) == Some(i) {
            return;
        }
        if self.identities.len() >= MAX_IDENTITIES {
            self.identities.clear();
        }
        self.identities.insert(i.token_accessor.clone(), i.clone());
    }

    /// Who the token with `accessor` is: as an earlier event named it, else just its accessor.
    fn identity_of(&self, accessor: &str) -> Identity {
        self.identities
            .get(accessor)
            .cloned()
            .unwrap_or_else(|| Identity {
                token_accessor: accessor.to_string(),
                ..Identity::default()
            })
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

fn open_append(p: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(p)
        .map_err(|source| AuditError::File {
            path: p.to_path_buf(),
            source,
        })
}

fn agent_info() -> AgentInfo {
    AgentInfo {
        id: format!("{:016x}", rand::random::<u64>()),
        host: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION"),
    }
}

fn event_meta(m: &Metadata) -> EventMeta {
    EventMeta {
        owner: m.owner.clone(),
        environment: m.environment.clone(),
        sensitivity: m.sensitivity.clone(),
        rotation_period_s: m.rotation_period.map(|d| d.as_secs()),
    }
}

/// Per-secret metadata overrides the agent-wide one field by field.
fn merge(specific: &EventMeta, general: &EventMeta) -> EventMeta {
    EventMeta {
        owner: specific.owner.clone().or_else(|| general.owner.clone()),
        environment: specific
            .environment
            .clone()
            .or_else(|| general.environment.clone()),
        sensitivity: specific
            .sensitivity
            .clone()
            .or_else(|| general.sensitivity.clone()),
        rotation_period_s: specific.rotation_period_s,
    }
}

/// The metadata for an API path: as given, or (for KV v2) with the `data/`/`metadata/` segment removed,
/// so that `secret "secret/app/config"` matches `secret/data/app/config`.
fn lookup<'a>(secrets: &'a BTreeMap<String, EventMeta>, path: &str) -> Option<&'a EventMeta> {
    let path = path.trim_matches('/');
    if let Some(m) = secrets.get(path) {
        return Some(m);
    }
    let mut parts = path.splitn(3, '/');
    let (mount, kind, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if kind == "data" || kind == "metadata" {
        return secrets.get(&format!("{mount}/{rest}"));
    }
    None
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
    chain::split_line(line).map(|(_, h)| h.to_string())
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt).unwrap_or_default()
}
