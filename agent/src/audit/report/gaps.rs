//! Gaps in the record: breaks of the hash chain over a trail's files read in order (a line edited,
//! missing or moved; a `seq` that skips; a file that does not continue the one before), and agent
//! restarts (a new run's first event after the last one of the run before: nothing was recorded between).

use serde::Serialize;
use serde_json::Value;

use super::text;
use crate::audit::chain::{Broken, GENESIS, Hasher, Verifier};

/// One break of the chain.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ChainGap {
    /// The file (empty for a single unnamed trail).
    pub file: String,
    /// The line in it (1-based).
    pub line: usize,
    /// `edited`, `missing` (a line before it is missing or lines were moved), `sequence` (its `seq`
    /// skips), `file` (the file does not continue the one before) or `malformed`.
    pub kind: &'static str,
    /// What it means.
    pub detail: String,
}

/// A new agent run after another.
#[derive(Debug, Serialize)]
pub struct Restart {
    /// The new run's first event (RFC 3339).
    pub time: String,
    /// The new run's `agent.id`.
    pub agent: String,
    /// The previous run's `agent.id`.
    pub previous_agent: String,
    /// The previous run's last event (RFC 3339).
    pub previous_time: String,
    /// Seconds between the two: nothing was recorded then.
    pub down_s: Option<u64>,
}

/// The chain being checked, over every line of every file in order.
pub(super) struct Chain<'h> {
    hasher: &'h Hasher,
    verifier: Verifier<'h>,
    /// Each file's name and the number (trail-wide) of its first line.
    files: Vec<(String, usize)>,
    /// Lines so far, trail-wide.
    lines: usize,
    /// Whether an event was seen yet.
    started: bool,
    continues_earlier_file: bool,
    /// The last event's agent run, time and milliseconds.
    last_run: Option<(String, String, Option<i64>)>,
    gaps: Vec<ChainGap>,
    restarts: Vec<Restart>,
}

impl<'h> Chain<'h> {
    /// A chain checked with `hasher`, before its first file.
    pub fn new(hasher: &'h Hasher) -> Self {
        Self {
            hasher,
            // The first file may continue an earlier one the report does not read.
            verifier: Verifier::new(hasher, true),
            files: Vec::new(),
            lines: 0,
            started: false,
            continues_earlier_file: false,
            last_run: None,
            gaps: Vec::new(),
            restarts: Vec::new(),
        }
    }

    /// The next lines are file `name`'s.
    pub fn start_file(&mut self, name: &str) {
        self.files.push((name.to_string(), self.lines + 1));
    }

    /// An empty line: numbered, not checked.
    pub fn skip_line(&mut self) {
        self.lines += 1;
    }

    /// Check the next line.
    pub fn line(&mut self, line: &str) {
        self.lines += 1;
        if let Err(e) = self.verifier.line(self.lines, line) {
            self.gaps.push(self.gap(&e));
            // Checking goes on from this line, as if a file started here.
            self.verifier = Verifier::new(self.hasher, true);
            let _ = self.verifier.line(self.lines, line);
        }
    }

    /// The event on the last line: a new agent run is a restart (counted when `in_window`).
    pub fn event(&mut self, ev: &Value, time: &str, ms: Option<i64>, in_window: bool) {
        if !self.started {
            self.started = true;
            self.continues_earlier_file = ev
                .get("prev_hash")
                .and_then(Value::as_str)
                .is_some_and(|h| h != GENESIS);
        }
        let agent = text(ev, "/agent/id");
        match &self.last_run {
            Some((prev, prev_time, prev_ms)) if prev != agent && in_window => {
                let down_s = ms
                    .zip(*prev_ms)
                    .and_then(|(t, p)| u64::try_from((t - p) / 1000).ok());
                self.restarts.push(Restart {
                    time: time.to_string(),
                    agent: agent.to_string(),
                    previous_agent: prev.clone(),
                    previous_time: prev_time.clone(),
                    down_s,
                });
            }
            _ => {}
        }
        self.last_run = Some((agent.to_string(), time.to_string(), ms));
    }

    /// The breaks, the restarts, and whether the first file continues an earlier one.
    pub fn finish(self) -> (Vec<ChainGap>, Vec<Restart>, bool) {
        (self.gaps, self.restarts, self.continues_earlier_file)
    }

    /// File and line of trail-wide line `n`.
    fn locate(&self, n: usize) -> (&str, usize) {
        self.files
            .iter()
            .rev()
            .find(|(_, first)| *first <= n)
            .map_or(("", n), |(name, first)| (name.as_str(), n + 1 - first))
    }

    fn gap(&self, e: &Broken) -> ChainGap {
        let (n, kind, detail) = match e {
            Broken::Malformed { line } => (
                *line,
                "malformed",
                "not an audit event (not JSON, or no trailing \"hash\")".to_string(),
            ),
            Broken::Edited { line } => (
                *line,
                "edited",
                "content does not match its hash: the line was edited (or the HMAC key is wrong or missing)"
                    .to_string(),
            ),
            Broken::PrevHash { line, prev } => {
                let (file, _) = self.locate(*line);
                let (prev_file, prev_line) = self.locate(*prev);
                if *prev > 0 && prev_file != file {
                    (
                        *line,
                        "file",
                        format!(
                            "does not continue {prev_file} (its last line {prev_line}): events or whole files are missing between them"
                        ),
                    )
                } else {
                    (
                        *line,
                        "missing",
                        format!(
                            "prev_hash does not match line {prev_line}: a line is missing before it, or lines were reordered"
                        ),
                    )
                }
            }
            Broken::RunPrevHash { line, .. } => (
                *line,
                "missing",
                "prev_hash does not match the run's previous event".to_string(),
            ),
            Broken::RunConflict { line, .. } => (
                *line,
                "edited",
                "the same agent run and seq with other content".to_string(),
            ),
            Broken::Continues { line } => (
                *line,
                "file",
                "continues a chain whose start is not here: earlier files are missing".to_string(),
            ),
            Broken::Sequence {
                line,
                seq,
                expected_after,
            } => (
                *line,
                "sequence",
                format!(
                    "seq {seq} does not follow seq {expected_after} of the same agent run: events missing or reordered"
                ),
            ),
        };
        let (file, line) = self.locate(n);
        ChainGap {
            file: file.to_string(),
            line,
            kind,
            detail,
        }
    }
}
