//! The lease engine and the secret store: the one owner of time (DESIGN §6).
//!
//! - `engine`: token and lease lifecycle, render → fetch → deliver cycles.
//! - `fetch`: one retrieval (KV v2 path rewriting, audit).
//! - `jobs`: templates and env_templates parsed at start.
//! - `schedule`: the timing rules as pure functions.
//! - `store`: fetched secrets, what renderers read.

pub mod engine;
pub mod fetch;
pub mod jobs;
pub mod schedule;
pub mod store;

pub use engine::{Delivery, Engine, EngineError, EnvMap, OutputFailure, RetryPolicy};
