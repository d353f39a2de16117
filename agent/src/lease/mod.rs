//! The lease engine and the secret store: the one owner of time (DESIGN §6).
//!
//! - `anchor`: anchoring the audit trail's chain head on the backend (`audit { anchor }`).
//! - `check`: replacing what was revoked on the server (`lease_check_interval`) or on request (refresh).
//! - `cycle`: after each delivery: report, announce, decide whether the run ends.
//! - `engine`: the engine and its one loop, `run(shutdown, until) -> Outcome`.
//! - `outcome`: what a run is asked for (`Until`) and how it ends (`Outcome`, `Fatal`).
//! - `wake`: what wakes the loop besides the clock (reloads, credential files, watchdog); status lines.
//! - `wiring`: how a flow wires an engine (telemetry, notifier, reloads, exec).
//! - `token`: the token owner: login (one path), renewal, re-login, replaced tokens.
//! - `store`: fetched secrets, what renderers read, and the one scheduling rule.
//! - `resolve`: one delivery cycle: render → fetch → render, then hand over to the deliverer.
//! - `once`: one template rendered on demand with a given token (the `LoadCredential=` socket).
//! - `reload`: applying a reloaded config: the difference only.
//! - `maintain`: what the clock drives: lease renewal, replacement, refreshes, revocations, backoff.
//! - `fetch`: one retrieval (KV v2 path rewriting, audit).
//! - `jobs`: templates and env_templates parsed at start.
//! - `pki`: when `pkiCert` may take the certificate already in its destination.
//! - `proxied`: the leases and tokens the API proxy's cache holds, renewed in the same loop.
//! - `schedule`: the timing rules as pure functions.
//! - `state`: the lease state file that lets a restart resume instead of re-issuing.
//! - `workload`: secrets read with a workload's token (templates inside `workload "NAME"`).

mod anchor;
mod check;
mod cycle;
pub mod engine;
pub mod fetch;
pub mod jobs;
mod maintain;
pub mod once;
mod outcome;
mod pki;
pub mod proxied;
mod reload;
mod resolve;
pub mod schedule;
mod state;
pub mod store;
mod token;
mod wake;
mod wiring;
mod workload;

pub use crate::output::{Delivery, EnvMap};
pub use engine::Engine;
pub use outcome::{Announce, Fatal, Outcome, Reloads, Until};

#[cfg(test)]
mod tests;
