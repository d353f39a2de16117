//! When to act on a secret or token: the timing rules of DESIGN §6 as pure functions of instants and
//! durations, so they are tested with tokio's paused clock.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Fraction of a token's TTL after which it is renewed.
pub const TOKEN_RENEW_FRACTION: f64 = 2.0 / 3.0;
/// Shortest lead time before an effective expiry at which a replacement is fetched.
pub const MIN_LEAD: Duration = Duration::from_secs(2);

/// How far (relative) a revocation check may come before or after its period: ±15%, so the agents of a
/// fleet started together drift apart instead of looking up their leases in step.
pub const CHECK_JITTER: f64 = 0.15;

/// Delay before the next revocation check (`lease_check_interval` = `every`): `every` ±[`CHECK_JITTER`].
pub fn check_after(every: Duration) -> Duration {
    every.mul_f64(1.0 + spread(CHECK_JITTER))
}

/// A random relative offset in ±`jitter` (0 when `jitter` is 0).
fn spread(jitter: f64) -> f64 {
    if jitter > 0.0 {
        rand::rng().random_range(-jitter..=jitter)
    } else {
        0.0
    }
}

/// `fraction` of `d` with ±`jitter` (relative) randomness, e.g. 2/3 ± 10%; never 0 or all of `d`.
pub fn jittered(d: Duration, fraction: f64, jitter: f64) -> Duration {
    d.mul_f64((fraction * (1.0 + spread(jitter))).clamp(0.05, 0.95))
}

/// Delay before renewing a renewable lease (or token) of `lease` length: `threshold` of it, ±10%.
pub fn renew_after(lease: Duration, threshold: f64) -> Duration {
    jittered(lease, threshold, 0.1)
}

/// Whether a renewal that granted `granted` (having asked for `asked`) was capped by a max TTL: from now
/// on the lease (or token) can only run out, and its replacement must be arranged.
pub fn capped(granted: Duration, asked: Duration) -> bool {
    granted < asked
}

/// When to fetch the replacement of a secret whose life ends at `expiry` (its lease or its parent token,
/// whichever is first), `life` being its full lease duration: a third of its life before the end (at
/// least [`MIN_LEAD`]), so the new secret is delivered while the old one is still valid.
pub fn replace_at(now: Instant, expiry: Instant, life: Duration) -> Instant {
    let lead = (life / 3).max(MIN_LEAD);
    expiry.checked_sub(lead).unwrap_or(now).max(now)
}

/// The effective expiry of a lease: the earlier of its own and its parent token's.
pub fn effective_expiry(lease: Option<Instant>, token: Option<Instant>) -> Option<Instant> {
    match (lease, token) {
        (Some(l), Some(t)) => Some(l.min(t)),
        (l, t) => l.or(t),
    }
}

/// How hard to retry a failing call inside one operation.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First delay.
    pub min: Duration,
    /// Cap of the delay.
    pub max: Duration,
    /// Retries after the first attempt; `None` = until it works.
    pub times: Option<usize>,
}

impl RetryPolicy {
    /// `--once`: a few quick retries, then fail.
    pub const ONCE: Self = Self {
        min: Duration::from_millis(250),
        max: Duration::from_secs(2),
        times: Some(3),
    };

    /// `--once` with `vault { retry { num_retries } }` (`None`: [`RetryPolicy::ONCE`]'s few).
    pub fn once(num_retries: Option<u32>) -> Self {
        Self {
            times: num_retries
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .or(Self::ONCE.times),
            ..Self::ONCE
        }
    }

    /// The waits between tries: [`Backoff`]'s doubling with ±20% jitter, never past `max` (backon's own
    /// jitter is added after its cap, up to twice `max_backoff`).
    pub(super) fn delays(
        &self,
    ) -> impl Iterator<Item = Duration> + Send + Sync + Unpin + Clone + use<> {
        let b = Backoff {
            min: self.min,
            max: self.max,
        };
        (0..self.times.unwrap_or(usize::MAX))
            .map(move |i| b.delay(u32::try_from(i).unwrap_or(u32::MAX)))
    }
}

/// The most a one-shot run (`--once`, `exit_after_auth`) may take before it gives up: whatever the
/// backend does (a body dripping in, answers that never come, endless 5xx), it ends with an error well
/// within two minutes under the default settings. A client timeout raised above the default still
/// gets one whole request and some retries.
pub const ONCE_DEADLINE: Duration = Duration::from_secs(100);

/// The deadline of a one-shot run whose requests may each take `client_timeout`.
pub fn once_deadline(client_timeout: Duration) -> Duration {
    ONCE_DEADLINE.max(client_timeout.saturating_add(Duration::from_secs(40)))
}

/// Tries through an outage before `exit_on_retry_failure` gives up: `num_retries`, else Vault Agent's
/// default of 12.
pub fn outage_retries(num_retries: Option<u32>) -> usize {
    num_retries.map_or(12, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Sleep until `t`; forever when there is nothing to wait for.
pub async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Exponential backoff with jitter: the delay before retry `n` is drawn from the upper half of
/// `min × 2^n` (capped at `max`), never below `min`. The draw is uniform, so a fleet of agents that failed
/// together (one outage) drifts apart within a few retries and comes back spread over the whole window,
/// instead of in a wave every `max` (a fixed cap with a little jitter keeps a fleet synchronized).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// First delay.
    pub min: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before try number `attempt + 1` (attempt 0 is the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self.max.max(self.min);
        let base = self.min.saturating_mul(1u32 << attempt.min(20)).min(cap);
        // The first retry has no lower half above `min`: jitter it upwards a little instead.
        let (lo, hi) = if base <= self.min {
            (self.min, self.min.mul_f64(1.25).min(cap))
        } else {
            ((base / 2).max(self.min), base)
        };
        if hi <= lo {
            return lo;
        }
        rand::rng().random_range(lo..=hi)
    }
}

#[cfg(test)]
mod tests;
