//! `log_file`: every log line also goes to a file, rotated the way Vault Agent rotates it.
//!
//! - The file is opened for appending (created with mode 0640, as Vault Agent does) when logging starts;
//!   rotated files older than the limit are pruned then too.
//! - Before each write, the file is rotated when it holds `log_rotate_bytes` or more (counted from when
//!   sidekey opened it) or is `log_rotate_duration` old: renamed to `<stem>-<unix nanoseconds><ext>`
//!   (`ext` is the file's extension, `.log` when it has none), then a new file is opened. So one write
//!   may take a file past the limit, and the next one rotates it.
//! - After a rotation only the newest `log_rotate_max_files` rotated files are kept (all of them for 0,
//!   none for -1).
//!
//! Log lines are never secret (see `cli::init_logging`), so the file needs no more care than stderr.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::{KeepRotated, LogFileConfig};

/// The mode a new log file is created with (Vault Agent's).
const MODE: u32 = 0o640;

/// The log file and its rotation (see the module doc). Shared by every log line.
pub struct LogFile {
    cfg: LogFileConfig,
    state: Mutex<State>,
}

/// The file being written.
struct State {
    file: File,
    /// When sidekey opened it: the age `log_rotate_duration` is measured from.
    opened: SystemTime,
    /// Bytes sidekey wrote to it (what was there before is not counted, as in Vault Agent).
    written: u64,
}

impl LogFile {
    /// Prune old rotated files, then open the log file for appending.
    ///
    /// # Errors
    /// The file cannot be opened (or its directory read); the message names the path.
    pub fn open(cfg: &LogFileConfig) -> Result<Self, String> {
        let log = Self {
            cfg: cfg.clone(),
            state: Mutex::new(State {
                file: open_append(&cfg.dir.join(&cfg.name))?,
                opened: SystemTime::now(),
                written: 0,
            }),
        };
        log.prune()
            .map_err(|e| format!("{}: {e}", cfg.dir.display()))?;
        Ok(log)
    }

    /// The path of the file being written.
    pub fn path(&self) -> PathBuf {
        self.cfg.dir.join(&self.cfg.name)
    }

    /// Write all of `buf` (one log line), rotating first when the file is due.
    fn write_line(&self, buf: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.due(&state) {
            self.rotate(&mut state)?;
        }
        state.file.write_all(buf)?;
        state.written += buf.len() as u64;
        Ok(())
    }

    fn due(&self, state: &State) -> bool {
        let full = self
            .cfg
            .rotate_bytes
            .is_some_and(|max| state.written >= max);
        let age = SystemTime::now()
            .duration_since(state.opened)
            .unwrap_or(Duration::ZERO);
        full || age >= self.cfg.rotate_duration
    }

    /// Rename the current file aside, prune, open a new one.
    fn rotate(&self, state: &mut State) -> io::Result<()> {
        let (stem, ext) = self.stem_and_ext();
        let mut nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        // Two rotations within one clock tick must not overwrite each other.
        let aside = loop {
            let p = self.cfg.dir.join(format!("{stem}-{nanos}{ext}"));
            if !p.exists() {
                break p;
            }
            nanos += 1;
        };
        let current = self.path();
        std::fs::rename(&current, aside)?;
        self.prune()?;
        state.file = open_append(&current).map_err(io::Error::other)?;
        state.opened = SystemTime::now();
        state.written = 0;
        Ok(())
    }

    /// Remove the rotated files beyond `log_rotate_max_files`, oldest first. Only names of the form
    /// `<stem>-<digits><ext>` are considered: nothing else in the directory is touched.
    fn prune(&self) -> io::Result<()> {
        let keep = match self.cfg.keep {
            KeepRotated::All => return Ok(()),
            KeepRotated::None => 0,
            KeepRotated::Newest(n) => n,
        };
        let (stem, ext) = self.stem_and_ext();
        let prefix = format!("{stem}-");
        let mut rotated: Vec<(u128, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&self.cfg.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stamp = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&ext))
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u128>().ok());
            if let Some(stamp) = stamp {
                rotated.push((stamp, entry.path()));
            }
        }
        rotated.sort();
        let surplus = rotated.len().saturating_sub(keep);
        for (_, path) in rotated.into_iter().take(surplus) {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }

    /// The name without its extension, and the extension rotated files get (`.log` when it has none).
    fn stem_and_ext(&self) -> (String, String) {
        let name = &self.cfg.name;
        match name.rfind('.').filter(|i| *i > 0) {
            Some(i) => (name[..i].to_string(), name[i..].to_string()),
            None => (name.clone(), ".log".to_string()),
        }
    }
}

fn open_append(path: &std::path::Path) -> Result<File, String> {
    super::harden::open_with_mode(OpenOptions::new().append(true), path, MODE)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Where log lines go: stderr always, and the log file when one is configured.
#[derive(Clone, Default)]
pub struct LogOutputs {
    /// The `log_file`, if any.
    pub file: Option<Arc<LogFile>>,
}

/// One log line's writer (see [`LogOutputs`]).
pub struct LineWriter<'a> {
    file: Option<&'a LogFile>,
}

impl<'a> MakeWriter<'a> for LogOutputs {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            file: self.file.as_deref(),
        }
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A closed stderr must not cost the file its lines (Vault Agent ignores stderr's errors too).
        let _ = io::stderr().write_all(buf);
        if let Some(f) = self.file {
            f.write_line(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests;
