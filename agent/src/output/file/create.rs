//! New files: created where no one can plant them first, private until their owner and mode are set.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{Gid, Uid, fchown};

use super::{Inode, OutputError};

/// A new file in `dir`, under a name no one can guess (so no one can plant it first), short whatever the
/// destination's name (a name near the 255-byte limit still gets a temporary file beside it).
pub(in crate::output) fn create_temp(dir: &OwnedFd) -> std::io::Result<(String, OwnedFd)> {
    let tmp_name = format!(".sk-{:032x}.tmp", rand::random::<u128>());
    let fd = create_private(dir, std::ffi::OsStr::new(&tmp_name))?;
    Ok((tmp_name, fd))
}

/// Create `name` in `dir` for writing: never an existing file or symlink (`O_EXCL`), and no access for
/// anyone but sidekey until [`fill`] sets the final owner and mode, whatever the umask.
pub(in crate::output) fn create_private(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
) -> std::io::Result<OwnedFd> {
    Ok(openat(
        dir,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )?)
}

/// The step of [`fill`] that failed.
#[derive(Debug, thiserror::Error)]
pub(in crate::output) enum FillError {
    /// Giving the file its owner.
    #[error("chown: {0}")]
    Chown(std::io::Error),
    /// Giving the file its mode.
    #[error("chmod: {0}")]
    Chmod(std::io::Error),
    /// Writing the bytes.
    #[error("write: {0}")]
    Write(std::io::Error),
    /// Flushing them to disk.
    #[error("fsync: {0}")]
    Fsync(std::io::Error),
    /// Reading back which file it is.
    #[error("fstat: {0}")]
    Stat(std::io::Error),
}

impl FillError {
    /// The error of writing `destination`.
    pub(in crate::output) fn at(self, destination: &Path) -> OutputError {
        let (step, e) = match self {
            Self::Chown(e) => ("chown", e),
            Self::Chmod(e) => ("chmod", e),
            Self::Write(e) => ("write", e),
            Self::Fsync(e) => ("fsync", e),
            Self::Stat(e) => ("fstat", e),
        };
        OutputError::io(destination, step, e)
    }
}

/// Set owner and mode, then write and fsync: owner first, so no one but the final owner and group is
/// ever granted access, and both before the first byte. Returns which file it is.
pub(in crate::output) fn fill(
    fd: OwnedFd,
    mode: u32,
    (uid, gid): (Option<u32>, Option<u32>),
    bytes: &[u8],
) -> Result<Inode, FillError> {
    if uid.is_some() || gid.is_some() {
        fchown(&fd, uid.map(Uid::from_raw), gid.map(Gid::from_raw))
            .map_err(|e| FillError::Chown(e.into()))?;
    }
    fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| FillError::Chmod(e.into()))?;
    let mut file = File::from(fd);
    file.write_all(bytes).map_err(FillError::Write)?;
    file.sync_all().map_err(FillError::Fsync)?;
    let m = file.metadata().map_err(FillError::Stat)?;
    Ok(inode_of(&m))
}

/// Which file `m` describes.
pub(super) fn inode_of(m: &std::fs::Metadata) -> Inode {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}
