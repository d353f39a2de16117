//! After each delivery: report it (telemetry, status line), announce it to the exec supervisor, and decide
//! whether it ends the run (`Until`, `sidekey:` references, `exit_on_retry_failure`).

use tokio::time::Instant;

use super::engine::Engine;
use super::outcome::{Fatal, Outcome, Stage, Until};
use super::schedule::effective_expiry;
use crate::output::{Delivery, OutputFailure, OutputId, Step};

/// Failed deliveries in a row after which `exit_on_retry_failure` ends the run.
const RETRIES_BEFORE_EXIT: u32 = 5;

impl Engine {
    /// One delivery, announced; returns the outcome when it ends the run.
    pub(super) async fn cycle(&mut self, until: Until) -> Option<Outcome> {
        // A reload retired workload tokens: their leases and they are revoked before new ones are made.
        self.stage.send_replace(Stage::Fetch);
        if !self.retired.is_empty() {
            self.revoke_retired().await;
        }
        let d = match self.deliver().await {
            Ok(d) => d,
            Err(e) => return Some(Outcome::Fatal(Fatal::Login(e))),
        };
        // Written: from here a one-shot run's deadline waits for the commands (and their timeouts).
        self.stage.send_replace(Stage::Commands);
        if until == Until::Once {
            self.deliverer.settle().await;
        }
        if let Some(t) = &self.telemetry {
            t.delivered(&d);
        }
        self.report_expiries();
        if d.files_changed()
            && let Some(tx) = &self.announce.files
        {
            tx.send_modify(|n| *n += 1);
        }
        if let (Some(tx), Some(Ok(m))) = (&self.announce.env, &d.env) {
            // The secrets go with the values they were rendered from: a new version with the same
            // content changes neither (DESIGN §6).
            tx.send_if_modified(|cur| {
                let changed = !crate::exec::same_env(&cur.vars, &m.vars);
                if changed {
                    cur.clone_from(m);
                }
                changed
            });
        }
        if let Some(f) = self.fatal(&d, until) {
            return Some(Outcome::Fatal(Fatal::Outputs(f)));
        }
        // A template with `error_fatal = false` holds back neither readiness nor an exec child.
        let done = match until {
            Until::Once => true,
            Until::Delivered => d.fatal_failures().next().is_none(),
            Until::Stopped => false,
        };
        if until == Until::Delivered && !done {
            tracing::warn!(
                "not every output is delivered yet (the exec child and READY=1 wait for them); retrying"
            );
        }
        self.notifier.status(&self.status_line(&d));
        done.then_some(Outcome::Delivered(d))
    }

    /// The failures of `d` that end the run: a `sidekey:` reference at once; under
    /// `exit_on_retry_failure` (before an exec child runs), a template that cannot render from data the
    /// server returned at once (a retry cannot fix it), anything else once its retries are spent. A
    /// template with `error_fatal = false` never ends the run: as in Vault Agent, it is logged and the
    /// others go on.
    fn fatal(&mut self, d: &Delivery, until: Until) -> Option<Vec<OutputFailure>> {
        let referenced = |f: &&OutputFailure| matches!(&f.output, OutputId::Env(name) if self.fail_fast.contains(name));
        if d.failures().any(|f| referenced(&f)) {
            return Some(d.failures().cloned().collect());
        }
        let fatal: Vec<OutputFailure> = d.fatal_failures().cloned().collect();
        self.fatal_streak = if fatal.is_empty() {
            0
        } else {
            self.fatal_streak + 1
        };
        let gives_up = until != Until::Once
            && self.may_give_up
            && self.cfg.template_config.exit_on_retry_failure;
        if !gives_up || fatal.is_empty() {
            return None;
        }
        let unfixable = fatal.iter().any(|f| f.step == Step::Render && !f.transient);
        let spent = self.fatal_streak > RETRIES_BEFORE_EXIT;
        if unfixable || spent {
            tracing::error!("exit_on_retry_failure: giving up");
            return Some(fatal);
        }
        None
    }

    pub(super) fn report_expiries(&self) {
        if let Some(t) = &self.telemetry {
            t.set_lease_expiries(self.lease_expiries());
        }
    }

    /// Each leased secret's (and issued certificate's) effective expiry by API path: the earlier of its
    /// own expiry and that of the token that created it (for metrics and readiness).
    pub fn lease_expiries(&self) -> Vec<(String, Instant)> {
        self.store
            .iter()
            .filter_map(|(r, e)| {
                let parent = if e.fetched.secret.lease_id.is_empty() {
                    None
                } else {
                    self.creator_expiry(r, e)
                };
                effective_expiry(e.expires_at, parent).map(|x| (e.fetched.api_path.clone(), x))
            })
            .collect()
    }
}
