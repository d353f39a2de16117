//! The OpenBao / Vault HTTP API client: login, secret reads and writes, token and lease calls.
//!
//! - `client`: the calls (`/v1/...`), one pool, bounded requests in flight.
//! - `error`: [`BackendError`], transient vs permanent.
//! - `observe`: what the client reports to the audit trail itself (requests no caller records, failovers).
//! - `redirect`: which redirects are followed (only to a configured address, so the token stays there).
//! - `secret`: the secret types shared with the store and the renderers.
//! - `tls`: `vault` stanza TLS settings → rustls.

pub mod client;
pub mod error;
pub mod observe;
pub mod redirect;
pub mod response;
pub mod secret;
pub mod tls;

pub use client::Client;
pub use error::BackendError;
pub use observe::{Bearer, Exchange, Observer, Purpose};
pub use response::{AuthInfo, MountInfo, WrapInfo};

/// Whether two configured addresses name the same node: same scheme, host and port once normalized
/// (`https://A:443/` is `https://a`). Unparsable text compares as written.
pub fn same_node(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(x), Ok(y)) => x.origin() == y.origin(),
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

/// `path` (below `/v1/`) fit for logs, errors and audit events: Vault takes a token in the path of
/// `auth/token/{lookup,renew,revoke,revoke-orphan}/<token>` (in any namespace given in the path), and
/// that segment and what follows become `<token>`. Every other path is returned as it is.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let segs: Vec<&str> = path.split('/').collect();
    for i in 0..segs.len().saturating_sub(3) {
        if segs[i] == "auth"
            && segs[i + 1] == "token"
            && matches!(segs[i + 2], "lookup" | "renew" | "revoke" | "revoke-orphan")
            && segs[i + 3..].iter().any(|s| !s.is_empty())
        {
            return std::borrow::Cow::Owned(format!("{}/<token>", segs[..i + 3].join("/")));
        }
    }
    std::borrow::Cow::Borrowed(path)
}

#[cfg(test)]
mod loggable_path_tests {
    use super::loggable_path;

    #[test]
    fn a_token_in_the_path_is_never_shown() {
        assert_eq!(
            loggable_path("auth/token/revoke/s.abc"),
            "auth/token/revoke/<token>"
        );
        assert_eq!(
            loggable_path("team/auth/token/lookup/s.abc/"),
            "team/auth/token/lookup/<token>"
        );
        assert_eq!(
            loggable_path("auth/token/renew-self"),
            "auth/token/renew-self"
        );
        assert_eq!(loggable_path("auth/token/lookup"), "auth/token/lookup");
        assert_eq!(loggable_path("secret/data/app"), "secret/data/app");
    }
}
