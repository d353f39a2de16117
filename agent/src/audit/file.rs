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

/// The `hash` of the last complete event in an existing audit file.
fn last_hash(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    // One event is well under 8 KiB; read only the tail.
    let start = len.saturating_sub(8192);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    // The tail may start inside a character; only its last line matters.
    let tail = String::from_utf8_lossy(&tail);
    let line = tail.lines().rev().find(|l| l.trim_end().ends_with('}'))?;
    chain::split_line(line).map(|(_, h)| h.to_string())
}

#[cfg(test)]
mod tests;
