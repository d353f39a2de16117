//! Opening a destination's directory so that no write can be led outside it (DESIGN §7).
//!
//! The rule: the symlinks *above* a destination directory are resolved once, the first time sidekey opens
//! that directory in this process (at start: the first render, or `sidekey check`); they were put there by
//! whoever set the host up. From then on, every open walks that resolved path from `/`, one component at
//! a time, each opened with `O_NOFOLLOW`: a directory that is later replaced by a symlink (anywhere on
//! the path) makes the open fail with `ELOOP`/`ENOTDIR` instead of being followed. The destination
//! directory itself is never a symlink, not even at the first open. Each directory on the way is also
//! refused when anyone could replace what is in it: writable by others, not sticky, and owned by neither
//! root nor sidekey's user (kubelet's root-owned `0777` emptyDir and the sticky `/dev/shm` pass).
//! Directories created on the way get their mode set explicitly (the umask may be `077`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};

/// Destination directories already opened once → their path with the symlinks above them resolved.
static ANCHORS: LazyLock<Mutex<HashMap<PathBuf, PathBuf>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Why a directory could not be opened safely.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// A directory on the path is unsafe: a symlink (swapped in after the first open), not a directory,
    /// or open to anyone for replacing its entries.
    #[error("directory {dir}: {why}")]
    Unsafe {
        /// The directory.
        dir: PathBuf,
        /// Why it is refused.
        why: String,
    },
    /// A system call failed.
    #[error("directory {dir}: {source}")]
    Io {
        /// The directory being opened or created.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Open `dir` for writing files into it (see the module doc); missing directories are created with
/// `create` as their mode when it is given.
///
/// # Errors
/// [`DirError`]: a symlink or foreign writable directory on the way, or a failed system call.
pub fn open(dir: &Path, create: Option<u32>) -> Result<OwnedFd, DirError> {
    let resolved = anchor(dir)?;
    let io = |d: &Path, e: Errno| DirError::Io {
        dir: d.to_path_buf(),
        source: e.into(),
    };
    let root = Path::new("/");
    let mut fd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(root, e))?;
    check(&fd, root)?;
    let names: Vec<&OsStr> = resolved
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut at = root.to_path_buf();
    for (i, name) in names.iter().enumerate() {
        at.push(name);
        // Only the destination directory itself is read (fsync); the ones above need only be searched.
        let last = i + 1 == names.len();
        let how = if last { OFlag::O_RDONLY } else { OFlag::O_PATH };
        let flags = how | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let next = match openat(&fd, *name, flags, Mode::empty()) {
            Err(Errno::ENOENT) if create.is_some() => {
                make(&fd, name, create.unwrap_or(0o700), flags).map_err(|e| io(&at, e))?
            }
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                return Err(DirError::Unsafe {
                    dir: at,
                    why: "is a symlink or not a directory; symlinks below the path resolved at start \
                          are not followed"
                        .into(),
                });
            }
            Err(e) => return Err(io(&at, e)),
            Ok(next) => next,
        };
        check(&next, &at)?;
        fd = next;
    }
    if names.is_empty() {
        // The destination is in `/` itself.
        fd = nix::fcntl::open(
            root,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(root, e))?;
    }
    Ok(fd)
}

/// Create directory `name` in `parent` with `mode` (set explicitly: the umask may be `077`) and open it
/// with `flags`. One made by someone else at the same moment is opened as it is.
fn make(parent: &OwnedFd, name: &OsStr, mode: u32, flags: OFlag) -> nix::Result<OwnedFd> {
    match mkdirat(parent, name, Mode::from_bits_truncate(mode)) {
        Ok(()) => {
            let rd = openat(
                parent,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            fchmod(&rd, Mode::from_bits_truncate(mode))?;
        }
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    openat(parent, name, flags, Mode::empty())
}

/// Refuse a directory anyone could replace entries of (see the module doc).
fn check(fd: &OwnedFd, dir: &Path) -> Result<(), DirError> {
    let st = fstat(fd).map_err(|e| DirError::Io {
        dir: dir.to_path_buf(),
        source: e.into(),
    })?;
    match foreign_writable(st.st_mode, st.st_uid) {
        Some(why) => Err(DirError::Unsafe {
            dir: dir.to_path_buf(),
            why,
        }),
        None => Ok(()),
    }
}

/// Why a directory with `mode` owned by `uid` is refused, if it is: others may write it, it is not sticky,
/// and it belongs to neither root nor sidekey's user.
pub(super) fn foreign_writable(mode: u32, uid: u32) -> Option<String> {
    let others_write = mode & 0o002 != 0;
    let sticky = mode & 0o1000 != 0;
    let trusted = uid == 0 || uid == nix::unistd::geteuid().as_raw();
    (others_write && !sticky && !trusted).then(|| {
        format!(
            "writable by others, not sticky, and owned by uid {uid} (neither root nor sidekey's user): \
             anyone could replace the files in it; remove o+w (chmod o-w), set the sticky bit (chmod +t), \
             or use another directory"
        )
    })
}

/// Why the directory `destination` would be written in is refused now, if it is (for `sidekey check`):
/// the nearest existing directory above it and those above that, as [`open`] would judge them.
pub fn refused(destination: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let existing = destination.ancestors().skip(1).find(|d| d.is_dir())?;
    let real = std::fs::canonicalize(existing).ok()?;
    real.ancestors().find_map(|d| {
        let m = std::fs::symlink_metadata(d).ok()?;
        foreign_writable(m.mode(), m.uid()).map(|why| format!("directory {}: {why}", d.display()))
    })
}

/// `dir` with the symlinks above it resolved, as they were the first time it was asked for.
fn anchor(dir: &Path) -> Result<PathBuf, DirError> {
    let mut anchors = ANCHORS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(a) = anchors.get(dir) {
        return Ok(a.clone());
    }
    let resolved = resolve_above(dir)?;
    anchors.insert(dir.to_path_buf(), resolved.clone());
    Ok(resolved)
}

/// `dir` as an absolute path whose components above the last one are free of symlinks, `.` and `..`:
/// the nearest existing directory above it canonicalized, the missing rest appended.
fn resolve_above(dir: &Path) -> Result<PathBuf, DirError> {
    let bad = |why: &str| DirError::Unsafe {
        dir: dir.to_path_buf(),
        why: why.to_string(),
    };
    let abs = std::path::absolute(dir).map_err(|e| DirError::Io {
        dir: dir.to_path_buf(),
        source: e,
    })?;
    if abs == Path::new("/") {
        return Ok(abs);
    }
    let leaf = abs.file_name().ok_or_else(|| {
        bad("`..` is not allowed as the last component of a destination directory")
    })?;
    let mut rest = vec![leaf.to_os_string()];
    let mut base = abs.parent().unwrap_or(Path::new("/"));
    let real = loop {
        match std::fs::canonicalize(base) {
            Ok(r) => break r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = base
                    .file_name()
                    .ok_or_else(|| bad("`..` after a missing directory"))?;
                rest.push(name.to_os_string());
                base = base.parent().unwrap_or(Path::new("/"));
            }
            Err(e) => {
                return Err(DirError::Io {
                    dir: base.to_path_buf(),
                    source: e,
                });
            }
        }
    };
    if rest.iter().any(|n| n == "..") {
        return Err(bad("`..` is not allowed in a destination directory"));
    }
    Ok(rest.iter().rev().fold(real, |p, n| p.join(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_symlinks_above_are_resolved_and_missing_directories_appended() {
        let d = tempfile::tempdir_in("/dev/shm").unwrap();
        let real = std::fs::canonicalize(d.path()).unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        assert_eq!(
            resolve_above(&real.join("link/new/deeper")).unwrap(),
            real.join("new/deeper")
        );
        assert_eq!(
            resolve_above(&real.join("link")).unwrap(),
            real.join("link"),
            "the directory itself stays as it is (and is refused when opened: a symlink)"
        );
        assert!(resolve_above(&real.join("missing/..")).is_err());
        let here = resolve_above(Path::new(".")).unwrap();
        assert!(here.is_absolute(), "{}", here.display());
    }
}
