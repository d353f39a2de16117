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
//! - [`audit`]: audit events, their formats (sidekey, OCSF, ECS), a hash chain per sink, the sinks (file,
//!   stdout, http, syslog, otlp), anchors on the backend; `audit verify`, `audit reconcile` and `report`.
//! - [`admin`]: the admin listener: health, readiness, Prometheus metrics, refresh requests.
//! - [`listen`]: `listener "tcp"`/`"unix"`: the API proxy and its cache.
//! - [`persist`]: the encrypted state file a restart resumes the token and leases from.
//! - [`runtime`]: the agent's top-level flows, their exit codes, the shutdown token and the log file.
//! - [`workload`]: per-host mode: callers attested by the kernel, matched to workloads, their tokens.
//! - `fuzzing` (feature `fuzzing` only): the entry points of the fuzz targets in `fuzz/`.
//!
//! Only [`cli`] is public: `main.rs` and the end-to-end tests drive the binary; everything else is
//! `pub(crate)`, so the compiler reports what nothing uses.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod backend;
pub mod cli;
pub(crate) mod config;
pub(crate) mod exec;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod lease;
pub(crate) mod listen;
pub(crate) mod output;
pub(crate) mod persist;
pub(crate) mod runtime;
pub(crate) mod template;
pub(crate) mod workload;
