//! `timestamp`: the current UTC time, RFC 3339 by default, `"unix"` for epoch seconds, or a Go time layout.

use time::OffsetDateTime;

use super::{Env, FResult, str_arg};
use crate::template::value::Value;

/// Run `timestamp`, or `None` for another name.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    if name != "timestamp" {
        return None;
    }
    let now = OffsetDateTime::now_utc();
    Some(match args {
        [] => Ok(Value::str(format_go(now, "2006-01-02T15:04:05Z07:00"))),
        [layout] => str_arg(name, layout, env).map(|l| {
            if l == "unix" {
                Value::str(now.unix_timestamp().to_string())
            } else {
                Value::str(format_go(now, l))
            }
        }),
        _ => Err(format!(
            "timestamp: wrong number of arguments, expected 0 or 1, but got {}",
            args.len()
        )),
    })
}

/// Format a UTC time with a Go reference-time layout (`Mon Jan 2 15:04:05 MST 2006`).
pub fn format_go(t: OffsetDateTime, layout: &str) -> String {
    super::sprig_time::format_utc(t, layout)
}
