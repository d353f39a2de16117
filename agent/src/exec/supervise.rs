//! The supervision loop: one child at a time, signals forwarded in arrival order, every ended process
//! reaped, and the restart policy for secret changes and child exits.

use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::child::Child;
use super::reap::{become_subreaper, reap};
use super::signals::{Received, SignalQueue};
use super::{ExecError, ExecSpec, same_env};
use crate::audit::{Auditor, EventKind, Outcome, OutputMeta, Record};
use crate::config::RestartMode;
use crate::lease::EnvMap;
use crate::lease::schedule::sleep_until;
use crate::output::RenderedEnv;
use crate::output::env::hmac_lines;

/// How often ended processes are looked for even without a SIGCHLD (belt and braces: a child exit is
/// acted on within this).
const POLL: Duration = Duration::from_millis(250);
/// Delay before `restart_on_exit` starts the child again, so a child that fails at once does not spin.
const EXIT_BACKOFF: Duration = Duration::from_secs(1);
/// How long the masked output of an exited child may take to drain before sidekey exits.
const DRAIN: Duration = Duration::from_millis(500);

/// Where the supervisor is between child starts.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// The child runs; nothing is pending.
    Running,
    /// A change is pending; act on it at this time (the splay).
    Splay(Instant),
    /// The stop signal was sent; SIGKILL at this time (`None` once sent). The next child starts when
    /// this one has been reaped.
    Stopping(Option<Instant>),
    /// No child (it exited and `restart_on_exit` is set); start it again at this time.
    Backoff(Instant),
}

impl Phase {
    fn deadline(self) -> Option<Instant> {
        match self {
            Self::Running | Self::Stopping(None) => None,
            Self::Splay(t) | Self::Stopping(Some(t)) | Self::Backoff(t) => Some(t),
        }
    }
}

/// Run and supervise the child until it exits (for good); returns the exit code for sidekey: the
/// child's, or 128+N when it was killed by signal N.
///
/// `env_rx` carries each newly rendered env (with the secrets it came from, which each start's event
/// names); the current value at call time is the first child's.
/// `files_rx` is bumped whenever a template file was rewritten: with `restart_mode = "signal"` the child
/// is sent `reload_signal` then too (it is the app that re-reads its files). `stop` asks for the child to
/// be stopped for good (the agent cannot go on): its stop signal, then SIGKILL after `kill_timeout`.
///
/// # Errors
/// [`ExecError`] when signal handling cannot be set up or a child cannot be started.
pub async fn supervise(
    spec: &ExecSpec,
    inherited: Vec<(OsString, OsString)>,
    mut env_rx: watch::Receiver<RenderedEnv>,
    mut files_rx: watch::Receiver<u64>,
    auditor: Auditor,
    stop: CancellationToken,
    notifier: crate::runtime::Notifier,
) -> Result<i32, ExecError> {
    // Handlers first, so a signal sent while the child starts is queued and forwarded, not lost.
    let mut signals = SignalQueue::install().map_err(ExecError::Signals)?;
    become_subreaper();
    let mut latest = env_rx.borrow_and_update().clone();
    let mut child = Some(start(
        spec,
        &inherited,
        &latest,
        &auditor,
        EventKind::ExecStart,
    )?);
    notifier.ready("child started");
    let mut phase = Phase::Running;
    let mut env_open = true;
    let mut files_open = true;
    let mut exiting = false;
    let mut last_code = 0;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = phase.deadline();
        tokio::select! {
            biased;
            s = signals.next() => match s {
                Received::Child => {}
                Received::Forward(Signal::SIGHUP) if !spec.forward_hup => continue,
                Received::Forward(sig) => {
                    let stop_request = matches!(sig, Signal::SIGTERM | Signal::SIGINT);
                    match &child {
                        Some(c) => {
                            c.signal(sig);
                            // The child was asked to stop: it is not restarted, and it gets SIGKILL
                            // only if it is still there after kill_timeout (never a second stop signal).
                            if stop_request && !exiting {
                                exiting = true;
                                if !matches!(phase, Phase::Stopping(_)) {
                                    phase = Phase::Stopping(Some(Instant::now() + spec.kill_timeout));
                                }
                            }
                        }
                        // Between restarts there is nobody to forward to: a stop request ends sidekey.
                        None if stop_request || sig == Signal::SIGQUIT => return Ok(last_code),
                        None => {}
                    }
                    continue;
                }
            },
            _ = poll.tick() => {}
            () = stop.cancelled(), if !exiting => {
                exiting = true;
                match &child {
                    Some(c) => {
                        tracing::info!(signal = %spec.stop_signal, "stopping the child");
                        c.signal(spec.stop_signal);
                        phase = Phase::Stopping(Some(Instant::now() + spec.kill_timeout));
                    }
                    None => return Ok(last_code),
                }
                continue;
            }
            changed = env_rx.changed(), if env_open && !exiting => {
                if changed.is_err() {
                    env_open = false;
                } else {
                    latest = env_rx.borrow_and_update().clone();
                    phase = on_change(spec, phase, child.as_ref(), &latest.vars);
                }
                continue;
            }
            changed = files_rx.changed(), if files_open => {
                match (changed, &child) {
                    (Err(_), _) => files_open = false,
                    (Ok(()), Some(c)) if spec.restart_mode == RestartMode::Signal => {
                        tracing::info!(signal = %spec.reload_signal, "templates changed; signalling the child");
                        c.signal(spec.reload_signal);
                    }
                    (Ok(()), _) => {}
                }
                continue;
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                phase = match phase {
                    Phase::Splay(_) => match &child {
                        Some(c) if !same_env(&c.env, &latest.vars) => {
                            tracing::info!("secrets changed; stopping the child to restart it");
                            c.signal(spec.stop_signal);
                            Phase::Stopping(Some(Instant::now() + spec.kill_timeout))
                        }
                        _ => Phase::Running,
                    },
                    Phase::Stopping(Some(_)) => {
                        tracing::warn!(kill_timeout = ?spec.kill_timeout, "child did not stop in time; killing it");
                        if let Some(c) = &child {
                            c.signal(Signal::SIGKILL);
                        }
                        Phase::Stopping(None)
                    }
                    Phase::Backoff(_) if exiting => return Ok(last_code),
                    Phase::Backoff(_) => {
                        child = Some(start(spec, &inherited, &latest, &auditor, EventKind::ExecRestart)?);
                        Phase::Running
                    }
                    p => p,
                };
                continue;
            }
        }
        // A SIGCHLD or the poll: reap whatever ended, and see whether it was the child.
        let pid = child.as_ref().map_or(Pid::from_raw(0), |c| c.pid);
        let Some(code) = reap(pid) else { continue };
        let Some(ended) = child.take() else { continue };
        last_code = code;
        if let (Phase::Stopping(_), false) = (phase, exiting) {
            // The restart: the old child is gone, the new one gets the newest env.
            child = Some(start(
                spec,
                &inherited,
                &latest,
                &auditor,
                EventKind::ExecRestart,
            )?);
            phase = Phase::Running;
            continue;
        }
        record_exit(&auditor, code);
        if spec.restart_on_exit && !exiting {
            tracing::warn!(code, "child exited; starting it again (restart_on_exit)");
            phase = Phase::Backoff(Instant::now() + EXIT_BACKOFF);
            continue;
        }
        drain(ended).await;
        return Ok(code);
    }
}

/// The phase after the rendered env changed to `latest`.
fn on_change(spec: &ExecSpec, phase: Phase, child: Option<&Child>, latest: &EnvMap) -> Phase {
    let Some(c) = child else { return phase };
    if same_env(&c.env, latest) {
        return phase;
    }
    match (spec.restart_mode, phase) {
        (RestartMode::Restart, Phase::Running) => {
            let splay = spec.splay.mul_f64(rand::random::<f64>());
            Phase::Splay(Instant::now() + splay)
        }
        // A restart already pending or under way will use the newest env: the changes coalesce.
        (RestartMode::Restart, p) => p,
        (RestartMode::Signal, p) => {
            tracing::info!(signal = %spec.reload_signal, "secrets changed; signalling the child");
            c.signal(spec.reload_signal);
            p
        }
        (RestartMode::None, p) => p,
    }
}

/// Start a child with `env`; its event names the variables, the secrets they came from and (when it
/// started) the keyed hash of their `NAME=value` lines.
fn start(
    spec: &ExecSpec,
    inherited: &[(OsString, OsString)],
    env: &RenderedEnv,
    auditor: &Auditor,
    kind: EventKind,
) -> Result<Child, ExecError> {
    let r = Child::start(spec, inherited, &env.vars);
    let names = env.vars.keys().cloned().collect();
    let hmac = r
        .as_ref()
        .ok()
        .and_then(|c| auditor.content_hmac_of(hmac_lines(&c.env)));
    let meta = OutputMeta::env(names).delivered(&env.secrets, hmac);
    auditor.record(Record::result(kind, r.as_ref().err()).output(meta));
    auditor.flush();
    if let Ok(c) = &r {
        tracing::info!(pid = c.pid.as_raw(), "child started");
    }
    r
}

fn record_exit(auditor: &Auditor, code: i32) {
    let outcome = if code == 0 {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let mut r = Record::new(EventKind::ExecExit, outcome);
    r.error = (code != 0).then(|| format!("child exited with code {code}"));
    auditor.record(r);
    auditor.flush();
}

/// Let the masked output of an ended child reach sidekey's stdout/stderr; a grandchild that still holds
/// the pipes open does not keep sidekey alive for long.
async fn drain(child: Child) {
    let all = futures_util::future::join_all(child.pumps);
    let _ = tokio::time::timeout(DRAIN, all).await;
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::config::ExecConfig;

    fn env(v: &str) -> EnvMap {
        EnvMap::from([("PW".to_string(), Zeroizing::new(v.to_string()))])
    }

    fn spec(mode: RestartMode) -> ExecSpec {
        let cfg = ExecConfig {
            restart_mode: mode,
            ..ExecConfig::default()
        };
        ExecSpec::new(vec!["/bin/true".into()], &cfg, false)
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_schedules_one_restart_and_later_changes_coalesce() {
        let s = spec(RestartMode::Restart);
        let child = Child::stub(env("a"));
        // Unchanged env: nothing.
        assert!(matches!(
            on_change(&s, Phase::Running, Some(&child), &env("a")),
            Phase::Running
        ));
        // Changed: a restart after the splay (0 here: now).
        let p = on_change(&s, Phase::Running, Some(&child), &env("b"));
        assert!(matches!(p, Phase::Splay(t) if t <= Instant::now()), "{p:?}");
        // More changes while one is pending or under way: the same phase; the restart uses the newest.
        assert!(matches!(
            on_change(&s, p, Some(&child), &env("c")),
            Phase::Splay(_)
        ));
        let stopping = Phase::Stopping(Some(Instant::now()));
        assert!(matches!(
            on_change(&s, stopping, Some(&child), &env("d")),
            Phase::Stopping(Some(_))
        ));
    }

    #[tokio::test]
    async fn a_start_names_the_secrets_and_the_keyed_hash_of_the_env() {
        use hmac::{Hmac, KeyInit, Mac};
        let dir = tempfile::tempdir().unwrap();
        let (log, key) = (dir.path().join("audit.log"), dir.path().join("key"));
        std::fs::write(&key, "k").unwrap();
        let cfg = crate::config::AuditConfig {
            file: Some(log.clone()),
            hmac_key_file: Some(key),
            ..crate::config::AuditConfig::default()
        };
        let auditor = Auditor::from_config(&cfg, None).unwrap();
        let secret = crate::audit::SecretRef {
            path: "secret/data/app".into(),
            version: Some(4),
            ..crate::audit::SecretRef::default()
        };
        let mut vars = env("a");
        vars.insert("B".into(), Zeroizing::new("b".into()));
        let rendered = RenderedEnv {
            vars,
            secrets: vec![secret],
        };
        let c = start(
            &spec(RestartMode::Restart),
            &[],
            &rendered,
            &auditor,
            EventKind::ExecStart,
        )
        .unwrap();
        let _ = nix::sys::wait::waitpid(c.pid, None);
        let ev: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
        m.update(b"B=b\nPW=a\n");
        assert_eq!(
            ev["output"],
            serde_json::json!({
                "kind": "env",
                "names": ["B", "PW"],
                "secrets": [{ "path": "secret/data/app", "version": 4 }],
                "content_hmac": hex::encode(m.finalize().into_bytes()),
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn none_mode_leaves_the_child_alone() {
        let s = spec(RestartMode::None);
        let child = Child::stub(env("a"));
        assert!(matches!(
            on_change(&s, Phase::Running, Some(&child), &env("b")),
            Phase::Running
        ));
    }
}
