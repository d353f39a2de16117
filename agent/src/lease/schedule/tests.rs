//! The timing rules: examples, and properties over any TTL, max TTL and parent token expiry.

use proptest::prelude::*;

use super::*;

#[test]
fn jitter_stays_in_bounds() {
    for _ in 0..1000 {
        let d = renew_after(Duration::from_secs(300), 2.0 / 3.0);
        assert!(
            d >= Duration::from_secs(180) && d <= Duration::from_secs(220),
            "{d:?}"
        );
    }
}

#[test]
fn revocation_checks_are_jittered_within_fifteen_percent_both_ways() {
    let every = Duration::from_secs(300);
    let delays: Vec<Duration> = (0..2000).map(|_| check_after(every)).collect();
    for d in &delays {
        assert!(
            *d >= Duration::from_secs(255) && *d <= Duration::from_secs(345),
            "{d:?}"
        );
    }
    // Spread over the window, not bunched at the period: some early and some late by over 10%.
    assert!(delays.iter().any(|d| *d < Duration::from_secs(270)));
    assert!(delays.iter().any(|d| *d > Duration::from_secs(330)));
}

#[test]
fn a_shorter_renewal_than_asked_is_a_capped_success() {
    assert!(!capped(Duration::from_secs(30), Duration::from_secs(30)));
    assert!(capped(Duration::from_secs(29), Duration::from_secs(30)));
}

#[test]
fn backoff_doubles_and_is_capped() {
    let b = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(300),
    };
    for _ in 0..200 {
        let d0 = b.delay(0);
        assert!(
            d0 >= Duration::from_millis(1000) && d0 <= Duration::from_millis(1250),
            "{d0:?}"
        );
        let d3 = b.delay(3);
        assert!(
            d3 >= Duration::from_millis(4000) && d3 <= Duration::from_millis(8000),
            "{d3:?}"
        );
        assert!(b.delay(30) <= Duration::from_secs(300));
        assert!(b.delay(30) >= Duration::from_secs(150));
    }
    let fixed = Backoff {
        min: Duration::from_secs(2),
        max: Duration::from_secs(2),
    };
    assert_eq!(fixed.delay(5), Duration::from_secs(2));
}

/// A fleet of 1,000 agents that all failed at the same instant (one outage) and retry with the same
/// policy: when the backend comes back, their first requests are spread over the backoff window they
/// are in, with no more than 5% of the fleet in any 1% of it. Checked for a short outage (agents still
/// doubling) and long ones (every agent at the cap).
#[tokio::test(start_paused = true)]
async fn a_fleet_comes_back_spread_over_the_backoff_window() {
    let b = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(300),
    };
    for outage in [60u64, 1800, 3600] {
        let start = Instant::now();
        let end = start + Duration::from_secs(outage);
        let mut firsts = Vec::new();
        let mut window = Duration::ZERO;
        for _ in 0..1000 {
            let (mut at, mut attempt) = (start, 0);
            loop {
                let d = b.delay(attempt);
                at += d;
                attempt += 1;
                if at >= end {
                    let base = b.min.saturating_mul(1 << (attempt - 1).min(20)).min(b.max);
                    window = window.max(base);
                    firsts.push(at - end);
                    break;
                }
            }
        }
        let buckets = 100;
        let mut counts = vec![0usize; buckets];
        for f in &firsts {
            let i = (f.as_secs_f64() / window.as_secs_f64() * buckets as f64) as usize;
            counts[i.min(buckets - 1)] += 1;
        }
        let peak = counts.iter().copied().max().unwrap_or(0);
        assert!(
            peak <= 50,
            "outage {outage}s: {peak} of 1000 agents in one 1% of the {window:?} window: {counts:?}"
        );
        let last = firsts.iter().copied().max().unwrap_or_default();
        assert!(
            last >= window.mul_f64(0.9),
            "outage {outage}s: all back within {last:?} of a {window:?} window"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn replacement_comes_a_third_of_the_life_before_the_end() {
    let now = Instant::now();
    let expiry = now + Duration::from_secs(120);
    assert_eq!(
        replace_at(now, expiry, Duration::from_secs(30)),
        now + Duration::from_secs(110)
    );
    // Short lives still get the minimum lead; past deadlines are "now".
    assert_eq!(
        replace_at(now, now + Duration::from_secs(3), Duration::from_secs(3)),
        now + Duration::from_secs(1)
    );
    assert_eq!(
        replace_at(now, now + Duration::from_secs(1), Duration::from_secs(30)),
        now
    );
}

#[tokio::test(start_paused = true)]
async fn effective_expiry_is_capped_by_the_parent_token() {
    let now = Instant::now();
    let lease = now + Duration::from_secs(120);
    let token = now + Duration::from_secs(60);
    assert_eq!(effective_expiry(Some(lease), Some(token)), Some(token));
    assert_eq!(effective_expiry(Some(lease), None), Some(lease));
    assert_eq!(effective_expiry(None, None), None);
}

/// A lease or token life: from a second to ten years, in milliseconds.
fn life() -> impl Strategy<Value = Duration> {
    (1_000u64..=10 * 365 * 24 * 3600 * 1000).prop_map(Duration::from_millis)
}

/// Where a lease stands: its full life, what is left of it, and the parent token's and the max TTL's
/// expiry (each maybe absent), all from now.
fn lease_state() -> impl Strategy<Value = (Duration, Duration, Option<Duration>, Option<Duration>)>
{
    (
        life(),
        0.0f64..=1.0,
        proptest::option::of(life()),
        proptest::option::of(life()),
    )
        .prop_map(|(full, left, token, max)| (full, full.mul_f64(left), token, max))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A renewal is planned inside what is left of the lease: at its threshold ±10%, never at 0 and
    /// never at or past the end (`jittered` keeps it within 5%..95% of it).
    #[test]
    fn a_renewal_comes_before_the_lease_ends_within_its_jitter(left in life(), threshold in 0.01f64..=1.0) {
        let d = renew_after(left, threshold);
        let lo = (threshold * 0.9).clamp(0.05, 0.95);
        let hi = (threshold * 1.1).clamp(0.05, 0.95);
        // `mul_f64` rounds to the nanosecond.
        let slack = Duration::from_nanos(2);
        prop_assert!(d + slack >= left.mul_f64(lo), "{d:?} before {lo} of {left:?}");
        prop_assert!(d <= left.mul_f64(hi) + slack, "{d:?} after {hi} of {left:?}");
        prop_assert!(d < left);
    }

    /// The replacement of a secret is fetched no later than its effective expiry (the earliest of its
    /// own TTL, its max TTL and its parent token's expiry), and never in the past; with enough time
    /// left, a third of its life (at least [`MIN_LEAD`]) before that expiry.
    #[test]
    fn a_replacement_is_never_due_after_the_effective_expiry((full, left, token, max) in lease_state()) {
        let now = Instant::now();
        let own = [Some(left), max].into_iter().flatten().min().map(|d| now + d);
        let Some(expiry) = effective_expiry(own, token.map(|t| now + t)) else {
            return Err(TestCaseError::fail("a lease always has an expiry"));
        };
        prop_assert!(expiry <= now + left);
        if let Some(t) = token {
            prop_assert!(expiry <= now + t);
        }
        let at = replace_at(now, expiry, full);
        prop_assert!(at >= now);
        prop_assert!(at <= expiry);
        let lead = (full / 3).max(MIN_LEAD);
        if expiry >= now + lead {
            prop_assert_eq!(at, expiry - lead);
        }
    }

    /// A renewal capped by the max TTL (granted less than asked) switches to a replacement due before
    /// the granted time runs out, as the lease engine plans it.
    #[test]
    fn a_capped_renewal_is_replaced_before_the_granted_time_ends(asked in life(), granted_part in 0.0f64..1.0) {
        let now = Instant::now();
        let granted = asked.mul_f64(granted_part);
        if capped(granted, asked) {
            let at = replace_at(now, now + granted, asked);
            prop_assert!(at >= now && at <= now + granted);
        }
    }

    /// Revocation checks stay within ±15% of their period.
    #[test]
    fn checks_stay_within_their_jitter(every in life()) {
        let d = check_after(every);
        let slack = Duration::from_nanos(2);
        prop_assert!(d + slack >= every.mul_f64(1.0 - CHECK_JITTER));
        prop_assert!(d <= every.mul_f64(1.0 + CHECK_JITTER) + slack);
    }

    /// Retry delays are never below the first delay nor above the cap, and from the second retry on lie
    /// in the upper half of the doubled delay.
    #[test]
    fn backoff_stays_within_its_window(min_ms in 1u64..=60_000, max_ms in 1u64..=3_600_000, attempt in 0u32..64) {
        let b = Backoff { min: Duration::from_millis(min_ms), max: Duration::from_millis(max_ms) };
        let cap = b.max.max(b.min);
        let d = b.delay(attempt);
        prop_assert!(d >= b.min && d <= cap, "{d:?} outside {:?}..={cap:?}", b.min);
        let base = b.min.saturating_mul(1u32 << attempt.min(20)).min(cap);
        if base > b.min {
            prop_assert!(d >= base / 2 && d <= base);
        }
    }
}
