//! Unit tests of sprig's date functions and the Go `time` behaviour under them; the expected bytes are what
//! `bao agent` 2.7.2 renders (the `sprig-time-*` corpus templates check the same against the real agent).
//! The zone tests read the system's zoneinfo files, as the functions do.

#![allow(clippy::panic)] // a failed test panics

use std::sync::Arc;

use super::duration;
use crate::backend::secret::{Secret, SecretRequest};
use crate::template::{MissingKey, ParseOptions, RenderContext, Template};

struct Ctx;

impl RenderContext for Ctx {
    fn secret(&self, _: &SecretRequest) -> Option<Arc<Secret>> {
        None
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    fn file(&self, _: &str) -> Option<String> {
        None
    }
}

fn render(src: &str) -> Result<String, String> {
    let t = Template::parse("t", src, &ParseOptions::default()).map_err(|e| e.to_string())?;
    t.render(&Ctx, MissingKey::ErrorOnPrint)
        .result
        .map(|s| s.to_string())
        .map_err(|e| e.to_string())
}

#[track_caller]
fn check(src: &str, want: &str) {
    match render(src) {
        Ok(got) => assert_eq!(got, want, "{src}"),
        Err(e) => panic!("{src}: {e}"),
    }
}

/// Whether the local zone is UTC, as on the test machines (the expectations that show local times need it).
fn local_is_utc() -> bool {
    render(r#"{{ sprig_date "-0700" 0 }}"#).is_ok_and(|s| s == "+0000")
}

const T: &str =
    r#"{{ $t := sprig_toDate "2006-01-02 15:04:05.000000000" "2024-02-29 13:07:09.123456789" }}"#;

#[test]
fn to_date_parses_go_layouts() {
    if !local_is_utc() {
        return;
    }
    let cases = [
        (
            r#""2006-01-02" "2024-02-29""#,
            "2024-02-29 00:00:00 +0000 UTC",
        ),
        (
            r#""2006-01-02T15:04:05Z07:00" "2023-11-14T22:13:20+05:30""#,
            "2023-11-14 22:13:20 +0530 +0530",
        ),
        (
            r#""2006-01-02 15:04:05" "2023-11-14 22:13:20.5""#,
            "2023-11-14 22:13:20.5 +0000 UTC",
        ),
        (r#""3:04pm" "12:05am""#, "0000-01-01 00:05:00 +0000 UTC"),
        (
            r#""Monday, January 2, 2006" "wednesday, MARCH 6, 2024""#,
            "2024-03-06 00:00:00 +0000 UTC",
        ),
        (r#""2006 __2" "2023  60""#, "2023-03-01 00:00:00 +0000 UTC"),
        (r#""06-01-02" "68-07-20""#, "2068-07-20 00:00:00 +0000 UTC"),
        (
            r#""2006-01-02 15:04 MST" "2024-01-01 10:00 EST""#,
            "2024-01-01 10:00:00 +0000 EST",
        ),
        (
            r#""2006-01-02 15:04 MST" "2024-01-01 10:00 GMT+3""#,
            "2024-01-01 13:00:00 +0300 GMT+3",
        ),
        (
            r#""2006-01-02 -07:00:00" "2024-01-01 +01:02:03""#,
            "2024-01-01 00:00:00 +0102 +0102",
        ),
        (r#""" """#, "0000-01-01 00:00:00 +0000 UTC"),
        // What does not parse is Go's zero time.
        (
            r#""2006-01-02" "2024-02-30""#,
            "0001-01-01 00:00:00 +0000 UTC",
        ),
        (r#""15:04" "24:00""#, "0001-01-01 00:00:00 +0000 UTC"),
        (r#""2006" "2024-01""#, "0001-01-01 00:00:00 +0000 UTC"),
    ];
    for (args, want) in cases {
        check(&format!("{{{{ sprig_toDate {args} }}}}"), want);
    }
    check(
        r#"{{ sprig_toDate "2006-01-02" "2017-12-31" | sprig_date "02/01/2006" }}"#,
        "31/12/2017",
    );
}

#[test]
fn must_to_date_fails_without_quoting_the_value() {
    let e = render(r#"{{ sprig_mustToDate "2006-01-02" "2024-02-x9" }}"#).unwrap_err();
    assert!(e.contains(r#"cannot parse the value as "02""#), "{e}");
    assert!(!e.contains("x9"), "{e}");
    let e = render(r#"{{ sprig_mustToDate "2006-01-02" "2024-02-30" }}"#).unwrap_err();
    assert!(e.contains("day out of range"), "{e}");
}

#[test]
fn date_takes_times_and_unix_seconds() {
    if !local_is_utc() {
        return;
    }
    check(
        r#"{{ 1700000000 | sprig_date "2006-01-02T15:04:05Z07:00" }}"#,
        "2023-11-14T22:13:20Z",
    );
    check(
        r#"{{ sprig_date "2006-01-02 15:04:05.000 MST" (sprig_int64 1560458379) }}"#,
        "2019-06-13 20:39:39.000 UTC",
    );
    check(
        r#"{{ sprig_date "2006-01-02 15:04:05" -86401 }}"#,
        "1969-12-30 23:59:59",
    );
    check(r#"{{ sprig_htmlDate 0 }}"#, "1970-01-01");
    check(
        r#"{{ sprig_toDate "2006-01-02" "2024-02-29" | sprig_date "Mon Jan 2 15:04:05 MST 2006" }}"#,
        "Thu Feb 29 00:00:00 UTC 2024",
    );
    // Anything else is now.
    check(r#"{{ sprig_date "2006" "2020-01-01" | len }}"#, "4");
    // Years far from now, and before year 1.
    check(
        r#"{{ sprig_date "2006-01-02 15:04:05 Mon" 1000000000000000 }}"#,
        "31690708-07-05 01:46:40 Sun",
    );
    check(
        r#"{{ sprig_date "2006-01-02 Jan 06" -62198755200 }}"#,
        "-0001-01-01 Jan 01",
    );
}

#[test]
fn date_in_zone_reads_the_system_zones() {
    let cases = [
        ("America/New_York", "2023-11-14 17:13:20 EST -0500"),
        ("Asia/Kolkata", "2023-11-15 03:43:20 IST +0530"),
        ("UTC", "2023-11-14 22:13:20 UTC +0000"),
        ("foobar", "2023-11-14 22:13:20 UTC +0000"),
        ("../zoneinfo/Asia/Tokyo", "2023-11-14 22:13:20 UTC +0000"),
    ];
    for (zone, want) in cases {
        check(
            &format!(
                r#"{{{{ sprig_dateInZone "2006-01-02 15:04:05 MST -0700" 1700000000 "{zone}" }}}}"#
            ),
            want,
        );
    }
    check(
        r#"{{ sprig_date_in_zone "2006-01-02 15:04:05 MST -07:00:00" -2500000000 "Europe/Amsterdam" }}"#,
        "1890-10-11 19:52:52 AMT +00:19:32",
    );
    // Beyond the zone file's transitions, its rule.
    check(
        r#"{{ sprig_dateInZone "2006-01-02 15:04 MST" 5000000000 "Europe/Berlin" }}"#,
        "2128-06-11 10:53 CEST",
    );
    check(
        r#"{{ sprig_htmlDateInZone 1700000000 "Asia/Tokyo" }}"#,
        "2023-11-15",
    );
}

#[test]
fn duration_and_duration_round() {
    let cases = [
        ("95", "0s"),
        (r#""95""#, "1m35s"),
        ("(sprig_int64 95)", "1m35s"),
        (r#""93784""#, "26h3m4s"),
        (r#""-61""#, "-1m1s"),
        (r#""1m""#, "0s"),
        (r#""99999999999999999999""#, "-1s"),
        (r#""9223372037""#, "-2562047h47m16.709551616s"),
    ];
    for (arg, want) in cases {
        check(&format!("{{{{ sprig_duration {arg} }}}}"), want);
    }
    let cases = [
        (r#""2h10m""#, "2h"),
        (r#""24h5s""#, "1d"),
        (r#""2400h5s""#, "3mo"),
        (r#""9000h""#, "1y"),
        (r#""-2h10m""#, "2h"),
        (r#""1h""#, "60m"),
        (r#""1s""#, "0s"),
        (r#""forever""#, "0s"),
        ("(sprig_int64 3600000000001)", "1h"),
        ("3600000000001", "0s"),
    ];
    for (arg, want) in cases {
        check(&format!("{{{{ sprig_durationRound {arg} }}}}"), want);
    }
}

#[test]
fn date_modify_adds_a_go_duration() {
    if !local_is_utc() {
        return;
    }
    let t = r#"{{ $t := sprig_toDate "2006-01-02 15:04:05" "2024-02-29 12:00:00" }}"#;
    let cases = [
        ("-1.5h", "2024-02-29 10:30:00 +0000 UTC"),
        ("1µs", "2024-02-29 12:00:00.000001 +0000 UTC"),
        ("-2h45m30.5s", "2024-02-29 09:14:29.5 +0000 UTC"),
        (".5h", "2024-02-29 12:30:00 +0000 UTC"),
        ("1d", "2024-02-29 12:00:00 +0000 UTC"),
    ];
    for (d, want) in cases {
        check(&format!(r#"{t}{{{{ sprig_dateModify "{d}" $t }}}}"#), want);
    }
    check(&format!("{t}{{{{ sprig_unixEpoch $t }}}}"), "1709208000");
    assert!(render(&format!(r#"{t}{{{{ sprig_mustDateModify "1d" $t }}}}"#)).is_err());
    assert!(render(r#"{{ sprig_dateModify "1h" "2024-02-29" }}"#).is_err());
}

#[test]
fn now_and_ago_have_go_shapes() {
    let out = render(
        r#"{{ $n := sprig_now }}{{ $n }}|{{ $n | sprig_dateModify "1h" }}|{{ $n.UTC }}|{{ sprig_ago $n }}|{{ sprig_ago ($n | sprig_dateModify "-90s") }}|{{ sprig_ago "x" }}"#,
    )
    .unwrap_or_default();
    let re = regex::Regex::new(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+ m=\+(\d+)\.\d{9}\|.* m=\+36\d\d\.\d{9}\|[^m]*\|0s\|1m30s\|0s$",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(re.is_match(&out), "{out}");
}

#[test]
fn time_methods() {
    if !local_is_utc() {
        return;
    }
    let u = r#"{{ $u := sprig_toDate "2006-01-02" "2024-01-01" }}"#;
    let cases = [
        (
            "{{ $t.Year }} {{ $t.Month }} {{ $t.Day }} {{ $t.YearDay }} {{ $t.Weekday }} {{ $t.Unix }} {{ $t.UnixMilli }}",
            "2024 February 29 60 Thursday 1709212029 1709212029123",
        ),
        (
            r#"{{ $t.Format "Monday, 02-Jan-06 3:04:05.000PM MST" }}"#,
            "Thursday, 29-Feb-24 1:07:09.123PM UTC",
        ),
        (
            r#"{{ $t.Format ".0 .00 ,999 .9999999999 05.9 _2|__2|002 Z07 -07:00:00" }}"#,
            ".1 .12 ,123 .123456789 09.1 29| 60|060 Z +00:00:00",
        ),
        (
            "{{ $t.Add 3600000000000 }}",
            "2024-02-29 14:07:09.123456789 +0000 UTC",
        ),
        (
            "{{ $t.AddDate 1 0 0 }} {{ $t.AddDate 0 -14 0 }}",
            "2025-03-01 13:07:09.123456789 +0000 UTC 2022-12-29 13:07:09.123456789 +0000 UTC",
        ),
        (
            "{{ $t.Sub $u }} {{ ($t.Sub $u).Hours }} {{ ($u.Sub $t).Round 1000000000 }}",
            "1429h7m9.123456789s 1429.1192009602191 -1429h7m9s",
        ),
        (
            "{{ $t.Before $u }} {{ $t.After $u }} {{ $t.Equal $t.UTC }} {{ $t.Compare $u }}",
            "false true true 1",
        ),
        (
            "{{ $t.Truncate 604800000000000 }} {{ $t.Round 60000000000 }}",
            "2024-02-26 00:00:00 +0000 UTC 2024-02-29 13:07:00 +0000 UTC",
        ),
        (
            r#"{{ $t.Location }} {{ $t.UTC.Location }} {{ (sprig_toDate "" "x").IsZero }}"#,
            "Local UTC true",
        ),
        (
            "{{ $t | toJSON }} {{ $t.Month | toJSON }} {{ $t.Sub $u | toJSON }}",
            r#""2024-02-29T13:07:09.123456789Z" 2 5144829123456789"#,
        ),
        ("{{ eq $t.Month 2 }} {{ lt $t.Weekday 5 }}", "true true"),
    ];
    for (src, want) in cases {
        check(&format!("{T}{u}{src}"), want);
    }
    // Far out of any calendar: no overflow, whatever Go would print.
    assert!(
        render(&format!(
            "{T}{{{{ $t.AddDate 9223372036854775807 9223372036854775807 0 }}}}"
        ))
        .is_ok()
    );
    assert!(render(&format!("{T}{{{{ $t.Format }}}}")).is_err());
    assert!(render(&format!("{T}{{{{ $t.Add (sprig_int64 5) }}}}")).is_err());
    assert!(render(&format!("{T}{{{{ $t.Zone }}}}")).is_err());
}

#[test]
fn go_duration_text_and_parsing() {
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (3_600_000_000_000, "1h0m0s"),
        (-5_400_500_000_000, "-1h30m0.5s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ];
    for (d, want) in cases {
        assert_eq!(duration::string(d), want);
    }
    let ok = [
        ("1h30m", 5_400_000_000_000),
        ("-2.5h", -9_000_000_000_000),
        ("300ms", 300_000_000),
        ("1us", 1_000),
        ("1μs", 1_000),
        ("+0", 0),
        ("1.h", 3_600_000_000_000),
        ("-9223372036854775808ns", i64::MIN),
    ];
    for (s, want) in ok {
        assert_eq!(duration::parse(s), Ok(want), "{s}");
    }
    for s in ["", "1", "h", ".s", "1d", "9223372036854775808ns", "-"] {
        assert!(duration::parse(s).is_err(), "{s}");
    }
    assert_eq!(
        duration::round(-1_500_000_000, 1_000_000_000),
        -2_000_000_000
    );
    assert_eq!(duration::round(i64::MAX, 1_000_000_000), i64::MAX);
}
