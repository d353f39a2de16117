//! Who asked: the caller block of an API proxy request, the credential block of a `LoadCredential=` one.

use serde::Serialize;

/// Who called the API proxy: the peer's address (tcp) or the kernel's word on the peer process (unix
/// socket, `SO_PEERCRED`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CallerMeta {
    /// The peer's address and port (tcp).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The peer's process id (unix socket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The peer's user id (unix socket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The peer's group id (unix socket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// The peer's executable (`/proc/<pid>/exe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// The systemd unit the peer runs in (from its cgroup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The container the peer runs in (from its cgroup: containerd, CRI-O, Docker, Podman scopes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The Kubernetes pod the peer runs in (from its cgroup: `kubepods…pod<uid>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// The workload the peer was matched to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The accessor of the workload's token the request went with (joins the server's audit log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_accessor: Option<String>,
    /// A caller matched to a workload sent its own token, and the request went with it (not the
    /// workload's: no `token_accessor` then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub own_token: bool,
}

/// A credential asked for through the `LoadCredential=` socket.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CredentialMeta {
    /// The unit systemd loads it for (from the peer's abstract address).
    pub unit: String,
    /// The credential id.
    pub id: String,
}
