//! The admin listener (`listener "admin" { address }`): `/healthz` (the process is alive), `/readyz`
//! (every output rendered at least once and no lease past its expiry), `/metrics` (Prometheus text) and
//! `POST /agent/v1/refresh` (fetch every secret again now).
//!
//! - `telemetry`: [`Telemetry`], the counters and readiness state, fed by the auditor and the runtime.
//! - `server`: the hyper server on TCP or a unix socket.

pub mod server;
mod telemetry;

pub use server::{Admin, BindError, bind, serve};
pub use telemetry::Telemetry;

#[cfg(test)]
mod tests;
