//! Process hardening at start, shared by `sidekey` and `sidekey-injector` (issue 16): no core dumps, no
//! same-uid `ptrace` or `/proc/<pid>/environ` reading, `umask 077`, and panics reported without their
//! message.
//!
//! What the process started with (umask, core limit) is returned, so a wrapper can give it back to the
//! children it starts. "Not dumpable" needs no restoring: the kernel resets it on execve.

use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};
use nix::sys::stat::{Mode, umask};

/// What the process started with, before [`harden`] changed it.
#[derive(Clone, Copy, Debug)]
pub struct Original {
    /// The umask.
    pub umask: Mode,
    /// `RLIMIT_CORE` (soft, hard); `None` when it could not be read (then it was not changed).
    pub core: Option<(rlim_t, rlim_t)>,
}

/// Harden the process; call first thing, before any thread, file or secret exists. `program` names the
/// process in panic reports. Returns what it started with and what could not be done (for the log, once
/// it runs): none of it is fatal, as none stops the program from working correctly.
pub fn harden(program: &'static str) -> (Original, Vec<String>) {
    let mut failed = Vec::new();
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        failed.push(format!(
            "cannot mark the process not dumpable (PR_SET_DUMPABLE): {e}"
        ));
    }
    let core = match getrlimit(Resource::RLIMIT_CORE) {
        Ok((soft, hard)) => {
            // Soft only: the hard limit stays, so a child can raise its soft limit back.
            if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, hard) {
                failed.push(format!("cannot turn core dumps off (RLIMIT_CORE): {e}"));
            }
            Some((soft, hard))
        }
        Err(e) => {
            failed.push(format!("cannot read RLIMIT_CORE: {e}"));
            None
        }
    };
    let umask = umask(Mode::from_bits_truncate(0o077));
    std::panic::set_hook(Box::new(move |info| panic_without_payload(program, info)));
    (Original { umask, core }, failed)
}

/// A panic is reported by where it happened, never by its message: Rust's own messages quote the data
/// they failed on (a string sliced inside a character is printed whole), and that may be a secret.
fn panic_without_payload(program: &str, info: &std::panic::PanicHookInfo<'_>) {
    let at = info
        .location()
        .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
    // The log may not be up (or may be what failed): stderr directly. "panicked", as Rust says it, so
    // whoever looks for panics in the output still finds them.
    eprintln!("{program}: panicked{at} (the message is withheld: it may quote a secret)");
}
