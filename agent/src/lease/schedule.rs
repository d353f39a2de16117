//! When to act on a secret or token: the timing rules of DESIGN §6, as pure functions of durations.

use std::time::Duration;

use rand::Rng;

/// Fraction of a token's TTL after which it is renewed.
pub const TOKEN_RENEW_FRACTION: f64 = 2.0 / 3.0;
/// Fraction of a non-renewable lease after which it is fetched again (jittered ±5%).
pub const NON_RENEWABLE_FRACTION: f64 = 0.9;

/// `fraction` of `d` with ±`jitter` (relative) randomness, e.g. 2/3 ± 10%.
pub fn jittered(d: Duration, fraction: f64, jitter: f64) -> Duration {
    let j = if jitter > 0.0 {
        rand::rng().random_range(-jitter..=jitter)
    } else {
        0.0
    };
    d.mul_f64((fraction * (1.0 + j)).clamp(0.05, 0.95))
}

/// Delay before renewing a renewable lease of `lease` length (`threshold` of it, ±10%).
pub fn renew_after(lease: Duration, threshold: f64) -> Duration {
    jittered(lease, threshold, 0.1)
}

/// Delay before re-fetching a non-renewable secret of `lease` length (~90%).
pub fn refetch_after(lease: Duration) -> Duration {
    jittered(lease, NON_RENEWABLE_FRACTION, 0.05)
}

/// Whether a renewal that granted `granted` (having asked for `asked`) can no longer usefully extend the
/// lease: it is capped by its max TTL and less than a third of the original remains.
pub fn at_max_ttl(granted: Duration, asked: Duration) -> bool {
    granted < asked && granted < asked.mul_f64(2.0 / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_bounds() {
        for _ in 0..1000 {
            let d = renew_after(Duration::from_secs(300), 2.0 / 3.0);
            assert!(
                d >= Duration::from_secs(180) && d <= Duration::from_secs(220),
                "{d:?}"
            );
            let r = refetch_after(Duration::from_secs(100));
            assert!(
                r >= Duration::from_millis(85_500) && r <= Duration::from_millis(94_500),
                "{r:?}"
            );
        }
    }

    #[test]
    fn capped_renewal_is_detected() {
        assert!(!at_max_ttl(
            Duration::from_secs(30),
            Duration::from_secs(30)
        ));
        assert!(!at_max_ttl(
            Duration::from_secs(25),
            Duration::from_secs(30)
        ));
        assert!(at_max_ttl(Duration::from_secs(5), Duration::from_secs(30)));
    }
}
