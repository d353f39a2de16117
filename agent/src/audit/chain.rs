//! The hash chain: SHA-256 or HMAC-SHA-256 over each line as written, and `sidekey audit verify`.
//!
//! Canonical encoding: the line's compact JSON (in the sink's format, see `format`) without the `hash`
//! member. `hash` is always the last member of the last object (sidekey's top level, OCSF's
//! `unmapped`, ECS's `sidekey`), so a written line is exactly the canonical encoding with
//! `,"hash":"<64 hex>"` inserted before its closing braces; verification works on the line's bytes, so
//! any edit of any byte (even whitespace) breaks it. `hash = hex(SHA-256(canonical))`, or
//! `hex(HMAC-SHA-256(key, canonical))` with `hmac_key_file`. Every line's `prev_hash` is the previous
//! line's `hash`; the first line of a file has 64 zeros. Each sink has its own chain, over its own bytes.
//!
//! Limits: the chain proves that no line was edited, removed or moved *before* the last one; removing
//! trailing lines leaves a valid, shorter chain (compare with the HTTP collector's copy for that).

use std::io::BufRead;
use std::path::PathBuf;

use super::format;

mod hasher;
mod runs;

pub use hasher::{Hasher, KeyError};
pub use runs::{RunsVerified, verify_runs};

/// `prev_hash` of the first event in a file.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const HASH_KEY: &str = ",\"hash\":\"";

/// `canonical` (from `Format::encode`) as the line to write, and its hash: `,"hash":"<hex>"` goes in
/// before the closing braces.
pub fn seal(canonical: &[u8], hasher: &Hasher) -> (Vec<u8>, String) {
    let hash = hasher.hash(canonical);
    let body = canonical.len() - canonical.iter().rev().take_while(|b| **b == b'}').count();
    let mut line = Vec::with_capacity(canonical.len() + HASH_KEY.len() + hash.len() + 2);
    line.extend_from_slice(&canonical[..body]);
    line.extend_from_slice(HASH_KEY.as_bytes());
    line.extend_from_slice(hash.as_bytes());
    line.push(b'"');
    line.extend_from_slice(&canonical[body..]);
    (line, hash)
}

/// Split a written line into its canonical encoding and its `hash`: the hash is
/// `,"hash":"<64 hex>"` followed only by closing braces, in any format.
pub fn split_line(line: &str) -> Option<(String, &str)> {
    let body = line.trim_end_matches('}');
    let closing = &line[body.len()..];
    if closing.is_empty() {
        return None;
    }
    let at = body.strip_suffix('"')?.rfind(HASH_KEY)?;
    let hash = &body[at + HASH_KEY.len()..body.len() - 1];
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut canonical = body[..at].to_string();
    canonical.push_str(closing);
    Some((canonical, hash))
}

/// What is wrong with one line of an audit file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    /// Not an event line at all.
    #[error("line {line}: not an audit event (not JSON, or no trailing \"hash\")")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// The line's content does not hash to its `hash`: it was edited (or the key is wrong).
    #[error(
        "line {line}: content does not match its hash: the line was edited (or the HMAC key is wrong or missing)"
    )]
    Edited {
        /// 1-based line number.
        line: usize,
    },
    /// `prev_hash` is not the previous line's hash: a line before it is missing, or lines were moved.
    #[error(
        "line {line}: prev_hash does not match {}: a line is missing before it, or lines were reordered",
        previous(*prev)
    )]
    PrevHash {
        /// 1-based line number.
        line: usize,
        /// The previous line's number (0 when the file starts here).
        prev: usize,
    },
    /// The first line continues a chain whose earlier files are not there (removed by
    /// `log_rotate_max_files`, or not given), and that was not allowed.
    #[error(
        "line {line}: prev_hash is not 64 zeros: the file continues a chain whose start is not here (the files before it were removed by log_rotate_max_files, or not given); give --allow-continuation to accept that"
    )]
    Continues {
        /// 1-based line number.
        line: usize,
    },
    /// `--per-run`: `prev_hash` is not the hash of the run's previous event.
    #[error(
        "line {line}: prev_hash does not match the previous event (seq {prev_seq}) of agent run {agent}: an event is missing before it, or events were reordered"
    )]
    RunPrevHash {
        /// 1-based line number.
        line: usize,
        /// The line's `agent.id`.
        agent: String,
        /// The run's previous `seq`.
        prev_seq: u64,
    },
    /// `--per-run`: an `agent.id` and `seq` seen before, with other bytes.
    #[error(
        "line {line}: seq {seq} of agent run {agent} was seen before with other content: one of them was edited"
    )]
    RunConflict {
        /// 1-based line number.
        line: usize,
        /// The line's `agent.id`.
        agent: String,
        /// The line's `seq`.
        seq: u64,
    },
    /// `seq` does not follow the previous event of the same agent run.
    #[error(
        "line {line}: seq {seq} does not follow seq {expected_after} of the same agent run: missing or reordered"
    )]
    Sequence {
        /// 1-based line number.
        line: usize,
        /// The line's seq.
        seq: u64,
        /// The previous seq of the run.
        expected_after: u64,
    },
}

/// How a break names the line before: its number, or (0) the end of the file before.
fn previous(line: usize) -> String {
    if line == 0 {
        "the last line of the file before".into()
    } else {
        format!("line {line}")
    }
}

/// A verified file: how many events, and whether it continues an earlier file's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Number of events.
    pub events: usize,
    /// The first event's `prev_hash` when it is not [`GENESIS`] (a rotated file continuing a chain).
    pub continues_from: Option<String>,
    /// The last event's hash.
    pub last_hash: String,
}

/// A verification could not run or found a break.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The first problem found.
    #[error(transparent)]
    Broken(#[from] Broken),
}

/// Verify the chain of one file (see [`verify_files`]).
///
/// # Errors
/// [`VerifyError`].
#[cfg(test)]
pub fn verify_file(
    path: &std::path::Path,
    hasher: &Hasher,
    allow_continuation: bool,
) -> Result<Verified, VerifyError> {
    verify_files(
        &[path.to_path_buf()],
        hasher,
        allow_continuation,
        &mut |_, _, _| {},
    )
    .map_err(|e| e.error)
}

/// A break found in one file of a set.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", file.display())]
pub struct InFile {
    /// The file.
    pub file: PathBuf,
    /// Its place in the set (0: the first).
    pub index: usize,
    /// What is wrong.
    pub error: VerifyError,
}

/// Verify `files` in order as one chain (rotated files oldest first, then the file being written): each
/// file's first event continues the last event of the file before. With `allow_continuation`, the first
/// file may continue an earlier chain (its predecessors were removed). `seen(file index, line number,
/// line)` is called for every event that verified.
///
/// # Errors
/// [`InFile`]: the first break, in which file.
pub fn verify_files(
    files: &[PathBuf],
    hasher: &Hasher,
    allow_continuation: bool,
    seen: &mut dyn FnMut(usize, usize, &str),
) -> Result<Verified, InFile> {
    let mut v = Verifier::new(hasher, allow_continuation);
    each_line(files, &mut |index, n, line| {
        if n == 1 {
            v.next_file();
        }
        v.line(n, line)?;
        seen(index, n, line);
        Ok(())
    })?;
    Ok(v.finish())
}

/// Call `check(file index, line number, line)` for every line of `files` in order; the first read
/// error or break, in which file.
fn each_line(
    files: &[PathBuf],
    check: &mut dyn FnMut(usize, usize, &str) -> Result<(), Broken>,
) -> Result<(), InFile> {
    for (index, path) in files.iter().enumerate() {
        let at = |error: VerifyError| InFile {
            file: path.clone(),
            index,
            error,
        };
        let read = |source| {
            at(VerifyError::Read {
                path: path.display().to_string(),
                source,
            })
        };
        let f = std::fs::File::open(path).map_err(read)?;
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(read)?;
            check(index, i + 1, &line).map_err(|b| at(b.into()))?;
        }
    }
    Ok(())
}

/// Line `n` parsed, and its `hash` once checked against its content.
fn sealed<'l>(
    hasher: &Hasher,
    n: usize,
    line: &'l str,
) -> Result<(serde_json::Value, &'l str), Broken> {
    let (canonical, hash) = split_line(line).ok_or(Broken::Malformed { line: n })?;
    let ev = serde_json::from_str(line).map_err(|_| Broken::Malformed { line: n })?;
    if hasher.hash(canonical.as_bytes()) != hash {
        return Err(Broken::Edited { line: n });
    }
    Ok((ev, hash))
}

/// Verifies lines one at a time.
pub struct Verifier<'a> {
    hasher: &'a Hasher,
    allow_continuation: bool,
    prev: Option<(usize, String)>,
    runs: std::collections::HashMap<String, u64>,
    events: usize,
    continues_from: Option<String>,
}

impl<'a> Verifier<'a> {
    /// A verifier for a file's first line.
    pub fn new(hasher: &'a Hasher, allow_continuation: bool) -> Self {
        Self {
            hasher,
            allow_continuation,
            prev: None,
            runs: std::collections::HashMap::new(),
            events: 0,
            continues_from: None,
        }
    }

    /// The lines that follow are a new file's: the next line continues this one's last, and its number
    /// starts again from 1.
    pub fn next_file(&mut self) {
        if let Some((n, _)) = self.prev.as_mut() {
            *n = 0;
        }
    }

    /// Check line number `n` (1-based).
    ///
    /// # Errors
    /// [`Broken`] naming the line.
    pub fn line(&mut self, n: usize, line: &str) -> Result<(), Broken> {
        let (ev, hash) = sealed(self.hasher, n, line)?;
        let chain = format::chain_of(&ev).ok_or(Broken::Malformed { line: n })?;
        let prev_hash = chain.prev_hash;
        match &self.prev {
            Some((pn, ph)) if ph != prev_hash => {
                return Err(Broken::PrevHash { line: n, prev: *pn });
            }
            Some(_) => {}
            None if prev_hash == GENESIS => {}
            None if self.allow_continuation => self.continues_from = Some(prev_hash.to_string()),
            None => return Err(Broken::Continues { line: n }),
        }
        let (seq, agent) = (chain.seq, chain.agent_id.to_string());
        let expected = self.runs.get(&agent).map_or(1, |s| s + 1);
        // A run seen for the first time may start mid-way only at the top of a rotated file.
        let first_of_run_ok = !self.runs.contains_key(&agent) && (seq == 1 || self.prev.is_none());
        if seq != expected && !first_of_run_ok {
            return Err(Broken::Sequence {
                line: n,
                seq,
                expected_after: expected.saturating_sub(1),
            });
        }
        self.runs.insert(agent, seq);
        self.prev = Some((n, hash.to_string()));
        self.events += 1;
        Ok(())
    }

    /// The result after the last line.
    pub fn finish(self) -> Verified {
        Verified {
            events: self.events,
            continues_from: self.continues_from,
            last_hash: self.prev.map(|(_, h)| h).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;
