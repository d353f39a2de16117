//! KV v2 path rewriting: the API path called for a request on a KV v2 mount, which paths are called
//! before the mount is known, and the KV version a read returns.

use serde_json::Value;

use crate::backend::MountInfo;
use crate::backend::secret::{Operation, Secret, SecretRequest};

/// Endpoint names, below a mount, that the KV v2 rewrite leaves alone (`data`, `metadata`) or that name
/// dynamic credentials (`creds`, `static-creds`, `sts`: database, cloud and Consul/Nomad engines), which no
/// KV path uses in practice. A wrong guess costs one discarded call, never a wrong secret.
const AS_WRITTEN_SEGMENTS: &[&str] = &["data", "metadata", "creds", "static-creds", "sts"];

/// Whether `path` is almost surely called as written: one of [`AS_WRITTEN_SEGMENTS`] below its first
/// segment. Other paths (`secret/app/db`) are looked up first, so a KV v2 mount never sees a call for the
/// path as written (a refusal there would be noise in the server's audit log).
pub(super) fn likely_as_written(path: &str) -> bool {
    let mut segments = path.trim_matches('/').split('/');
    segments.next();
    let mut rest: Vec<&str> = segments.collect();
    // The last segment is a key or role name, whatever it is called.
    rest.pop();
    rest.iter().any(|s| AS_WRITTEN_SEGMENTS.contains(s))
}

pub(super) fn path_under(path: &str, mount: &str) -> bool {
    let mount = mount.trim_end_matches('/');
    path == mount
        || path
            .strip_prefix(mount)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The API path for `req`: for a KV v2 mount, `<mount>/data/<rest>` for reads and `<mount>/metadata/<rest>`
/// for lists, unless the path already says `data/` or `metadata/` (consul-template's rule).
pub fn api_path(req: &SecretRequest, mount: Option<&MountInfo>) -> String {
    let Some(m) = mount.filter(|m| m.kv_version == Some(2)) else {
        return req.path.clone();
    };
    let mount_path = m.path.trim_end_matches('/');
    let rest = req
        .path
        .strip_prefix(mount_path)
        .unwrap_or(&req.path)
        .trim_start_matches('/');
    if rest.starts_with("data/")
        || rest.starts_with("metadata/")
        || rest == "data"
        || rest == "metadata"
    {
        return req.path.clone();
    }
    let prefix = if req.op == Operation::List {
        "metadata"
    } else {
        "data"
    };
    if rest.is_empty() {
        format!("{mount_path}/{prefix}")
    } else {
        format!("{mount_path}/{prefix}/{rest}")
    }
}

/// The KV v2 version from a read's `data.metadata.version`.
pub fn kv_version(s: &Secret) -> Option<u64> {
    s.data
        .0
        .get("metadata")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv2() -> MountInfo {
        MountInfo {
            path: "secret/".into(),
            kind: "kv".into(),
            kv_version: Some(2),
        }
    }

    #[test]
    fn kv2_paths_are_rewritten_like_consul_template() {
        assert_eq!(
            api_path(&SecretRequest::read("secret/app/db"), Some(&kv2())),
            "secret/data/app/db"
        );
        assert_eq!(
            api_path(&SecretRequest::read("secret/data/app/db"), Some(&kv2())),
            "secret/data/app/db"
        );
        assert_eq!(
            api_path(&SecretRequest::list("secret/app"), Some(&kv2())),
            "secret/metadata/app"
        );
        assert_eq!(api_path(&SecretRequest::read("kv/app"), None), "kv/app");
        let kv1 = MountInfo {
            kv_version: Some(1),
            ..kv2()
        };
        assert_eq!(
            api_path(&SecretRequest::read("secret/app"), Some(&kv1)),
            "secret/app"
        );
    }

    #[test]
    fn only_endpoint_shaped_paths_are_called_before_the_lookup() {
        assert!(likely_as_written("secret/data/app/config"));
        assert!(likely_as_written("database/creds/app"));
        assert!(likely_as_written("team/db/static-creds/app"));
        assert!(!likely_as_written("secret/app/config"));
        assert!(!likely_as_written("kv/app"));
        assert!(!likely_as_written("secret/creds"));
    }

    #[test]
    fn mount_prefix_matches_whole_segments() {
        assert!(path_under("secret/app", "secret/"));
        assert!(!path_under("secretive/app", "secret/"));
    }
}
