//! Go's reference-time layouts (`Mon Jan 2 15:04:05 MST 2006`): `Time.Format` and `time.ParseInLocation`,
//! element for element as Go's `time` package reads a layout. Parse errors never quote the value parsed (it
//! may be a secret); they name the layout element that did not match.

use super::gotime::{GoTime, Loc, days_in, is_leap};

/// One element of a layout.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PmUpper,
    PmLower,
    Tz,
    /// A numeric offset: `Z` variants print `Z` for UTC; `colon` between fields; `secs` with seconds;
    /// `short` hours only.
    Offset {
        z: bool,
        colon: bool,
        secs: bool,
        short: bool,
    },
    /// Fractional seconds: `digits` places, `nines` to trim trailing zeros, `sep` `.` or `,`.
    Frac {
        digits: usize,
        nines: bool,
        sep: u8,
    },
}

const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const LONG_MONTHS: [&str; 12] = [
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
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Go's `time.Month.String()`.
pub fn month_name(m: i64) -> String {
    usize::try_from(m - 1)
        .ok()
        .and_then(|i| LONG_MONTHS.get(i))
        .map_or_else(|| format!("%!Month({m})"), |s| (*s).to_string())
}

/// Go's `time.Weekday.String()`.
pub fn weekday_name(d: i64) -> String {
    usize::try_from(d)
        .ok()
        .and_then(|i| LONG_DAYS.get(i))
        .map_or_else(|| format!("%!Weekday({d})"), |s| (*s).to_string())
}

/// Go's `nextStdChunk`: the position and length of the first layout element in `l`, and which it is.
fn next_chunk(l: &[u8]) -> Option<(usize, usize, Std)> {
    let at = |i: usize, s: &str| l.get(i..i + s.len()) == Some(s.as_bytes());
    let lower_at = |i: usize| l.get(i).is_some_and(u8::is_ascii_lowercase);
    let digit_at = |i: usize| l.get(i).is_some_and(u8::is_ascii_digit);
    let off = |z, colon, secs, short| Std::Offset {
        z,
        colon,
        secs,
        short,
    };
    for i in 0..l.len() {
        let hit = |len: usize, std: Std| Some((i, len, std));
        match l[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return hit(7, Std::LongMonth);
                }
                if !lower_at(i + 3) {
                    return hit(3, Std::Month);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return hit(6, Std::LongWeekDay);
                    }
                    if !lower_at(i + 3) {
                        return hit(3, Std::WeekDay);
                    }
                }
                if at(i, "MST") {
                    return hit(3, Std::Tz);
                }
            }
            b'0' => {
                if let Some(c @ b'1'..=b'6') = l.get(i + 1) {
                    let std = [
                        Std::ZeroMonth,
                        Std::ZeroDay,
                        Std::ZeroHour12,
                        Std::ZeroMinute,
                        Std::ZeroSecond,
                        Std::Year,
                    ][usize::from(c - b'1')];
                    return hit(2, std);
                }
                if at(i, "002") {
                    return hit(3, Std::ZeroYearDay);
                }
            }
            b'1' => {
                return if at(i, "15") {
                    hit(2, Std::Hour)
                } else {
                    hit(1, Std::NumMonth)
                };
            }
            b'2' => {
                return if at(i, "2006") {
                    hit(4, Std::LongYear)
                } else {
                    hit(1, Std::Day)
                };
            }
            b'_' => {
                if at(i, "_2") {
                    // `_2006` is a literal underscore, then the year.
                    if at(i + 1, "2006") {
                        return Some((i + 1, 4, Std::LongYear));
                    }
                    return hit(2, Std::UnderDay);
                }
                if at(i, "__2") {
                    return hit(3, Std::UnderYearDay);
                }
            }
            b'3' => return hit(1, Std::Hour12),
            b'4' => return hit(1, Std::Minute),
            b'5' => return hit(1, Std::Second),
            b'P' if at(i, "PM") => return hit(2, Std::PmUpper),
            b'p' if at(i, "pm") => return hit(2, Std::PmLower),
            c @ (b'-' | b'Z') => {
                let z = c == b'Z';
                let forms = [
                    ("070000", off(z, false, true, false)),
                    ("07:00:00", off(z, true, true, false)),
                    ("0700", off(z, false, false, false)),
                    ("07:00", off(z, true, false, false)),
                    ("07", off(z, false, false, true)),
                ];
                for (tail, std) in forms {
                    if at(i + 1, tail) {
                        return hit(1 + tail.len(), std);
                    }
                }
            }
            sep @ (b'.' | b',') => {
                if let Some(&ch @ (b'0' | b'9')) = l.get(i + 1) {
                    let mut j = i + 1;
                    while l.get(j) == Some(&ch) {
                        j += 1;
                    }
                    // Only a run of digits that ends here is a fractional second.
                    if !digit_at(j) {
                        let std = Std::Frac {
                            digits: j - (i + 1),
                            nines: ch == b'9',
                            sep,
                        };
                        return hit(j - i, std);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// Go's `appendInt`: `x` in decimal, zero-padded to `width` digits after any sign.
fn push_int(out: &mut String, x: i64, width: usize) {
    if x < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", x.unsigned_abs()));
}

/// `t.Format(layout)`.
pub fn format(t: &GoTime, layout: &str) -> String {
    let (c, abbrev, offset) = t.fields();
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    while let Some((i, len, std)) = next_chunk(rest.as_bytes()) {
        out.push_str(&rest[..i]);
        rest = &rest[i + len..];
        let hour12 = match c.hour % 12 {
            0 => 12,
            h => h,
        };
        match std {
            Std::Year => push_int(&mut out, c.year.abs() % 100, 2),
            Std::LongYear => push_int(&mut out, c.year, 4),
            Std::Month => out.push_str(&month_name(i64::from(c.month))[..3]),
            Std::LongMonth => out.push_str(&month_name(i64::from(c.month))),
            Std::NumMonth => push_int(&mut out, i64::from(c.month), 0),
            Std::ZeroMonth => push_int(&mut out, i64::from(c.month), 2),
            Std::WeekDay => out.push_str(&weekday_name(i64::from(c.weekday))[..3]),
            Std::LongWeekDay => out.push_str(&weekday_name(i64::from(c.weekday))),
            Std::Day => push_int(&mut out, i64::from(c.day), 0),
            Std::UnderDay => out.push_str(&format!("{:>2}", c.day)),
            Std::ZeroDay => push_int(&mut out, i64::from(c.day), 2),
            Std::UnderYearDay => out.push_str(&format!("{:>3}", c.yday)),
            Std::ZeroYearDay => push_int(&mut out, i64::from(c.yday), 3),
            Std::Hour => push_int(&mut out, i64::from(c.hour), 2),
            Std::Hour12 => push_int(&mut out, i64::from(hour12), 0),
            Std::ZeroHour12 => push_int(&mut out, i64::from(hour12), 2),
            Std::Minute => push_int(&mut out, i64::from(c.min), 0),
            Std::ZeroMinute => push_int(&mut out, i64::from(c.min), 2),
            Std::Second => push_int(&mut out, i64::from(c.sec), 0),
            Std::ZeroSecond => push_int(&mut out, i64::from(c.sec), 2),
            Std::PmUpper => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::PmLower => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::Offset {
                z,
                colon,
                secs,
                short,
            } => {
                if z && offset == 0 {
                    out.push('Z');
                    continue;
                }
                // Go takes the sign from the offset in whole minutes.
                let zone = offset / 60;
                out.push(if zone < 0 { '-' } else { '+' });
                let (zone, secs_off) = if zone < 0 {
                    (-zone, -offset)
                } else {
                    (zone, offset)
                };
                push_int(&mut out, i64::from(zone / 60), 2);
                if colon {
                    out.push(':');
                }
                if !short {
                    push_int(&mut out, i64::from(zone % 60), 2);
                }
                if secs {
                    if colon {
                        out.push(':');
                    }
                    push_int(&mut out, i64::from(secs_off % 60), 2);
                }
            }
            Std::Tz if !abbrev.is_empty() => out.push_str(&abbrev),
            // No abbreviation known: Go prints the offset as -0700.
            Std::Tz => {
                let zone = offset / 60;
                out.push(if zone < 0 { '-' } else { '+' });
                let zone = i64::from(zone.abs());
                push_int(&mut out, zone / 60, 2);
                push_int(&mut out, zone % 60, 2);
            }
            Std::Frac { digits, nines, sep } => push_frac(&mut out, t.nsec, digits, nines, sep),
        }
    }
    out.push_str(rest);
    out
}

/// Go's `appendNano`.
fn push_frac(out: &mut String, nsec: u32, digits: usize, nines: bool, sep: u8) {
    if nines && (digits == 0 || nsec == 0) {
        return;
    }
    let all = format!("{nsec:09}");
    let mut s = &all[..digits.min(9)];
    if nines {
        s = s.trim_end_matches('0');
        if s.is_empty() {
            return;
        }
    }
    out.push(char::from(sep));
    out.push_str(s);
}

// === Parse ===

/// A parse failure, worded as Go's `ParseError` without the value (which may be a secret).
fn parse_error(layout: &str, elem: &str) -> String {
    format!(
        "parsing time as {}: cannot parse the value as {}",
        go_quote(layout),
        go_quote(elem)
    )
}

/// Go's `time.quote`: ASCII as is (with `"` and `\` escaped), other bytes as `\xNN`.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Go's `skip`: remove `prefix` from `value`, a run of spaces matching any run of spaces.
fn skip<'v>(mut value: &'v [u8], mut prefix: &[u8]) -> Option<&'v [u8]> {
    while let Some((&p, prest)) = prefix.split_first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return None;
            }
            prefix = trim_spaces(prefix);
            value = trim_spaces(value);
            continue;
        }
        match value.split_first() {
            Some((&v, vrest)) if v == p => {
                prefix = prest;
                value = vrest;
            }
            _ => return None,
        }
    }
    Some(value)
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

fn digit(s: &[u8], i: usize) -> Option<i64> {
    s.get(i)
        .filter(|c| c.is_ascii_digit())
        .map(|c| i64::from(c - b'0'))
}

/// Go's `getnum`: one or two digits (`fixed`: exactly two).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let d0 = digit(s, 0)?;
    match digit(s, 1) {
        Some(d1) => Some((d0 * 10 + d1, &s[2..])),
        None if fixed => None,
        None => Some((d0, &s[1..])),
    }
}

/// Go's `getnum3`: one to three digits (`fixed`: exactly three).
fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let mut n = 0;
    let mut i = 0;
    while i < 3 {
        match digit(s, i) {
            Some(d) => n = n * 10 + d,
            None => break,
        }
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

/// Go's `leadingInt`: the leading digits of `s` as a number (`None` on overflow) and the rest.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while let Some(d) = digit(s, i) {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + d.unsigned_abs();
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// Go's `time.atoi`: an optionally signed decimal integer, all of `s`.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (q, rem) = leading_int(s)?;
    if !rem.is_empty() {
        return None;
    }
    let x = i64::try_from(q).ok()?;
    Some(if neg { -x } else { x })
}

/// Go's `parseNanoseconds`: `value[..nbytes]` is a separator and digits; `Err(None)` when it is not,
/// `Err(Some(..))` for a negative fraction (Go's `atoi` takes a sign).
fn parse_nanos(value: &[u8], nbytes: usize) -> Result<i64, Option<&'static str>> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return Err(None);
    }
    let nbytes = nbytes.min(10);
    let mut ns = value.get(1..nbytes).and_then(atoi).ok_or(None)?;
    if ns < 0 {
        return Err(Some("fractional second"));
    }
    for _ in nbytes..10 {
        ns *= 10;
    }
    Ok(ns)
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `value`.
fn parse_time_zone(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(3 + parse_signed_offset(&value[3..]));
    }
    if matches!(value[0], b'+' | b'-') {
        return Some(parse_signed_offset(value)).filter(|&n| n > 0);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        5 if value[4] == b'T' => Some(5),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: the length of `+NN`/`-NN` (hours up to 23) at the start of `value`, or 0.
fn parse_signed_offset(value: &[u8]) -> usize {
    if !matches!(value.first(), Some(b'+' | b'-')) {
        return 0;
    }
    match leading_int(&value[1..]) {
        Some((x, rem)) if rem.len() < value.len() - 1 && x <= 23 => value.len() - rem.len(),
        _ => 0,
    }
}

/// Go's `lookup`: which of `names` starts `value`, ignoring ASCII case.
fn lookup_name<'v>(names: &[&str], value: &'v [u8]) -> Option<(i64, &'v [u8])> {
    names.iter().zip(0..).find_map(|(n, i)| {
        let head = value.get(..n.len())?;
        head.eq_ignore_ascii_case(n.as_bytes())
            .then(|| (i, &value[n.len()..]))
    })
}

/// The fields a parse collects.
struct Parsed {
    year: i64,
    month: i64,
    day: i64,
    yday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    am: bool,
    pm: bool,
    utc: bool,
    offset: Option<i32>,
    zone_name: String,
}

/// Go's `time.ParseInLocation(layout, value, loc)`.
pub fn parse(layout: &str, value: &str, loc: &Loc) -> Result<GoTime, String> {
    let mut p = Parsed {
        year: 0,
        month: -1,
        day: -1,
        yday: -1,
        hour: 0,
        min: 0,
        sec: 0,
        nsec: 0,
        am: false,
        pm: false,
        utc: false,
        offset: None,
        zone_name: String::new(),
    };
    let mut l = layout.as_bytes();
    let mut v = value.as_bytes();
    loop {
        let chunk = next_chunk(l);
        let (prefix, std_str) = match chunk {
            Some((i, len, _)) => (&l[..i], &layout[layout.len() - l.len() + i..][..len]),
            None => (l, ""),
        };
        v = skip(v, prefix).ok_or_else(|| parse_error(layout, &String::from_utf8_lossy(prefix)))?;
        let Some((i, len, std)) = chunk else {
            if !v.is_empty() {
                return Err("parsing time: extra text after the layout's end".into());
            }
            break;
        };
        l = &l[i + len..];
        match element(std, v, l, &mut p) {
            Ok(rest) => v = rest,
            Err(None) => return Err(parse_error(layout, std_str)),
            Err(Some(range)) => return Err(format!("parsing time: {range} out of range")),
        }
    }
    finish(p, loc)
}

/// Parse one layout element at the start of `v` into `p`; the rest of the value, or `Err(None)` for a
/// mismatch and `Err(Some(field))` for a value out of range. `l` is the rest of the layout.
fn element<'v>(
    std: Std,
    v: &'v [u8],
    l: &[u8],
    p: &mut Parsed,
) -> Result<&'v [u8], Option<&'static str>> {
    let range = |bad: bool, field: &'static str| if bad { Err(Some(field)) } else { Ok(()) };
    Ok(match std {
        Std::Year => {
            let two = v.get(..2).ok_or(None)?;
            let y = atoi(two).ok_or(None)?;
            p.year = if y >= 69 { y + 1900 } else { y + 2000 };
            &v[2..]
        }
        Std::LongYear => {
            if v.len() < 4 || digit(v, 0).is_none() {
                return Err(None);
            }
            p.year = atoi(&v[..4]).ok_or(None)?;
            &v[4..]
        }
        Std::Month | Std::LongMonth => {
            let names: &[&str] = if std == Std::Month {
                &SHORT_MONTHS
            } else {
                &LONG_MONTHS
            };
            let (m, rest) = lookup_name(names, v).ok_or(None)?;
            p.month = m + 1;
            rest
        }
        Std::NumMonth | Std::ZeroMonth => {
            let (m, rest) = getnum(v, std == Std::ZeroMonth).ok_or(None)?;
            range(!(1..=12).contains(&m), "month")?;
            p.month = m;
            rest
        }
        Std::WeekDay => lookup_name(&SHORT_DAYS, v).ok_or(None)?.1,
        Std::LongWeekDay => lookup_name(&LONG_DAYS, v).ok_or(None)?.1,
        Std::Day | Std::UnderDay | Std::ZeroDay => {
            let v = if std == Std::UnderDay && v.first() == Some(&b' ') {
                &v[1..]
            } else {
                v
            };
            let (d, rest) = getnum(v, std == Std::ZeroDay).ok_or(None)?;
            p.day = d;
            rest
        }
        Std::UnderYearDay | Std::ZeroYearDay => {
            let mut v = v;
            for _ in 0..2 {
                if std == Std::UnderYearDay && v.first() == Some(&b' ') {
                    v = &v[1..];
                }
            }
            let (d, rest) = getnum3(v, std == Std::ZeroYearDay).ok_or(None)?;
            p.yday = d;
            rest
        }
        Std::Hour => {
            let (h, rest) = getnum(v, false).ok_or(None)?;
            range(h >= 24, "hour")?;
            p.hour = h;
            rest
        }
        Std::Hour12 | Std::ZeroHour12 => {
            let (h, rest) = getnum(v, std == Std::ZeroHour12).ok_or(None)?;
            range(h > 12, "hour")?;
            p.hour = h;
            rest
        }
        Std::Minute | Std::ZeroMinute => {
            let (m, rest) = getnum(v, std == Std::ZeroMinute).ok_or(None)?;
            range(m >= 60, "minute")?;
            p.min = m;
            rest
        }
        Std::Second | Std::ZeroSecond => {
            let (s, rest) = getnum(v, std == Std::ZeroSecond).ok_or(None)?;
            range(s >= 60, "second")?;
            p.sec = s;
            // A fractional second the layout does not show is taken all the same.
            let frac_next = matches!(next_chunk(l), Some((_, _, Std::Frac { .. })));
            if rest.len() >= 2
                && matches!(rest[0], b'.' | b',')
                && digit(rest, 1).is_some()
                && !frac_next
            {
                let n = 2 + rest[2..].iter().take_while(|c| c.is_ascii_digit()).count();
                p.nsec = parse_nanos(rest, n)?;
                &rest[n..]
            } else {
                rest
            }
        }
        Std::PmUpper | Std::PmLower => {
            let two = v.get(..2).ok_or(None)?;
            let (am, pm) = if std == Std::PmUpper {
                (b"AM", b"PM")
            } else {
                (b"am", b"pm")
            };
            if two == pm {
                p.pm = true;
            } else if two == am {
                p.am = true;
            } else {
                return Err(None);
            }
            &v[2..]
        }
        Std::Offset { z: true, .. } if v.first() == Some(&b'Z') => {
            p.utc = true;
            &v[1..]
        }
        Std::Offset {
            colon, secs, short, ..
        } => {
            // (length, positions of the hour, minute and second digits; None for "00")
            let (n, mm, ss): (usize, Option<usize>, Option<usize>) = match (colon, secs, short) {
                (true, false, _) => (6, Some(4), None),
                (_, _, true) => (3, None, None),
                (true, true, _) => (9, Some(4), Some(7)),
                (false, true, _) => (7, Some(3), Some(5)),
                (false, false, false) => (5, Some(3), None),
            };
            let head = v.get(..n).ok_or(None)?;
            if colon && (head[3] != b':' || (secs && head[6] != b':')) {
                return Err(None);
            }
            let two = |at: Option<usize>| match at {
                Some(i) => getnum(&head[i..], true).map(|(x, _)| x),
                None => Some(0),
            };
            let (hr, mi, se) = (
                two(Some(1)).ok_or(None)?,
                two(mm).ok_or(None)?,
                two(ss).ok_or(None)?,
            );
            range(hr > 24, "time zone offset hour")?;
            range(mi > 60, "time zone offset minute")?;
            range(se > 60, "time zone offset second")?;
            let off = i32::try_from((hr * 60 + mi) * 60 + se).map_err(|_| None)?;
            p.offset = Some(match head[0] {
                b'+' => off,
                b'-' => -off,
                _ => return Err(None),
            });
            &v[n..]
        }
        Std::Tz => {
            if v.starts_with(b"UTC") {
                p.utc = true;
                &v[3..]
            } else {
                let n = parse_time_zone(v).ok_or(None)?;
                p.zone_name = String::from_utf8_lossy(&v[..n]).into_owned();
                &v[n..]
            }
        }
        Std::Frac {
            digits,
            nines: false,
            ..
        } => {
            let n = 1 + digits;
            if v.len() < n {
                return Err(None);
            }
            p.nsec = parse_nanos(v, n)?;
            &v[n..]
        }
        Std::Frac { nines: true, .. } => {
            if v.len() < 2 || !matches!(v[0], b'.' | b',') || digit(v, 1).is_none() {
                // The fractional second is optional.
                v
            } else {
                let n = 1 + v[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                p.nsec = parse_nanos(v, n)?;
                &v[n..]
            }
        }
    })
}

/// Days before the first of each month in a common year, and 365 at the end.
const DAYS_BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// The end of Go's `parse`: AM/PM, day of the year, validation, and the location of the result.
fn finish(mut p: Parsed, loc: &Loc) -> Result<GoTime, String> {
    if p.pm && p.hour < 12 {
        p.hour += 12;
    } else if p.am && p.hour == 12 {
        p.hour = 0;
    }
    if p.yday >= 0 {
        let mut yday = p.yday;
        let mut fixed = None;
        if is_leap(p.year) {
            if yday == 31 + 29 {
                fixed = Some((2, 29));
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err("parsing time: day-of-year out of range".into());
        }
        let (m, d) = fixed.unwrap_or_else(|| {
            let mut m = (yday - 1) / 31 + 1;
            if DAYS_BEFORE[usize::try_from(m).unwrap_or(0)] < yday {
                m += 1;
            }
            (m, yday - DAYS_BEFORE[usize::try_from(m - 1).unwrap_or(0)])
        });
        if p.month >= 0 && p.month != m {
            return Err("parsing time: day-of-year does not match month".into());
        }
        if p.day >= 0 && p.day != d {
            return Err("parsing time: day-of-year does not match day".into());
        }
        (p.month, p.day) = (m, d);
    } else {
        if p.month < 0 {
            p.month = 1;
        }
        if p.day < 0 {
            p.day = 1;
        }
    }
    if p.day < 1 || p.day > days_in(p.month, p.year) {
        return Err("parsing time: day out of range".into());
    }
    let at = |l: Loc| GoTime::date(p.year, p.month, p.day, p.hour, p.min, p.sec, p.nsec, l);
    if p.utc {
        return Ok(at(Loc::Utc));
    }
    if let Some(offset) = p.offset {
        let t = at(Loc::Utc).add(-i64::from(offset) * super::gotime::NANOS);
        // The local zone, if it was at this offset (and abbreviation) then; else a fixed zone.
        let (name, local_off) = loc.lookup(t.unix);
        if local_off == offset && (p.zone_name.is_empty() || name == p.zone_name) {
            return Ok(t.in_loc(loc.clone()));
        }
        return Ok(t.in_loc(Loc::Fixed {
            name: p.zone_name.into(),
            offset,
        }));
    }
    if !p.zone_name.is_empty() {
        let t = at(Loc::Utc);
        if let Some(offset) = loc.lookup_name(&p.zone_name, t.unix) {
            return Ok(t
                .add(-i64::from(offset) * super::gotime::NANOS)
                .in_loc(loc.clone()));
        }
        // An unknown abbreviation: offset zero, except GMT+N.
        let offset = match p.zone_name.strip_prefix("GMT") {
            Some(n) if !n.is_empty() => atoi(n.as_bytes()).unwrap_or(0) * 3600,
            _ => 0,
        };
        return Ok(t.in_loc(Loc::Fixed {
            name: p.zone_name.into(),
            offset: i32::try_from(offset).unwrap_or(0),
        }));
    }
    Ok(at(loc.clone()))
}
