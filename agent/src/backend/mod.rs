//! The OpenBao / Vault HTTP API client: login, secret reads and writes, token and lease calls.
//!
//! - `client`: the calls (`/v1/...`), one pool, bounded requests in flight.
//! - `error`: [`BackendError`], transient vs permanent.
//! - `redirect`: which redirects are followed (only to a configured address, so the token stays there).
//! - `secret`: the secret types shared with the store and the renderers.
//! - `tls`: `vault` stanza TLS settings → rustls.

pub mod client;
pub mod error;
pub mod redirect;
pub mod response;
pub mod secret;
pub mod tls;

pub use client::{Client, ClientSettings, Reuse};
pub use error::BackendError;
pub use response::{AuthInfo, MountInfo};
