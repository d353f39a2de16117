//! Unix socket files, as every unix listener (`listener "unix"`, `listener "credentials"`, the admin
//! listener's `unix:` address) binds and removes them: a socket another process still listens on is
//! never taken over, only a stale one is replaced, and at stop the file is removed only while it is
//! still the one this process bound.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A socket file this process bound: [`SocketFile::remove`] removes it only while the path still names
/// it, never a socket another process bound there since.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    /// What the path named once the socket was set up (see [`file_id`]).
    id: Option<FileId>,
}

/// The device, inode and change time of a file: a new socket at the same path may get the inode number
/// of the one removed before it (tmpfs reuses them at once), not the same change time too.
type FileId = (u64, u64, i64, i64);

impl SocketFile {
    /// The socket just bound at `path`.
    fn bound(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }

    /// Remove the file, if it is still this process's socket.
    pub(crate) fn remove(&self) {
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What `path` names now (the link itself, not what it points to).
fn file_id(path: &Path) -> Option<FileId> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// Bind a unix socket at `path` (replacing a stale one, see [`remove_stale_socket`]) with `mode` and
/// owners set (see [`socket_access`]).
///
/// # Errors
/// Why, in words (the caller names the stanza): another process listens at `path`, a file that is not a
/// socket is in the way, the bind or the mode and owners failed.
pub(crate) fn bind_unix(
    path: &Path,
    mode: Option<u32>,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<(tokio::net::UnixListener, SocketFile), String> {
    remove_stale_socket(path)?;
    let bound = tokio::net::UnixListener::bind(path).map_err(|e| e.to_string())?;
    if let Err(e) = socket_access(path, mode, user, group) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    // Taken once the mode and owners are set: they change the change time.
    Ok((bound, SocketFile::bound(path)))
}

/// A socket file nobody listens on any more (left by an earlier run that did not stop cleanly) is
/// replaced; a socket a process still answers on, or any other file at the path, is not touched.
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if listened_on(path)? {
                return Err(format!(
                    "another process is listening on {} (is another sidekey running with this \
                     config?)",
                    path.display()
                ));
            }
            std::fs::remove_file(path).map_err(|e| format!("cannot replace the old socket: {e}"))
        }
        Ok(_) => Err("a file that is not a socket is in the way".into()),
        Err(_) => Ok(()),
    }
}

/// Whether a process accepts connections on the socket at `path`: a connection is made or queued (a
/// full backlog is still a listener), or refused (a stale socket). The connection is closed at once;
/// it does not wait, so a busy listener cannot hold the start.
///
/// # Errors
/// The connection failed for another reason (permissions): whether the socket is stale is unknown.
fn listened_on(path: &Path) -> Result<bool, String> {
    use nix::errno::Errno;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    let unknown = |e: Errno| {
        format!(
            "cannot tell whether a process is listening on {}: {e}",
            path.display()
        )
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(unknown)?;
    let addr = UnixAddr::new(path).map_err(unknown)?;
    match connect(fd.as_raw_fd(), &addr) {
        Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS) => Ok(true),
        Err(Errno::ECONNREFUSED | Errno::ENOENT) => Ok(false),
        Err(e) => Err(unknown(e)),
    }
}

/// `socket_mode`, `socket_user`, `socket_group` (names or numbers), as Vault sets them.
fn socket_access(
    path: &Path,
    mode: Option<u32>,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<(), String> {
    use nix::unistd::{Gid, Group, Uid, User, chown};
    use std::os::unix::fs::PermissionsExt;
    let uid = numeric_id(user, "socket_user", |n| {
        User::from_name(n).ok().flatten().map(|u| u.uid.as_raw())
    })?
    .map(Uid::from_raw);
    let gid = numeric_id(group, "socket_group", |n| {
        Group::from_name(n).ok().flatten().map(|g| g.gid.as_raw())
    })?
    .map(Gid::from_raw);
    if uid.is_some() || gid.is_some() {
        chown(path, uid, gid).map_err(|e| format!("socket_user/socket_group: {e}"))?;
    }
    if let Some(m) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))
            .map_err(|e| format!("socket_mode: {e}"))?;
    }
    Ok(())
}

/// A user or group given as a number or a name (`key` names the setting in errors).
fn numeric_id(
    given: Option<&str>,
    key: &str,
    by_name: impl Fn(&str) -> Option<u32>,
) -> Result<Option<u32>, String> {
    let Some(v) = given else { return Ok(None) };
    match v.parse::<u32>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => by_name(v)
            .map(Some)
            .ok_or_else(|| format!("{key}: no such name {v:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_owners_are_numbers_or_names() {
        let root = |n: &str| (n == "root").then_some(0);
        assert_eq!(numeric_id(None, "socket_user", root), Ok(None));
        assert_eq!(
            numeric_id(Some("1000"), "socket_user", root),
            Ok(Some(1000))
        );
        assert_eq!(numeric_id(Some("root"), "socket_user", root), Ok(Some(0)));
        assert_eq!(
            numeric_id(Some("nobody-here"), "socket_group", root),
            Err("socket_group: no such name \"nobody-here\"".into())
        );
    }

    #[test]
    fn only_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "data").unwrap();
        assert!(remove_stale_socket(&file).is_err());
        assert!(file.exists());
        let sock = dir.path().join("agent.sock");
        // A listener that closed without removing its file: nobody answers there.
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        assert!(sock.exists());
        assert_eq!(remove_stale_socket(&sock), Ok(()));
        assert!(!sock.exists());
        assert_eq!(remove_stale_socket(&sock), Ok(()));
    }

    #[tokio::test]
    async fn a_socket_someone_listens_on_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let (_first, file) = bind_unix(&sock, None, None, None).unwrap();
        let err = bind_unix(&sock, None, None, None).unwrap_err();
        assert_eq!(
            err,
            format!(
                "another process is listening on {} (is another sidekey running with this config?)",
                sock.display()
            )
        );
        // The first listener still answers on its file.
        assert!(std::os::unix::net::UnixStream::connect(&sock).is_ok());
        file.remove();
        assert!(!sock.exists());
    }

    #[tokio::test]
    async fn a_socket_file_is_removed_only_while_it_is_still_ours() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let (first, file) = bind_unix(&sock, None, None, None).unwrap();
        drop(first);
        // Kernels with a coarse file clock (a few ms) would give both sockets the same change time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Another process replaced the stale socket since: its file stays.
        let (_second, _theirs) = bind_unix(&sock, None, None, None).unwrap();
        file.remove();
        assert!(sock.exists());
        assert!(std::os::unix::net::UnixStream::connect(&sock).is_ok());
    }
}
