//! Go's `time.Time`: an instant (Unix seconds and nanoseconds), the location it is shown in, and the
//! monotonic clock reading `time.Now` attaches. The calendar arithmetic is Go's proleptic Gregorian calendar
//! over any year, done here on integers so no date is out of range.

use std::rc::Rc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Nanoseconds in a second.
pub const NANOS: i64 = 1_000_000_000;
/// Seconds from Go's zero time (January 1, year 1, UTC) to the Unix epoch.
const ZERO_TO_UNIX: i64 = 62_135_596_800;
const DAY: i64 = 86_400;

// === Loc ===

/// A `*time.Location`: UTC, a fixed offset, or a zone read from the system's time zone files.
#[derive(Clone)]
pub enum Loc {
    /// `time.UTC` (and the location of the zero time).
    Utc,
    /// `time.FixedZone(name, offset)`: what `Parse` makes for an offset the local zone does not use. The
    /// name is also the abbreviation (`MST`); an empty one prints as the offset.
    Fixed {
        /// The zone's name and abbreviation.
        name: Rc<str>,
        /// Seconds east of UTC.
        offset: i32,
    },
    /// A zone from a TZif file (`time.LoadLocation`, and `time.Local`).
    Zone {
        /// The name `Location.String` gives (`America/New_York`, or `Local`).
        name: Rc<str>,
        /// The zone's rules.
        tz: TimeZone,
    },
}

impl Loc {
    /// `Location.String()`.
    pub fn name(&self) -> &str {
        match self {
            Loc::Utc => "UTC",
            Loc::Fixed { name, .. } | Loc::Zone { name, .. } => name,
        }
    }

    /// The zone abbreviation and offset (seconds east of UTC) in effect at `unix`.
    pub fn lookup(&self, unix: i64) -> (String, i32) {
        match self {
            Loc::Utc => ("UTC".into(), 0),
            Loc::Fixed { name, offset } => (name.to_string(), *offset),
            Loc::Zone { tz, .. } => {
                let info = tz.to_offset_info(timestamp(unix));
                (info.abbreviation().to_string(), info.offset().seconds())
            }
        }
    }

    /// Whether daylight saving time is in effect at `unix`.
    fn is_dst(&self, unix: i64) -> bool {
        match self {
            Loc::Zone { tz, .. } => tz.to_offset_info(timestamp(unix)).dst().is_dst(),
            _ => false,
        }
    }

    /// Go's `Location.lookupName`: the offset of the zone called `abbrev`, preferring one in effect near
    /// `unix`; `None` if the location never uses that abbreviation.
    pub fn lookup_name(&self, abbrev: &str, unix: i64) -> Option<i32> {
        let zones: Vec<(String, i32)> = match self {
            // Go's UTC location has no zone list at all.
            Loc::Utc => Vec::new(),
            Loc::Fixed { name, offset } => vec![(name.to_string(), *offset)],
            Loc::Zone { tz, .. } => zone_types(tz),
        };
        let named = || zones.iter().filter(|(n, _)| n == abbrev);
        named()
            .find(|(_, off)| self.lookup(unix - i64::from(*off)).0 == abbrev)
            .or_else(|| named().next())
            .map(|(_, off)| *off)
    }
}

/// The distinct (abbreviation, offset) pairs a zone uses, in the order it first uses them (Go walks the
/// TZif file's zone types; this walks the transitions, which name the same types).
fn zone_types(tz: &TimeZone) -> Vec<(String, i32)> {
    let first = tz.to_offset_info(Timestamp::MIN);
    let mut out = vec![(first.abbreviation().to_string(), first.offset().seconds())];
    // Enough for every historical change and the rule-generated ones through a few centuries.
    for t in tz.following(Timestamp::MIN).take(2000) {
        let pair = (t.abbreviation().to_string(), t.offset().seconds());
        if !out.contains(&pair) {
            out.push(pair);
        }
    }
    out
}

/// `unix` as a jiff timestamp, clamped to the years jiff knows (±9999): zone rules do not change beyond.
fn timestamp(unix: i64) -> Timestamp {
    let s = unix.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
}

// === Calendar ===

/// The fields of a wall-clock time.
pub struct Civil {
    /// The year (proleptic Gregorian; may be zero or negative).
    pub year: i64,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// Day of the year, 1..=366.
    pub yday: u16,
    /// 0 = Sunday, as Go's `time.Weekday`.
    pub weekday: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub min: u8,
    /// 0..=59.
    pub sec: u8,
}

/// Days from 1970-01-01 to `y-m-d` (month 1..=12; the day may run past the month's end). In `i128`, so
/// no year a template can ask for overflows.
fn days_from_civil(y: i64, m: i64, d: i64) -> i128 {
    let (y, m, d) = (i128::from(y), i128::from(m), i128::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `z` days after 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

/// Go's `isLeap`.
pub fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1..=12) of `year`.
pub fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The wall clock `local` seconds after 1970-01-01 00:00:00 shows.
fn civil(local: i128) -> Civil {
    let days = i64::try_from(local.div_euclid(i128::from(DAY))).unwrap_or(0);
    let secs = i64::try_from(local.rem_euclid(i128::from(DAY))).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let small = |v: i64| u8::try_from(v).unwrap_or(0);
    Civil {
        year,
        month,
        day,
        yday: u16::try_from(i128::from(days) - days_from_civil(year, 1, 1) + 1).unwrap_or(1),
        // 1970-01-01 was a Thursday.
        weekday: small((days + 4).rem_euclid(7)),
        hour: small(secs / 3600),
        min: small(secs / 60 % 60),
        sec: small(secs % 60),
    }
}

/// `i128` to `i64`, saturating.
fn sat(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

// === GoTime ===

/// A Go `time.Time` value.
#[derive(Clone)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second, 0..1e9.
    pub nsec: u32,
    /// The location the time is shown in.
    pub loc: Loc,
    /// The monotonic clock reading (nanoseconds since the process started), as `time.Now` gives it.
    pub mono: Option<i64>,
}

/// Seconds since the Unix epoch of 1885-01-01, the first second Go can keep a monotonic reading beside.
fn mono_wall_min() -> i64 {
    sat(days_from_civil(1885, 1, 1) * i128::from(DAY))
}

impl GoTime {
    /// Go's zero `time.Time{}`: January 1, year 1, 00:00:00 UTC.
    pub fn zero() -> Self {
        Self {
            unix: -ZERO_TO_UNIX,
            nsec: 0,
            loc: Loc::Utc,
            mono: None,
        }
    }

    /// `time.Unix(sec, 0)` in `loc`.
    pub fn unix(unix: i64, loc: Loc) -> Self {
        Self {
            unix,
            nsec: 0,
            loc,
            mono: None,
        }
    }

    /// Go's `time.Date`: fields out of range roll over (month 13 is January of the next year, ...), and the
    /// wall clock is read in `loc` (in a gap or overlap Go picks the offset the same way).
    #[allow(clippy::too_many_arguments)]
    pub fn date(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        min: i64,
        sec: i64,
        nsec: i64,
        loc: Loc,
    ) -> Self {
        let m = i128::from(month) - 1;
        let year = i128::from(year) + m.div_euclid(12);
        let month = m.rem_euclid(12) + 1;
        let total_ns = ((i128::from(day) - 1) * i128::from(DAY)
            + i128::from(hour) * 3600
            + i128::from(min) * 60
            + i128::from(sec))
            * i128::from(NANOS)
            + i128::from(nsec);
        let secs = total_ns.div_euclid(i128::from(NANOS));
        let nsec = u32::try_from(total_ns.rem_euclid(i128::from(NANOS))).unwrap_or(0);
        let month_start = days_from_civil(sat(year), sat(month), 1);
        let local = month_start * i128::from(DAY) + secs;
        let local = sat(local);
        // Go's two-step lookup: the offset at the wall time read as UTC, then at the instant that gives.
        let (_, first) = loc.lookup(local);
        let unix = if first == 0 {
            local
        } else {
            let (_, offset) = loc.lookup(local.saturating_sub(i64::from(first)));
            local.saturating_sub(i64::from(offset))
        };
        Self {
            unix,
            nsec,
            loc,
            mono: None,
        }
    }

    /// The wall-clock fields, abbreviation and offset of this time in its location.
    pub fn fields(&self) -> (Civil, String, i32) {
        let (abbrev, offset) = self.loc.lookup(self.unix);
        (
            civil(i128::from(self.unix) + i128::from(offset)),
            abbrev,
            offset,
        )
    }

    /// Nanoseconds since Go's zero time, for `Truncate` and `Round` (which work from there, not from 1970).
    fn since_zero(&self) -> i128 {
        (i128::from(self.unix) + i128::from(ZERO_TO_UNIX)) * i128::from(NANOS)
            + i128::from(self.nsec)
    }

    /// Nanoseconds since the Unix epoch.
    fn total(&self) -> i128 {
        i128::from(self.unix) * i128::from(NANOS) + i128::from(self.nsec)
    }

    /// This time in `loc`; like Go's `In`, `UTC` and `Local`, it drops the monotonic reading.
    pub fn in_loc(&self, loc: Loc) -> Self {
        Self {
            loc,
            mono: None,
            ..self.clone()
        }
    }

    /// `t.Add(d)`: the monotonic reading moves too, unless it would leave the range Go keeps it in.
    pub fn add(&self, d: i64) -> Self {
        let total = self.total() + i128::from(d);
        let unix = sat(total.div_euclid(i128::from(NANOS)));
        let nsec = u32::try_from(total.rem_euclid(i128::from(NANOS))).unwrap_or(0);
        let wall_ok = (mono_wall_min()..=mono_wall_min() + (1 << 33) - 1).contains(&unix);
        let mono = self.mono.and_then(|m| m.checked_add(d)).filter(|_| wall_ok);
        Self {
            unix,
            nsec,
            loc: self.loc.clone(),
            mono,
        }
    }

    /// `t.AddDate(years, months, days)`.
    pub fn add_date(&self, years: i64, months: i64, days: i64) -> Self {
        let (c, _, _) = self.fields();
        Self::date(
            c.year.saturating_add(years),
            i64::from(c.month).saturating_add(months),
            i64::from(c.day).saturating_add(days),
            i64::from(c.hour),
            i64::from(c.min),
            i64::from(c.sec),
            i64::from(self.nsec),
            self.loc.clone(),
        )
    }

    /// `t.Sub(u)`, saturating at the limits of a `time.Duration`; monotonic readings win when both have one.
    pub fn sub(&self, u: &GoTime) -> i64 {
        match (self.mono, u.mono) {
            (Some(a), Some(b)) => sat(i128::from(a) - i128::from(b)),
            _ => sat(self.total() - u.total()),
        }
    }

    /// `t.Compare(u)` as an ordering (monotonic readings win when both have one).
    pub fn cmp(&self, u: &GoTime) -> std::cmp::Ordering {
        match (self.mono, u.mono) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.total().cmp(&u.total()),
        }
    }

    /// `t.Truncate(d)` (`round = false`) or `t.Round(d)`: to a multiple of `d` since Go's zero time.
    pub fn round(&self, d: i64, round: bool) -> Self {
        let t = Self {
            mono: None,
            ..self.clone()
        };
        if d <= 0 {
            return t;
        }
        let r = t.since_zero().rem_euclid(i128::from(d));
        let r = sat(r);
        if !round || r.unsigned_abs() * 2 < d.unsigned_abs() {
            t.add(-r)
        } else {
            t.add(d - r)
        }
    }

    /// `t.IsZero()`.
    pub fn is_zero(&self) -> bool {
        self.unix == -ZERO_TO_UNIX && self.nsec == 0
    }

    /// `t.IsDST()`.
    pub fn is_dst(&self) -> bool {
        self.loc.is_dst(self.unix)
    }

    /// `t.UnixNano()`, which wraps like Go's for times beyond the years 1678..2262.
    pub fn unix_nano(&self) -> i64 {
        self.unix
            .wrapping_mul(NANOS)
            .wrapping_add(i64::from(self.nsec))
    }

    /// `t.UnixMilli()` (`per_sec` 1000) or `t.UnixMicro()` (1e6).
    pub fn unix_sub(&self, per_sec: i64) -> i64 {
        self.unix
            .wrapping_mul(per_sec)
            .wrapping_add(i64::from(self.nsec) / (NANOS / per_sec))
    }

    /// `t.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`, then ` m=±s.nnnnnnnnn` with a monotonic
    /// reading.
    pub fn string(&self) -> String {
        let mut s = super::layout::format(self, "2006-01-02 15:04:05.999999999 -0700 MST");
        if let Some(m) = self.mono {
            let sign = if m < 0 { '-' } else { '+' };
            let u = m.unsigned_abs();
            s.push_str(&format!(
                " m={sign}{}.{:09}",
                u / 1_000_000_000,
                u % 1_000_000_000
            ));
        }
        s
    }
}
