//! The `sidekey audit verify` and `sidekey report` commands: read a trail, print, return the exit code.

use std::path::Path;

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
