//! A file rotated the way Vault rotates its own log files (`log_file` with `log_rotate_*`): used by
//! `log_file` and by the audit file sink (`audit { file { log_rotate_* } }`).
//!
//! - The file is opened for appending (created with the caller's mode); rotated files beyond the limit
//!   are pruned then too.
//! - Before each write, the file is rotated when it holds `log_rotate_bytes` or more (counted from when
//!   sidekey opened it) or is `log_rotate_duration` old: made durable, renamed to
//!   `<stem>-<unix nanoseconds><ext>` (`ext` is the file's extension, `.log` when it has none), then a new
//!   file is opened. So one write may take a file past the limit, and the next one rotates it; a line is
//!   never split between two files.
//! - After a rotation only the newest `log_rotate_max_files` rotated files are kept (all of them for 0,
//!   none for -1).
//!
//! Nothing here logs: the log file itself is written through it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{KeepRotated, Rotation};

/// A file being appended to, and its rotation.
pub struct RotatingFile {
    dir: PathBuf,
    name: String,
    /// `None`: never rotated (an outside tool may rename it and ask for [`RotatingFile::reopen`]).
    rotation: Option<Rotation>,
    mode: u32,
    file: File,
    /// When sidekey opened it: the age `log_rotate_duration` is measured from.
    opened: SystemTime,
    /// Bytes sidekey wrote to it (what was there before is not counted, as in Vault).
    written: u64,
}

/// A rotation that happened before a write.
#[derive(Debug)]
pub struct Rotated {
    /// Where the full file went.
    pub aside: PathBuf,
    /// Whether removing the rotated files beyond `log_rotate_max_files` worked.
    pub pruned: io::Result<()>,
}

impl RotatingFile {
    /// Open `path` for appending (created with exactly `mode`), pruning old rotated files first.
    ///
    /// # Errors
    /// The file cannot be opened, or its directory read.
    pub fn open(path: &Path, rotation: Option<Rotation>, mode: u32) -> io::Result<Self> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let f = Self {
            file: open_append(path, mode)?,
            dir,
            name,
            rotation,
            mode,
            opened: SystemTime::now(),
            written: 0,
        };
        f.prune()?;
        Ok(f)
    }

    /// The path of the file being written.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The file being written.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Write all of `buf`, rotating first when the file is due.
    ///
    /// # Errors
    /// The rotation (rename, open) or the write failed.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<Option<Rotated>> {
        let rotated = if self.due() {
            Some(self.rotate()?)
        } else {
            None
        };
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(rotated)
    }

    /// Open the path anew (an outside tool renamed the file): size and age count from now.
    ///
    /// # Errors
    /// The file cannot be opened; the old one is still written then.
    pub fn reopen(&mut self) -> io::Result<()> {
        let _ = self.file.sync_data();
        self.file = open_append(&self.path(), self.mode)?;
        self.opened = SystemTime::now();
        self.written = 0;
        Ok(())
    }

    fn due(&self) -> bool {
        let Some(r) = &self.rotation else {
            return false;
        };
        let full = r.bytes.is_some_and(|max| self.written >= max);
        let age = SystemTime::now()
            .duration_since(self.opened)
            .unwrap_or(Duration::ZERO);
        full || age >= r.duration
    }

    /// Make the current file durable, rename it aside, open a new one, prune.
    fn rotate(&mut self) -> io::Result<Rotated> {
        self.file.sync_data()?;
        let (stem, ext) = stem_and_ext(&self.name);
        let mut nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos();
        // Two rotations within one clock tick must not overwrite each other.
        let aside = loop {
            let p = self.dir.join(format!("{stem}-{nanos}{ext}"));
            if !p.exists() {
                break p;
            }
            nanos += 1;
        };
        let current = self.path();
        std::fs::rename(&current, &aside)?;
        self.file = open_append(&current, self.mode)?;
        self.opened = SystemTime::now();
        self.written = 0;
        Ok(Rotated {
            aside,
            pruned: self.prune(),
        })
    }

    /// Remove the rotated files beyond `log_rotate_max_files`, oldest first.
    fn prune(&self) -> io::Result<()> {
        let keep = match self.rotation.map(|r| r.keep) {
            None | Some(KeepRotated::All) => return Ok(()),
            Some(KeepRotated::None) => 0,
            Some(KeepRotated::Newest(n)) => n,
        };
        let rotated = rotated_siblings(&self.path())?;
        let surplus = rotated.len().saturating_sub(keep);
        for path in rotated.into_iter().take(surplus) {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

/// The rotated files of `path` beside it, oldest first. Only names of the form `<stem>-<digits><ext>`
/// count: nothing else in the directory is touched.
///
/// # Errors
/// The directory cannot be read.
pub fn rotated_siblings(path: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let (stem, ext) = stem_and_ext(name);
    let prefix = format!("{stem}-");
    let mut rotated: Vec<(u128, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
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
    Ok(rotated.into_iter().map(|(_, p)| p).collect())
}

/// The name without its extension, and the extension rotated files get (`.log` when it has none).
fn stem_and_ext(name: &str) -> (String, String) {
    match name.rfind('.').filter(|i| *i > 0) {
        Some(i) => (name[..i].to_string(), name[i..].to_string()),
        None => (name.to_string(), ".log".to_string()),
    }
}

fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    super::harden::open_with_mode(OpenOptions::new().append(true), path, mode)
}
