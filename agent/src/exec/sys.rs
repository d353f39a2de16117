//! The only `unsafe` code in sidekey, kept small so it can be reviewed in one sitting: the child's
//! pre-exec setup (`PR_SET_PDEATHSIG`, the original umask and core limit) and the signal handlers that
//! queue signal numbers on a pipe.
//!
//! Both run where almost nothing is allowed (between fork and exec, and inside a signal handler), so each
//! uses only async-signal-safe system calls and touches no memory it shares with other threads.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Make the child started by `cmd` receive SIGKILL when sidekey dies (so a killed supervisor never
/// leaves its child running unsupervised).
pub fn die_with_parent(cmd: &mut Command) {
    // The pid the child must see as its parent; compared after prctl to close the race where sidekey
    // died between fork and prctl (the child would then already have been re-parented).
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: the closure runs in the forked child before exec. It calls only prctl(2), getppid(2) and
    // _exit(2), which are async-signal-safe; it allocates nothing and reads only the copied `parent`.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(127);
            }
            Ok(())
        });
    }
}

/// Give the child started by `cmd` the umask and core limit sidekey started with (sidekey itself runs
/// with `umask 077` and no core dumps, see `runtime::harden`), so the child behaves as if started
/// without the wrapper.
pub fn restore_original(cmd: &mut Command) {
    let original = crate::runtime::harden::original();
    let mask = original.umask.bits();
    let core = original.core;
    // SAFETY: the closure runs in the forked child before exec. It calls only umask(2) and setrlimit(2),
    // which are async-signal-safe; it allocates nothing and reads only the copied `mask` and `core`.
    unsafe {
        cmd.pre_exec(move || {
            libc::umask(mask);
            if let Some((soft, hard)) = core {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_CORE, &raw const limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Install a handler for each of `signals` that writes the signal's number, as one byte, to `pipe`, so
/// the reader sees every signal in the order the handlers ran. The pipe's write end must be
/// non-blocking; it is kept open for the rest of the process's life (handlers cannot be removed safely
/// while a signal may be in flight).
///
/// # Errors
/// The first signal that cannot be handled (e.g. SIGKILL).
pub fn queue_signals(signals: &[i32], pipe: OwnedFd) -> io::Result<()> {
    let fd = pipe.into_raw_fd();
    for &sig in signals {
        let byte = u8::try_from(sig).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the action runs inside a signal handler. It calls only write(2), which is
        // async-signal-safe, on a non-blocking pipe (a full pipe drops the byte instead of blocking);
        // `fd` and `byte` are copies. signal-hook-registry saves and restores errno around it.
        unsafe {
            signal_hook_registry::register(sig, move || {
                let _ = libc::write(fd, (&raw const byte).cast(), 1);
            })?;
        }
    }
    Ok(())
}
