//! [`InjectionSpec`] → an RFC 6902 JSON patch on the Pod: the agent containers, their volumes, the secrets
//! volume in the app containers, and the annotations that mark the pod injected and carry the agent config.
//!
//! How the generated config reaches the agent without changing the agent: it is written into two pod
//! annotations ([`CONFIG_ANNOTATION`], [`INIT_CONFIG_ANNOTATION`]) in this same patch, and a `downwardAPI`
//! volume projects them as files (`/sidekey/config/agent.json`, `agent-init.json`). The agent containers run
//! `sidekey run -c <file>` (the image's entrypoint is `sidekey`). No ConfigMap to create or clean up, no
//! shell in the image (vault-k8s decodes a base64 env var with `sh`), and the config stays visible on the pod
//! for debugging (it holds no secret: paths, roles and templates only). With `agent-configmap` the
//! ConfigMap's `config.hcl` / `config-init.hcl` are used unchanged instead, mounted where vault-k8s mounts
//! them (`/vault/configs`).

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
    EmptyDirVolumeSource, EnvVar, ObjectFieldSelector, Pod, ResourceRequirements, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Serialize;
use serde_json::{Value, json};

use crate::annotations::{SERVICE_ACCOUNT_TOKEN_PATH, STATUS};
use crate::config::agent_config;
use crate::spec::{AuthType, InjectionSpec};

/// The pod annotation holding the sidecar's agent config (JSON).
pub const CONFIG_ANNOTATION: &str = "sidekey.io/agent-config";
/// The pod annotation holding the init container's agent config (JSON).
pub const INIT_CONFIG_ANNOTATION: &str = "sidekey.io/agent-init-config";
/// Where the agent containers find their config files.
pub const CONFIG_DIR: &str = "/sidekey/config";
/// The secrets volume (memory-backed, shared by the agents and the app containers).
pub const SECRETS_VOLUME: &str = "vault-secrets";
/// Where the service-account token of `agent-service-account-token-volume-name` is mounted (vault-k8s's path).
pub const TOKEN_VOLUME_DIR: &str = "/var/run/secrets/vault.hashicorp.com/serviceaccount";

const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const CONFIG_VOLUME: &str = "sidekey-config";
const CONFIGMAP_VOLUME: &str = "vault-config";
const CONFIGMAP_DIR: &str = "/vault/configs";
const INIT_NAME: &str = "vault-agent-init";
const SIDECAR_NAME: &str = "vault-agent";

/// The pod cannot be patched as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// `agent-inject-containers` names a container the pod does not have.
    #[error("vault.hashicorp.com/agent-inject-containers: the pod has no container {0:?}")]
    UnknownContainer(String),
    /// `agent-service-account-token-volume-name` names a volume the pod does not have.
    #[error(
        "vault.hashicorp.com/agent-service-account-token-volume-name: the pod has no volume {0:?}"
    )]
    UnknownVolume(String),
    /// The pod has no spec.
    #[error("the pod has no spec")]
    MissingSpec,
}

/// The patch that injects the agent described by `spec` into `pod`, run from `image` (when the pod sets no
/// `agent-image`).
///
/// # Errors
/// [`PatchError`] when the annotations name containers or volumes the pod lacks.
pub fn patch<'a>(
    pod: &'a Pod,
    spec: &InjectionSpec,
    image: &str,
) -> Result<Vec<Value>, PatchError> {
    let pod_spec = pod.spec.as_ref().ok_or(PatchError::MissingSpec)?;
    let mut spec = spec.clone();
    let token_mount = token_mount(pod, &mut spec)?;

    let mut ops = Ops::default();
    // The secrets volume, one mount per distinct mount path (secret-volume-path-<name> may differ).
    let mut mount_paths = vec![spec.secret_volume_path.clone()];
    for s in &spec.secrets {
        if !mount_paths.contains(&s.mount_path) {
            mount_paths.push(s.mount_path.clone());
        }
    }
    let secret_mounts = |read_only: bool| -> Vec<VolumeMount> {
        mount_paths
            .iter()
            .map(|p| VolumeMount {
                name: SECRETS_VOLUME.into(),
                mount_path: p.clone(),
                read_only: read_only.then_some(true),
                ..Default::default()
            })
            .collect()
    };

    // App containers (and init containers named in agent-inject-containers, as vault-k8s does, for init
    // containers that run after the agent's with agent-init-first).
    let mut targets: Vec<(String, &Container)> = Vec::new();
    let inits = pod_spec.init_containers.as_deref().unwrap_or_default();
    match &spec.containers {
        None => targets.extend(
            (pod_spec.containers.iter().enumerate())
                .map(|(i, c)| (format!("/spec/containers/{i}"), c)),
        ),
        Some(names) => {
            for name in names {
                let find = |list: &'a [Container], path: &str| {
                    let i = list.iter().position(|c| &c.name == name)?;
                    Some((format!("{path}/{i}"), list.get(i)?))
                };
                let found = find(&pod_spec.containers, "/spec/containers")
                    .or_else(|| find(inits, "/spec/initContainers"))
                    .ok_or_else(|| PatchError::UnknownContainer(name.clone()))?;
                targets.push(found);
            }
        }
    }
    for (path, container) in &targets {
        let has = container.volume_mounts.is_some();
        ops.append(&format!("{path}/volumeMounts"), has, &secret_mounts(true));
    }

    // Volumes.
    let mut volumes = vec![memory_volume(SECRETS_VOLUME)];
    if spec.pre_populate {
        volumes.push(memory_volume("home-init"));
    }
    if !spec.pre_populate_only {
        volumes.push(memory_volume("home-sidecar"));
    }
    volumes.push(match &spec.configmap {
        Some(name) => Volume {
            name: CONFIGMAP_VOLUME.into(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
        None => config_volume(),
    });
    ops.append("/spec/volumes", pod_spec.volumes.is_some(), &volumes);

    // Agent containers.
    let agent = |name: &str, home: &str, config_file: &str| -> Container {
        let mut mounts = secret_mounts(false);
        mounts.push(VolumeMount {
            name: home.into(),
            mount_path: "/home/vault".into(),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: if spec.configmap.is_some() {
                CONFIGMAP_VOLUME
            } else {
                CONFIG_VOLUME
            }
            .into(),
            mount_path: if spec.configmap.is_some() {
                CONFIGMAP_DIR
            } else {
                CONFIG_DIR
            }
            .into(),
            read_only: Some(true),
            ..Default::default()
        });
        mounts.extend(token_mount.clone());
        agent_container(&spec, image, name, config_file, mounts)
    };
    if spec.pre_populate {
        let file = match &spec.configmap {
            Some(_) => format!("{CONFIGMAP_DIR}/config-init.hcl"),
            None => format!("{CONFIG_DIR}/agent-init.json"),
        };
        let init = agent(INIT_NAME, "home-init", &file);
        match &pod_spec.init_containers {
            Some(_) if spec.init_first => ops.add("/spec/initContainers/0", &init),
            Some(_) => ops.add("/spec/initContainers/-", &init),
            None => ops.add("/spec/initContainers", &[init]),
        }
    }
    if !spec.pre_populate_only {
        let file = match &spec.configmap {
            Some(_) => format!("{CONFIGMAP_DIR}/config.hcl"),
            None => format!("{CONFIG_DIR}/agent.json"),
        };
        ops.add(
            "/spec/containers/-",
            &agent(SIDECAR_NAME, "home-sidecar", &file),
        );
    }

    // Annotations: the configs, then the status that makes a second pass a no-op.
    let has_annotations = pod.metadata.annotations.is_some();
    if !has_annotations {
        ops.add("/metadata/annotations", &json!({}));
    }
    if spec.configmap.is_none() {
        for (key, init) in [(CONFIG_ANNOTATION, false), (INIT_CONFIG_ANNOTATION, true)] {
            let text = agent_config(&spec, init).to_string();
            ops.add(&annotation_path(key), &text);
        }
    }
    ops.add(&annotation_path(STATUS), &"injected");
    Ok(ops.0)
}

/// The agent containers' mount of the service-account token, and the method config that reads it.
fn token_mount(pod: &Pod, spec: &mut InjectionSpec) -> Result<Option<VolumeMount>, PatchError> {
    let token_key = match spec.auth.kind {
        AuthType::Kubernetes => "token_path",
        AuthType::Jwt => "path",
    };
    if let Some(volume) = spec.service_account_token_volume.clone() {
        let exists = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .is_some_and(|v| v.iter().any(|v| v.name == volume));
        if !exists {
            return Err(PatchError::UnknownVolume(volume));
        }
        spec.auth
            .config
            .entry(token_key.into())
            .or_insert_with(|| format!("{TOKEN_VOLUME_DIR}/token"));
        return Ok(Some(VolumeMount {
            name: volume,
            mount_path: TOKEN_VOLUME_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }));
    }
    if spec.auth.kind == AuthType::Jwt {
        spec.auth
            .config
            .entry(token_key.into())
            .or_insert_with(|| SERVICE_ACCOUNT_TOKEN_PATH.into());
    }
    // The ServiceAccount admission plugin ran before this webhook, so added containers get no token mount
    // of their own: copy the app's (as vault-k8s does).
    let all = pod.spec.iter().flat_map(|s| s.containers.iter());
    Ok(all
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .find(|m| m.mount_path == SERVICE_ACCOUNT_DIR)
        .cloned())
}

fn agent_container(
    spec: &InjectionSpec,
    image: &str,
    name: &str,
    config_file: &str,
    mounts: Vec<VolumeMount>,
) -> Container {
    let quantities = |pairs: [(&str, &String); 2]| {
        let map: std::collections::BTreeMap<String, Quantity> = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), Quantity(v.clone())))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let r = &spec.resources;
    let env = spec.vault.namespace.as_ref().map(|ns| {
        vec![EnvVar {
            name: "VAULT_NAMESPACE".into(),
            value: Some(ns.clone()),
            ..Default::default()
        }]
    });
    Container {
        name: name.into(),
        image: Some(spec.image.clone().unwrap_or_else(|| image.to_string())),
        args: Some(vec!["run".into(), "-c".into(), config_file.into()]),
        env,
        volume_mounts: Some(mounts),
        resources: Some(ResourceRequirements {
            limits: quantities([("cpu", &r.limits_cpu), ("memory", &r.limits_mem)]),
            requests: quantities([("cpu", &r.requests_cpu), ("memory", &r.requests_mem)]),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            run_as_user: Some(spec.run_as_user),
            run_as_group: Some(spec.run_as_group),
            run_as_non_root: Some(spec.run_as_user != 0),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn memory_volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn config_volume() -> Volume {
    let item = |annotation: &str, file: &str| DownwardAPIVolumeFile {
        path: file.into(),
        field_ref: Some(ObjectFieldSelector {
            field_path: format!("metadata.annotations['{annotation}']"),
            ..Default::default()
        }),
        ..Default::default()
    };
    Volume {
        name: CONFIG_VOLUME.into(),
        downward_api: Some(DownwardAPIVolumeSource {
            items: Some(vec![
                item(CONFIG_ANNOTATION, "agent.json"),
                item(INIT_CONFIG_ANNOTATION, "agent-init.json"),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `/metadata/annotations/<key>` with the key escaped as a JSON pointer token (RFC 6901).
fn annotation_path(key: &str) -> String {
    format!(
        "/metadata/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// The operations, in order.
#[derive(Default)]
struct Ops(Vec<Value>);

impl Ops {
    fn add(&mut self, path: &str, value: &impl Serialize) {
        // Only k8s-openapi types, strings and JSON values come here: their serialization cannot fail.
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.0
            .push(json!({ "op": "add", "path": path, "value": value }));
    }

    /// Append `items` to the array at `path`, creating it when the pod has none (`exists` false).
    fn append<T: Serialize>(&mut self, path: &str, exists: bool, items: &[T]) {
        if exists {
            for item in items {
                self.add(&format!("{path}/-"), item);
            }
        } else {
            self.add(path, &items);
        }
    }
}
