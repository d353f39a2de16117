//! The process exit code (DESIGN §3), one type for every flow: decided from typed outcomes, never from
//! message text.

use crate::lease::{Delivery, Fatal, Outcome};
use crate::output::OutputFailure;

/// How sidekey exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: everything was delivered, or a requested stop.
    Ok,
    /// 1: an output failed (render, write, a sink).
    Failed,
    /// 64: a usage error.
    Usage,
    /// 69: the backend was unreachable, or logging in failed (`exit_on_err` included).
    Unavailable,
    /// 78: a configuration error.
    Config,
    /// The exec'd child's status (128+N when it was killed by signal N), or a shell's 126/127.
    Child(i32),
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> i32 {
        match self {
            Self::Ok => 0,
            Self::Failed => 1,
            Self::Usage => 64,
            Self::Unavailable => 69,
            Self::Config => 78,
            Self::Child(c) => c,
        }
    }

    /// Print each failure to stderr; 0 when there is none, 69 when only the backend was unreachable,
    /// 1 otherwise.
    pub fn for_failures<'a>(failures: impl IntoIterator<Item = &'a OutputFailure>) -> Self {
        let mut code = Self::Ok;
        for f in failures {
            eprintln!("sidekey: {f}");
            code = if !f.transient || code == Self::Failed {
                Self::Failed
            } else {
                Self::Unavailable
            };
        }
        code
    }

    /// The exit code of an engine run (printing why it failed).
    pub fn for_outcome(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Delivered(d) => Self::for_delivery(d),
            Outcome::Stopped | Outcome::StartOver(_) => Self::Ok,
            Outcome::Fatal(Fatal::Login(e)) => {
                tracing::error!("{e}");
                Self::Unavailable
            }
            Outcome::Fatal(Fatal::Outputs(f)) => Self::for_failures(f),
            Outcome::Fatal(Fatal::Persist(why)) => {
                eprintln!("sidekey: {why}");
                Self::Failed
            }
            Outcome::Fatal(Fatal::Deadline(after, pending)) => {
                eprintln!(
                    "sidekey: the one-shot run gave up after {after:?} while {pending}: the backend did \
                     not answer in time (see BAO_CLIENT_TIMEOUT and vault {{ retry {{ num_retries }} }}); \
                     no template output was written"
                );
                Self::Unavailable
            }
            Outcome::Fatal(Fatal::Unreachable(tries)) => {
                eprintln!(
                    "sidekey: exit_on_retry_failure: the backend was still unreachable after {tries} tries"
                );
                Self::Unavailable
            }
        }
    }

    /// The exit code of one delivery.
    pub fn for_delivery(d: &Delivery) -> Self {
        Self::for_failures(d.failures())
    }
}
