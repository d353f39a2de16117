//! Process hardening at start (issue 16): no core dumps, no same-uid `ptrace` or `/proc/<pid>/environ`
//! reading, `umask 077` for sidekey's own files, panics reported without their message, and memory
//! locked when that cannot starve allocations.
//!
//! The settings a child would inherit (umask, core limit) are saved first: the exec child and template
//! `command`s get them back before they exec (see `exec::sys::restore_original`), so the wrapper stays
//! transparent. "Not dumpable" needs no restoring: the kernel resets it on execve.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::OnceLock;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::stat::{Mode, fchmod, umask};

pub use sidekey_harden::Original;

/// The settings saved by [`harden`], and what failed there (logged by [`lock_memory`], once logging runs).
static STATE: OnceLock<(Original, Vec<String>)> = OnceLock::new();

/// Harden the process (see [`sidekey_harden::harden`]); call first thing, before any thread, file or
/// secret exists. Failures are kept and logged by [`lock_memory`].
pub fn harden() {
    let _ = STATE.set(sidekey_harden::harden("sidekey"));
}

/// The umask and core limit the process started with (the current ones if [`harden`] has not run).
pub fn original() -> Original {
    STATE.get().map_or_else(
        || {
            // Reading the umask means setting it: put it straight back.
            let current = umask(Mode::empty());
            umask(current);
            Original {
                umask: current,
                core: getrlimit(Resource::RLIMIT_CORE).ok(),
            }
        },
        |(o, _)| *o,
    )
}

/// Give this process its original umask and core limit back, for `--no-supervise`, where the child
/// replaces sidekey through execve.
pub fn restore_own() {
    let o = original();
    umask(o.umask);
    if let Some((soft, hard)) = o.core {
        let _ = setrlimit(Resource::RLIMIT_CORE, soft, hard);
    }
}

/// Log what [`harden`] could not do, then lock memory (`mlockall`) unless `disable_mlock = true`. Locking
/// is done only where it cannot make allocations fail: with `CAP_IPC_LOCK` or an unlimited
/// `RLIMIT_MEMLOCK`; otherwise one info line says memory is not locked and why. Never fatal.
pub fn lock_memory(disable_mlock: bool) {
    for f in STATE.get().map(|(_, f)| f.as_slice()).unwrap_or_default() {
        tracing::warn!("{f}");
    }
    if disable_mlock {
        return;
    }
    let unlimited = getrlimit(Resource::RLIMIT_MEMLOCK)
        .is_ok_and(|(soft, _)| soft == nix::sys::resource::RLIM_INFINITY);
    if !unlimited && !has_ipc_lock() {
        tracing::info!(
            "memory is not locked: RLIMIT_MEMLOCK is limited and sidekey lacks CAP_IPC_LOCK \
             (locking all memory could then make allocations fail); set disable_mlock = true to silence this"
        );
        return;
    }
    use nix::sys::mman::{MlockAllFlags, mlockall};
    // ONFAULT: pages are locked as they are touched, so reserved but unused memory costs nothing.
    let flags =
        MlockAllFlags::from_bits_retain(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT);
    if let Err(e) = mlockall(flags) {
        tracing::info!(error = %e, "memory is not locked: mlockall failed");
    }
}

/// `CAP_IPC_LOCK`'s bit in the capability sets (linux/capability.h).
const CAP_IPC_LOCK: u32 = 14;

/// Whether the effective capabilities hold `CAP_IPC_LOCK` (`/proc/self/status`, line `CapEff:`).
fn has_ipc_lock() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// Open `path` with `opts`, creating it with exactly `mode` when missing (set with fchmod, so the umask
/// does not change it); an existing file keeps its mode. `opts` must not ask to create.
///
/// # Errors
/// The OS error of open or fchmod.
pub fn open_with_mode(opts: &OpenOptions, path: &Path, mode: u32) -> io::Result<File> {
    let mut create = opts.clone();
    create.create_new(true).mode(mode);
    match create.open(path) {
        Ok(f) => {
            fchmod(&f, Mode::from_bits_truncate(mode))?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => opts.open(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_file_gets_its_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        // 0666: bits any usual umask (022, 077) would take away; the process umask is left alone, as
        // other tests run beside this one.
        drop(open_with_mode(OpenOptions::new().append(true), &p, 0o666).unwrap());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o666);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        drop(open_with_mode(OpenOptions::new().append(true), &p, 0o666).unwrap());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "an existing file keeps its mode");
    }
}
