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

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Format a UTC time with a Go reference-time layout (`Mon Jan 2 15:04:05 MST 2006`).
pub fn format_go(t: OffsetDateTime, layout: &str) -> String {
    let month = usize::from(u8::from(t.month())) - 1;
    let wd = usize::from(t.weekday().number_days_from_monday());
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        // (token, replacement): longest tokens first where they share a prefix.
        let frac = |n: usize, trim: bool| {
            let s = format!("{:09}", t.nanosecond());
            let s = &s[..n];
            if trim {
                let s = s.trim_end_matches('0');
                if s.is_empty() {
                    String::new()
                } else {
                    format!(".{s}")
                }
            } else {
                format!(".{s}")
            }
        };
        let tokens: [(&str, String); 29] = [
            ("January", MONTHS[month].to_string()),
            ("Jan", MONTHS[month][..3].to_string()),
            ("Monday", DAYS[wd].to_string()),
            ("Mon", DAYS[wd][..3].to_string()),
            ("MST", "UTC".to_string()),
            ("2006", format!("{:04}", t.year())),
            ("Z07:00", "Z".to_string()),
            ("Z0700", "Z".to_string()),
            ("Z07", "Z".to_string()),
            ("-07:00", "+00:00".to_string()),
            ("-0700", "+0000".to_string()),
            ("-07", "+00".to_string()),
            ("002", format!("{:03}", t.ordinal())),
            ("01", format!("{:02}", u8::from(t.month()))),
            ("02", format!("{:02}", t.day())),
            ("03", format!("{hour12:02}")),
            ("04", format!("{:02}", t.minute())),
            ("05", format!("{:02}", t.second())),
            ("06", format!("{:02}", t.year().rem_euclid(100))),
            ("_2", format!("{:>2}", t.day())),
            ("15", format!("{:02}", t.hour())),
            ("1", u8::from(t.month()).to_string()),
            ("2", t.day().to_string()),
            ("3", hour12.to_string()),
            ("4", t.minute().to_string()),
            ("5", t.second().to_string()),
            ("PM", if t.hour() >= 12 { "PM" } else { "AM" }.to_string()),
            ("pm", if t.hour() >= 12 { "pm" } else { "am" }.to_string()),
            ("", String::new()),
        ];
        // Fractional seconds: ".000" / ",000" (fixed) or ".999" (trailing zeros trimmed).
        if let Some(sep) = rest.chars().next().filter(|c| *c == '.' || *c == ',') {
            let digits = &rest[1..];
            let n0 = digits.len() - digits.trim_start_matches('0').len();
            let n9 = digits.len() - digits.trim_start_matches('9').len();
            let (n, trim) = if n0 > 0 { (n0, false) } else { (n9, true) };
            if n > 0 && n <= 9 && !digits[n..].starts_with(|c: char| c.is_ascii_digit()) {
                let f = frac(n, trim);
                out.push_str(&f.replacen('.', &sep.to_string(), 1));
                rest = &digits[n..];
                continue;
            }
        }
        match tokens
            .iter()
            .find(|(tok, _)| !tok.is_empty() && rest.starts_with(tok))
        {
            Some((tok, rep)) => {
                out.push_str(rep);
                rest = &rest[tok.len()..];
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}
