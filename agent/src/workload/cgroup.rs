//! What a process's cgroup says about it: the systemd unit it runs in, and the container and Kubernetes
//! pod it belongs to. Pure parsing of `/proc/<pid>/cgroup` text; the kernel reads are in `peer`.
//!
//! Layouts read (systemd and cgroupfs drivers of the common runtimes):
//! - systemd units: `/system.slice/app-a.service`, user units
//!   `/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service`, scopes `session-3.scope`.
//! - container scopes: `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`,
//!   `libpod-<id>.scope` (their `conmon-` monitor scopes are the runtime's, neither a unit nor a container).
//! - Kubernetes with the systemd driver: `kubepods-burstable-pod<uid with _>.slice`; with cgroupfs:
//!   `/kubepods/burstable/pod<uid>/<64 hex container id>`; Docker with cgroupfs: `/docker/<64 hex>`.

/// The prefixes of container runtimes' scopes (`<prefix><container id>.scope`).
const RUNTIME_SCOPES: [&str; 4] = ["cri-containerd-", "crio-", "docker-", "libpod-"];

/// What a cgroup path says about the processes in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// The innermost systemd unit (`.service` or `.scope`) that is not a container runtime's scope.
    pub unit: Option<String>,
    /// The container id, from a runtime's scope or a cgroupfs layout.
    pub container_id: Option<String>,
    /// The Kubernetes pod UID, dashed.
    pub pod_uid: Option<String>,
}

/// The cgroup path in the text of a `/proc/<pid>/cgroup` file: the cgroup v2 line (`0::PATH`), or, when
/// that is the root or absent (hybrid hierarchies, where systemd keeps its tree in v1), the
/// `N:name=systemd:PATH` line.
pub fn path_of(proc_cgroup: &str) -> Option<&str> {
    let mut unified = None;
    let mut systemd = None;
    for line in proc_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            unified = Some(path);
        } else if controllers.split(',').any(|c| c == "name=systemd") {
            systemd = Some(path);
        }
    }
    match unified {
        Some(path) if path != "/" => Some(path),
        _ => systemd.or(unified),
    }
}

/// The unit, container and pod a cgroup path names (each absent when the path does not say).
pub fn placement(path: &str) -> Placement {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let in_kubepods = segments.iter().any(|s| s.starts_with("kubepods"));
    let mut found = Placement::default();
    for (i, segment) in segments.iter().enumerate() {
        if let Some(scope) = runtime_scope(segment) {
            if let Some(id) = scope {
                found.container_id = Some(id.to_string());
            }
        } else if segment.ends_with(".service") || segment.ends_with(".scope") {
            found.unit = Some((*segment).to_string());
        } else if let Some(uid) = pod_slice(segment) {
            found.pod_uid = Some(uid);
        } else if let Some(uid) = segment.strip_prefix("pod").filter(|_| in_kubepods) {
            if is_pod_uid(uid) {
                found.pod_uid = Some(uid.to_string());
            }
        } else if is_container_hash(segment) && i > 0 && cgroupfs_parent(segments[i - 1]) {
            found.container_id = Some((*segment).to_string());
        }
    }
    found
}

/// For a container runtime's scope, `Some(container id)`, or `Some(None)` for its monitor's
/// (`conmon-`) scope; `None` for any other segment.
fn runtime_scope(segment: &str) -> Option<Option<&str>> {
    let stem = segment.strip_suffix(".scope")?;
    let id = RUNTIME_SCOPES
        .iter()
        .find_map(|p| stem.strip_prefix(p))
        .filter(|id| !id.is_empty())?;
    Some((!id.starts_with("conmon-")).then_some(id))
}

/// The pod UID in a systemd-driver pod slice (`kubepods-burstable-pod<uid>.slice`,
/// `kubelet-kubepods-pod<uid>.slice`), where systemd's escaping turned the UID's dashes into `_`.
fn pod_slice(segment: &str) -> Option<String> {
    let stem = segment.strip_suffix(".slice")?;
    let (prefix, uid) = stem.rsplit_once("-pod")?;
    (prefix.contains("kubepods") && is_pod_uid(uid)).then(|| uid.replace('_', "-"))
}

/// A pod UID as cgroup paths spell it: a UUID (dashed or with `_`), or a static pod's hex config hash.
fn is_pod_uid(s: &str) -> bool {
    s.len() >= 8
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_')
}

/// A container id in a cgroupfs layout: 64 lowercase hex digits.
fn is_container_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether a cgroupfs directory holds containers named by their id: Docker's `docker`, or a kubelet
/// pod directory (`pod<uid>`).
fn cgroupfs_parent(segment: &str) -> bool {
    segment == "docker" || segment.strip_prefix("pod").is_some_and(is_pod_uid)
}

#[cfg(test)]
mod tests;
