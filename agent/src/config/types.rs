//! The validated, typed configuration: what the rest of the agent reads. Built from the raw HCL/JSON
//! structs by `config::load`; every value here has already been checked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The whole agent configuration (Vault Agent's `agent.hcl` plus sidekey's extensions).
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The `vault` stanza: where the backend is and how to reach it.
    pub vault: VaultConfig,
    /// The `auto_auth` stanza, if any. Without it a token comes from `BAO_TOKEN`/`VAULT_TOKEN` or
    /// `~/.vault-token`.
    pub auto_auth: Option<AutoAuthConfig>,
    /// Every `template` stanza, in file order.
    pub templates: Vec<TemplateConfig>,
    /// Every `env_template "NAME"` stanza, in file order.
    pub env_templates: Vec<EnvTemplateConfig>,
    /// The `exec` stanza, if any.
    pub exec: Option<ExecConfig>,
    /// The `template_config` stanza (defaults when absent).
    pub template_config: TemplateGlobalConfig,
    /// `exit_after_auth`: authenticate, write the sinks, render every template once, exit (as Vault Agent).
    pub exit_after_auth: bool,
    /// `pid_file`: where to write the agent's pid.
    pub pid_file: Option<PathBuf>,
    /// The `audit` extension stanza (sidekey): where audit events go.
    pub audit: AuditConfig,
    /// `lease_state_file` (sidekey): where leases are recorded so a restart resumes them.
    pub lease_state_file: Option<PathBuf>,
}

/// The `vault` stanza. `BAO_ADDR`/`VAULT_ADDR`, `BAO_CACERT`/`VAULT_CACERT` and
/// `BAO_NAMESPACE`/`VAULT_NAMESPACE` override it.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// `address`: the server's base URL, e.g. `https://127.0.0.1:8200`. Default `https://127.0.0.1:8200`.
    pub address: String,
    /// `ca_cert`: PEM file of CA certificates to trust instead of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// `ca_path`: a directory of PEM CA certificates.
    pub ca_path: Option<PathBuf>,
    /// `client_cert`: PEM client certificate for mutual TLS (also used by the `cert` method).
    pub client_cert: Option<PathBuf>,
    /// `client_key`: PEM key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// `tls_skip_verify`: do not verify the server's certificate (testing only).
    pub tls_skip_verify: bool,
    /// `tls_server_name`: the name to verify the server's certificate against (SNI).
    pub tls_server_name: Option<String>,
    /// `namespace`: sent as `X-Vault-Namespace` on every request.
    pub namespace: Option<String>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            address: "https://127.0.0.1:8200".into(),
            ca_cert: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            tls_skip_verify: false,
            tls_server_name: None,
            namespace: None,
        }
    }
}

/// The `auto_auth` stanza: one method and any number of sinks.
#[derive(Clone, Debug)]
pub struct AutoAuthConfig {
    /// The `method` block.
    pub method: MethodConfig,
    /// Every `sink "file"` block.
    pub sinks: Vec<FileSinkConfig>,
}

/// One `auto_auth { method "<type>" { ... } }` block.
#[derive(Clone, Debug)]
pub struct MethodConfig {
    /// The method and its `config = { ... }` settings.
    pub kind: MethodKind,
    /// `mount_path`: where the auth method is mounted, e.g. `auth/jwt` (default `auth/<type>`).
    pub mount_path: String,
    /// `namespace` of the auth mount, if different from the `vault` one.
    pub namespace: Option<String>,
    /// `min_backoff`: first retry delay after a failed login. Default 1 s.
    pub min_backoff: Duration,
    /// `max_backoff`: cap of the retry delay. Default 5 min.
    pub max_backoff: Duration,
    /// `exit_on_err`: exit when a login fails instead of retrying.
    pub exit_on_err: bool,
}

/// The auth method type and its `config` map, validated.
#[derive(Clone, Debug)]
pub enum MethodKind {
    /// `method "jwt"`: log in with the JWT read from `path` (re-read at every login) as `role`.
    Jwt {
        /// `config.path`: the JWT file.
        path: PathBuf,
        /// `config.role`.
        role: String,
        /// `config.remove_jwt_after_reading` (default false, unlike Vault Agent).
        remove_jwt_after_reading: bool,
    },
    /// `method "kubernetes"`: log in with the service-account token file as `role`.
    Kubernetes {
        /// `config.role`.
        role: String,
        /// `config.token_path` (default `/var/run/secrets/kubernetes.io/serviceaccount/token`).
        token_path: PathBuf,
    },
    /// `method "approle"`: log in with role_id and secret_id read from files.
    AppRole {
        /// `config.role_id_file_path`.
        role_id_file_path: PathBuf,
        /// `config.secret_id_file_path`, if the role requires a secret_id.
        secret_id_file_path: Option<PathBuf>,
        /// `config.remove_secret_id_file_after_reading` (Vault Agent's default: true).
        remove_secret_id_file_after_reading: bool,
    },
    /// `method "cert"`: TLS client-certificate login.
    Cert {
        /// `config.name`: the cert role to log in as (optional).
        name: Option<String>,
        /// `config.client_cert` (falls back to the `vault` stanza's).
        client_cert: Option<PathBuf>,
        /// `config.client_key` (falls back to the `vault` stanza's).
        client_key: Option<PathBuf>,
        /// `config.ca_cert` (falls back to the `vault` stanza's).
        ca_cert: Option<PathBuf>,
    },
    /// `method "token_file"`: use the token in `token_file_path` (re-read when it changes).
    TokenFile {
        /// `config.token_file_path`.
        token_file_path: PathBuf,
    },
}

impl MethodKind {
    /// The method's type name as written in the config (`jwt`, `kubernetes`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Jwt { .. } => "jwt",
            Self::Kubernetes { .. } => "kubernetes",
            Self::AppRole { .. } => "approle",
            Self::Cert { .. } => "cert",
            Self::TokenFile { .. } => "token_file",
        }
    }
}

/// One `sink "file" { config = { path, mode } }` block.
#[derive(Clone, Debug)]
pub struct FileSinkConfig {
    /// `config.path`: where the token is written.
    pub path: PathBuf,
    /// `config.mode`: file permissions (default 0640 as in Vault Agent).
    pub mode: u32,
}

/// Where a template's text comes from.
#[derive(Clone, Debug)]
pub enum TemplateSource {
    /// `source`: a template file.
    File(PathBuf),
    /// `contents`: inline template text.
    Inline(String),
}

/// One `template { ... }` stanza.
#[derive(Clone, Debug)]
pub struct TemplateConfig {
    /// `source` or `contents`.
    pub source: TemplateSource,
    /// `destination`: the rendered file.
    pub destination: PathBuf,
    /// `perms`: the file mode (default 0600, stricter than Vault Agent's 0644).
    pub perms: u32,
    /// `user`: owner (name or uid), if set.
    pub user: Option<String>,
    /// `group`: group (name or gid), if set.
    pub group: Option<String>,
    /// `create_dest_dirs` (default true).
    pub create_dest_dirs: bool,
    /// `command`: run after the file changes; a string is run with `sh -c`, a list as argv.
    pub command: Option<Vec<String>>,
    /// `command_timeout` (default 30 s).
    pub command_timeout: Duration,
    /// `error_on_missing_key`: `None` = sidekey's default (error when printing a missing key).
    pub error_on_missing_key: Option<bool>,
    /// `left_delimiter` (default `{{`).
    pub left_delimiter: String,
    /// `right_delimiter` (default `}}`).
    pub right_delimiter: String,
    /// `wait { min, max }`: quiescence timers before writing.
    pub wait: Option<(Duration, Duration)>,
    /// `backup`: keep the previous file as `<destination>.bak`.
    pub backup: bool,
    /// `allow_non_tmpfs` (sidekey): allow a destination that is not on tmpfs/ramfs.
    pub allow_non_tmpfs: bool,
    /// `function_denylist`: template functions that may not be used.
    pub function_denylist: Vec<String>,
}

/// One `env_template "NAME" { contents = "..." }` stanza: an environment variable for the exec'd child.
#[derive(Clone, Debug)]
pub struct EnvTemplateConfig {
    /// The variable's name.
    pub name: String,
    /// The template text (`contents`).
    pub contents: String,
    /// `error_on_missing_key`, as for files.
    pub error_on_missing_key: Option<bool>,
    /// `left_delimiter` (default `{{`).
    pub left_delimiter: String,
    /// `right_delimiter` (default `}}`).
    pub right_delimiter: String,
}

/// The `exec` stanza.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// `command`: argv of the child (the command line after `--` wins). Empty when the stanza gives none
    /// (then the command line must).
    pub command: Vec<String>,
    /// `restart_on_secret_changes`: `"always"` (default) or `"never"`.
    pub restart_on_secret_changes: bool,
    /// `restart_stop_signal` (default SIGTERM), as a signal number.
    pub restart_stop_signal: i32,
    /// `kill_timeout` (sidekey): how long to wait after the stop signal before SIGKILL. Default 30 s.
    pub kill_timeout: Duration,
}

/// The `template_config` stanza.
#[derive(Clone, Debug)]
pub struct TemplateGlobalConfig {
    /// `exit_on_retry_failure`: exit when fetching a template's secrets fails after retries.
    pub exit_on_retry_failure: bool,
    /// `static_secret_render_interval`: how often KV secrets are re-read. Default 60 s.
    pub static_secret_render_interval: Duration,
    /// `max_connections_per_host`: cap on concurrent backend requests. Default 8.
    pub max_connections_per_host: usize,
    /// `lease_renewal_threshold`: fraction of a lease's life after which it is renewed. Default 2/3.
    pub lease_renewal_threshold: f64,
}

impl Default for TemplateGlobalConfig {
    fn default() -> Self {
        Self {
            exit_on_retry_failure: false,
            static_secret_render_interval: Duration::from_secs(60),
            max_connections_per_host: 8,
            lease_renewal_threshold: 2.0 / 3.0,
        }
    }
}

/// The `audit` extension stanza (sidekey).
#[derive(Clone, Debug, Default)]
pub struct AuditConfig {
    /// `file { path }`: append audit events to this file.
    pub file: Option<PathBuf>,
    /// `stdout {}`: write audit events to stdout (not in exec mode, where stdout is the child's).
    pub stdout: bool,
}

/// Metadata of where a config value came from, for error messages.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

/// Key/value pairs, kept sorted (used for `config = {...}` maps).
pub type Settings = BTreeMap<String, String>;
