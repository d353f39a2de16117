//! The injection spec: what a pod's `vault.hashicorp.com/*` annotations ask for, typed and with vault-k8s's
//! defaults applied. Built by [`crate::annotations::parse`]; read by [`crate::config`] and [`crate::patch`].

use std::collections::BTreeMap;

/// Where vault-k8s mounts the secrets volume in the app containers (`secret-volume-path` default).
pub const DEFAULT_SECRET_VOLUME_PATH: &str = "/vault/secrets";

/// Everything needed to build the agent configs and the pod patch.
#[derive(Clone, Debug, PartialEq)]
pub struct InjectionSpec {
    /// How the agent reaches the server (`service`, `ca-cert`, `tls-*`, `namespace`, ...).
    pub vault: VaultSpec,
    /// The auto-auth method (`auth-type`, `auth-path`, `role`, `auth-config-*`).
    pub auth: AuthSpec,
    /// One entry per `agent-inject-secret-<name>` / `agent-inject-template-<name>`, sorted by raw name.
    pub secrets: Vec<SecretSpec>,
    /// `agent-inject-default-template`: how a secret without a template is rendered.
    pub default_template: DefaultTemplate,
    /// `secret-volume-path`: mount path of the secrets volume (default `/vault/secrets`).
    pub secret_volume_path: String,
    /// `agent-pre-populate` (default true): add the init container.
    pub pre_populate: bool,
    /// `agent-pre-populate-only` (default false): add no sidecar.
    pub pre_populate_only: bool,
    /// `agent-init-first` (default false): the init container runs before the pod's other init containers.
    pub init_first: bool,
    /// `agent-inject-containers`: the app containers that get the secrets volume (`None`: all).
    pub containers: Option<Vec<String>>,
    /// `agent-image` (`None`: the injector's `--agent-image`).
    pub image: Option<String>,
    /// `agent-run-as-user` (default 100).
    pub run_as_user: i64,
    /// `agent-run-as-group` (default 1000).
    pub run_as_group: i64,
    /// `agent-limits-*` / `agent-requests-*`.
    pub resources: ResourceSpec,
    /// `agent-configmap`: a ConfigMap with `config.hcl` / `config-init.hcl` used instead of a generated config.
    pub configmap: Option<String>,
    /// `agent-inject-token`: also write the agent's token to `<secret-volume-path>/token`.
    pub inject_token: bool,
    /// `template-static-secret-render-interval`, passed through as given (a Go duration).
    pub static_secret_render_interval: Option<String>,
    /// `template-config-exit-on-retry-failure` (default true, as vault-k8s).
    pub exit_on_retry_failure: bool,
    /// `agent-service-account-token-volume-name`: a projected token volume the agent uses instead of the
    /// default service-account token.
    pub service_account_token_volume: Option<String>,
    /// `agent-revoke-on-shutdown`: the sidecar revokes its token and leases when it stops.
    pub revoke_on_shutdown: bool,
    /// Annotations recognised but not implemented (or unknown): one admission warning each.
    pub warnings: Vec<String>,
}

/// The `vault` stanza.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VaultSpec {
    /// `service`: the server's URL.
    pub address: String,
    /// `ca-cert`: CA certificate file in the agent container.
    pub ca_cert: Option<String>,
    /// `ca-key`: vault-k8s writes it as `ca_path` (a directory of CA certificates).
    pub ca_path: Option<String>,
    /// `client-cert`: client certificate file for TLS to the server.
    pub client_cert: Option<String>,
    /// `client-key`: its key file.
    pub client_key: Option<String>,
    /// `tls-skip-verify`.
    pub tls_skip_verify: bool,
    /// `tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `namespace`: the server namespace (method `namespace` and `VAULT_NAMESPACE`).
    pub namespace: Option<String>,
}

/// The auto-auth method.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthSpec {
    /// `auth-type`.
    pub kind: AuthType,
    /// `auth-path`: the method's mount path (default `auth/kubernetes`).
    pub mount_path: String,
    /// The method's `config` map: `auth-config-<key>` (dashes become underscores), `role`, `token_path`.
    pub config: BTreeMap<String, String>,
}

/// The auto-auth method types the injector supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthType {
    /// `kubernetes` (vault-k8s's default): logs in with the pod's service-account token.
    Kubernetes,
    /// `jwt`: logs in with a JWT file (`auth-config-path`, default the service-account token).
    Jwt,
}

impl AuthType {
    /// The name in the agent config (`auto_auth.method.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Kubernetes => "kubernetes",
            AuthType::Jwt => "jwt",
        }
    }
}

/// One rendered file.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretSpec {
    /// The name after `agent-inject-secret-` (lower-cased unless `preserve-secret-case`): the file name.
    pub name: String,
    /// `agent-inject-secret-<name>`: the secret path (empty when only a template is given).
    pub path: String,
    /// `agent-inject-template-<name>`: the template text.
    pub template: Option<String>,
    /// `agent-inject-file-<name>`: the file name (and sub-path) inside the mount path.
    pub file: Option<String>,
    /// `agent-inject-perms-<name>`: octal file mode as given (e.g. `0400`).
    pub perms: Option<String>,
    /// `agent-inject-command-<name>`: a shell command run after each render.
    pub command: Option<String>,
    /// `error-on-missing-key-<name>`.
    pub error_on_missing_key: bool,
    /// `secret-volume-path-<name>` (default: the pod's `secret-volume-path`).
    pub mount_path: String,
}

/// `agent-inject-default-template`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultTemplate {
    /// `map` (default): one `key: value` line per field of `.Data`.
    Map,
    /// `json`: `.Data` as JSON.
    Json,
}

/// Requests and limits of the agent containers (Kubernetes quantities, e.g. `250m`, `64Mi`).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceSpec {
    /// `agent-limits-cpu` (default `500m`; empty: no limit).
    pub limits_cpu: String,
    /// `agent-limits-mem` (default `128Mi`).
    pub limits_mem: String,
    /// `agent-requests-cpu` (default `250m`).
    pub requests_cpu: String,
    /// `agent-requests-mem` (default `64Mi`).
    pub requests_mem: String,
}

impl Default for ResourceSpec {
    fn default() -> Self {
        Self {
            limits_cpu: "500m".into(),
            limits_mem: "128Mi".into(),
            requests_cpu: "250m".into(),
            requests_mem: "64Mi".into(),
        }
    }
}
