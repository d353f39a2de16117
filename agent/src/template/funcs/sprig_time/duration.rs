//! Go's `time.Duration` (an `int64` of nanoseconds): `String()`, `time.ParseDuration`, `Round`/`Truncate`,
//! and sprig's `durationRound` wording. Errors never quote the text parsed.

use super::gotime::NANOS;

/// `d.String()`: `1h2m3.5s`, `1.5ms`, `300µs`, `0s`.
pub fn string(d: i64) -> String {
    let neg = if d < 0 { "-" } else { "" };
    let u = d.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        // Below a second: the largest unit that keeps an integer part.
        let (scale, unit) = if u < 1_000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{neg}{}{}{unit}", u / scale, frac(u % scale, scale));
    }
    let secs = u / 1_000_000_000;
    let mut out = String::from(neg);
    if secs >= 3600 {
        out.push_str(&format!("{}h", secs / 3600));
    }
    if secs >= 60 {
        out.push_str(&format!("{}m", secs / 60 % 60));
    }
    out.push_str(&format!(
        "{}{}s",
        secs % 60,
        frac(u % 1_000_000_000, 1_000_000_000)
    ));
    out
}

/// `.digits` of `part / scale` without trailing zeros; nothing for zero (Go's `fmtFrac`).
fn frac(part: u64, scale: u64) -> String {
    if part == 0 {
        return String::new();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{part:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// `time.ParseDuration`: `1h30m`, `-1.5h`, `300ms`, `1us`/`1µs`, `0`.
pub fn parse(s: &str) -> Result<i64, String> {
    let invalid = || "time: invalid duration".to_string();
    let mut b = s.as_bytes();
    let neg = matches!(b.first(), Some(b'-'));
    if matches!(b.first(), Some(b'-' | b'+')) {
        b = &b[1..];
    }
    if b == b"0" {
        return Ok(0);
    }
    if b.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !b.is_empty() {
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part; overflow is an error.
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &b[..n] {
            if v > (1 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        b = &b[n..];
        // The fraction; digits past what fits are ignored.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if b.first() == Some(&b'.') {
            b = &b[1..];
            let m = b.iter().take_while(|c| c.is_ascii_digit()).count();
            post = m > 0;
            let mut overflow = false;
            for &c in &b[..m] {
                if overflow || f > (i64::MAX as u64) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            b = &b[m..];
        }
        if n == 0 && !post {
            return Err(invalid());
        }
        let u = b
            .iter()
            .take_while(|&&c| c != b'.' && !c.is_ascii_digit())
            .count();
        if u == 0 {
            return Err("time: missing unit in duration".into());
        }
        let unit: u64 = match &b[..u] {
            b"ns" => 1,
            // "µs" (micro sign) and "μs" (Greek mu), in UTF-8.
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return Err("time: unknown unit in duration".into()),
        };
        b = &b[u..];
        if v > (1 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // As Go does: in floating point, exact to the nanosecond for fractions of an hour.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        // -(1<<63) is the one negative value without a positive twin.
        return Ok(0i64.wrapping_sub_unsigned(d));
    }
    i64::try_from(d).map_err(|_| invalid())
}

/// `d.Round(m)`: to the nearest multiple of `m`, halves away from zero, saturating.
pub fn round(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let r = d % m;
    let half = |r: i64| r.unsigned_abs() * 2 < m.unsigned_abs();
    if d < 0 {
        let r = -r;
        if half(r) {
            return d + r;
        }
        d.checked_sub(m - r).unwrap_or(i64::MIN)
    } else {
        if half(r) {
            return d - r;
        }
        d.checked_add(m - r).unwrap_or(i64::MAX)
    }
}

/// `d.Truncate(m)`: toward zero to a multiple of `m`.
pub fn truncate(d: i64, m: i64) -> i64 {
    if m <= 0 { d } else { d - d % m }
}

/// `d.Hours()`, `d.Minutes()`, `d.Seconds()`: whole units plus the rest as a fraction.
pub fn in_units(d: i64, unit: i64) -> f64 {
    (d / unit) as f64 + (d % unit) as f64 / unit as f64
}

/// sprig's `durationRound`: the largest whole unit (`y` of 365 days, `mo` of 30, `d`, `h`, `m`, `s`) the
/// duration's size strictly exceeds, without a sign.
pub fn sprig_round(d: i64) -> String {
    let u = d.unsigned_abs();
    let hour = 3600 * NANOS.unsigned_abs();
    let units = [
        (hour * 24 * 365, "y"),
        (hour * 24 * 30, "mo"),
        (hour * 24, "d"),
        (hour, "h"),
        (60 * NANOS.unsigned_abs(), "m"),
        (NANOS.unsigned_abs(), "s"),
    ];
    units
        .iter()
        .find(|(size, _)| u > *size)
        .map_or_else(|| "0s".into(), |(size, name)| format!("{}{name}", u / size))
}
