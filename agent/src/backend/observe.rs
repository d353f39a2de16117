//! What the client tells the audit trail itself: the requests no caller records an event for (mount
//! lookups, lookup-self, lease checks, token revocations, wraps) and its moves to another node. The
//! client reports through an [`Observer`] (the auditor), so that every request sidekey makes has an
//! event without one at each call site.

use std::sync::Arc;

use secrecy::SecretString;

/// Why the agent makes a request that no other event records: the `purpose` of its `backend.request`
/// event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `sys/internal/ui/mounts/<path>`: which engine (and KV version) serves a path.
    MountLookup,
    /// `auth/token/lookup-self`: a token's TTL and accessor, or whether it still exists.
    LookupSelf,
    /// `sys/leases/lookup`: whether a lease still exists.
    LeaseLookup,
    /// `auth/token/revoke-self`: a token the agent no longer needs.
    TokenRevoke,
    /// `sys/wrapping/wrap`: the token wrapped for a sink.
    Wrap,
    /// A KV v2 secret's `metadata/` read: the cache checks that a stored version is still current.
    KvMetadata,
    /// A read of the path as written, made alongside its mount lookup and discarded because the mount
    /// says the path must be rewritten (KV v2).
    PathGuess,
    /// A call whose caller stopped waiting for the answer (the agent shut down while it was on the
    /// wire), whatever it was for: the event its caller would have written (`secret.read`, ...) never
    /// is, and the server may or may not have seen it.
    Unanswered,
}

impl Purpose {
    /// The name in the event (`backend.purpose`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MountLookup => "mount_lookup",
            Self::LookupSelf => "lookup_self",
            Self::LeaseLookup => "lease_lookup",
            Self::TokenRevoke => "token_revoke",
            Self::Wrap => "wrap",
            Self::KvMetadata => "kv_metadata",
            Self::PathGuess => "path_guess",
            Self::Unanswered => "unanswered",
        }
    }
}

/// How a path is shown in an event: secret values a template built into it taken out.
pub type Shown<'a> = &'a (dyn Fn(&str) -> String + Sync);

/// A token and its accessor: what a request the client reports itself is made with. The event names
/// the accessor, never the token.
#[derive(Clone, Copy)]
pub struct Bearer<'a> {
    /// The token sent.
    pub token: &'a SecretString,
    /// Its accessor; empty when the caller does not know it (a lookup-self answer then tells it).
    pub accessor: &'a str,
    /// How the request's path is shown in its event (as it is, when `None`).
    pub shown: Option<Shown<'a>>,
}

impl<'a> Bearer<'a> {
    /// `token`, whose accessor is `accessor` (empty: not known).
    pub fn new(token: &'a SecretString, accessor: &'a str) -> Self {
        Self {
            token,
            accessor,
            shown: None,
        }
    }

    /// The request's path shown through `shown` in its event (a path a template built from secret data).
    #[must_use]
    pub fn showing(self, shown: Shown<'a>) -> Self {
        Self {
            shown: Some(shown),
            ..self
        }
    }

    /// `path` as its event shows it: a token in it as `<token>`, and through [`Bearer::showing`]'s rule.
    pub fn show(&self, path: &str) -> String {
        let path = super::loggable_path(path.trim_start_matches('/'));
        match self.shown {
            Some(f) => f(&path),
            None => path.into_owned(),
        }
    }
}

impl std::fmt::Debug for Bearer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bearer")
            .field("accessor", &self.accessor)
            .finish_non_exhaustive()
    }
}

/// One request made for a [`Purpose`], as the observer learns of it: never a token or a body.
pub struct Exchange<'a> {
    /// The configured address of the node that answered (or failed last).
    pub node: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The API path below `/v1/`, a token in it shown as `<token>`.
    pub path: &'a str,
    /// Why it was made.
    pub purpose: Purpose,
    /// The accessor of the token it was made with (empty: not known).
    pub accessor: &'a str,
    /// The server's `request_id`, when the answer had one.
    pub request_id: Option<&'a str>,
    /// The failure, if it failed (a [`super::BackendError`], or the call abandoned).
    pub error: Option<&'a dyn std::fmt::Display>,
}

/// Where the client reports what no caller records (the auditor).
pub trait Observer: Send + Sync {
    /// A request made for a purpose, once answered (or failed on every node), or any request abandoned
    /// on the wire.
    fn request(&self, x: &Exchange<'_>);
    /// The client moved from node `previous` to node `node` (both as configured).
    fn failover(&self, node: &str, previous: &str);
}

/// The client's observer, if any (`Debug` for the client's sake; it shows nothing).
#[derive(Clone, Default)]
pub(super) struct Observed(pub(super) Option<Arc<dyn Observer>>);

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observed"
        } else {
            "Unobserved"
        })
    }
}
