//! A spooled sink's bounded on-disk spool (`http`, `syslog`, `otlp`): events are appended (one line each,
//! encoded for the sink's transport) before they are sent, and a separate offset file remembers how far
//! the receiver has acknowledged, so nothing is lost while the receiver is down, nor across a restart of
//! sidekey.
//!
//! Layout: `<spool_path>` holds lines; `<spool_path>.offset` holds the byte offset of the first line not
//! yet acknowledged (decimal). When everything is acknowledged the spool is truncated to empty.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The spool could not be used.
#[derive(Debug, thiserror::Error)]
#[error("audit spool {path}: {source}")]
pub struct SpoolError {
    /// The spool file.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Appending a line would exceed `spool_max_bytes`.
#[derive(Debug, thiserror::Error)]
#[error(
    "audit spool {path} is full ({max} bytes): its receiver has not accepted events for too long"
)]
pub struct SpoolFull {
    /// The spool file.
    pub path: PathBuf,
    /// The configured cap, in bytes.
    pub max: u64,
}

/// A batch read from the spool: the lines and the offset just after them.
#[derive(Debug, Default)]
pub struct Batch {
    /// Event lines, without newlines.
    pub lines: Vec<String>,
    /// Offset after the last line (what to acknowledge).
    pub end: u64,
}

/// The spool file and its acknowledged offset.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    file: File,
    len: u64,
    acked: u64,
    max: u64,
    pending: u64,
}

impl Spool {
    /// Open (or create, mode 0600) the spool at `path`, capped at `max` bytes.
    ///
    /// # Errors
    /// [`SpoolError`].
    pub fn open(path: &Path, max: u64) -> Result<Self, SpoolError> {
        let err = |source| SpoolError {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let offset_path = PathBuf::from(format!("{}.offset", path.display()));
        let acked = std::fs::read_to_string(&offset_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(len);
        let pending = count_lines(path, acked).map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            offset_path,
            file,
            len,
            acked,
            max,
            pending,
        })
    }

    /// Append one line (a trailing newline is added).
    ///
    /// # Errors
    /// [`SpoolFull`] when the line does not fit; an I/O failure is reported as full too (the event
    /// cannot be kept either way), after logging the cause.
    pub fn push(&mut self, line: &[u8]) -> Result<(), SpoolFull> {
        let full = || SpoolFull {
            path: self.path.clone(),
            max: self.max,
        };
        let n = line.len() as u64 + 1;
        if self.len + n > self.max {
            return Err(full());
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if let Err(e) = self.file.write_all(&buf) {
            tracing::error!(path = %self.path.display(), error = %e, "audit spool write failed");
            return Err(full());
        }
        self.len += n;
        self.pending += 1;
        Ok(())
    }

    /// Make appended lines durable.
    pub fn sync(&self) {
        if let Err(e) = self.file.sync_data() {
            tracing::error!(path = %self.path.display(), error = %e, "audit spool fsync failed");
        }
    }

    /// Bytes not yet acknowledged.
    #[cfg(test)]
    pub fn pending_bytes(&self) -> u64 {
        self.len - self.acked
    }

    /// Events not yet acknowledged.
    pub fn pending_events(&self) -> u64 {
        self.pending
    }

    /// Up to `max_lines` unacknowledged lines, in order.
    ///
    /// # Errors
    /// [`SpoolError`].
    pub fn peek(&self, max_lines: usize) -> Result<Batch, SpoolError> {
        let err = |source| SpoolError {
            path: self.path.clone(),
            source,
        };
        let mut f = File::open(&self.path).map_err(err)?;
        f.seek(SeekFrom::Start(self.acked)).map_err(err)?;
        let mut r = BufReader::new(f.take(self.len - self.acked));
        let mut batch = Batch {
            lines: Vec::new(),
            end: self.acked,
        };
        let mut line = String::new();
        while batch.lines.len() < max_lines {
            line.clear();
            let n = r.read_line(&mut line).map_err(err)?;
            // A line without its newline is still being written: leave it for the next batch.
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            batch.end += n as u64;
            batch.lines.push(line.trim_end().to_string());
        }
        Ok(batch)
    }

    /// Record that `batch` was accepted by the receiver; truncate when everything was.
    ///
    /// # Errors
    /// [`SpoolError`].
    pub fn ack(&mut self, batch: &Batch) -> Result<(), SpoolError> {
        let err = |source| SpoolError {
            path: self.path.clone(),
            source,
        };
        self.pending = self.pending.saturating_sub(batch.lines.len() as u64);
        self.acked = batch.end.min(self.len);
        if self.acked == self.len {
            self.file.set_len(0).map_err(err)?;
            self.len = 0;
            self.acked = 0;
        }
        let tmp = PathBuf::from(format!("{}.tmp", self.offset_path.display()));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        std::io::Write::write_all(&mut f, format!("{}\n", self.acked).as_bytes()).map_err(err)?;
        std::fs::rename(&tmp, &self.offset_path).map_err(err)?;
        Ok(())
    }
}

/// Complete lines after `from` in `path`.
fn count_lines(path: &Path, from: u64) -> Result<u64, std::io::Error> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf.iter().filter(|b| **b == b'\n').count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_peek_ack_truncate_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let mut s = Spool::open(&p, 1000).unwrap();
        for i in 0..5 {
            s.push(format!("{{\"seq\":{i}}}").as_bytes()).unwrap();
        }
        let b = s.peek(2).unwrap();
        assert_eq!(b.lines, vec!["{\"seq\":0}", "{\"seq\":1}"]);
        s.ack(&b).unwrap();
        drop(s);
        let mut s = Spool::open(&p, 1000).unwrap();
        let b = s.peek(10).unwrap();
        assert_eq!(b.lines.len(), 3);
        assert_eq!(s.pending_events(), 3);
        assert_eq!(b.lines[0], "{\"seq\":2}");
        s.ack(&b).unwrap();
        assert_eq!(s.pending_bytes(), 0);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    }

    #[test]
    fn full_spool_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(&dir.path().join("s"), 10).unwrap();
        s.push(b"12345678").unwrap();
        assert!(s.push(b"x").is_err());
    }
}
