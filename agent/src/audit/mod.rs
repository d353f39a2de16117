//! Audit: one JSON event per retrieval, renewal, login, output write and child start/exit (DESIGN §8),
//! hash-chained, written to the configured sinks.
//!
//! - `event`: the event schema (v1) and [`Record`], what callers report.
//! - `format`: the formats a sink writes (sidekey's schema, OCSF, ECS) and the way back from each.
//! - `chain`: sealing a line with its hash (SHA-256 / HMAC), and `sidekey audit verify`.
//! - `file`: the file sink, rotated with `log_rotate_*`; its chain head is what anchors record.
//! - `anchor`: anchors of the file's chain on the backend (KV v2), and checking a trail against them.
//! - `spool` / `sender`: the bounded on-disk spool of the `http`, `syslog` and `otlp` sinks, and the task
//!   that delivers it (batches, retries with backoff); `http`, `syslog`, `otlp`: their transports.
//! - `observer`: the backend client's reports (`backend.request`, `backend.failover`).
//! - `report`: `sidekey report`, the evidence pack built from a trail; `reconcile`: `sidekey audit
//!   reconcile`, the trail against the server's audit log; `tools`: the commands.
//! - `sinks`: where each sink's lines go, and flushing, reopening and draining them.
//! - [`Auditor`]: numbers and timestamps each event once, then encodes, chains and writes it per sink, each
//!   sink in its own format with its own chain; cheap to clone.

pub mod anchor;
pub mod chain;
pub mod event;
pub mod file;
pub mod format;
pub mod http;
mod observer;
pub mod otlp;
pub mod reconcile;
pub mod report;
pub mod sender;
mod sinks;
pub mod spool;
pub mod syslog;
pub mod tools;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use chain::{GENESIS, Hasher};
pub use event::{
    AgentInfo, AnchorMeta, BackendMeta, CallerMeta, Event, EventKind, EventMeta, Identity, Outcome,
    OutputMeta, ProxyMeta, Record, ReloadMeta, SecretMeta, SecretRef,
};
pub use format::Format;
pub use sinks::reopen_on_hup;

use crate::admin::Telemetry;
use crate::config::{AuditConfig, Metadata};
use sinks::{Out, Sink};

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
    /// A sink's spool could not be opened.
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    /// A spooled sink (`http`, `syslog`, `otlp`) could not be set up.
    #[error(transparent)]
    Sink(#[from] sender::SetupError),
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
    hasher: Hasher,
    agent: AgentInfo,
    sinks: Vec<Sink>,
    meta: EventMeta,
    secrets: BTreeMap<String, EventMeta>,
    /// Who each token seen in an event is (by accessor): a `backend.request` made with it names the same
    /// identity.
    identities: HashMap<String, Identity>,
}

/// The most identities an auditor remembers; past it they are forgotten and learned again from the
/// next events (a long-running agent meets one new token per login).
const MAX_IDENTITIES: usize = 1024;

impl Auditor {
    /// An auditor for the `audit` stanza, reporting to `telemetry`. Starts the spooled sinks' tasks, so
    /// call it inside the runtime.
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
        let mut sinks = Vec::new();
        if let Some(p) = cfg.file.as_deref() {
            // A restarted agent continues the file's chain (across rotated files too), so the set
            // verifies as one chain.
            let (file, last) = file::FileSink::open(p, cfg.file_rotation)?;
            sinks.push(Sink {
                format: cfg.file_format,
                prev_hash: last.unwrap_or_else(|| GENESIS.to_string()),
                out: Out::File {
                    file: Box::new(file),
                    dirty: false,
                },
            });
        }
        if cfg.stdout {
            sinks.push(Sink::new(cfg.stdout_format, Out::Stdout));
        }
        let start = |path: &Path, max: u64, batch_max: usize, t: sender::Transport| {
            let s = spool::Spool::open(path, max)?;
            Ok::<_, AuditError>(sender::Sender::start(t, s, batch_max, telemetry.clone()))
        };
        if let Some(c) = &cfg.http {
            let t =
                sender::Transport::Http(http::Post::new(&c.url, c.ca_cert.as_deref(), c.timeout)?);
            let h = start(&c.spool_path, c.spool_max_bytes, c.batch_max, t)?;
            sinks.push(Sink::new(c.format, Out::Spooled(h)));
        }
        if let Some(c) = &cfg.syslog {
            let t = sender::Transport::Syslog(syslog::Syslog::new(c)?);
            let h = start(&c.spool_path, c.spool_max_bytes, c.batch_max, t)?;
            sinks.push(Sink::new(c.format, Out::Spooled(h)));
        }
        if let Some(c) = &cfg.otlp {
            let t = sender::Transport::Otlp(otlp::Export::new(c)?);
            let h = start(&c.spool_path, c.spool_max_bytes, c.batch_max, t)?;
            sinks.push(Sink::new(c.format, Out::Spooled(h)));
        }
        let state = State {
            seq: 0,
            hasher,
            agent: agent_info(),
            sinks,
            meta: event_meta(&cfg.metadata),
            secrets: cfg
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), event_meta(v)))
                .collect(),
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
            hasher: Hasher::sha256(),
            agent: agent_info(),
            sinks: Vec::new(),
            meta: EventMeta::default(),
            secrets: BTreeMap::new(),
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
        let ev = Event {
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
            anchor: r.anchor,
            meta,
            error: r.error,
            prev_hash: String::new(),
            hash: String::new(),
        };
        if let Some(t) = &self.telemetry {
            t.observe(&ev);
        }
        let State { sinks, hasher, .. } = &mut *s;
        // With `fail_closed`, retrievals stay refused while any spool cannot keep this event.
        let (mut spooled, mut kept) = (false, true);
        for sink in sinks {
            let canonical = match sink.format.encode(&ev, &sink.prev_hash) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "AUDIT EVENT DROPPED: cannot encode it");
                    continue;
                }
            };
            let (mut line, hash) = chain::seal(&canonical, hasher);
            sink.prev_hash = hash;
            match &mut sink.out {
                Out::Spooled(h) => {
                    spooled = true;
                    kept &= self.spool(h, &ev, &line);
                }
                Out::File { file, dirty } => {
                    line.push(b'\n');
                    file.write(&line, &ev, &sink.prev_hash);
                    *dirty = true;
                }
                Out::Stdout => {
                    line.push(b'\n');
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&line);
                    let _ = out.flush();
                }
            }
        }
        if spooled && kept && self.degraded.swap(false, Ordering::Relaxed) {
            tracing::warn!("audit spool has room again; events are kept");
        }
    }

    /// The hex HMAC-SHA-256 of delivered content (`output.content_hmac`), keyed with `hmac_key_file`: the
    /// key the chain uses, read once. `None` without a key (never a plain hash: that of a short secret
    /// could be guessed) and when no sink is configured (nothing is computed then).
    pub fn content_hmac(&self, bytes: &[u8]) -> Option<String> {
        self.content_hmac_of([bytes])
    }

    /// [`Self::content_hmac`] of `parts` one after another, as if they were one buffer (the env's
    /// `NAME=value\n` lines without copying the values). `parts` is not iterated when `None`.
    pub fn content_hmac_of<'a>(&self, parts: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
        let s = self.inner.lock().ok()?;
        if s.sinks.is_empty() {
            return None;
        }
        s.hasher.mac(parts)
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

fn now_rfc3339() -> String {
    format::rfc3339_ms(time::OffsetDateTime::now_utc())
}
