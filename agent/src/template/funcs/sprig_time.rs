//! sprig v3.2.3 functions: date and time: `now`, `date`, `toDate`, `duration`, ... (`time.Time` values).
//!
//! - `gotime`: Go's `time.Time` (instant, location, monotonic reading) and its calendar arithmetic.
//! - `layout`: Go's reference-time layouts, formatting and parsing.
//! - `duration`: Go's `time.Duration` text, `ParseDuration`, rounding.
//! - `zone`: `time.LoadLocation` and `time.Local` from the system's zoneinfo files.
//! - `objects`: the `GoObject`s templates see (`time.Time`, `time.Duration`, `time.Month`, ...), their
//!   fields and methods.

mod duration;
mod gotime;
mod layout;
mod objects;
mod zone;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::{Env, FResult, arity, str_arg};
use crate::template::value::Value;
use gotime::{GoTime, Loc, NANOS};
use objects::{as_time, obj};

/// The sprig names (without `sprig_`) this file serves.
pub const NAMES: &[&str] = &[
    "ago",
    "date",
    "dateInZone",
    "dateModify",
    "date_in_zone",
    "date_modify",
    "duration",
    "durationRound",
    "htmlDate",
    "htmlDateInZone",
    "mustDateModify",
    "mustToDate",
    "must_date_modify",
    "now",
    "toDate",
    "unixEpoch",
];

/// Run `sprig_<name>` (`name` without the prefix), or `None` if it is not one of this file's.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    let n = |want: usize| arity(name, args, want);
    let s = |i: usize| str_arg(name, &args[i], env);
    Some(match name {
        "now" => n(0).map(|()| obj(now())),
        "date" => n(2).and_then(|()| Ok(date_in_zone(s(0)?, &args[1], "Local"))),
        "htmlDate" => n(1).map(|()| date_in_zone("2006-01-02", &args[0], "Local")),
        "htmlDateInZone" => n(2).and_then(|()| Ok(date_in_zone("2006-01-02", &args[0], s(1)?))),
        "dateInZone" | "date_in_zone" => {
            n(3).and_then(|()| Ok(date_in_zone(s(0)?, &args[1], s(2)?)))
        }
        "dateModify" | "date_modify" | "mustDateModify" | "must_date_modify" => {
            n(2).and_then(|()| {
                let t = time_param(&args[1])?;
                match duration::parse(s(0)?) {
                    Ok(d) => Ok(obj(t.add(d))),
                    Err(e) if name.starts_with("must") => Err(e),
                    // sprig's dateModify keeps the time when the duration does not parse.
                    Err(_) => Ok(obj(t.clone())),
                }
            })
        }
        "toDate" | "mustToDate" => n(2).and_then(|()| {
            match layout::parse(s(0)?, s(1)?, &zone::local()) {
                Ok(t) => Ok(obj(t)),
                Err(e) if name == "mustToDate" => Err(e),
                // sprig's toDate gives the zero time for what does not parse.
                Err(_) => Ok(obj(GoTime::zero())),
            }
        }),
        "unixEpoch" => n(1).and_then(|()| Ok(Value::str(time_param(&args[0])?.unix.to_string()))),
        "duration" => n(1).map(|()| {
            let secs = match &args[0] {
                Value::Str(t) => parse_int(t),
                Value::Int64(i) => *i,
                // sprig switches on string and int64 only: a template's int literal is neither.
                _ => 0,
            };
            Value::str(duration::string(secs.wrapping_mul(NANOS)))
        }),
        "durationRound" => n(1).map(|()| {
            let d = match &args[0] {
                Value::Str(t) => duration::parse(t).unwrap_or(0),
                Value::Int64(i) => *i,
                v => as_time(v).map_or(0, |t| now().sub(t)),
            };
            Value::str(duration::sprig_round(d))
        }),
        "ago" => n(1).map(|()| {
            let t = match &args[0] {
                Value::Int(i) | Value::Int64(i) => GoTime::unix(*i, zone::local()),
                v => as_time(v).cloned().unwrap_or_else(now),
            };
            Value::str(duration::string(duration::round(now().sub(&t), NANOS)))
        }),
        _ => return None,
    })
}

/// Go's `Time.Format` of a UTC instant (consul-template's `timestamp`).
pub(super) fn format_utc(t: ::time::OffsetDateTime, layout: &str) -> String {
    let t = GoTime {
        unix: t.unix_timestamp(),
        nsec: t.nanosecond(),
        loc: Loc::Utc,
        mono: None,
    };
    layout::format(&t, layout)
}

/// A `time.Time` parameter: Go refuses anything else before the function runs.
fn time_param(v: &Value) -> Result<&GoTime, String> {
    as_time(v).ok_or_else(|| match v {
        Value::Nil | Value::Missing(_) => "invalid value; expected time.Time".to_string(),
        _ => format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        ),
    })
}

/// sprig's `dateInZone`: a `time.Time`, or Unix seconds from an `int`/`int64`; anything else is now. A zone
/// that does not load is UTC.
fn date_in_zone(layout: &str, date: &Value, zone: &str) -> Value {
    let t = match date {
        Value::Int(i) | Value::Int64(i) => GoTime::unix(*i, zone::local()),
        v => as_time(v).cloned().unwrap_or_else(now),
    };
    let loc = zone::load(zone).unwrap_or(Loc::Utc);
    Value::str(layout::format(&t.in_loc(loc), layout))
}

/// `strconv.ParseInt(s, 10, 64)` as sprig uses it: 0 for text that is not a number, the limit for one out of
/// range.
fn parse_int(s: &str) -> i64 {
    use std::num::IntErrorKind;
    match s.parse::<i64>() {
        Ok(n) => n,
        Err(e) => match e.kind() {
            IntErrorKind::PosOverflow => i64::MAX,
            IntErrorKind::NegOverflow => i64::MIN,
            _ => 0,
        },
    }
}

/// `time.Now()`: the wall clock in the local zone, and a monotonic reading counted from the first call (Go
/// counts from the process start; only differences of readings mean anything).
fn now() -> GoTime {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    let mono = i64::try_from(start.elapsed().as_nanos())
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let ns: i128 = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    GoTime {
        unix: i64::try_from(ns.div_euclid(i128::from(NANOS))).unwrap_or(0),
        nsec: u32::try_from(ns.rem_euclid(i128::from(NANOS))).unwrap_or(0),
        loc: zone::local(),
        mono: Some(mono),
    }
}
