//! Opening a destination's directory so that no write can be led outside it (DESIGN §7).
//!
//! The rule: the symlinks *above* a destination directory are resolved once, the first time sidekey opens
//! that directory in this process (at start: the first render, or `sidekey check`); they were put there by
//! whoever set the host up. From then on, every open walks that resolved path from `/`, one component at
//! a time, each opened with `O_NOFOLLOW`: a directory that is later replaced by a symlink (anywhere on
//! the path) makes the open fail with `ELOOP`/`ENOTDIR` instead of being followed. The destination
//! directory itself is never a symlink, not even at the first open, and a symlink above it is followed at
//! that first resolution only when root or sidekey's user owns it. Each directory on the way is also
//! refused when someone else could replace what is in it: writable by its group or by others, not sticky,
//! and owned by neither root nor sidekey's user (kubelet's root-owned `0777` emptyDir and the sticky
//! `/dev/shm` pass; a `0755` directory of the application's user is fine, its owner being trusted with
//! its own files).
//! Directories created on the way get their mode set explicitly (the umask may be `077`); one that someone
//! else made first, between sidekey's look and its `mkdir`, is refused unless root, sidekey's user or the
//! template's `user` owns it.

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

/// How missing directories are created.
#[derive(Clone, Copy, Debug)]
pub struct Create {
    /// Their mode.
    pub mode: u32,
    /// The template's `user`: besides root and sidekey's user, the one owner a directory found in the
    /// place of one being created may have.
    pub user: Option<u32>,
}

/// Open `dir` for writing files into it (see the module doc); missing directories are created as
/// `create` says when it is given.
///
/// # Errors
/// [`DirError`]: a symlink or foreign writable directory on the way, or a failed system call.
pub fn open(dir: &Path, create: Option<Create>) -> Result<OwnedFd, DirError> {
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
            Err(Errno::ENOENT) if create.is_some() => make(&fd, name, create, flags, &at)?,
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

/// Create directory `name` (at `path`) in `parent` as `create` says (the mode set explicitly: the umask may
/// be `077`) and open it with `flags`. One made by someone else at the same moment is used only when root,
/// sidekey's user or the template's `user` owns it: anyone else could have squatted the name.
fn make(
    parent: &OwnedFd,
    name: &OsStr,
    create: Option<Create>,
    flags: OFlag,
    path: &Path,
) -> Result<OwnedFd, DirError> {
    let io = |e: Errno| DirError::Io {
        dir: path.to_path_buf(),
        source: e.into(),
    };
    let Create { mode, user } = create.unwrap_or(Create {
        mode: 0o700,
        user: None,
    });
    let made = match mkdirat(parent, name, Mode::from_bits_truncate(mode)) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(io(e)),
    };
    let fd = openat(parent, name, flags, Mode::empty()).map_err(io)?;
    if made {
        let rd = openat(
            parent,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        fchmod(&rd, Mode::from_bits_truncate(mode)).map_err(io)?;
        return Ok(fd);
    }
    let owner = fstat(&fd).map_err(io)?.st_uid;
    if trusted(owner) || user == Some(owner) {
        return Ok(fd);
    }
    Err(DirError::Unsafe {
        dir: path.to_path_buf(),
        why: format!(
            "was created by uid {owner} (neither root, sidekey's user nor the template's user) just before \
             sidekey would have created it; refusing to write into it"
        ),
    })
}

/// Whether `uid` is root or sidekey's user: the owners whose directories and symlinks are trusted.
fn trusted(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
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

/// Why a directory with `mode` owned by `uid` is refused, if it is: its group or others may write it, it is
/// not sticky, and it belongs to neither root nor sidekey's user.
pub(super) fn foreign_writable(mode: u32, uid: u32) -> Option<String> {
    let who = if mode & 0o002 != 0 {
        "others"
    } else if mode & 0o020 != 0 {
        "its group"
    } else {
        return None;
    };
    let sticky = mode & 0o1000 != 0;
    (!sticky && !trusted(uid)).then(|| {
        format!(
            "writable by {who}, not sticky, and owned by uid {uid} (neither root nor sidekey's user): \
             anyone who may write it could replace the files in it; remove the write bit (chmod go-w), \
             set the sticky bit (chmod +t), or use another directory"
        )
    })
}

/// Why the directory `destination` would be written in is refused now, if it is (for `sidekey check`):
/// its own directory being a symlink, a symlink above it that [`open`] would not follow, or the nearest
/// existing directory above it and those above that, as [`open`] would judge them.
pub fn refused(destination: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let own = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if std::fs::symlink_metadata(own).is_ok_and(|m| m.file_type().is_symlink()) {
        return Some(format!(
            "directory {}: is a symlink; the destination's own directory must be a real directory",
            own.display()
        ));
    }
    if let Err(e) = resolve_above(own) {
        return Some(e.to_string());
    }
    let existing = destination.ancestors().skip(1).find(|d| d.is_dir())?;
    let real = std::fs::canonicalize(existing).ok()?;
    real.ancestors().find_map(|d| {
        let m = std::fs::symlink_metadata(d).ok()?;
        foreign_writable(m.mode(), m.uid()).map(|why| format!("directory {}: {why}", d.display()))
    })
}

/// `dir` as [`open`] walks it: absolute, with the symlinks above it resolved (as they were the first time
/// it was asked for); `dir` made absolute when that fails (its open then fails too).
pub fn resolved(dir: &Path) -> PathBuf {
    anchor(dir)
        .ok()
        .or_else(|| std::path::absolute(dir).ok())
        .unwrap_or_else(|| dir.to_path_buf())
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

/// `dir` as an absolute path whose components above the last one are free of symlinks, `.` and `..`: the
/// part that exists resolved (each symlink followed only when root or sidekey's user owns it), the missing
/// rest appended.
fn resolve_above(dir: &Path) -> Result<PathBuf, DirError> {
    let bad = |why: String| DirError::Unsafe {
        dir: dir.to_path_buf(),
        why,
    };
    let abs = std::path::absolute(dir).map_err(|e| DirError::Io {
        dir: dir.to_path_buf(),
        source: e,
    })?;
    if abs == Path::new("/") {
        return Ok(abs);
    }
    let leaf = abs.file_name().ok_or_else(|| {
        bad("`..` is not allowed as the last component of a destination directory".into())
    })?;
    let mut todo: std::collections::VecDeque<std::ffi::OsString> =
        names_of(abs.parent().unwrap_or(Path::new("/"))).collect();
    let mut at = PathBuf::from("/");
    let mut missing = false;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if missing {
                return Err(bad("`..` is not allowed in a destination directory".into()));
            }
            at.pop();
            continue;
        }
        let next = at.join(&name);
        if missing {
            at = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing = true;
                at = next;
            }
            Err(e) => {
                return Err(DirError::Io {
                    dir: next,
                    source: e,
                });
            }
            Ok(m) if m.file_type().is_symlink() => {
                use std::os::unix::fs::MetadataExt;
                if !trusted(m.uid()) {
                    return Err(bad(format!(
                        "the symlink {} above it is owned by uid {} (neither root nor sidekey's user); \
                         refusing to follow it",
                        next.display(),
                        m.uid()
                    )));
                }
                links += 1;
                let target = std::fs::read_link(&next)
                    .ok()
                    .filter(|_| links <= 40)
                    .ok_or_else(|| DirError::Io {
                        dir: next.clone(),
                        source: Errno::ELOOP.into(),
                    })?;
                if target.is_absolute() {
                    at = PathBuf::from("/");
                }
                for n in names_of(&target).collect::<Vec<_>>().into_iter().rev() {
                    todo.push_front(n);
                }
            }
            Ok(_) => at = next,
        }
    }
    Ok(at.join(leaf))
}

/// The names in `path` (`..` kept; `/` and `.` dropped).
fn names_of(path: &Path) -> impl Iterator<Item = std::ffi::OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
