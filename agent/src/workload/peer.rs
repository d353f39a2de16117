//! Who is at the other end of a unix stream socket, in the kernel's words: `SO_PEERCRED` (pid, uid, gid
//! as of `connect`), then the peer's cgroup (→ unit, container, pod) and executable from `/proc/<pid>`.
//!
//! A pid is only a number: the peer may exit and its pid be handed to another process between `connect`
//! and the reads of `/proc/<pid>`. So the peer is pinned first and checked after the reads:
//! - `SO_PEERPIDFD` (Linux ≥ 6.5) gives a pidfd of the very process that connected. A pidfd polls
//!   readable once its process has exited; if it has not after the reads, the pid was still that
//!   process's throughout (a pid is not reused before its process exits and is reaped), so what was read
//!   is the peer's.
//! - Older kernels: the process's start time (`/proc/<pid>/stat`) is read before and after; it must not
//!   change, and must not be later than the start of the attestation.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{getsockopt, sockopt};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{SysconfVar, sysconf};
use sha2::{Digest, Sha256};

use super::{Caller, cgroup};

/// Why a caller could not be attested; the connection is refused.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The socket gave no peer credentials (not a connected unix socket).
    #[error("the kernel gave no credentials for the caller's connection: {0}")]
    NoCredentials(#[source] Errno),
    /// The peer's pid is not visible in sidekey's pid namespace.
    #[error(
        "the caller (uid {uid}) runs in a pid namespace sidekey cannot see (pid 0): run sidekey in the \
         host's pid namespace (Kubernetes: hostPID: true)"
    )]
    Hidden {
        /// The peer's user id.
        uid: u32,
    },
    /// The peer exited before it was identified; its pid may belong to another process now.
    #[error(
        "the caller (pid {pid}, uid {uid}) exited before it could be identified; its pid may belong to \
         another process now"
    )]
    Departed {
        /// The peer's pid at connect time.
        pid: i32,
        /// The peer's user id.
        uid: u32,
    },
    /// `/proc/<pid>` of a live peer could not be read (sidekey without the privilege, `hidepid`, or a
    /// `/proc` of another pid namespace).
    #[error("cannot read {path} for the caller (pid {pid}, uid {uid}): {source}")]
    Proc {
        /// The peer's pid.
        pid: i32,
        /// The peer's user id.
        uid: u32,
        /// The file that could not be read.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// How the peer is held against pid reuse while `/proc/<pid>` is read.
#[derive(Debug)]
enum Pin {
    /// A pidfd of the process that connected.
    Pidfd(OwnedFd),
    /// Without `SO_PEERPIDFD`: the start time (clock ticks since boot) `/proc/<pid>/stat` gave first.
    StartTime(u64),
}

/// Attest the peer of a connected unix stream socket: its credentials, cgroup, unit, container, pod and
/// executable (and the executable's SHA-256 when `need_sha256` says so of the caller attested so far),
/// pinned against pid reuse. Blocking (reads `/proc`, hashes the executable): run it off the async
/// runtime.
///
/// # Errors
/// [`AttestError`]: no credentials, the peer not visible or gone (its pid may be another process's now),
/// or `/proc/<pid>` unreadable.
pub fn attest(
    fd: BorrowedFd<'_>,
    need_sha256: impl FnOnce(&Caller) -> bool,
) -> Result<Caller, AttestError> {
    attest_with(fd, need_sha256, true)
}

/// [`attest`], pinning by start time when `peer_pidfd` is false (tests of old kernels' path).
fn attest_with(
    fd: BorrowedFd<'_>,
    need_sha256: impl FnOnce(&Caller) -> bool,
    peer_pidfd: bool,
) -> Result<Caller, AttestError> {
    let cred = getsockopt(&fd, sockopt::PeerCredentials).map_err(AttestError::NoCredentials)?;
    let (pid, uid, gid) = (cred.pid(), cred.uid(), cred.gid());
    if pid <= 0 {
        return Err(AttestError::Hidden { uid });
    }
    let departed = || AttestError::Departed { pid, uid };
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let pidfd = if peer_pidfd {
        getsockopt(&fd, sockopt::PeerPidfd)
    } else {
        Err(Errno::ENOPROTOOPT)
    };
    let pin = match pidfd {
        Ok(pidfd) => Pin::Pidfd(pidfd),
        Err(Errno::ENOPROTOOPT) => pin_start_time(&proc_dir).ok_or_else(departed)?,
        // The kernel has no live process for the peer any more.
        Err(Errno::ESRCH | Errno::EINVAL) => return Err(departed()),
        Err(e) => return Err(AttestError::NoCredentials(e)),
    };

    let cgroup_file = proc_dir.join("cgroup");
    let cgroup_text = fs::read_to_string(&cgroup_file);
    // The executable is best-effort: kernel threads have none, and reading another user's needs
    // privilege; workloads that match on it then simply do not match.
    let exe = fs::read_link(proc_dir.join("exe")).ok();
    let mut caller = cgroup_text.as_deref().ok().map(|text| {
        let cgroup = cgroup::path_of(text).map(str::to_string);
        let placed = cgroup.as_deref().map(cgroup::placement).unwrap_or_default();
        Caller {
            pid,
            uid,
            gid,
            exe,
            sha256: None,
            sha256_unread: None,
            cgroup,
            unit: placed.unit,
            container_id: placed.container_id,
            pod_uid: placed.pod_uid,
        }
    });
    // Hashed only when a workload that matches on it could take this caller.
    if let Some(c) = caller.as_mut()
        && need_sha256(c)
    {
        match HASHES.sha256(&proc_dir.join("exe"), SystemTime::now()) {
            Ok(h) => c.sha256 = Some(h),
            Err(e) => c.sha256_unread = Some(e.to_string()),
        }
    }

    if !still_there(&pin, &proc_dir) {
        return Err(departed());
    }
    if let Err(source) = cgroup_text {
        return Err(AttestError::Proc {
            pid,
            uid,
            path: cgroup_file,
            source,
        });
    }
    caller.ok_or_else(departed)
}

/// Pin by start time: the process's start, if it is there and started no later than now.
///
/// The residual race: "now" is when attestation began, not when the peer connected (the kernel does
/// not record that), so a peer that exited and whose pid was taken by a new process before this runs
/// is not told apart from that process. `SO_PEERPIDFD` closes it; this path is for kernels before 6.5.
fn pin_start_time(proc_dir: &Path) -> Option<Pin> {
    let now = boot_ticks()?;
    let started = start_ticks(proc_dir)?;
    (started <= now).then_some(Pin::StartTime(started))
}

/// Whether the pinned process is still the one at `proc_dir`, after the reads.
fn still_there(pin: &Pin, proc_dir: &Path) -> bool {
    match pin {
        Pin::Pidfd(pidfd) => {
            let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            // Readable (exited), hung up (reaped) or an error: gone.
            matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(0))
        }
        Pin::StartTime(started) => start_ticks(proc_dir) == Some(*started),
    }
}

/// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
fn start_ticks(proc_dir: &Path) -> Option<u64> {
    parse_start_ticks(&fs::read_to_string(proc_dir.join("stat")).ok()?)
}

/// Field 22 of a `stat` line; the command name (field 2, in parentheses) may hold spaces and `)`.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    // Fields from 3 (state) on; 22 is the 20th of them.
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// Now, in the clock ticks `/proc/<pid>/stat` counts start times in (`CLOCK_BOOTTIME` / `CLK_TCK`).
fn boot_ticks() -> Option<u64> {
    let now = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
    let hz = u64::try_from(sysconf(SysconfVar::CLK_TCK).ok()??).ok()?;
    let secs = u64::try_from(now.tv_sec()).ok()?;
    let nanos = u64::try_from(now.tv_nsec()).ok()?;
    Some(secs * hz + nanos * hz / 1_000_000_000)
}

/// Hex SHA-256 of the file at `path`, streamed.
#[cfg(test)]
fn sha256_of(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    hash_into(&mut File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Feed everything `reader` gives to `hasher` (the RustCrypto hashers have no `io::Write` since digest
/// 0.11); returns how many bytes that was.
fn hash_into(reader: &mut impl Read, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(read);
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
}

/// The largest executable hashed: any local user can make a big (sparse) file and connect from it.
const HASH_LIMIT: u64 = 512 * 1024 * 1024;

/// How many executables' hashes are kept.
const HASHES_KEPT: usize = 256;

/// A file whose change time is this recent is hashed but not kept: a change within the file system's
/// timestamp granularity could leave its times as they were.
const SETTLED: Duration = Duration::from_secs(2);

/// The executables' hashes, shared by every connection.
static HASHES: LazyLock<Hashes> = LazyLock::new(|| Hashes::new(HASH_LIMIT, HASHES_KEPT, SETTLED));

/// Why an executable's SHA-256 was not taken (its callers match no `sha256`).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Bigger than [`HASH_LIMIT`].
    #[error(
        "the executable is {size} bytes, over the {limit}-byte limit of what sidekey hashes: no \
         sha256 matches it"
    )]
    TooBig {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// It could not be read (another user's, without `CAP_SYS_PTRACE`; gone).
    #[error("the executable could not be read: {0}")]
    Io(#[from] io::Error),
}

/// What identifies a file's contents without reading them: a write changes the size or the change
/// time (which no user can set), whatever the modification time is set back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    fn of(m: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The change time.
    fn changed(&self) -> SystemTime {
        let secs = Duration::from_secs(u64::try_from(self.ctime.0).unwrap_or(0));
        let nanos = Duration::from_nanos(u64::try_from(self.ctime.1).unwrap_or(0));
        SystemTime::UNIX_EPOCH + secs + nanos
    }
}

/// Executables' hashes by [`FileKey`], at most `kept`; files over `limit` bytes are not hashed.
struct Hashes {
    kept: Mutex<HashMap<FileKey, String>>,
    limit: u64,
    most: usize,
    settled: Duration,
    /// Files read and hashed (tests).
    #[cfg(test)]
    read: std::sync::atomic::AtomicUsize,
}

impl Hashes {
    fn new(limit: u64, most: usize, settled: Duration) -> Self {
        Self {
            kept: Mutex::default(),
            limit,
            most,
            settled,
            #[cfg(test)]
            read: std::sync::atomic::AtomicUsize::default(),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<FileKey, String>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hex SHA-256 of the file at `path` (opened once: the file hashed is the file described), from
    /// the kept ones when its key is known.
    fn sha256(&self, path: &Path, now: SystemTime) -> Result<String, HashError> {
        let mut file = File::open(path)?;
        let key = FileKey::of(&file.metadata()?);
        if let Some(h) = self.kept().get(&key) {
            return Ok(h.clone());
        }
        if key.size > self.limit {
            return Err(HashError::TooBig {
                size: key.size,
                limit: self.limit,
            });
        }
        #[cfg(test)]
        self.read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut hasher = Sha256::new();
        // Bounded even if the file grows while it is read.
        let read = hash_into(&mut (&mut file).take(self.limit + 1), &mut hasher)?;
        if read > self.limit {
            return Err(HashError::TooBig {
                size: read,
                limit: self.limit,
            });
        }
        let hash = hex::encode(hasher.finalize());
        // Kept only if nothing changed while it was read, and its last change is not too recent.
        let same = file.metadata().is_ok_and(|m| FileKey::of(&m) == key);
        let settled = now
            .duration_since(key.changed())
            .is_ok_and(|age| age >= self.settled);
        if same && settled {
            let mut kept = self.kept();
            if kept.len() >= self.most
                && let Some(old) = kept.keys().next().copied()
            {
                kept.remove(&old);
            }
            kept.insert(key, hash.clone());
        }
        Ok(hash)
    }
}

#[cfg(test)]
mod tests;
