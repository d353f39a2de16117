//! `log_file`: every log line also goes to a file, rotated the way Vault Agent rotates it (see
//! `runtime::rotate`; the file is created with mode 0640, as Vault Agent does).
//!
//! Log lines are never secret (see `cli::init_logging`), so the file needs no more care than stderr.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

use super::rotate::RotatingFile;
use crate::config::LogFileConfig;

/// The mode a new log file is created with (Vault Agent's).
const MODE: u32 = 0o640;

/// The log file and its rotation. Shared by every log line.
pub struct LogFile {
    file: Mutex<RotatingFile>,
}

impl LogFile {
    /// Prune old rotated files, then open the log file for appending.
    ///
    /// # Errors
    /// The file cannot be opened (or its directory read); the message names the path.
    pub fn open(cfg: &LogFileConfig) -> Result<Self, String> {
        let path = cfg.dir.join(&cfg.name);
        let file = RotatingFile::open(&path, Some(cfg.rotation), MODE)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    /// Write all of `buf` (one log line), rotating first when the file is due. A failed pruning is not
    /// reported: this is the log itself.
    fn write_line(&self, buf: &[u8]) -> io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(buf).map(|_| ())
    }
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
