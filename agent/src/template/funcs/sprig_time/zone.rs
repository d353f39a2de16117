//! Locations as Go finds them: `time.LoadLocation` reads a TZif file from `$ZONEINFO` or the system's
//! zoneinfo directories, and `time.Local` comes from `$TZ` or `/etc/localtime`. The files are read each time
//! (as Go's `LoadLocation` does), except the local zone, which Go also reads once per process.

use std::path::Path;
use std::sync::OnceLock;

use jiff::tz::TimeZone;

use super::gotime::Loc;

/// Where Go looks for zone files on Unix, after `$ZONEINFO`.
const ZONE_DIRS: [&str; 4] = [
    "/usr/share/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/usr/lib/locale/TZ",
    "/etc/zoneinfo",
];

/// `time.LoadLocation(name)`, or `None` where Go returns an error.
pub fn load(name: &str) -> Option<Loc> {
    match name {
        "" | "UTC" => return Some(Loc::Utc),
        "Local" => return Some(local()),
        _ => {}
    }
    // No IANA name has "..", or starts with a slash: Go refuses them rather than read outside the tree.
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return None;
    }
    let zoneinfo = std::env::var("ZONEINFO").ok().filter(|z| !z.is_empty());
    zoneinfo
        .iter()
        .map(String::as_str)
        .chain(ZONE_DIRS)
        .find_map(|dir| read_tzif(name, &Path::new(dir).join(name)))
        .map(|tz| Loc::Zone {
            name: name.into(),
            tz,
        })
}

/// The zone in the TZif file at `path`, if there is one.
fn read_tzif(name: &str, path: &Path) -> Option<TimeZone> {
    let data = std::fs::read(path).ok()?;
    TimeZone::tzif(name, &data).ok()
}

/// `time.Local`.
pub fn local() -> Loc {
    static LOCAL: OnceLock<(String, Option<TimeZone>)> = OnceLock::new();
    let (name, tz) = LOCAL.get_or_init(init_local);
    match tz {
        Some(tz) => Loc::Zone {
            name: name.as_str().into(),
            tz: tz.clone(),
        },
        None => Loc::Utc,
    }
}

/// Go's `initLocal` on Unix: no `$TZ` means `/etc/localtime` (named `Local`); an empty one, `UTC` or one that
/// does not load means UTC; `:` may start it; an absolute path names a file (named by its path, except
/// `/etc/localtime`); anything else is a zone name.
fn init_local() -> (String, Option<TimeZone>) {
    let utc = ("UTC".to_string(), None);
    let Ok(tz) = std::env::var("TZ") else {
        return match read_tzif("Local", Path::new("/etc/localtime")) {
            Some(z) => ("Local".into(), Some(z)),
            None => utc,
        };
    };
    let tz = tz.strip_prefix(':').unwrap_or(&tz);
    if tz.starts_with('/') {
        let name = if tz == "/etc/localtime" { "Local" } else { tz };
        return match read_tzif(name, Path::new(tz)) {
            Some(z) => (name.into(), Some(z)),
            None => utc,
        };
    }
    if tz.is_empty() || tz == "UTC" {
        return utc;
    }
    match ZONE_DIRS
        .iter()
        .find_map(|dir| read_tzif(tz, &Path::new(dir).join(tz)))
    {
        Some(z) => (tz.into(), Some(z)),
        None => utc,
    }
}
