//! Per-host mode (DESIGN.md §11): local callers identified by the kernel, matched to `workload` stanzas,
//! served with their workload's own token; and the systemd `LoadCredential=` socket.
//!
//! - `cgroup`: what a cgroup path says: the systemd unit, the container id, the Kubernetes pod UID.
//! - `peer`: what the kernel says about a unix-socket peer (`SO_PEERCRED`, pinned against pid reuse by
//!   `SO_PEERPIDFD`), its cgroup, unit, container, executable.
//! - `select`: which workload a caller is (exactly one, or a refusal naming why); overlapping matches.
//! - `tokens`: each workload's token, created from a token role or as a child of the agent's token, and
//!   renewed by the lease engine.
//! - `credentials`: `listener "credentials"`: systemd connects as uid 0 from an abstract address naming
//!   the unit and the credential id, and reads the rendered credential to EOF.
//! - `published`: the workloads compiled for those two, as the lease engine publishes them (a reload
//!   replaces them).

use std::path::PathBuf;

use crate::audit::CallerMeta;

pub(crate) mod cgroup;
pub mod credentials;
pub mod peer;
mod published;
pub mod select;
pub mod tokens;

pub use published::Workloads;

/// What the kernel says about a local caller, read once per connection and pinned against pid reuse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The peer's process id (in sidekey's pid namespace).
    pub pid: i32,
    /// The peer's user id.
    pub uid: u32,
    /// The peer's primary group id.
    pub gid: u32,
    /// `/proc/<pid>/exe`, when readable.
    pub exe: Option<PathBuf>,
    /// Hex SHA-256 of the executable: read only when some workload matches on `sha256`.
    pub sha256: Option<String>,
    /// Why `sha256` was not taken when it was asked for (the file is too big, or unreadable).
    pub sha256_unread: Option<String>,
    /// The cgroup path (`0::` line, or the hybrid `name=systemd` one when the v2 line is `/`).
    pub cgroup: Option<String>,
    /// The systemd unit (the last `.service`/`.scope` segment of the cgroup that is not a container's).
    pub unit: Option<String>,
    /// The container id, from a runtime's scope (`cri-containerd-<id>.scope`, `docker-<id>.scope`, …).
    pub container_id: Option<String>,
    /// The Kubernetes pod UID, from a `kubepods…pod<uid>` segment (`_` read as `-`).
    pub pod_uid: Option<String>,
}

/// Whether `c` may appear in a systemd unit name (letters, digits and `:-_.\\@`): what the config's
/// `unit` keys and the `LoadCredential=` peer's address are both checked against.
pub(crate) fn is_unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\@".contains(c)
}

impl Caller {
    /// The caller block of an audit event, naming `workload` when it was matched to one.
    pub fn meta(&self, workload: Option<&str>) -> CallerMeta {
        CallerMeta {
            pid: Some(self.pid),
            uid: Some(self.uid),
            gid: Some(self.gid),
            exe: self.exe.as_ref().map(|p| p.display().to_string()),
            unit: self.unit.clone(),
            container_id: self.container_id.clone(),
            pod_uid: self.pod_uid.clone(),
            workload: workload.map(str::to_string),
            ..CallerMeta::default()
        }
    }
}
