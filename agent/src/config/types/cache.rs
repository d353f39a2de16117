//! The API proxy's cache (`cache {}`, DESIGN.md §10): what it stores and how long a static secret is
//! served before it is checked again. `use_auto_auth_token` (also accepted here, as in Vault Agent) is the
//! proxy's setting, and `persist` the persistence's: neither is typed here.

use std::time::Duration;

/// How long a cached KV secret is served before it is checked against the server again, by default.
pub const DEFAULT_STATIC_SECRET_TTL: Duration = Duration::from_secs(30);

/// The `cache` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// `cache_static_secrets`: also cache KV (v1 and v2) reads, which carry no lease (Vault Proxy's key;
    /// open-source Vault Agent has no such cache).
    pub cache_static_secrets: bool,
    /// `static_secret_ttl` (sidekey): how long a cached KV read is served before its version is checked
    /// again (a metadata read, or a re-read for KV v1) with the token that asks. Default 30 s.
    pub static_secret_ttl: Duration,
    /// `disable_caching_dynamic_secrets`: cache neither leases nor tokens, only static secrets.
    pub disable_caching_dynamic_secrets: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            cache_static_secrets: false,
            static_secret_ttl: DEFAULT_STATIC_SECRET_TTL,
            disable_caching_dynamic_secrets: false,
        }
    }
}
