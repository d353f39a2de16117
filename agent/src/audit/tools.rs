//! The `sidekey audit verify`, `sidekey audit reconcile` and `sidekey report` commands: read a trail,
//! print, return the exit code.

use std::path::Path;

use super::chain::{Hasher, verify_file};
use super::report;

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

/// `sidekey report --audit FILE`: the evidence pack on stdout.
#[allow(clippy::print_stdout)] // the report is the command's output
pub fn report(file: &Path, key: Option<&Path>, format: Format) -> i32 {
    let h = match hasher(key) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sidekey: {}: {e}", file.display());
            return BROKEN;
        }
    };
    let r = report::build(text.lines(), &h);
    let out = match format {
        Format::Csv => r.to_csv(),
        Format::Markdown => r.to_markdown(),
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

/// `sidekey audit reconcile --agent FILE --server FILE`: the agent's trail against the server's audit
/// device log (see [`super::reconcile`]); 0 when each side's requests all have their counterpart, 1
/// when any is unmatched, 2 when an input cannot be read.
#[allow(clippy::print_stdout)] // the reconciliation is the command's output
pub fn reconcile(agent: &Path, server: &Path, window: std::time::Duration, json: bool) -> i32 {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| {
            eprintln!("sidekey: {}: {e}", p.display());
            UNREADABLE
        })
    };
    let (agent_text, server_text) = match (read(agent), read(server)) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let mut events = 0;
    let mut requests = Vec::new();
    for (i, line) in agent_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            eprintln!(
                "sidekey: {}: line {}: not an audit event",
                agent.display(),
                i + 1
            );
            return UNREADABLE;
        };
        events += 1;
        requests.extend(super::reconcile::agent_request(i + 1, v));
    }
    let mut log = super::reconcile::ServerLog::default();
    for (i, line) in server_text.lines().enumerate() {
        if let Err(e) = log.line(i + 1, line) {
            eprintln!("sidekey: {}: {e}", server.display());
            return UNREADABLE;
        }
    }
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let r = super::reconcile::reconcile(&requests, events, &log, window_ms);
    let out = if json {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("sidekey: {e}");
                return UNREADABLE;
            }
        }
    } else {
        r.to_text(&agent.display().to_string(), &server.display().to_string())
    };
    print!("{out}");
    if r.complete() { OK } else { BROKEN }
}
