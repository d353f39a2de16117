//! Atomic sets (`atomic_set = true`): files switched together, in kubelet's layout for projected volumes.
//!
//! `DIR/..<time>.<random>/` holds every member's file, `DIR/..data` is a symlink to that directory, and
//! each `DIR/<name>` is a symlink to `..data/<name>`. A change of any member writes a new timestamped
//! directory with all members (each file created with its final owner and mode before the first byte,
//! fsync'd), switches `..data` to it by renaming a new symlink over it, then removes the old directory. A
//! reader that opens `DIR/..data/` once and reads the members through it never mixes two sets.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, readlinkat, renameat};
use nix::sys::stat::{Mode, fchmod, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, symlinkat, unlinkat};

use super::file::{
    FileTarget, Inode, Meta, OutputError, WriteOutcome, content_equals, create_private, dir_mode,
    fill, is_memory_fs, open_dir, open_regular, restore, split,
};

/// The symlink naming the current set.
const DATA: &str = "..data";

/// One member of a set: where it goes and its new bytes.
pub struct Member<'a> {
    /// Its destination (`DIR/<name>`), mode and owner.
    pub target: &'a FileTarget,
    /// What it must hold.
    pub bytes: &'a [u8],
}

/// Write the set `members` (all with destinations in the same directory; see the module doc). Returns
/// each member's outcome (`Written` for those whose bytes changed when the set was switched) and the file
/// it is now in.
///
/// # Errors
/// [`OutputError`] naming the first member; on an error before the switch, the previous set is untouched
/// and the new directory removed.
pub fn write(members: &[Member<'_>]) -> Result<Vec<(WriteOutcome, Option<Inode>)>, OutputError> {
    let Some(first) = members.first() else {
        return Ok(Vec::new());
    };
    let shown = first.target.path.as_path();
    let (dir_path, _) = split(shown)?;
    let names = members
        .iter()
        .map(|m| split(&m.target.path).map(|(_, n)| n))
        .collect::<Result<Vec<&OsStr>, _>>()?;
    let mode_union = members.iter().fold(0, |a, m| a | m.target.mode);
    let dir = open_dir(
        shown,
        dir_path,
        super::file::creating(first.target, mode_union),
    )?;
    if !first.target.allow_non_tmpfs
        && !is_memory_fs(&dir).map_err(|e| OutputError::io(shown, "statfs", e))?
    {
        return Err(OutputError::NotTmpfs(shown.to_path_buf()));
    }
    let old = current_set(&dir);
    let old_fd = old.as_ref().and_then(|o| open_subdir(&dir, o).ok());
    let current: Vec<_> = names
        .iter()
        .map(|n| old_fd.as_ref().and_then(|fd| open_regular(fd, n)))
        .collect();
    let same_bytes: Vec<bool> = members
        .iter()
        .zip(&current)
        .map(|(m, c)| {
            c.as_ref()
                .is_some_and(|(f, meta)| content_equals(f, meta.len, m.bytes))
        })
        .collect();
    let linked = names.iter().all(|n| points_into_set(&dir, n));
    let no_strays = old_fd
        .as_ref()
        .is_some_and(|fd| entries(fd).iter().all(|e| names.contains(&e.as_os_str())));
    if same_bytes.iter().all(|s| *s) && linked && no_strays {
        return members
            .iter()
            .zip(current)
            .map(|(m, c)| match c {
                Some((f, meta)) => restore(m.target, &f, meta)
                    .map(|o| (o, Some(meta.inode)))
                    .map_err(|e| OutputError::io(&m.target.path, "restore mode/owner", e)),
                None => Ok((WriteOutcome::Unchanged, None)),
            })
            .collect();
    }
    let new = new_name();
    let owners_kept = super::file::keeps_owners(&dir);
    let built = build(
        &dir,
        &new,
        members,
        &names,
        &current,
        mode_union,
        owners_kept,
    );
    let switched = built.and_then(|inodes| {
        switch(&dir, &new)
            .map(|()| inodes)
            .map_err(|e| OutputError::io(shown, "switch ..data", e))
    });
    let inodes = match switched {
        Ok(inodes) => inodes,
        Err(e) => {
            remove_set(&dir, &new);
            return Err(e);
        }
    };
    // `..data` points at the new set now: the old one goes whatever happens to the links, or no later
    // pass would ever find it again.
    let links = members
        .iter()
        .zip(&names)
        .filter(|(_, n)| !points_into_set(&dir, n))
        .try_for_each(|(m, n)| {
            link(&dir, n).map_err(|e| OutputError::io(&m.target.path, "link into ..data", e))
        });
    if let Some(old) = old {
        drop_strays(&dir, old_fd.as_ref(), &names);
        remove_set(&dir, &old);
    }
    let _ = fsync(&dir);
    links?;
    Ok(same_bytes
        .iter()
        .zip(inodes)
        .map(|(same, inode)| {
            let o = if *same {
                WriteOutcome::Unchanged
            } else {
                WriteOutcome::Written
            };
            (o, Some(inode))
        })
        .collect())
}

/// Remove the member at `path` (`remove_on_exit`, or its template dropped by a reload): its link, and once
/// no other member links into `..data`, `..data` and the set's directory with the secrets in it. While
/// other members remain, the next write of the set leaves the member's file out.
///
/// # Errors
/// [`OutputError`] when the directory cannot be opened or the link cannot be removed.
pub(super) fn remove(path: &Path) -> Result<(), OutputError> {
    let (dir_path, name) = split(path)?;
    let dir = open_dir(path, dir_path, None)?;
    match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(OutputError::io(path, "remove", e)),
    }
    let Some(set) = current_set(&dir) else {
        return Ok(());
    };
    let Ok(fd) = open_subdir(&dir, &set) else {
        return Ok(());
    };
    if entries(&fd).iter().any(|e| points_into_set(&dir, e)) {
        return Ok(());
    }
    match unlinkat(&dir, DATA, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(OutputError::io(path, "remove ..data", e)),
    }
    remove_set(&dir, &set);
    Ok(())
}

/// The set a member with destination `path` belongs to: its directory as it is walked, so every spelling
/// of one directory (`out/a`, `./out/b`, through a symlink above) names one set.
pub(super) fn set_key(path: &Path) -> std::path::PathBuf {
    let dir = split(path).map_or(Path::new("."), |(d, _)| d);
    super::dir::resolved(dir)
}

/// Open the member `name` of the current set in `dir`, if `DIR/<name>` is its link into `..data`.
pub(super) fn open_member(dir: &OwnedFd, name: &OsStr) -> Option<(std::fs::File, Meta)> {
    if !points_into_set(dir, name) {
        return None;
    }
    let set = open_subdir(dir, &current_set(dir)?).ok()?;
    open_regular(&set, name)
}

/// Make directory `new` in `dir` holding every member, each with its final owner and mode before its
/// first byte; the directory gets the first configured owner and the mode the members' modes need.
fn build(
    dir: &OwnedFd,
    new: &OsStr,
    members: &[Member<'_>],
    names: &[&OsStr],
    current: &[Option<(std::fs::File, Meta)>],
    mode_union: u32,
    owners_kept: bool,
) -> Result<Vec<Inode>, OutputError> {
    let set_err = |step, e: Errno| OutputError::io(&members[0].target.path, step, e);
    mkdirat(dir, new, Mode::S_IRWXU).map_err(|e| set_err("create set directory", e))?;
    let fd = open_subdir(dir, new).map_err(|e| set_err("open set directory", e))?;
    let uid = members.iter().find_map(|m| m.target.uid);
    let gid = members.iter().find_map(|m| m.target.gid);
    if uid.is_some() || gid.is_some() {
        fchown(&fd, uid.map(Uid::from_raw), gid.map(Gid::from_raw))
            .map_err(|e| set_err("chown set directory", e))?;
    }
    fchmod(&fd, Mode::from_bits_truncate(dir_mode(mode_union)))
        .map_err(|e| set_err("chmod set directory", e))?;
    let mut inodes = Vec::with_capacity(members.len());
    for ((m, n), c) in members.iter().zip(names).zip(current) {
        let meta = c.as_ref().map(|(_, meta)| *meta);
        let (mode, owner) = super::file::final_meta(m.target, meta, owners_kept);
        let file =
            create_private(&fd, n).map_err(|e| OutputError::io(&m.target.path, "create", e))?;
        inodes.push(fill(file, mode, owner, m.bytes).map_err(|e| e.at(&m.target.path))?);
    }
    fsync(&fd).map_err(|e| set_err("fsync set directory", e))?;
    Ok(inodes)
}

/// The name of the set `..data` points at, if it is one of ours (`..` + a plain name).
fn current_set(dir: &OwnedFd) -> Option<OsString> {
    let target = readlinkat(dir, DATA).ok()?;
    let s = target.to_str()?;
    (s.starts_with("..") && s.len() > 2 && !s.contains('/') && s != DATA).then_some(target)
}

fn open_subdir(dir: &OwnedFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// `..<UTC time>.<random>`, as kubelet names its set directories (with randomness in place of its
/// temporary-directory suffix).
fn new_name() -> OsString {
    let t = time::OffsetDateTime::now_utc();
    OsString::from(format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{:016x}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        rand::random::<u64>()
    ))
}

/// Whether `DIR/<name>` is the symlink `..data/<name>`.
fn points_into_set(dir: &OwnedFd, name: &OsStr) -> bool {
    readlinkat(dir, name).is_ok_and(|t| t == link_target(name))
}

fn link_target(name: &OsStr) -> OsString {
    let mut t = OsString::from(DATA);
    t.push("/");
    t.push(name);
    t
}

/// Put a symlink `to` named by a fresh unguessable name, then rename it over `name`.
fn replace_with_symlink(dir: &OwnedFd, to: &OsStr, name: &OsStr) -> std::io::Result<()> {
    let tmp = format!("..tmp.{:032x}", rand::random::<u128>());
    symlinkat(to, dir, tmp.as_str())?;
    renameat(dir, tmp.as_str(), dir, name).map_err(|e| {
        let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        std::io::Error::from(e)
    })
}

/// Point `..data` at `new`.
fn switch(dir: &OwnedFd, new: &OsStr) -> std::io::Result<()> {
    replace_with_symlink(dir, new, OsStr::new(DATA))
}

/// Make `DIR/<name>` the symlink `..data/<name>` (a plain file there is replaced).
fn link(dir: &OwnedFd, name: &OsStr) -> std::io::Result<()> {
    replace_with_symlink(dir, &link_target(name), name)
}

/// The names in a set directory.
fn entries(fd: &OwnedFd) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(dup) = fd.try_clone() else {
        return Vec::new();
    };
    let Ok(d) = nix::dir::Dir::from_fd(dup) else {
        return Vec::new();
    };
    d.into_iter()
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect()
}

/// Remove the links of members no longer in the set (a reload dropped their templates).
fn drop_strays(dir: &OwnedFd, old: Option<&OwnedFd>, names: &[&OsStr]) {
    let Some(old) = old else { return };
    for e in entries(old) {
        if !names.contains(&e.as_os_str()) && points_into_set(dir, &e) {
            let _ = unlinkat(dir, e.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// Remove a set directory and its files; what cannot be removed is logged (the new set is in place).
fn remove_set(dir: &OwnedFd, name: &OsStr) {
    if let Ok(fd) = open_subdir(dir, name) {
        for e in entries(&fd) {
            let _ = unlinkat(&fd, e.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
    if let Err(e) = unlinkat(dir, name, UnlinkatFlags::RemoveDir)
        && e != Errno::ENOENT
    {
        tracing::warn!(set = %Path::new(name).display(), error = %e, "cannot remove the previous atomic set's directory");
    }
}

#[cfg(test)]
mod tests;
