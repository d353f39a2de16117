//! The lease engine and the secret store: the one owner of time (DESIGN §6).
//!
//! - `engine`: the engine, authentication, render → fetch → deliver cycles.
//! - `maintain`: what the clock drives: token and lease renewal, replacement, retries, backoff.
//! - `fetch`: one retrieval (KV v2 path rewriting, audit).
//! - `jobs`: templates and env_templates parsed at start.
//! - `pki`: when `pkiCert` may take the certificate already in its destination.
//! - `side`: writing the files a template's `writeToFile` calls asked for.
//! - `schedule`: the timing rules as pure functions.
//! - `state`: the lease state file that lets a restart resume instead of re-issuing.
//! - `store`: fetched secrets, what renderers read.

pub mod engine;
pub mod fetch;
pub mod jobs;
mod maintain;
mod pki;
pub mod schedule;
mod side;
mod state;
pub mod store;

pub use engine::{Delivery, Engine, EngineError, EnvMap, OutputFailure, RetryPolicy};

#[cfg(test)]
mod tests;
