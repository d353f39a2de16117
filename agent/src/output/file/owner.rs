//! The mode and owner of delivered files: what a new file takes over from the one it replaces, what a
//! refresh puts back, and the mode of directories created for them.

use std::fs::File;
use std::os::fd::OwnedFd;

use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{Gid, Uid, fchown};

use super::{FileTarget, Meta, WriteOutcome, dir};

/// What a refresh put back on a destination whose bytes were right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The mode found, when it was not the configured one.
    pub mode_from: Option<u32>,
    /// The owner found (`uid`, `gid`), when it was not the configured one.
    pub owner_from: Option<(u32, u32)>,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        if let Some(m) = self.mode_from {
            write!(f, "mode was {m:04o}")?;
            sep = ", ";
        }
        if let Some((u, g)) = self.owner_from {
            write!(f, "{sep}owner was {u}:{g}")?;
        }
        Ok(())
    }
}

/// How `target`'s missing directories are created, if they are: for files of `file_mode`.
pub(in crate::output) fn creating(target: &FileTarget, file_mode: u32) -> Option<dir::Create> {
    target.create_dirs.then(|| dir::Create {
        mode: dir_mode(file_mode),
        user: target.uid,
    })
}

/// Whether the owner of a file found in `dir` can only have been given by sidekey or an operator, so a new
/// file may take it over: `dir` belongs to root or sidekey's user and neither its group nor others may
/// write it (in `/dev/shm`, anyone could have created the file first to be handed the secret).
pub(in crate::output) fn keeps_owners(dir: &OwnedFd) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    nix::sys::stat::fstat(dir)
        .is_ok_and(|st| (st.st_uid == 0 || st.st_uid == me) && st.st_mode & 0o022 == 0)
}

/// The mode and owner a new file for `target` gets, given what the file it replaces has (`current`) and
/// whether its directory lets that file's owner be trusted (`owners_kept`, see [`keeps_owners`]). A file
/// with other hard links is no model; nor is the mode of one sidekey's user does not own where anyone
/// could have made it.
pub(in crate::output) fn final_meta(
    target: &FileTarget,
    current: Option<Meta>,
    owners_kept: bool,
) -> (u32, (Option<u32>, Option<u32>)) {
    let euid = nix::unistd::geteuid().as_raw();
    let current = current.filter(|c| c.nlink == 1);
    let mode = match (target.keep_mode, current) {
        (true, Some(c)) if owners_kept || c.uid == euid => c.mode,
        _ => target.mode,
    };
    let owner = current.filter(|_| owners_kept);
    let uid = target
        .uid
        .or_else(|| owner.map(|c| c.uid).filter(|&u| u != euid));
    let gid = target.gid.or_else(|| {
        owner
            .map(|c| c.gid)
            .filter(|&g| g != nix::unistd::getegid().as_raw())
    });
    (mode, (uid, gid))
}

/// Put back the configured mode (when `perms` was given: not `keep_mode`) and owner on `file`, the
/// destination whose bytes are already right, if they were changed from outside.
pub(in crate::output) fn restore(
    target: &FileTarget,
    file: &File,
    found: Meta,
) -> std::io::Result<WriteOutcome> {
    let mode_from = (!target.keep_mode && found.mode != target.mode & 0o7777).then_some(found.mode);
    let owner_off =
        target.uid.is_some_and(|u| u != found.uid) || target.gid.is_some_and(|g| g != found.gid);
    let owner_from = owner_off.then_some((found.uid, found.gid));
    if (mode_from.is_some() || owner_from.is_some()) && found.nlink > 1 {
        // Another name for the same inode may be someone else's file: changing it would change theirs.
        tracing::warn!(destination = %target.path.display(), links = found.nlink, "mode or owner changed from outside, but the file has other hard links: not restored");
        return Ok(WriteOutcome::Unchanged);
    }
    if owner_from.is_some() {
        fchown(
            file,
            target.uid.map(Uid::from_raw),
            target.gid.map(Gid::from_raw),
        )?;
    }
    // After the chown, which may clear set-id bits; and whenever the owner changed, as a chown by an
    // unprivileged process does, the mode is set again.
    if mode_from.is_some() || (owner_from.is_some() && !target.keep_mode) {
        fchmod(file, Mode::from_bits_truncate(target.mode))?;
    }
    if mode_from.is_none() && owner_from.is_none() {
        return Ok(WriteOutcome::Unchanged);
    }
    Ok(WriteOutcome::Restored(Restored {
        mode_from,
        owner_from,
    }))
}

/// The mode of directories created for a file of mode `file_mode`: the owner's `rwx`, and `r-x` for the
/// group and others only where the file grants them some access, so a `0640` file is reachable by its group
/// (Vault Agent creates `0755` directories; a `0600` file gets `0700` ones).
pub(in crate::output) fn dir_mode(file_mode: u32) -> u32 {
    let mut mode = 0o700;
    if file_mode & 0o070 != 0 {
        mode |= 0o050;
    }
    if file_mode & 0o007 != 0 {
        mode |= 0o005;
    }
    mode
}
