//! Per-host mode on the unix listeners (DESIGN.md §11): each connection's peer attested by the kernel,
//! each request matched to exactly one workload and sent with that workload's token. A caller that
//! cannot be attested, or matches no workload or several, is refused before anything reaches the
//! backend, the agent API (`/agent/v1/...`) included. The workloads are the ones the lease engine
//! publishes now: after a reload, each request is matched against the new ones.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use tokio::sync::{Semaphore, watch};

use crate::audit::CallerMeta;
use crate::config::WorkloadConfig;
use crate::workload::peer;
use crate::workload::select::Refusal;
use crate::workload::tokens::WorkloadTokens;
use crate::workload::{Caller, Workloads};

/// How many connections' peers are attested at once: each reads `/proc` and may hash an executable
/// (up to 512 MiB) on a blocking thread; more wait their turn.
const ATTESTING: usize = 8;

/// The workloads the unix listeners serve, and their tokens.
#[derive(Debug)]
pub struct Door {
    workloads: watch::Receiver<Arc<Workloads>>,
    tokens: WorkloadTokens,
    /// Bounds the attestations under way.
    attesting: Arc<Semaphore>,
}

/// What the kernel said about a connection's peer.
pub(super) struct Attested {
    /// The peer, or why it could not be attested.
    caller: Result<Caller, String>,
    /// `SO_PEERCRED` as read at accept: the caller block of a refusal when attestation failed.
    accepted: CallerMeta,
}

/// What a per-caller listener does with a request.
pub(super) enum Admission<'a> {
    /// Serve it for this sender.
    Serve(Sender<'a>),
    /// Refuse it: the caller could not be attested, or matches no workload or several.
    Refuse {
        /// The caller block of the refusal.
        caller: Box<CallerMeta>,
        /// What the caller is told.
        kind: Refused,
        /// Why, in full (for the log and the audit event, not the caller: it may name other workloads
        /// and paths; never a secret).
        why: String,
    },
}

/// Why a caller was refused, as the caller is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// The kernel could not tell who it is.
    Unidentified,
    /// No workload's `match` holds.
    NoMatch,
    /// Several workloads' `match` hold.
    Several,
}

impl Refused {
    /// What the caller is told: nothing about other workloads or the host.
    pub(super) fn text(self) -> &'static str {
        match self {
            Self::Unidentified => "could not be identified",
            Self::NoMatch => "matches no workload",
            Self::Several => "matches several workloads",
        }
    }
}

/// A request's sender, as the proxy serves it.
pub(super) enum Sender<'a> {
    /// A tcp peer, or a unix peer where no workloads are configured: `use_auto_auth_token` applies.
    Shared(&'a CallerMeta),
    /// A caller matched to `workload`: its own token passes untouched, else the workload's is added
    /// (never the agent's).
    Workload {
        /// The caller block (naming the workload).
        caller: Box<CallerMeta>,
        /// Its workload.
        workload: &'a WorkloadConfig,
        /// Where the workload's token comes from.
        tokens: &'a WorkloadTokens,
    },
}

impl Attested {
    /// A peer that could not be attested, for `why`.
    pub(super) fn failed(accepted: CallerMeta, why: String) -> Self {
        Self {
            caller: Err(why),
            accepted,
        }
    }
}

impl Door {
    /// Serve the workloads the engine publishes (`workloads`), with `tokens`.
    pub fn new(workloads: watch::Receiver<Arc<Workloads>>, tokens: WorkloadTokens) -> Self {
        Self {
            workloads,
            tokens,
            attesting: Arc::new(Semaphore::new(ATTESTING)),
        }
    }

    /// The workloads as published now.
    pub(super) fn workloads(&self) -> Arc<Workloads> {
        self.workloads.borrow().clone()
    }

    /// Attest the peer of `fd` (a dup of an accepted connection's socket), off the async runtime: it
    /// reads `/proc`, and hashes the peer's executable when a workload that matches on `sha256` could
    /// take it. At most [`ATTESTING`] at once. `accepted` is what `SO_PEERCRED` said at accept.
    pub(super) async fn attest(&self, fd: OwnedFd, accepted: CallerMeta) -> Attested {
        let Ok(permit) = self.attesting.clone().acquire_owned().await else {
            return Attested::failed(accepted, "the agent is stopping".into());
        };
        let workloads = self.workloads();
        let caller = tokio::task::spawn_blocking(move || {
            let _turn = permit;
            let selector = &workloads.selector;
            let need = |c: &Caller| selector.needs_sha256_for(c);
            peer::attest(fd.as_fd(), need).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the caller could not be attested: {e}")));
        Attested { caller, accepted }
    }

    /// Whether a request from `peer` is served (as which of `workloads`, the ones published now) or
    /// refused (and why).
    pub(super) fn admit<'a>(&'a self, workloads: &'a Workloads, peer: &Attested) -> Admission<'a> {
        let caller = match &peer.caller {
            Ok(c) => c,
            Err(why) => {
                return Admission::Refuse {
                    caller: Box::new(peer.accepted.clone()),
                    kind: Refused::Unidentified,
                    why: why.clone(),
                };
            }
        };
        match workloads.selector.select(caller) {
            Ok(workload) => Admission::Serve(Sender::Workload {
                caller: Box::new(caller.meta(Some(&workload.name))),
                workload,
                tokens: &self.tokens,
            }),
            Err(refusal) => Admission::Refuse {
                caller: Box::new(caller.meta(None)),
                kind: match refusal {
                    Refusal::NoMatch { .. } => Refused::NoMatch,
                    Refusal::Several { .. } => Refused::Several,
                },
                why: refusal.to_string(),
            },
        }
    }
}
