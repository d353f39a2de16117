//! `sidekey-injector`: the Kubernetes mutating admission webhook that adds the sidekey agent to pods
//! annotated for HashiCorp's vault-k8s agent injector (`vault.hashicorp.com/*`). Pods get the same result as
//! with vault-k8s: an init container and a sidecar that render secrets to `/vault/secrets/<name>` in the app
//! containers, driven by a Vault-Agent-shaped config that sidekey (and the real agent) read unchanged.
//!
//! # Layout
//! - `annotations`: `vault.hashicorp.com/*` annotations → `spec::InjectionSpec` (defaults, errors, warnings).
//! - `spec`: the typed injection spec.
//! - `config`: spec → the agent config (Vault Agent JSON, as vault-k8s generates it).
//! - `patch`: spec → the RFC 6902 JSON patch on the Pod (containers, volumes, annotations).
//! - `review`: one AdmissionReview in, one out.
//! - [`server`]: HTTPS (`POST /mutate`, `GET /healthz`).
//! - `fuzzing` (feature `fuzzing` only): the entry points of the fuzz targets in `fuzz/`.
//! - `main.rs`: command line, TLS files, signals.
//!
//! A library only so the fuzz targets can reach the readers: [`server`] and the settings it takes are
//! what the binary uses.

mod annotations;
mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod patch;
mod review;
pub mod server;
mod spec;
#[cfg(test)]
mod tests;

pub use annotations::Defaults;
pub use review::Settings;
