//! Per-host mode (DESIGN.md §11): `workload "NAME" { match {...} ... }` stanzas, each selecting local
//! callers by what the kernel says about them and giving them their own token, and the systemd
//! `LoadCredential=` socket (`listener "credentials"`).

use std::path::PathBuf;

use super::{MethodConfig, Origin};

/// One `workload "NAME"` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadConfig {
    /// The stanza's label: names the workload in tokens' `meta`, audit events and reports.
    pub name: String,
    /// `match { ... }`: which callers are this workload (every key given must hold).
    pub matcher: CallerMatch,
    /// `policies`: what the workload's token may do (within the role's `allowed_policies`).
    pub policies: Vec<String>,
    /// `token_role`: the token is an orphan created from `auth/token/create/<role>`; without it a child of
    /// the agent's token (which ends with the agent's token).
    pub token_role: Option<String>,
    /// `auto_auth { method "TYPE" { ... } }`: the token is a login with this method of the workload's own
    /// (the method's role decides its policies), not created from the agent's token.
    pub auto_auth: Option<MethodConfig>,
    /// `credential "ID" { ... }` stanzas: what the `LoadCredential=` socket serves this workload's units.
    pub credentials: Vec<CredentialConfig>,
    /// Where the stanza is.
    pub origin: Origin,
}

/// `match { uid gid user group unit cgroup exe sha256 }`: every key given must hold for a caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerMatch {
    /// `uid`: the caller's user id.
    pub uid: Option<u32>,
    /// `gid`: the caller's primary group id.
    pub gid: Option<u32>,
    /// `user`: the caller's user name (looked up when a caller comes, not at start).
    pub user: Option<String>,
    /// `group`: the caller's primary group name.
    pub group: Option<String>,
    /// `unit`: the systemd unit the caller runs in (from its cgroup), e.g. `app-a.service`.
    pub unit: Option<String>,
    /// `cgroup`: a glob over the caller's cgroup path (`*` within a segment, `**` across segments).
    pub cgroup: Option<String>,
    /// `exe`: the caller's executable path.
    pub exe: Option<PathBuf>,
    /// `sha256`: hex digest of the caller's executable.
    pub sha256: Option<String>,
    /// Where the `match` block is.
    pub origin: Origin,
}

/// One `credential "ID" { unit contents }` inside a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialConfig {
    /// The credential id, as in `LoadCredential=ID:/run/sidekey/creds.sock`.
    pub id: String,
    /// `unit`: the unit allowed to load it (`app-a.service`).
    pub unit: String,
    /// `contents`: a template rendered with the workload's token when systemd asks.
    pub contents: String,
    /// Where the stanza is.
    pub origin: Origin,
}

/// `listener "credentials" { address }`: the `LoadCredential=` socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialListener {
    /// `address`: the socket's path.
    pub path: PathBuf,
    /// Where the stanza is.
    pub origin: Origin,
}
