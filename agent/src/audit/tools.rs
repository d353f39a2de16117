//! The `sidekey audit verify`, `sidekey audit reconcile` and `sidekey report` commands: read a trail (a
//! file and its rotated files), print, return the exit code. `verify --anchors` is in `anchored`.

use std::path::{Path, PathBuf};

use super::chain::{Hasher, RunsVerified, Verified, verify_files, verify_runs};
use super::report;
use crate::runtime::rotate::rotated_siblings;

mod anchored;

pub use anchored::verify_anchored;

/// Exit code: the trail is intact / the report was written.
const OK: i32 = 0;
/// Exit code: the chain is broken (verify) or the trail cannot be read; something is unmatched
/// (reconcile).
const BROKEN: i32 = 1;
/// Exit code (reconcile): an input cannot be read.
const UNREADABLE: i32 = 2;

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

/// The files of a trail, oldest first: for one file, its rotated files beside it (`<stem>-<unix
/// nanoseconds><ext>`) and then itself; several files are taken in the order given.
pub fn trail_files(files: &[PathBuf]) -> Vec<PathBuf> {
    match files {
        [one] => {
            let mut set = rotated_siblings(one).unwrap_or_default();
            set.push(one.clone());
            set
        }
        _ => files.to_vec(),
    }
}

/// How a message names a trail: its file, and how many rotated files come before it.
fn trail_name(files: &[PathBuf]) -> String {
    match files {
        [] => String::new(),
        [one] => one.display().to_string(),
        [.., last] => format!(
            "{} (and {} rotated file{} before it)",
            last.display(),
            files.len() - 1,
            if files.len() == 2 { "" } else { "s" }
        ),
    }
}

/// `sidekey audit verify FILE...`: 0 when the chain is intact across the trail's files, 1 naming the
/// first bad line. With `per_run`, a collector's copy: each agent run a chain of its own.
pub fn verify(
    files: &[PathBuf],
    key: Option<&Path>,
    allow_continuation: bool,
    per_run: bool,
) -> i32 {
    let h = match hasher(key) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let files = trail_files(files);
    let verified = if per_run {
        verify_runs(&files, &h, allow_continuation).map(|v| runs_intact(&v))
    } else {
        verify_files(&files, &h, allow_continuation, &mut |_, _, _| {}).map(|v| intact(&v))
    };
    match verified {
        Ok(summary) => {
            eprintln!("sidekey: {}: {summary}", trail_name(&files));
            OK
        }
        Err(e) => {
            eprintln!("sidekey: {e}");
            BROKEN
        }
    }
}

/// `N events, chain intact...` for a verified trail.
fn intact(v: &Verified) -> String {
    let from = v
        .continues_from
        .as_ref()
        .map(|p| format!(" (continues a chain ending in {p})"))
        .unwrap_or_default();
    format!(
        "{} events, chain intact{from}; last hash {}",
        v.events, v.last_hash
    )
}

/// `N events in R agent runs...` for a collector's copy verified run by run.
fn runs_intact(v: &RunsVerified) -> String {
    let continued = if v.continued > 0 {
        format!(
            " ({} continue a chain started before this copy)",
            v.continued
        )
    } else {
        String::new()
    };
    format!(
        "{} events in {} agent runs, each run's chain intact{continued}; {} redelivered lines skipped (same agent.id and seq, same bytes)",
        v.events, v.runs, v.duplicates
    )
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

/// `sidekey report --audit FILE...`: the evidence pack on stdout, from one file and the files it was
/// rotated to (as `verify` takes them), or several files in the order given.
#[allow(clippy::print_stdout)] // the report is the command's output
pub fn report(files: &[PathBuf], key: Option<&Path>, opts: &ReportOptions) -> i32 {
    let h = match hasher(key) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let mut trail = Vec::new();
    for file in &trail_files(files) {
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

/// `sidekey audit reconcile --agent FILE... --server FILE`: the agent's trail (one file with its rotated
/// files, as `verify` takes it, or several files in order) against the server's audit device log (see
/// [`super::reconcile`]); 0 when each side's requests all have their counterpart, 1 when any is
/// unmatched, 2 when an input cannot be read.
#[allow(clippy::print_stdout)] // the reconciliation is the command's output
pub fn reconcile(agent: &[PathBuf], server: &Path, window: std::time::Duration, json: bool) -> i32 {
    let files = trail_files(agent);
    let trail = match super::reconcile::agent_trail(&files) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sidekey: {e}");
            return UNREADABLE;
        }
    };
    let server_text = match std::fs::read_to_string(server) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sidekey: {}: {e}", server.display());
            return UNREADABLE;
        }
    };
    let mut log = super::reconcile::ServerLog::default();
    for (i, line) in server_text.lines().enumerate() {
        if let Err(e) = log.line(i + 1, line) {
            eprintln!("sidekey: {}: {e}", server.display());
            return UNREADABLE;
        }
    }
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let r = super::reconcile::reconcile(&trail.requests, trail.events, &log, window_ms);
    let out = if json {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("sidekey: {e}");
                return UNREADABLE;
            }
        }
    } else {
        r.to_text(&trail_name(&files), &server.display().to_string())
    };
    print!("{out}");
    if r.complete() { OK } else { BROKEN }
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
