//! Atomic file delivery (DESIGN §7): the directory is opened without following symlinks, content goes into
//! a new file in that directory created with the final mode (and owner) before the first byte, is fsync'd,
//! then renamed over the destination. The destination is rewritten only when its bytes change.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};

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
}

/// A file delivery error; names the destination and the step that failed. The previous file is untouched.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The destination path has no file name or parent directory.
    #[error("{0}: not a file path")]
    BadPath(PathBuf),
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
        /// What was being done (`open directory`, `create`, `write`, `rename`...).
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl OutputError {
    fn io(path: &Path, step: &'static str, e: impl Into<std::io::Error>) -> Self {
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
    let path = target.path.as_path();
    let (dir_path, name) = split(path)?;
    if target.create_dirs && !dir_path.exists() {
        // The directories made here get their mode whatever sidekey's umask (077, see runtime::harden).
        let made: Vec<&Path> = dir_path.ancestors().take_while(|d| !d.exists()).collect();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(dir_mode(target.mode))
            .create(dir_path)
            .map_err(|e| OutputError::io(path, "create directory", e))?;
        for d in made {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(dir_mode(target.mode)))
                .map_err(|e| OutputError::io(path, "chmod directory", e))?;
        }
    }
    let dir = open_dir(dir_path).map_err(|e| OutputError::io(path, "open directory", e))?;
    if !target.allow_non_tmpfs
        && !is_memory_fs(&dir).map_err(|e| OutputError::io(path, "statfs", e))?
    {
        return Err(OutputError::NotTmpfs(path.to_path_buf()));
    }
    if current_content_equals(&dir, name, bytes) {
        return Ok(WriteOutcome::Unchanged);
    }
    let tmp_name = format!(
        ".{}.sidekey-{}-{:016x}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    );
    // What the file being replaced had: its mode (kept when the template gives none) and its owner (kept
    // unless the template names one: an operator's chown must survive a re-render, consul-template#1061).
    let current = current_meta(&dir, name);
    // After reading what the file had: the backup keeps the same inode, and the destination stays in place
    // until the new content is renamed over it.
    if target.backup {
        backup(&dir, name).map_err(|e| OutputError::io(path, "backup", e))?;
    }
    let mode = match (target.keep_mode, current) {
        (true, Some(c)) => c.mode,
        _ => target.mode,
    };
    let uid = target.uid.or_else(|| {
        current
            .map(|c| c.uid)
            .filter(|&u| u != nix::unistd::geteuid().as_raw())
    });
    let gid = target.gid.or_else(|| {
        current
            .map(|c| c.gid)
            .filter(|&g| g != nix::unistd::getegid().as_raw())
    });
    let fd = openat(
        &dir,
        tmp_name.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600 & mode),
    )
    .map_err(|e| OutputError::io(path, "create temporary file", e))?;
    let result = fill(fd, mode, (uid, gid), bytes).and_then(|()| {
        renameat(&dir, tmp_name.as_str(), &dir, name)
            .map_err(|e| ("rename", std::io::Error::from(e)))
    });
    if let Err((step, e)) = result {
        let _ = unlinkat(&dir, tmp_name.as_str(), UnlinkatFlags::NoRemoveDir);
        return Err(OutputError::io(path, step, e));
    }
    // The rename is durable only once the directory entry is on disk.
    let _ = fsync(&dir);
    Ok(WriteOutcome::Written)
}

/// The mode of directories created for a file of mode `file_mode`: the owner's `rwx`, and `r-x` for the
/// group and others only where the file grants them some access, so a `0640` file is reachable by its group
/// (Vault Agent creates `0755` directories; a `0600` file gets `0700` ones).
fn dir_mode(file_mode: u32) -> u32 {
    let mut mode = 0o700;
    if file_mode & 0o070 != 0 {
        mode |= 0o050;
    }
    if file_mode & 0o007 != 0 {
        mode |= 0o005;
    }
    mode
}

/// Remove the destination file (`remove_on_exit`); a missing file is not an error.
///
/// # Errors
/// [`OutputError`] when the directory cannot be opened or the unlink fails.
pub fn remove(path: &Path) -> Result<(), OutputError> {
    let (dir_path, name) = split(path)?;
    let dir = open_dir(dir_path).map_err(|e| OutputError::io(path, "open directory", e))?;
    match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(OutputError::io(path, "remove", e)),
    }
}

/// Set mode and owner, then write and fsync; mode first so no byte is ever readable with a wider mode.
fn fill(
    fd: OwnedFd,
    mode: u32,
    (uid, gid): (Option<u32>, Option<u32>),
    bytes: &[u8],
) -> Result<(), (&'static str, std::io::Error)> {
    fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| ("chmod", e.into()))?;
    if uid.is_some() || gid.is_some() {
        fchown(&fd, uid.map(Uid::from_raw), gid.map(Gid::from_raw))
            .map_err(|e| ("chown", e.into()))?;
    }
    let mut file = File::from(fd);
    file.write_all(bytes).map_err(|e| ("write", e))?;
    file.sync_all().map_err(|e| ("fsync", e))?;
    Ok(())
}

fn split(path: &Path) -> Result<(&Path, &std::ffi::OsStr), OutputError> {
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
    open_dir(dir_path).is_ok_and(|dir| current_content_equals(&dir, name, bytes))
}

/// Open a directory; a symlink as its last component is refused.
fn open_dir(dir: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
        Mode::empty(),
    )
}

/// Whether a file written at `destination` would land on tmpfs/ramfs, judged from the nearest existing
/// directory above it; `None` when nothing above it can be examined. For `sidekey check`, which has no
/// reason to create directories.
pub fn destination_on_memory_fs(destination: &Path) -> Option<bool> {
    let dir = destination.ancestors().skip(1).find(|d| d.is_dir())?;
    let fd = open_dir(dir).ok()?;
    is_memory_fs(&fd).ok()
}

fn is_memory_fs(dir: &OwnedFd) -> nix::Result<bool> {
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let kind = nix::sys::statfs::fstatfs(dir)?.filesystem_type();
    Ok(kind == nix::sys::statfs::TMPFS_MAGIC || kind.0 == RAMFS_MAGIC)
}

/// Whether the destination is a regular file holding exactly `bytes` (a symlink never matches).
fn current_content_equals(dir: &OwnedFd, name: &std::ffi::OsStr, bytes: &[u8]) -> bool {
    let Some((mut file, len)) = open_regular(dir, name) else {
        return false;
    };
    if len != bytes.len() as u64 {
        return false;
    }
    let mut current = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    file.read_to_end(&mut current).is_ok() && current.as_slice() == bytes
}

/// The current content of a delivered file, read the way it was written: through the real directory, never
/// through a symlink. `None` when there is no regular file there, or it is larger than `max_bytes`.
///
/// Used by `pkiCert`, which takes a still-valid certificate from its own destination instead of issuing one.
pub fn read_back(path: &Path, max_bytes: u64) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let (dir_path, name) = split(path).ok()?;
    let dir = open_dir(dir_path).ok()?;
    let (file, len) = open_regular(&dir, name)?;
    if len > max_bytes {
        return None;
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(usize::try_from(len).ok()?));
    file.take(max_bytes).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Mode and owner of a file.
#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The permission bits and owner of the regular file `name` in `dir`, if there is one.
fn current_meta(dir: &OwnedFd, name: &std::ffi::OsStr) -> Option<Meta> {
    use std::os::unix::fs::MetadataExt;
    let (file, _) = open_regular(dir, name)?;
    let m = file.metadata().ok()?;
    Some(Meta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

/// Open `name` in `dir` for reading if it is a regular file (not a symlink); with its length in bytes.
fn open_regular(dir: &OwnedFd, name: &std::ffi::OsStr) -> Option<(File, u64)> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let file = File::from(fd);
    match file.metadata() {
        Ok(m) if m.is_file() => Some((file, m.len())),
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
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn target(dir: &Path, name: &str) -> FileTarget {
        FileTarget::new(dir.join(name), 0o400)
    }

    #[test]
    fn keep_mode_keeps_what_an_operator_set() {
        let dir = shm_dir();
        let mut t = target(dir.path(), "f");
        t.keep_mode = true;
        write_atomic(&t, b"one").unwrap();
        assert_eq!(
            mode_of(&t.path),
            0o400,
            "a new file gets the template's mode"
        );
        std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&t, b"two").unwrap();
        assert_eq!(mode_of(&t.path), 0o640);
        t.keep_mode = false;
        write_atomic(&t, b"three").unwrap();
        assert_eq!(
            mode_of(&t.path),
            0o400,
            "perms given: the template's mode wins"
        );
    }

    #[test]
    fn an_operators_chown_survives_a_rewrite() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return; // only root can give a file away
        }
        let dir = shm_dir();
        let t = target(dir.path(), "f");
        write_atomic(&t, b"one").unwrap();
        std::os::unix::fs::chown(&t.path, Some(65534), Some(65534)).unwrap();
        write_atomic(&t, b"two").unwrap();
        let m = std::fs::metadata(&t.path).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
    }

    #[test]
    fn a_backup_keeps_the_old_content_and_the_destination_keeps_its_mode() {
        let dir = shm_dir();
        let mut t = target(dir.path(), "f");
        t.keep_mode = true;
        t.backup = true;
        std::fs::write(&t.path, b"old").unwrap();
        std::fs::set_permissions(&t.path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&t, b"new").unwrap();
        assert_eq!(std::fs::read(&t.path).unwrap(), b"new");
        assert_eq!(
            mode_of(&t.path),
            0o640,
            "the operator's mode survives a backup"
        );
        let bak = dir.path().join("f.bak");
        assert_eq!(std::fs::read(&bak).unwrap(), b"old");
        write_atomic(&t, b"newer").unwrap();
        assert_eq!(
            std::fs::read(&bak).unwrap(),
            b"new",
            "the previous backup is replaced"
        );
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_directories_open_only_to_those_the_file_is_for() {
        assert_eq!(dir_mode(0o600), 0o700);
        assert_eq!(dir_mode(0o400), 0o700);
        assert_eq!(dir_mode(0o640), 0o750);
        assert_eq!(dir_mode(0o644), 0o755);
        assert_eq!(dir_mode(0o604), 0o705);
    }

    fn shm_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("sidekey-out-")
            .tempdir_in("/dev/shm")
            .unwrap()
    }

    #[test]
    fn writes_with_final_mode_and_skips_unchanged() {
        let d = shm_dir();
        let t = target(d.path(), "a/b/secret.txt");
        assert_eq!(write_atomic(&t, b"one").unwrap(), WriteOutcome::Written);
        let meta = std::fs::metadata(&t.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o400);
        assert_eq!(std::fs::read(&t.path).unwrap(), b"one");
        assert_eq!(write_atomic(&t, b"one").unwrap(), WriteOutcome::Unchanged);
        assert_eq!(write_atomic(&t, b"two").unwrap(), WriteOutcome::Written);
        assert_eq!(std::fs::read(&t.path).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(d.path().join("a/b")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file may remain");
    }

    #[test]
    fn replaces_a_symlink_instead_of_following_it() {
        let d = shm_dir();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        symlink(&victim, d.path().join("out")).unwrap();
        write_atomic(&target(d.path(), "out"), b"secret").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(
            !std::fs::symlink_metadata(d.path().join("out"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn refuses_a_symlinked_directory() {
        let d = shm_dir();
        std::fs::create_dir(d.path().join("real")).unwrap();
        symlink(d.path().join("real"), d.path().join("link")).unwrap();
        let err = write_atomic(&target(d.path(), "link/out"), b"x").unwrap_err();
        assert!(
            matches!(
                err,
                OutputError::Io {
                    step: "open directory",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!d.path().join("real/out").exists());
    }

    #[test]
    fn refuses_non_tmpfs_unless_allowed() {
        let d = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let mut t = target(d.path(), "out");
        if is_memory_fs(&open_dir(d.path()).unwrap()).unwrap() {
            return; // the checkout itself is on tmpfs: nothing to prove here
        }
        assert!(matches!(
            write_atomic(&t, b"x"),
            Err(OutputError::NotTmpfs(_))
        ));
        assert!(!t.path.exists());
        t.allow_non_tmpfs = true;
        assert_eq!(write_atomic(&t, b"x").unwrap(), WriteOutcome::Written);
    }
}
