//! The scheduling rule for what the table holds: an entry's effective expiry along its parent chain, until
//! when it is served, when it is due and for what, and what a renewal's answer changes.

use tokio::time::Instant;

use super::{HeldId, Parent, Renewal, Step, Table};
use crate::lease::schedule::{Backoff, renew_after, replace_at};

/// Parent chains deeper than this are treated as broken (a token tree is never this deep in practice).
const MAX_DEPTH: usize = 64;

impl Table {
    /// The effective expiry of `id` (the earliest along its parent chain) and whether it is final. A
    /// parent that is gone ends the entry at once.
    fn end(&self, id: HeldId, depth: usize) -> Option<(Instant, bool)> {
        let e = self.held.get(&id)?;
        let gone = (e.since, true);
        let own = (e.expires_at, !e.renewing);
        let parent = match e.parent {
            Parent::None => None,
            Parent::Auto(p) => match self.auto.get(&p) {
                Some(a) => a.expires_at.map(|t| (t, a.is_final)),
                None => Some(gone),
            },
            Parent::Held(_) if depth >= MAX_DEPTH => Some(gone),
            Parent::Held(pid) => Some(self.end(pid, depth + 1).unwrap_or(gone)),
        };
        Some(match parent {
            Some(p) if p.0 < own.0 || (p.0 == own.0 && p.1) => p,
            _ => own,
        })
    }

    /// The effective expiry of the held token with `accessor` (the earliest along its parent chain) and
    /// whether it is final; `None` when no such token is held.
    pub fn token_end(&self, accessor: &str) -> Option<(Instant, bool)> {
        self.end(*self.by_accessor.get(accessor)?, 0)
    }

    /// Until when `id` may be served: its effective expiry while renewals can extend it; once that
    /// expiry is final, until a third of its life is left (at least [`crate::lease::schedule::MIN_LEAD`]).
    pub fn serve_until(&self, id: HeldId) -> Option<Instant> {
        let e = self.held.get(&id)?;
        let (end, fin) = self.end(id, 0)?;
        Some(if fin {
            replace_at(e.since, end, e.full)
        } else {
            end
        })
    }

    /// Whether `id` is held and may be served at `now`.
    pub fn servable(&self, id: HeldId, now: Instant) -> bool {
        self.serve_until(id).is_some_and(|t| now < t)
    }

    /// When `id` is due and what is due then.
    pub fn due(&self, id: HeldId) -> Option<(Instant, Step)> {
        let e = self.held.get(&id)?;
        let until = self.serve_until(id)?;
        Some(if e.renewing && e.due < until {
            (e.due, Step::Renew)
        } else {
            (until, Step::Drop)
        })
    }

    /// The next time anything held is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held
            .keys()
            .filter_map(|id| self.due(*id))
            .map(|d| d.0)
            .min()
    }

    /// The earliest expiry among the entries renewals can still extend: an outage's backoff must not
    /// sleep past it.
    pub fn first_expiry(&self) -> Option<Instant> {
        self.held
            .values()
            .filter(|e| e.renewing)
            .map(|e| e.expires_at)
            .min()
    }

    /// Every entry due at `now`, with its step.
    pub fn due_now(&self, now: Instant) -> Vec<(HeldId, Step)> {
        self.held
            .keys()
            .filter_map(|id| self.due(*id).map(|d| (*id, d)))
            .filter(|(_, (at, _))| *at <= now)
            .map(|(id, (_, step))| (id, step))
            .collect()
    }

    /// Apply what a renewal of `id` (by the engine, or by a caller through the proxy) told.
    pub fn apply(&mut self, id: HeldId, r: Renewal, now: Instant, backoff: &Backoff) {
        if r == Renewal::Gone {
            self.evict(id);
            return;
        }
        let threshold = self.threshold;
        let Some(e) = self.held.get_mut(&id) else {
            return;
        };
        match r {
            Renewal::Granted {
                ttl,
                renewable,
                asked,
            } => {
                e.expires_at = now + ttl;
                e.failures = 0;
                if ttl < asked.unwrap_or(e.full) || !renewable {
                    // At its max TTL: from now on it can only run out.
                    e.renewing = false;
                } else {
                    e.due = now + renew_after(ttl, threshold);
                }
            }
            Renewal::Final { left } => {
                if let Some(left) = left {
                    e.expires_at = now + left;
                }
                e.renewing = false;
            }
            Renewal::Transient => {
                e.due = now + backoff.delay(e.failures);
                e.failures += 1;
            }
            Renewal::Gone => {}
        }
    }
}
