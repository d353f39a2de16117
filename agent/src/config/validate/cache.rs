//! `cache { ... }`: the API proxy's cache (typed into [`CacheConfig`]). `use_auto_auth_token` is the
//! proxy's setting in Vault's older spelling (`api_proxy`'s wins when both are given), and `persist` is
//! the state file (`super::persist`).

use super::{Located, unserved};
use crate::config::field::Field;
use crate::config::node::Problem;
use crate::config::section::Section;
use crate::config::types::{AutoAuthToken, CacheConfig, PersistConfig};

/// Every key of `cache`: Vault Agent's, and sidekey's `static_secret_ttl`.
pub(super) const KEYS: &[&str] = &[
    "use_auto_auth_token",
    "enforce_consistency",
    "when_inconsistent",
    "cache_static_secrets",
    "disable_caching_dynamic_secrets",
    "static_secret_token_capability_refresh_interval",
    "static_secret_token_capability_refresh_behavior",
    "static_secret_ttl",
    "persist",
];

/// Vault's keys of `cache` that sidekey accepts without acting on them, and what it does instead.
const IGNORED: &[(&str, &str)] = &[
    (
        "enforce_consistency",
        "ignored here: give it in api_proxy, where Vault Agent reads it since 1.14",
    ),
    (
        "when_inconsistent",
        "ignored here: give it in api_proxy, where Vault Agent reads it since 1.14",
    ),
    (
        "static_secret_token_capability_refresh_interval",
        "ignored: sidekey checks a token's access to a cached static secret with that token itself, \
         every static_secret_ttl",
    ),
    (
        "static_secret_token_capability_refresh_behavior",
        "ignored: a token whose check fails is never served the cached secret (it gets the server's answer)",
    ),
];

/// Read the `cache` block.
pub(super) fn cache(
    mut s: Section<'_>,
    warnings: &mut Vec<Problem>,
    token_users: &mut Vec<Located<&'static str>>,
    persist: &mut Option<Located<PersistConfig>>,
    token: &mut Option<Located<AutoAuthToken>>,
) -> Result<CacheConfig, Problem> {
    *token = unserved::auto_auth_token_user(&mut s, "cache.use_auto_auth_token", token_users)?;
    let d = CacheConfig::default();
    let statics = s.get("cache_static_secrets", Field::bool)?.unwrap_or(false);
    let ttl = match s.field("static_secret_ttl")? {
        Some(f) => {
            let ttl = f.duration()?;
            if ttl.is_zero() {
                return Err(f.problem("must be more than 0"));
            }
            if !statics {
                return Err(f.problem("has no effect without cache_static_secrets = true"));
            }
            ttl
        }
        None => d.static_secret_ttl,
    };
    let no_dynamic = match s.field("disable_caching_dynamic_secrets")? {
        Some(f) => {
            let off = f.bool()?;
            if off && !statics {
                return Err(f.problem(
                    "with cache_static_secrets off too, nothing would be cached: set \
                     cache_static_secrets = true, or remove the cache stanza",
                ));
            }
            off
        }
        None => false,
    };
    for (key, why) in IGNORED {
        if let Some(f) = s.field(key)? {
            warnings.push(f.problem(why));
        }
    }
    if let Some(p) = super::persist::from_cache(&mut s, warnings)? {
        if persist.is_some() {
            return Err(Problem::new(
                p.1,
                "cache.persist: given twice; give it once",
            ));
        }
        *persist = Some(p);
    }
    s.finish(&[])?;
    Ok(CacheConfig {
        cache_static_secrets: statics,
        static_secret_ttl: ttl,
        disable_caching_dynamic_secrets: no_dynamic,
    })
}
