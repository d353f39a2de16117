//! The admin listener (`listener "admin" { address }`): `/healthz` (the process is alive), `/readyz`
//! (every output rendered at least once and no lease past its expiry) and `/metrics` (Prometheus text).
//!
//! - `telemetry`: [`Telemetry`], the counters and readiness state, fed by the auditor and the runtime.
//! - `server`: the hyper server on TCP or a unix socket.

pub mod server;
mod telemetry;

pub use server::{BindError, bind, serve};
pub use telemetry::Telemetry;

#[cfg(test)]
mod tests;
