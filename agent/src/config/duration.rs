//! Go-style durations, as Vault Agent writes them: `"30s"`, `"5m"`, `"1h30m"`, `"250ms"`, `"1.5h"`; a bare
//! number (or a string of digits) is seconds.

use std::time::Duration;

/// Parse a Go duration string (`"1h30m"`) or a number of seconds (`"30"`).
///
/// # Errors
/// A message saying what is wrong, for the caller to prefix with the key path.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    if s.starts_with('-') {
        return Err(format!(
            "{text:?} is negative; a duration must be 0 or more"
        ));
    }
    let bad =
        || format!("{text:?} is not a duration (write e.g. \"30s\", \"5m\", \"1h30m\", \"250ms\")");
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64; // nanoseconds
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = tail;
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(format!("{text:?} is too long"));
    }
    // Whole nanoseconds, as Go truncates.
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations() {
        for bad in ["", "s", "5 minutes", "1d", "-5s", "1.2.3s", "m5", "5m3"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
