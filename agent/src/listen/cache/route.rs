//! Which requests the cache must never store and what they act on: renewals (`sys/leases/renew`,
//! `sys/renew`, `auth/token/renew*`), revocations (`sys/leases/revoke*`, `sys/revoke*`,
//! `auth/token/revoke*`) and response wrapping. A renewal's answer is the same lease, not a new one (storing
//! it as a new entry is how Vault's cache lets leases expire unseen); a revocation evicts what it covers.
//! The operation is found at any segment of the path, so a namespace given in the path
//! (`team/sys/leases/revoke`) is read as Vault reads it.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::key::Meaning;

/// What a renewal or revocation names.
#[derive(Debug)]
pub(super) enum Target {
    /// A lease by id.
    Lease(String),
    /// Every lease under a prefix (`revoke-prefix`, `revoke-force`).
    Prefix(String),
    /// The caller's own token (`renew-self`, `revoke-self`).
    Caller,
    /// A token given in the body (or the path).
    Token(SecretString),
    /// A token by accessor.
    Accessor(String),
}

/// How the cache treats a request.
#[derive(Debug)]
pub(super) enum Route {
    /// A renewal: passed through; on success the held entry's expiry follows the answer. `asked` is the
    /// `increment` asked for, if any.
    Renew(Target, Option<Duration>),
    /// A revocation: passed through; on success what it covers is evicted. `true` for
    /// `auth/token/revoke-orphan`: the token and its leases go, its child tokens stay.
    Revoke(Target, bool),
    /// Never stored (response wrapping, `sys/wrapping/*`, a renewal or revocation that names nothing).
    PassThrough,
    /// May be answered from the cache, and its response stored.
    Cacheable,
}

/// The route of a request meaning `m`.
pub(super) fn route(m: &Meaning) -> Route {
    let segs: Vec<&str> = m.path.trim_end_matches('/').split('/').collect();
    for start in 0..segs.len() {
        if let Some(r) = at(m, &segs[start..]) {
            return r;
        }
    }
    if is_lease_or_token_operation(m) || m.path.starts_with("sys/wrapping/") {
        return Route::PassThrough;
    }
    Route::Cacheable
}

/// The renewal or revocation spelled by `segs` (the path from some segment on), if it is one.
fn at(m: &Meaning, segs: &[&str]) -> Option<Route> {
    let rest = |n: usize| (segs.len() > n).then(|| segs[n..].join("/"));
    let lease = |n: usize| {
        rest(n)
            .or_else(|| m.body_str("lease_id").map(str::to_string))
            .map(Target::Lease)
    };
    let token = |n: usize| {
        rest(n)
            .or_else(|| m.body_str("token").map(str::to_string))
            .map(|t| Target::Token(SecretString::from(t)))
    };
    let accessor = |n: usize| {
        rest(n)
            .or_else(|| m.body_str("accessor").map(str::to_string))
            .map(Target::Accessor)
    };
    let found = match segs {
        ["sys", "leases", "renew", ..] => Route::Renew(lease(3)?, increment(m)),
        ["sys", "renew", ..] => Route::Renew(lease(2)?, increment(m)),
        ["auth", "token", "renew-self"] => Route::Renew(Target::Caller, increment(m)),
        ["auth", "token", "renew-accessor", ..] => Route::Renew(accessor(3)?, increment(m)),
        ["auth", "token", "renew", ..] => Route::Renew(token(3)?, increment(m)),
        ["sys", "leases", "revoke-prefix" | "revoke-force", ..] => {
            Route::Revoke(Target::Prefix(rest(3)?), false)
        }
        ["sys", "revoke-prefix" | "revoke-force", ..] => {
            Route::Revoke(Target::Prefix(rest(2)?), false)
        }
        ["sys", "leases", "revoke", ..] => Route::Revoke(lease(3)?, false),
        ["sys", "revoke", ..] => Route::Revoke(lease(2)?, false),
        ["auth", "token", "revoke-self"] => Route::Revoke(Target::Caller, false),
        ["auth", "token", "revoke-accessor", ..] => Route::Revoke(accessor(3)?, false),
        ["auth", "token", "revoke-orphan", ..] => Route::Revoke(token(3)?, true),
        ["auth", "token", "revoke", ..] => Route::Revoke(token(3)?, false),
        _ => return None,
    };
    Some(found)
}

/// The `increment` of a renewal (seconds, or a duration such as `"1h"`), from the body or the query.
fn increment(m: &Meaning) -> Option<Duration> {
    let v = m.json.as_ref().and_then(|j| j.get("increment"));
    let text = match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => m.param("increment")?.to_string(),
    };
    crate::config::parse_duration(&text)
        .ok()
        .filter(|d| !d.is_zero())
}

/// Whether `m` is a lease operation or a token renewal or revocation, even one that names nothing the
/// cache could act on (no lease id, no token): never stored.
fn is_lease_or_token_operation(m: &Meaning) -> bool {
    let p = m.path.trim_end_matches('/');
    [
        "sys/leases/",
        "sys/renew",
        "sys/revoke",
        "auth/token/renew",
        "auth/token/revoke",
    ]
    .iter()
    .any(|op| p.starts_with(op) || p.contains(&format!("/{op}")))
}

/// Whether the cache must see a request (`path` below `/v1/`): it may answer it or store its answer, or
/// it renews, revokes or writes what the cache holds. Everything else streams past it. `sys/` reads and
/// writes other than lease operations never carry a lease the cache could hold.
pub(crate) fn sees(method: &hyper::Method, path: &str) -> bool {
    let verb = matches!(
        method.as_str(),
        "GET" | "PUT" | "POST" | "DELETE" | "PATCH" | "LIST"
    );
    let p = path.trim_start_matches('/');
    let sys_op = ["sys/leases/", "sys/renew", "sys/revoke"]
        .iter()
        .any(|op| p.starts_with(op));
    verb && (!p.starts_with("sys/") || sys_op)
}
