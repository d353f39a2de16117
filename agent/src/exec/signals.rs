//! Signals sidekey receives, in arrival order: every catchable one is queued on a self-pipe (see
//! [`super::sys::queue_signals`]) and read back here one at a time. A tokio stream per signal kind would
//! lose the order across kinds (HUP, USR1, HUP arrives as HUP, HUP, USR1 or HUP, USR1).

use std::collections::VecDeque;
use std::io;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::sys;

/// Signals forwarded to the child: every catchable signal except SIGCHLD (sidekey's own, for reaping),
/// SIGPIPE (raised by sidekey's own pipes), SIGTTIN/SIGTTOU (job control of sidekey itself) and the
/// synchronous faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS), as tini does.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGSTKFLT,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGURG,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGWINCH,
    Signal::SIGIO,
    Signal::SIGPWR,
];

/// One signal taken from the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A signal to forward to the child.
    Forward(Signal),
    /// SIGCHLD: some process may be waiting to be reaped.
    Child,
}

/// The queue of received signals. Install it once per process, before the child starts, so that no
/// signal sent to sidekey while it starts the child is lost.
pub struct SignalQueue {
    rx: pipe::Receiver,
    pending: VecDeque<u8>,
}

impl SignalQueue {
    /// Handle every signal in [`FORWARDED`] and SIGCHLD from now on.
    ///
    /// # Errors
    /// When the pipe or a handler cannot be set up.
    pub fn install() -> io::Result<Self> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let mut all: Vec<i32> = FORWARDED.iter().map(|s| *s as i32).collect();
        all.push(libc::SIGCHLD);
        sys::queue_signals(&all, w)?;
        Ok(Self {
            rx: pipe::Receiver::from_owned_fd(r)?,
            pending: VecDeque::new(),
        })
    }

    /// The next signal, in the order received. Cancel-safe: a signal read but not yet returned stays
    /// queued.
    pub async fn next(&mut self) -> Received {
        loop {
            if let Some(b) = self.pending.pop_front() {
                match Signal::try_from(i32::from(b)) {
                    Ok(Signal::SIGCHLD) => return Received::Child,
                    Ok(s) => return Received::Forward(s),
                    Err(_) => continue,
                }
            }
            let mut buf = [0u8; 64];
            match self.rx.read(&mut buf).await {
                Ok(n) if n > 0 => self.pending.extend(&buf[..n]),
                // The write end is never closed; a read error here means no more signals can arrive.
                _ => std::future::pending::<()>().await,
            }
        }
    }
}
