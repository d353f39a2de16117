//! sidekey: a light secrets agent for OpenBao / HashiCorp Vault.
//!
//! It authenticates with a workload identity, fetches short-lived secrets, delivers them to tmpfs files or a
//! child's environment, keeps their leases alive, and records every retrieval as an audit event.
//!
//! # Layout
//! - [`cli`]: the command line (`run`, `exec`, `check`, `version`) and exit codes.
//! - [`config`]: Vault Agent HCL/JSON → validated [`config::Config`].
//! - [`auth`]: auto-auth methods (one file each) and token sinks.
//! - [`backend`]: the OpenBao/Vault HTTP API client; transient vs permanent errors.
//! - [`lease`]: the secret store and the scheduler that owns every timer.
//! - [`template`]: the consul-template dialect of Go `text/template` (pure renderers).
//! - [`output`]: every side effect of delivery: atomic files, post-render commands, the child's env.
//! - [`exec`]: the child-process supervisor.
//! - [`audit`]: audit events, their hash chain and sinks; `audit verify` and `report`.
//! - [`admin`]: the admin listener: health, readiness, Prometheus metrics.
//! - [`runtime`]: shutdown signal plumbing and the agent's top-level flows.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod exec;
pub mod lease;
pub mod output;
pub mod runtime;
pub mod template;
