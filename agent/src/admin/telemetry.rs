//! What the admin endpoints report: Prometheus metrics, derived from the audit events (every
//! retrieval, renewal, login, render and exec restart passes through the auditor, which calls
//! [`Telemetry::observe`]), and readiness, from the leases seen in those events and the deliveries the
//! runtime reports with [`Telemetry::delivered`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::audit::{Event, EventKind, Outcome};
use crate::lease::Delivery;

/// A metric label naming a secret path.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: String,
}

/// A metric label naming what failed or was renewed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// A metric label naming an audit sink (`http`, `syslog`, `otlp`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

/// Metrics and readiness state; shared (`Arc`) between the auditor, the runtime and the admin server.
pub struct Telemetry {
    registry: Registry,
    retrievals: Family<PathLabel, Counter>,
    renewals: Family<KindLabel, Counter>,
    logins: Counter,
    failures: Family<KindLabel, Counter>,
    renders: Counter,
    exec_restarts: Counter,
    lease_expiry: Family<PathLabel, Gauge>,
    spool_events: Family<SinkLabel, Gauge<i64, AtomicI64>>,
    dropped: Counter<u64, AtomicU64>,
    state: Mutex<Readiness>,
}

/// What `/readyz` decides on.
#[derive(Default)]
struct Readiness {
    /// Effective expiry of each leased secret, by API path.
    leases: HashMap<String, Instant>,
    /// Per output (files in config order, then the env set): whether it was delivered at least once.
    delivered: Vec<bool>,
    /// Destinations whose last command run failed, with why. Listed by `/readyz` but never unready: a
    /// failing command must not take a pod out of its Service, its file was delivered.
    failing_commands: BTreeMap<String, String>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// Telemetry for an agent with `outputs` outputs (template files, plus one for the env set).
    pub fn new(outputs: usize) -> Self {
        let mut t = Self {
            registry: Registry::with_prefix("sidekey"),
            retrievals: Family::default(),
            renewals: Family::default(),
            logins: Counter::default(),
            failures: Family::default(),
            renders: Counter::default(),
            exec_restarts: Counter::default(),
            lease_expiry: Family::default(),
            spool_events: Family::default(),
            dropped: Counter::default(),
            state: Mutex::new(Readiness {
                leases: HashMap::new(),
                delivered: vec![false; outputs],
                failing_commands: BTreeMap::new(),
            }),
        };
        // Metrics are registered as handles (clones share the value), so the fields stay the writers.
        let r = &mut t.registry;
        r.register(
            "retrievals",
            "Secrets retrieved from the backend, by API path",
            t.retrievals.clone(),
        );
        r.register(
            "renewals",
            "Successful renewals, by kind (lease or token)",
            t.renewals.clone(),
        );
        r.register("logins", "Successful auto-auth logins", t.logins.clone());
        r.register(
            "failures",
            "Failed operations, by audit event kind (secret.read, secret.renew, auth.login, ...)",
            t.failures.clone(),
        );
        r.register(
            "renders",
            "Outputs written (files whose content changed)",
            t.renders.clone(),
        );
        r.register(
            "exec_restarts",
            "Restarts of the exec'd child",
            t.exec_restarts.clone(),
        );
        r.register(
            "lease_expiry_seconds",
            "Seconds until each lease's effective expiry (negative: expired), by API path",
            t.lease_expiry.clone(),
        );
        r.register(
            "audit_spool_events",
            "Audit events waiting in a spooled sink's spool, by sink (http, syslog, otlp)",
            t.spool_events.clone(),
        );
        r.register(
            "audit_dropped_events",
            "Audit events lost: a spool full, or a batch the receiver refused as malformed",
            t.dropped.clone(),
        );
        t
    }

    /// Count an audit event and track the lease it reports.
    pub fn observe(&self, ev: &Event) {
        if ev.event == EventKind::OutputCommand {
            self.command_ran(ev);
        }
        if ev.outcome == Outcome::Failure {
            self.failures
                .get_or_create(&KindLabel {
                    kind: kind_name(ev.event).into(),
                })
                .inc();
            return;
        }
        match ev.event {
            EventKind::SecretRead | EventKind::SecretWrite | EventKind::SecretRenew => {
                if let Some(s) = &ev.secret {
                    if ev.event == EventKind::SecretRenew {
                        self.renewal("lease");
                    } else {
                        self.retrievals
                            .get_or_create(&PathLabel {
                                path: s.path.clone(),
                            })
                            .inc();
                    }
                    if !s.lease_id.is_empty()
                        && s.lease_duration_s > 0
                        && let Ok(mut st) = self.state.lock()
                    {
                        let expiry =
                            Instant::now() + std::time::Duration::from_secs(s.lease_duration_s);
                        st.leases.insert(s.path.clone(), expiry);
                    }
                }
            }
            EventKind::AuthRenew => self.renewal("token"),
            EventKind::AuthLogin => {
                self.logins.inc();
            }
            // A token sink is written, not rendered.
            EventKind::OutputWrite
                if !matches!(ev.output, Some(crate::audit::OutputMeta::Sink { .. })) =>
            {
                self.renders.inc();
            }
            EventKind::OutputWrite => {}
            EventKind::ExecRestart => {
                self.exec_restarts.inc();
            }
            EventKind::SecretRevoke
            | EventKind::ExecStart
            | EventKind::ExecExit
            | EventKind::OutputCommand
            | EventKind::ConfigReload
            | EventKind::AgentRefresh
            | EventKind::ProxyRequest
            | EventKind::CallerRefused
            | EventKind::CredentialServe
            | EventKind::AuditAnchor
            | EventKind::BackendRequest
            | EventKind::BackendFailover => {}
        }
    }

    /// Track a command's last outcome for `/readyz`.
    fn command_ran(&self, ev: &Event) {
        let Some(crate::audit::OutputMeta::File { destination, .. }) = &ev.output else {
            return;
        };
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if ev.outcome == Outcome::Failure {
            let why = ev.error.clone().unwrap_or_default();
            st.failing_commands.insert(destination.clone(), why);
        } else {
            st.failing_commands.remove(destination);
        }
    }

    fn renewal(&self, kind: &str) {
        self.renewals
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    /// Record which outputs a delivery cycle delivered (written or unchanged).
    pub fn delivered(&self, d: &Delivery) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        // A reload may have added or removed outputs: a new one is not delivered until it is.
        let outputs = d.files.len() + usize::from(d.env.is_some());
        st.delivered.resize(outputs, false);
        for (i, r) in d.files.iter().enumerate() {
            // A template with `error_fatal = false` holds readiness back no more than READY=1.
            let counts = match r {
                Ok(_) => true,
                Err(f) => !f.fatal,
            };
            if counts && let Some(slot) = st.delivered.get_mut(i) {
                *slot = true;
            }
        }
        if let Some(Ok(_)) = &d.env {
            let n = d.files.len();
            if let Some(slot) = st.delivered.get_mut(n) {
                *slot = true;
            }
        }
    }

    /// The depth of the spool of `sink`, in events.
    pub fn set_spool_events(&self, sink: &str, n: u64) {
        self.spool_events
            .get_or_create(&SinkLabel { sink: sink.into() })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Count an audit event that could not be kept.
    pub fn dropped_event(&self) {
        self.dropped.inc();
    }

    /// Replace the tracked expiries with the lease engine's view: each leased secret's (or issued
    /// certificate's) effective expiry, i.e. the earlier of its own and its parent token's, keyed by API
    /// path. Secrets the engine no longer holds drop out.
    pub fn set_lease_expiries(&self, expiries: impl IntoIterator<Item = (String, Instant)>) {
        if let Ok(mut st) = self.state.lock() {
            st.leases = expiries.into_iter().collect();
        }
    }

    /// `Ok` when every output was delivered at least once and no lease is past its expiry, with notes
    /// for the `/readyz` body (failing commands, one per line); otherwise why not.
    ///
    /// # Errors
    /// The reason, for the `/readyz` body.
    pub fn ready(&self) -> Result<Vec<String>, String> {
        let st = self
            .state
            .lock()
            .map_err(|_| "state unavailable".to_string())?;
        let pending = st.delivered.iter().filter(|d| !**d).count();
        if pending > 0 {
            return Err(format!("{pending} output(s) not rendered yet"));
        }
        let now = Instant::now();
        let mut expired: Vec<&str> = st
            .leases
            .iter()
            .filter(|(_, e)| **e <= now)
            .map(|(p, _)| p.as_str())
            .collect();
        if !expired.is_empty() {
            expired.sort_unstable();
            return Err(format!(
                "lease expired without renewal: {}",
                expired.join(", ")
            ));
        }
        Ok(st
            .failing_commands
            .iter()
            .map(|(dest, why)| format!("command failing for template {dest}: {why}"))
            .collect())
    }

    /// The metrics in Prometheus text format.
    ///
    /// # Errors
    /// When encoding fails (a formatter error).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        if let Ok(st) = self.state.lock() {
            let now = Instant::now();
            self.lease_expiry.clear();
            for (path, e) in &st.leases {
                let left = if *e >= now {
                    i64::try_from(e.duration_since(now).as_secs()).unwrap_or(i64::MAX)
                } else {
                    -i64::try_from(now.duration_since(*e).as_secs()).unwrap_or(i64::MAX)
                };
                self.lease_expiry
                    .get_or_create(&PathLabel { path: path.clone() })
                    .set(left);
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::SecretRead => "secret.read",
        EventKind::SecretWrite => "secret.write",
        EventKind::SecretRenew => "secret.renew",
        EventKind::SecretRevoke => "secret.revoke",
        EventKind::AuthLogin => "auth.login",
        EventKind::AuthRenew => "auth.renew",
        EventKind::OutputWrite => "output.write",
        EventKind::OutputCommand => "output.command",
        EventKind::ConfigReload => "config.reload",
        EventKind::AgentRefresh => "agent.refresh",
        EventKind::ExecStart => "exec.start",
        EventKind::ExecRestart => "exec.restart",
        EventKind::ExecExit => "exec.exit",
        EventKind::ProxyRequest => "proxy.request",
        EventKind::CallerRefused => "caller.refused",
        EventKind::CredentialServe => "credential.serve",
        EventKind::AuditAnchor => "audit.anchor",
        EventKind::BackendRequest => "backend.request",
        EventKind::BackendFailover => "backend.failover",
    }
}
