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

pub use client::Client;
pub use error::BackendError;
pub use response::{AuthInfo, MountInfo, WrapInfo};

/// Whether two configured addresses name the same node: same scheme, host and port once normalized
/// (`https://A:443/` is `https://a`). Unparsable text compares as written.
pub fn same_node(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(x), Ok(y)) => x.origin() == y.origin(),
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}
