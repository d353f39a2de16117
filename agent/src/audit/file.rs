//! The `file` sink: events appended to a file (mode 0600), rotated when `audit { file { log_rotate_* } }`
//! asks for it, exactly as Vault rotates its log files (`<stem>-<unix nanoseconds><ext>`, see
//! `runtime::rotate`). The chain continues across rotated files and across restarts: a new file's
//! first event has the last event of the file before as its `prev_hash`.

use std::path::{Path, PathBuf};

use super::event::Event;
use super::{AuditError, chain};
use crate::config::Rotation;
use crate::runtime::rotate::{RotatingFile, rotated_siblings};

/// The mode an audit file is created with.
const MODE: u32 = 0o600;

/// The sink name anchors and `audit.anchor` events give the file sink's chain.
pub const SINK: &str = "file";

/// The newest event a sink has written, as an anchor records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The sink whose chain it is (`file`).
    pub sink: &'static str,
    /// `agent.id` of the run that wrote it.
    pub agent_id: String,
    /// `agent.host`.
    pub host: String,
    /// Its `seq`.
    pub seq: u64,
    /// Its `hash`.
    pub hash: String,
    /// Its `time`.
    pub time: String,
}

/// The file sink. See the module doc.
pub struct FileSink {
    file: RotatingFile,
    head: Option<ChainHead>,
}

impl FileSink {
    /// Open `path` for appending; also returns the hash of the last event already there (in the file,
    /// or in its newest rotated file when the file itself has none), which the chain continues from.
    ///
    /// # Errors
    /// [`AuditError::File`].
    pub fn open(
        path: &Path,
        rotation: Option<Rotation>,
    ) -> Result<(Self, Option<String>), AuditError> {
        let last = last_hash(path).or_else(|| {
            let newest = rotated_siblings(path).ok()?.pop()?;
            last_hash(&newest)
        });
        let file = RotatingFile::open(path, rotation, MODE).map_err(|source| AuditError::File {
            path: path.to_path_buf(),
            source,
        })?;
        Ok((Self { file, head: None }, last))
    }

    /// Append `line` (one event and its newline), the written form of `ev` whose hash in this sink's
    /// chain is `hash`. A failure is logged, never hidden, and never stops delivery.
    pub fn write(&mut self, line: &[u8], ev: &Event, hash: &str) {
        match self.file.write_all(line) {
            Ok(rotated) => {
                if let Some(r) = rotated {
                    tracing::info!(rotated_to = %r.aside.display(), "audit file rotated; the chain continues in the new file");
                    if let Err(e) = r.pruned {
                        tracing::error!(error = %e, "audit: removing rotated files beyond log_rotate_max_files failed");
                    }
                }
                self.head = Some(ChainHead {
                    sink: SINK,
                    agent_id: ev.agent.id.clone(),
                    host: ev.agent.host.clone(),
                    seq: ev.seq,
                    hash: hash.to_string(),
                    time: ev.time.clone(),
                });
            }
            Err(e) => {
                tracing::error!(path = %self.path().display(), error = %e, "audit write failed");
            }
        }
    }

    /// The newest event written by this run, if any.
    pub fn head(&self) -> Option<&ChainHead> {
        self.head.as_ref()
    }

    /// The file being written.
    pub fn path(&self) -> PathBuf {
        self.file.path()
    }

    /// Make what was written durable.
    pub fn sync(&self) {
        if let Err(e) = self.file.file().sync_data() {
            tracing::error!(path = %self.path().display(), error = %e, "audit fsync failed");
        }
    }

    /// Open the path anew (after an outside tool renamed the file); the chain continues across files.
    pub fn reopen(&mut self) {
        match self.file.reopen() {
            Ok(()) => tracing::info!(path = %self.path().display(), "audit file reopened"),
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen the audit file; still writing the old one");
            }
        }
    }
}

/// How much of a file is read at a time, from its end, looking for its last event.
const CHUNK: u64 = 8192;

/// How far back from the end a last event is looked for: far beyond any event.
const LOOK_BACK: u64 = 16 << 20;

/// The `hash` of the last complete event in an existing audit file. The file is read backwards, a
/// [`CHUNK`] at a time, until its last complete line (ended by a newline; a final line without one
/// counts when it is a whole event) is found, or its start. A non-empty file without one is logged:
/// the chain restarts, which `audit verify` later shows as a break.
fn last_hash(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut tail: Vec<u8> = Vec::new();
    let mut start = len;
    while start > 0 && len - start < LOOK_BACK {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = Vec::new();
        f.seek(SeekFrom::Start(from)).ok()?;
        (&mut f).take(start - from).read_to_end(&mut chunk).ok()?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = from;
        if let Some(found) = last_event(&tail, start == 0) {
            if found.is_none() {
                no_hash(path);
            }
            return found;
        }
    }
    if len > 0 {
        no_hash(path);
    }
    None
}

/// In `tail` (the end of a file; `whole` when it is all of it): `Some(hash)` of the last complete
/// line, `Some(None)` when that line is no event, `None` when no line is complete yet.
fn last_event(tail: &[u8], whole: bool) -> Option<Option<String>> {
    let mut lines: Vec<&[u8]> = tail.split(|b| *b == b'\n').collect();
    // After the last newline: a whole event, a write cut short by a crash, or nothing.
    let unended = lines.pop().unwrap_or_default();
    if let Some(h) = hash_of(unended) {
        return Some(Some(h));
    }
    for (i, line) in lines.iter().enumerate().rev() {
        if i == 0 && !whole {
            // It may start before `tail` does.
            return None;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return Some(hash_of(line));
    }
    whole.then_some(None)
}

fn hash_of(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?;
    chain::split_line(line.trim_end()).map(|(_, h)| h.to_string())
}

fn no_hash(path: &Path) {
    tracing::warn!(
        path = %path.display(),
        "audit file: no complete event with a hash at its end; the chain starts anew here (audit verify will show a break)"
    );
}

#[cfg(test)]
mod tests;
