//! When a 403 to a workload's request is worth a `lookup-self` of its token. The server answers a live
//! token's `lookup-self` with 403 too when the token lacks the `default` policy (which grants it), so
//! only a token known to hold `default` is looked up (one whose policies are not known, such as a
//! resumed one, is looked up too); and one token at most every [`EVERY`], so that a run of policy
//! refusals is one lookup, not one each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most one lookup per token this often.
pub(super) const EVERY: Duration = Duration::from_secs(30);

/// What is known of each workload's current token, by workload name.
#[derive(Debug, Default)]
pub(super) struct Checks {
    by_workload: Mutex<HashMap<String, Check>>,
}

/// One workload's token, by accessor.
#[derive(Debug)]
struct Check {
    accessor: String,
    /// Whether its policies include `default` (`None`: not known).
    default: Option<bool>,
    /// The last lookup after a refusal.
    last: Option<Instant>,
}

impl Checks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Check>> {
        self.by_workload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `workload`'s token is now the one with `accessor`, with `policies` (empty: not known).
    pub(super) fn held(&self, workload: &str, accessor: &str, policies: &[String]) {
        let default = (!policies.is_empty()).then(|| policies.iter().any(|p| p == "default"));
        self.map().insert(
            workload.to_string(),
            Check {
                accessor: accessor.to_string(),
                default,
                last: None,
            },
        );
    }

    /// Whether a refusal of a request with `workload`'s token `accessor` at `now` is to be checked with a
    /// lookup (which is then counted as made).
    pub(super) fn due(&self, workload: &str, accessor: &str, now: Instant) -> bool {
        let mut map = self.map();
        let check = map.entry(workload.to_string()).or_insert_with(|| Check {
            accessor: accessor.to_string(),
            default: None,
            last: None,
        });
        if check.accessor != accessor {
            // A token not made here (resumed): nothing known of it.
            *check = Check {
                accessor: accessor.to_string(),
                default: None,
                last: None,
            };
        }
        if check.default == Some(false) || check.last.is_some_and(|at| now < at + EVERY) {
            return false;
        }
        check.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_string()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_with_default_is_looked_up_once_per_period() {
        let c = Checks::default();
        c.held("billing", "acc1", &policies(&["billing", "default"]));
        assert!(c.due("billing", "acc1", Instant::now()));
        assert!(
            !c.due("billing", "acc1", Instant::now()),
            "not again at once"
        );
        tokio::time::advance(EVERY - Duration::from_secs(1)).await;
        assert!(!c.due("billing", "acc1", Instant::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            c.due("billing", "acc1", Instant::now()),
            "again after the period"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_without_default_is_never_looked_up() {
        let c = Checks::default();
        c.held("billing", "acc1", &policies(&["billing"]));
        assert!(!c.due("billing", "acc1", Instant::now()));
        tokio::time::advance(EVERY * 2).await;
        assert!(!c.due("billing", "acc1", Instant::now()));
        // Its replacement, with `default`, is.
        c.held("billing", "acc2", &policies(&["billing", "default"]));
        assert!(c.due("billing", "acc2", Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_of_unknown_policies_is_looked_up_once_per_period() {
        let c = Checks::default();
        // Resumed: never held here.
        assert!(c.due("billing", "acc-resumed", Instant::now()));
        assert!(!c.due("billing", "acc-resumed", Instant::now()));
        // Policies not given by the login: unknown too.
        c.held("reports", "acc3", &[]);
        assert!(c.due("reports", "acc3", Instant::now()));
        // Another workload's checks are its own.
        assert!(!c.due("billing", "acc-resumed", Instant::now()));
    }
}
