//! What wakes the engine's loop besides the clock: reload requests, changed credential files and the
//! watchdog; and the status lines it reports to the service manager.

use tokio::time::Instant;

use super::engine::Engine;
use super::outcome::Reloads;
use super::reload::Reloaded;
use crate::auth::AuthError;
use crate::output::Delivery;
use crate::runtime::Notifier;

impl Engine {
    /// A credential file changed: a `token_file` holds a new token, used at once; for other methods a
    /// login held back by the backoff (the file was missing or bad) is tried now, and otherwise the next
    /// login simply reads the new file.
    pub(super) async fn on_credentials(&mut self) -> Result<(), AuthError> {
        if self.tokens.token_from_file() {
            tracing::info!("the token file changed; using the new token");
            if self.tokens.relogin().await? == super::token::Reach::Unreachable {
                self.note_transient();
            }
            // A sink that fails is logged (by the deliverer) and written again with the next delivery.
            let _ = self.write_sinks().await;
        } else if let Some(o) = &mut self.outage {
            o.at = Instant::now();
        }
        Ok(())
    }

    /// Handle a reload request: read the config again and apply it (requests that came in a burst are
    /// handled once).
    pub(super) fn on_reload(&mut self, ready_sent: bool) -> Option<Reloaded> {
        let r = self.reloads.as_mut()?;
        while r.requests.try_recv().is_ok() {}
        // RELOADING=1's MONOTONIC_USEC marks when the reload began, before the files are read. Before the
        // first READY=1 the service is still starting: no RELOADING then.
        if ready_sent {
            self.notifier.reloading();
        }
        let loaded = (r.load)();
        Some(self.reload(loaded))
    }

    /// The status line without a delivery at hand.
    pub(super) fn status_now(&self) -> String {
        let total = self.renderers.len() + usize::from(!self.envs.is_empty());
        let next = self
            .next_due()
            .map(|t| t.saturating_duration_since(Instant::now()).as_secs())
            .unwrap_or(0);
        format!("{total} outputs, next refresh in {next} s")
    }

    /// `systemctl status`'s line: counts and the next due time, never a value or a path.
    pub(super) fn status_line(&self, d: &Delivery) -> String {
        let total = d.files.len() + usize::from(d.env.is_some());
        let failed = d.files.iter().filter(|r| r.is_err()).count()
            + usize::from(matches!(d.env, Some(Err(_))));
        let next = self
            .next_due()
            .map(|t| t.saturating_duration_since(Instant::now()).as_secs());
        let mut line = format!("{} of {total} outputs fresh", total - failed);
        if failed > 0 {
            line.push_str(&format!(", {failed} failing (retrying)"));
        }
        if let Some(s) = next {
            line.push_str(&format!(", next refresh in {s} s"));
        }
        line
    }
}

/// `WATCHDOG=1` at the notifier's pace while the start (login) runs; never completes.
pub(super) async fn watchdog(notifier: Notifier) {
    let Some(every) = notifier.watchdog_every() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(every).await;
        notifier.watchdog();
    }
}

/// The next reload request; pending forever without a source of them.
pub(super) async fn reload_requested(reloads: &mut Option<Reloads>) {
    match reloads {
        Some(r) => {
            if r.requests.recv().await.is_none() {
                // Every sender is gone: no more requests.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
