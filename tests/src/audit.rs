//! Reading sidekey's own audit file (one JSON event a line) in tests: the events so far or, once sidekey
//! has exited, strictly; a field of an event; a one-line-per-event summary for failure messages; event
//! times; and `sidekey audit verify`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::sidekey::Sidekey;

pub mod anchored;
pub mod trail;

/// The events written so far while sidekey runs (a line still being written is skipped; no file, none).
pub fn events_so_far(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every line of the audit file as JSON; panics naming the line that does not parse (the file must be
/// whole after sidekey exited: nothing half-written, nothing lost in a buffer).
pub fn events_strict(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("audit file {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "audit file {} line {}: not JSON ({e}): {l:?}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// The string at JSON pointer `ptr` in `event` (`"/secret/path"`), or `""`.
pub fn field<'a>(event: &'a Value, ptr: &str) -> &'a str {
    event
        .pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// One line per event (`seq time event outcome path lease accessor reload error node`), for failure
/// messages.
pub fn summary(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {} {} {} {} {}",
                e["seq"],
                field(e, "/time"),
                field(e, "/event"),
                field(e, "/outcome"),
                field(e, "/secret/path"),
                field(e, "/secret/lease_id"),
                field(e, "/identity/token_accessor"),
                e.get("reload").map(Value::to_string).unwrap_or_default(),
                field(e, "/error"),
                field(e, "/backend/node")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sidekey audit verify FILE` must exit 0; panics showing its output otherwise.
pub fn assert_verifies(path: &Path) {
    let r = Sidekey::new(["audit", "verify"]).args([path]).run();
    assert_eq!(
        r.code(),
        0,
        "`sidekey audit verify {}` failed:\n{}",
        path.display(),
        r.show()
    );
}

/// Milliseconds since the epoch of an RFC 3339 UTC time as sidekey writes it
/// (`2026-11-30T14:30:02.114Z`).
pub fn rfc3339_ms(t: &str) -> Option<i64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    let frac = format!("{frac:0<3}");
    let ms = frac.get(..3)?.parse::<i64>().ok()?;
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// The wall clock in milliseconds since the epoch, to compare with [`rfc3339_ms`] of an event's `time`.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}
