//! The `sidekey audit verify` and `sidekey report` commands: read a trail, print, return the exit code.

use std::path::{Path, PathBuf};

use super::chain::{Hasher, verify_file};
use super::report;

/// Exit code: the trail is intact / the report was written.
const OK: i32 = 0;
/// Exit code: the chain is broken (verify) or the trail cannot be read.
const BROKEN: i32 = 1;

/// `sidekey report` output formats.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// One row per secret path.
    Csv,
    /// The whole report as one JSON object.
    Json,
    /// A Markdown document.
    Markdown,
    /// One self-contained HTML page with a timeline per secret.
    Html,
}

fn hasher(key: Option<&Path>) -> Result<Hasher, i32> {
    match key {
        Some(k) => Hasher::from_key_file(k).map_err(|e| {
            eprintln!("sidekey: {e}");
            BROKEN
        }),
        None => Ok(Hasher::sha256()),
    }
}

/// `sidekey audit verify FILE`: 0 when the chain is intact, 1 naming the first bad line.
pub fn verify(file: &Path, key: Option<&Path>, allow_continuation: bool) -> i32 {
    let h = match hasher(key) {
        Ok(h) => h,
        Err(code) => return code,
    };
    match verify_file(file, &h, allow_continuation) {
        Ok(v) => {
            let from = v
                .continues_from
                .map(|p| format!(" (continues a chain ending in {p})"))
                .unwrap_or_default();
            eprintln!(
                "sidekey: {}: {} events, chain intact{from}; last hash {}",
                file.display(),
                v.events,
                v.last_hash
            );
            OK
        }
        Err(e) => {
            eprintln!("sidekey: {}: {e}", file.display());
            BROKEN
        }
    }
}

/// What `sidekey report` covers and how it prints it.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The output format.
    pub format: Format,
    /// The CSV table (`secrets` when `None`).
    pub table: Option<String>,
    /// The observation window.
    pub window: report::Window,
}

/// `sidekey report --audit FILE...`: the evidence pack on stdout, from one file or a rotated set.
#[allow(clippy::print_stdout)] // the report is the command's output
pub fn report(files: &[PathBuf], key: Option<&Path>, opts: &ReportOptions) -> i32 {
    let h = match hasher(key) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let mut trail = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => trail.push(report::TrailFile {
                name: file.display().to_string(),
                text,
            }),
            Err(e) => {
                eprintln!("sidekey: {}: {e}", file.display());
                return BROKEN;
            }
        }
    }
    let r = report::build_set(trail, &h, opts.window);
    let out = match opts.format {
        Format::Csv => match r.to_csv_table(opts.table.as_deref()) {
            Some(csv) => csv,
            None => {
                eprintln!(
                    "sidekey: --table: no table {:?}; the tables are {}",
                    opts.table.as_deref().unwrap_or_default(),
                    report::TABLES.join(", ")
                );
                return crate::runtime::ExitCode::Usage.code();
            }
        },
        Format::Markdown => r.to_markdown(),
        Format::Html => r.to_html(),
        Format::Json => match serde_json::to_string_pretty(&r) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("sidekey: {e}");
                return BROKEN;
            }
        },
    };
    print!("{out}");
    OK
}

/// The start of a window from `--from`: an RFC 3339 time, or a date (its first millisecond, UTC).
///
/// # Errors
/// A message naming the accepted forms.
pub fn window_start(arg: &str) -> Result<i64, String> {
    window_time(arg, 0)
}

/// The end of a window from `--to`: an RFC 3339 time, or a date (its last millisecond, UTC: the day
/// is included).
///
/// # Errors
/// A message naming the accepted forms.
pub fn window_end(arg: &str) -> Result<i64, String> {
    window_time(arg, 86_400_000 - 1)
}

fn window_time(arg: &str, into_day_ms: i64) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(arg, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|e| e.to_string());
    }
    let day = time::Date::parse(
        arg,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        format!(
            "{arg:?} is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor a date (2026-01-31)"
        )
    })?;
    Ok(day.midnight().assume_utc().unix_timestamp() * 1000 + into_day_ms)
}
