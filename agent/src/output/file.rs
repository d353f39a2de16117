//! Atomic file delivery (DESIGN §7): the directory is opened without following symlinks (see [`super::dir`]
//! for the rule), content goes into a new file in that directory, unguessably named, created with no
//! access for others and given its final owner and mode before the first byte, is fsync'd, then renamed
//! over the destination. The destination is rewritten only when its bytes change; when they have not, an
//! explicitly configured mode or owner that was changed from outside is put back (on the file itself,
//! through a descriptor opened without following symlinks, so a mode without the owner's write bit is no
//! obstacle).

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};

mod create;
mod owner;

pub(super) use create::{create_private, fill};
use create::{create_temp, inode_of};
pub use owner::Restored;
pub(super) use owner::{creating, dir_mode, final_meta, keeps_owners, restore};

/// How one destination file is written.
#[derive(Clone, Debug)]
pub struct FileTarget {
    /// The destination path.
    pub path: PathBuf,
    /// The file mode (e.g. `0o600`), set before any byte is written.
    pub mode: u32,
    /// Owner uid, if the file must belong to another user.
    pub uid: Option<u32>,
    /// Group gid, if set.
    pub gid: Option<u32>,
    /// Create missing parent directories (`0700`, opened to group/others as far as `mode` is).
    pub create_dirs: bool,
    /// Allow a destination that is not on tmpfs/ramfs.
    pub allow_non_tmpfs: bool,
    /// Keep the previous content as `<name>.bak` before replacing it.
    pub backup: bool,
    /// Give the new file the mode of the one it replaces (if any) instead of `mode`: a template without
    /// `perms` keeps what an operator set, as consul-template does.
    pub keep_mode: bool,
}

impl FileTarget {
    /// A file at `path` with `mode`, written as sidekey does by default: owner unchanged, missing parent
    /// directories created, tmpfs/ramfs required, no backup, `mode` applied even over an existing file.
    pub fn new(path: PathBuf, mode: u32) -> Self {
        Self {
            path,
            mode,
            uid: None,
            gid: None,
            create_dirs: true,
            allow_non_tmpfs: false,
            backup: false,
            keep_mode: false,
        }
    }
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The destination already held these bytes; nothing was touched.
    Unchanged,
    /// The destination was created or replaced.
    Written,
    /// The destination already held these bytes, but its mode or owner had been changed from outside and
    /// was put back to what is configured.
    Restored(Restored),
}

/// A file delivery error; names the destination and the step that failed. The previous file is untouched.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The destination path has no file name or parent directory.
    #[error("{0}: not a file path")]
    BadPath(PathBuf),
    /// The destination's directory (or one above it) cannot be used safely.
    #[error("{path}: {source}")]
    Dir {
        /// The destination.
        path: PathBuf,
        /// What is wrong with which directory.
        source: super::dir::DirError,
    },
    /// The destination directory is not on tmpfs/ramfs and `allow_non_tmpfs` is not set.
    #[error(
        "{0}: refusing to write a secret outside tmpfs/ramfs (set allow_non_tmpfs = true in the template stanza to allow it)"
    )]
    NotTmpfs(PathBuf),
    /// A system call failed.
    #[error("{path}: {step}: {source}")]
    Io {
        /// The destination.
        path: PathBuf,
        /// What was being done (`create temporary file`, `chmod`, `write`, `rename`...).
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl OutputError {
    pub(super) fn io(path: &Path, step: &'static str, e: impl Into<std::io::Error>) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            step,
            source: e.into(),
        }
    }
}

/// Write `bytes` to `target` atomically (see the module doc).
///
/// # Errors
/// [`OutputError`]; on any error the previous destination file is left as it was and no temporary file
/// remains.
pub fn write_atomic(target: &FileTarget, bytes: &[u8]) -> Result<WriteOutcome, OutputError> {
    write_known(target, bytes).map(|(outcome, _)| outcome)
}

/// [`write_atomic`], also telling which file is at the destination afterwards: the one written, or the
/// one that already held `bytes`.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_known(
    target: &FileTarget,
    bytes: &[u8],
) -> Result<(WriteOutcome, Inode), OutputError> {
    let path = target.path.as_path();
    let (dir_path, name) = split(path)?;
    let dir = open_dir(path, dir_path, creating(target, target.mode))?;
    if !target.allow_non_tmpfs
        && !is_memory_fs(&dir).map_err(|e| OutputError::io(path, "statfs", e))?
    {
        return Err(OutputError::NotTmpfs(path.to_path_buf()));
    }
    // What the file being replaced had: its mode (kept when the template gives none) and its owner (kept
    // unless the template names one: an operator's chown must survive a re-render, consul-template#1061).
    let current = open_regular(&dir, name);
    if let Some((file, meta)) = &current
        && content_equals(file, meta.len, bytes)
    {
        return restore(target, file, *meta)
            .map(|o| (o, meta.inode))
            .map_err(|e| OutputError::io(path, "restore mode/owner", e));
    }
    let current = current.map(|(_, m)| m);
    // After reading what the file had: the backup keeps the same inode, and the destination stays in place
    // until the new content is renamed over it.
    if target.backup {
        backup(&dir, name).map_err(|e| OutputError::io(path, "backup", e))?;
    }
    let (mode, owner) = final_meta(target, current, keeps_owners(&dir));
    let (tmp_name, fd) =
        create_temp(&dir).map_err(|e| OutputError::io(path, "create temporary file", e))?;
    let result = fill(fd, mode, owner, bytes)
        .map_err(|e| e.at(path))
        .and_then(|inode| {
            renameat(&dir, tmp_name.as_str(), &dir, name)
                .map(|()| inode)
                .map_err(|e| OutputError::io(path, "rename", e))
        });
    let inode = match result {
        Ok(inode) => inode,
        Err(e) => {
            let _ = unlinkat(&dir, tmp_name.as_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e);
        }
    };
    // The rename is durable only once the directory entry is on disk.
    let _ = fsync(&dir);
    Ok((WriteOutcome::Written, inode))
}

/// Put back the configured mode and owner of `target`'s file if they were changed from outside, without
/// rewriting it (a refresh that brought the same bytes); a member of an atomic set is found in the current
/// set. Only the file sidekey last wrote there (`written`) is touched: a missing one, or another file put
/// in its place, is left to the next write.
///
/// # Errors
/// [`OutputError`] when the directory cannot be opened or the file's metadata cannot be set.
pub fn recheck(target: &FileTarget, written: Option<Inode>) -> Result<WriteOutcome, OutputError> {
    let path = target.path.as_path();
    let (dir_path, name) = split(path)?;
    let dir = open_dir(path, dir_path, None)?;
    match open_regular(&dir, name).or_else(|| super::set::open_member(&dir, name)) {
        Some((file, meta)) if Some(meta.inode) == written => {
            restore(target, &file, meta).map_err(|e| OutputError::io(path, "restore mode/owner", e))
        }
        Some(_) => {
            tracing::debug!(destination = %path.display(), "not the file sidekey wrote: left to the next write");
            Ok(WriteOutcome::Unchanged)
        }
        None => Ok(WriteOutcome::Unchanged),
    }
}

/// Remove the destination file (`remove_on_exit`); a missing file is not an error.
///
/// # Errors
/// [`OutputError`] when the directory cannot be opened or the unlink fails.
pub fn remove(path: &Path) -> Result<(), OutputError> {
    let (dir_path, name) = split(path)?;
    let dir = open_dir(path, dir_path, None)?;
    match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(OutputError::io(path, "remove", e)),
    }
}

pub(super) fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), OutputError> {
    let name = path
        .file_name()
        .ok_or_else(|| OutputError::BadPath(path.to_path_buf()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// Whether `target` already holds exactly `bytes` (read through the real directory, never a symlink):
/// writing it would change nothing.
pub fn holds(target: &FileTarget, bytes: &[u8]) -> bool {
    let Ok((dir_path, name)) = split(&target.path) else {
        return false;
    };
    open_dir(&target.path, dir_path, None).is_ok_and(|dir| {
        open_regular(&dir, name).is_some_and(|(f, m)| content_equals(&f, m.len, bytes))
    })
}

/// Open the directory `dir` of `destination` (see [`super::dir`]).
pub(super) fn open_dir(
    destination: &Path,
    dir: &Path,
    create: Option<dir::Create>,
) -> Result<OwnedFd, OutputError> {
    dir::open(dir, create).map_err(|source| OutputError::Dir {
        path: destination.to_path_buf(),
        source,
    })
}

/// Whether a file written at `destination` would land on tmpfs/ramfs, judged from the nearest existing
/// directory above it; `None` when nothing above it can be examined. For `sidekey check`, which has no
/// reason to create directories.
pub fn destination_on_memory_fs(destination: &Path) -> Option<bool> {
    let dir = destination.ancestors().skip(1).find(|d| d.is_dir())?;
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
        Mode::empty(),
    )
    .ok()?;
    is_memory_fs(&fd).ok()
}

pub(super) fn is_memory_fs(dir: &OwnedFd) -> nix::Result<bool> {
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let kind = nix::sys::statfs::fstatfs(dir)?.filesystem_type();
    Ok(kind == nix::sys::statfs::TMPFS_MAGIC || kind.0 == RAMFS_MAGIC)
}

/// Whether `file` (of `len` bytes) holds exactly `bytes`.
pub(super) fn content_equals(mut file: &File, len: u64, bytes: &[u8]) -> bool {
    if len != bytes.len() as u64 {
        return false;
    }
    let mut current = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    file.read_to_end(&mut current).is_ok() && current.as_slice() == bytes
}

/// The current content of a delivered file, read the way it was written: through the real directory, never
/// through a symlink. `None` when there is no regular file there, or it is larger than `max_bytes`.
///
/// A member of an atomic set is read from the current set.
///
/// Used by `pkiCert`, which takes a still-valid certificate from its own destination instead of issuing one.
pub fn read_back(path: &Path, max_bytes: u64) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let (dir_path, name) = split(path).ok()?;
    let dir = open_dir(path, dir_path, None).ok()?;
    let (file, meta) = open_regular(&dir, name).or_else(|| super::set::open_member(&dir, name))?;
    if meta.len > max_bytes {
        return None;
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len).ok()?));
    file.take(max_bytes).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// A file's identity: its device and inode numbers.
pub type Inode = (u64, u64);

/// Mode, owner, length, links and identity of a file.
#[derive(Clone, Copy)]
pub(super) struct Meta {
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) len: u64,
    /// Its hard links.
    pub(super) nlink: u64,
    /// Which file it is.
    pub(super) inode: Inode,
}

/// Open `name` in `dir` for reading if it is a regular file (never through a symlink, never blocking on
/// a FIFO planted there); with its permission bits, owner and length.
pub(super) fn open_regular(dir: &OwnedFd, name: &std::ffi::OsStr) -> Option<(File, Meta)> {
    use std::os::unix::fs::MetadataExt;
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let file = File::from(fd);
    match file.metadata() {
        Ok(m) if m.is_file() => Some((
            file,
            Meta {
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                len: m.len(),
                nlink: m.nlink(),
                inode: inode_of(&m),
            },
        )),
        _ => None,
    }
}

/// Keep the file being replaced as `NAME.bak` (the previous backup goes): a second link to it, so the
/// destination itself is never missing, and a write that fails leaves both as they were.
fn backup(dir: &OwnedFd, name: &std::ffi::OsStr) -> std::io::Result<()> {
    let mut bak = name.to_os_string();
    bak.push(".bak");
    match unlinkat(dir, bak.as_os_str(), UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match nix::unistd::linkat(
        dir,
        name,
        dir,
        bak.as_os_str(),
        nix::fcntl::AtFlags::empty(),
    ) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
