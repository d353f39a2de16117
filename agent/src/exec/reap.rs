//! Reaping: sidekey waits for every process that ends below it (its child, and the orphans re-parented
//! to it as PID 1 or as child subreaper) and picks its own child's status out of them. Waiting only for
//! the child's pid would leave zombies; waiting for any pid through tokio's `Child::wait` would race this.

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Reap every process that has ended; return the exit code of `child` (its code, or 128+N when killed
/// by signal N) if it was one of them.
pub fn reap(child: Pid) -> Option<i32> {
    let mut found = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => found = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => found = Some(128 + sig as i32),
            // Someone else's process (a template command): hand its status over.
            Ok(WaitStatus::Exited(pid, code)) => crate::runtime::reaped::reaped(pid.as_raw(), code),
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                crate::runtime::reaped::reaped(pid.as_raw(), 128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return found,
            Err(Errno::EINTR) | Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "waitpid failed");
                return found;
            }
        }
    }
}

/// Become the child subreaper, so orphans of the child are re-parented to sidekey and reaped by it
/// (PID 1 is one already).
pub fn become_subreaper() {
    if nix::unistd::getpid().as_raw() != 1
        && let Err(e) = nix::sys::prctl::set_child_subreaper(true)
    {
        tracing::warn!(error = %e, "cannot become child subreaper; orphans of the child may stay zombies");
    }
}
