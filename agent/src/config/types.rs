//! The validated, typed configuration: what the rest of the agent reads. Built from the raw HCL/JSON
//! structs by `config::load`; every value here has already been checked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

mod audit_sinks;
mod auth;
mod cache;
mod listener;
mod logging;
mod persist;
mod template;
mod workload;

pub use audit_sinks::*;
pub use auth::*;
pub use cache::*;
pub use listener::*;
pub use logging::*;
pub use persist::*;
pub use template::*;
pub use workload::*;

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
    /// `disable_mlock`: do not lock the agent's memory (`mlockall`), as in Vault Agent.
    pub disable_mlock: bool,
    /// `lease_check_interval` (sidekey): how often the lease engine looks up the token and the leases it
    /// holds, to replace at once what was revoked on the server.
    pub lease_check_interval: LeaseCheck,
    /// `reload_on_config_change` (sidekey): reload when a config file changes on disk, not only on SIGHUP
    /// (a config in a Kubernetes `..data` mount always does).
    pub reload_on_config_change: bool,
    /// The `audit` extension stanza (sidekey): where audit events go.
    pub audit: AuditConfig,
    /// The state file a restart resumes the token and leases from: `cache { persist ... }` or
    /// `lease_state_file` (sidekey), one store either way.
    pub persist: Option<PersistConfig>,
    /// `listener "admin" { address }` (sidekey): where `/healthz`, `/readyz` and `/metrics` are served.
    pub admin_listener: Option<AdminListener>,
    /// The `cache` stanza: the API proxy caches leased responses (and, opted in, KV reads).
    pub cache: Option<CacheConfig>,
    /// Every `listener "tcp"` / `listener "unix"` (the API proxy), in file order.
    pub listeners: Vec<ApiListener>,
    /// `api_proxy` (with `cache { use_auto_auth_token }` folded in).
    pub api_proxy: ApiProxyConfig,
    /// Every `workload "NAME"` stanza (per-host mode): with any, every unix listener serves per caller.
    pub workloads: Vec<WorkloadConfig>,
    /// `listener "credentials"`: the systemd `LoadCredential=` socket.
    pub credential_listener: Option<CredentialListener>,
    /// `log_level`: `trace`, `debug`, `info` (default), `warn` or `error`. `SIDEKEY_LOG`/`RUST_LOG` win.
    pub log_level: Option<String>,
    /// `log_format`: `text` (default) or `json` (one JSON object per line on stderr and in `log_file`).
    pub log_format: LogFormat,
    /// `log_file` and `log_rotate_*`: logs also go to this file, rotated as Vault Agent rotates it.
    pub log_file: Option<LogFileConfig>,
    /// `disable_idle_connections`: the parts that close each backend connection once it is idle.
    pub disable_idle_connections: Parts,
    /// `disable_keep_alives`: the parts that use one backend connection per request.
    pub disable_keep_alives: Parts,
    /// What loaded but is not served or has no effect (Vault Agent's API proxy, cache, telemetry, ...),
    /// in file order: logged at startup and printed by `sidekey check`.
    pub warnings: Vec<ConfigWarning>,
}

/// A Vault Agent setting sidekey accepts but does not act on (see DESIGN.md §4): where it is and what is
/// not served. Displays as `agent.hcl:12: cache: ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line of the stanza or key.
    pub line: usize,
    /// The key path and what sidekey does not do, e.g. `cache: not served (...)`.
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// `lease_check_interval`: the period of the revocation check, or `None` when it is turned off (`0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseCheck(pub Option<Duration>);

impl LeaseCheck {
    /// The default period: 5 minutes, so that a fleet's steady load on the server barely grows.
    pub const DEFAULT: Duration = Duration::from_secs(300);
}

impl Default for LeaseCheck {
    fn default() -> Self {
        Self(Some(Self::DEFAULT))
    }
}

/// Where the admin listener binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminListener {
    /// `address = "127.0.0.1:8300"`: a TCP socket address.
    Tcp(std::net::SocketAddr),
    /// `address = "unix:/run/sidekey/admin.sock"` (or an absolute path): a unix socket.
    Unix(PathBuf),
}

/// The `vault` stanza. `BAO_ADDR`/`VAULT_ADDR`, `BAO_CACERT`/`VAULT_CACERT` and
/// `BAO_NAMESPACE`/`VAULT_NAMESPACE` override it.
#[derive(Clone, Debug, PartialEq)]
pub struct VaultConfig {
    /// `address`: the server's base URL, e.g. `https://127.0.0.1:8200`. Default `https://127.0.0.1:8200`.
    pub address: String,
    /// `addresses`: the cluster's other nodes, tried in this order after `address` (normalized, without
    /// duplicates of `address` or of each other). A sidekey key; `BAO_ADDR` replaces the whole set.
    pub addresses: Vec<String>,
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
    /// `retry { num_retries }` (or `BAO_MAX_RETRIES`/`VAULT_MAX_RETRIES`): how often a failing request
    /// is retried; `None` (unset, or `0` as Vault reads it) leaves sidekey's default, `Some(0)` (`-1`)
    /// turns retries off.
    pub num_retries: Option<u32>,
    /// `BAO_CLIENT_TIMEOUT`/`VAULT_CLIENT_TIMEOUT`: the most one request may take in all, its answer's
    /// body included (default [`DEFAULT_CLIENT_TIMEOUT`], as Vault's).
    pub client_timeout: Duration,
}

/// Vault's default client timeout: 60 s per request.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

impl VaultConfig {
    /// `num_retries` as Vault reads it: `0` means the default, a negative number no retries.
    pub fn retries_from(num_retries: i64) -> Option<u32> {
        match num_retries {
            0 => None,
            n if n < 0 => Some(0),
            n => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            address: "https://127.0.0.1:8200".into(),
            addresses: Vec::new(),
            ca_cert: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            tls_skip_verify: false,
            tls_server_name: None,
            namespace: None,
            num_retries: None,
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
        }
    }
}

/// The `exec` stanza.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// `command`: argv of the child (the command line after `--` wins). Empty when the stanza gives none
    /// (then the command line must).
    pub command: Vec<String>,
    /// `restart_stop_signal` (default SIGTERM), as a signal number.
    pub restart_stop_signal: i32,
    /// `kill_timeout` (sidekey): how long to wait after the stop signal before SIGKILL. Default 30 s.
    pub kill_timeout: Duration,
    /// `restart_mode` (sidekey): what a change of the rendered env does to the child. Default restart.
    pub restart_mode: RestartMode,
    /// `reload_signal` (sidekey): sent to the child when `restart_mode = "signal"`. Default SIGHUP.
    pub reload_signal: i32,
    /// `splay` (sidekey): a random delay in `[0, splay)` before acting on a change. Default 0.
    pub splay: Duration,
    /// `restart_on_exit` (sidekey): start the child again (with the last good env) when it exits, instead
    /// of exiting with its status. Default false.
    pub restart_on_exit: bool,
    /// `mask_output` (sidekey): pipe the child's stdout/stderr through sidekey, replacing the secret
    /// values it was given with `****`. Default false (the child inherits stdio, TTY included).
    pub mask_output: bool,
    /// `signal_process_group` (sidekey): start the child in its own process group and send forwarded
    /// signals, the stop signal and SIGKILL to the whole group. Default false.
    pub signal_process_group: bool,
    /// `notify = "child"` (sidekey): hand systemd's `NOTIFY_SOCKET` to a notify-aware child, which then
    /// reports readiness itself; default `"agent"`: sidekey does, and the child never sees the socket.
    pub notify_child: bool,
    /// `env { }` (sidekey): which inherited variables the child sees.
    pub env: ExecEnvConfig,
    /// `child_process_stdout`: the file the child's stdout is appended to (created if missing); `None`:
    /// it inherits sidekey's.
    pub child_stdout: Option<PathBuf>,
    /// `child_process_stderr`: as `child_process_stdout`, for stderr.
    pub child_stderr: Option<PathBuf>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        Self {
            command: Vec::new(),
            restart_stop_signal: libc::SIGTERM,
            kill_timeout: Duration::from_secs(30),
            restart_mode: RestartMode::Restart,
            reload_signal: libc::SIGHUP,
            splay: Duration::ZERO,
            restart_on_exit: false,
            mask_output: false,
            signal_process_group: false,
            notify_child: false,
            env: ExecEnvConfig::default(),
            child_stdout: None,
            child_stderr: None,
        }
    }
}

/// `exec { restart_mode }`: what a change of the rendered env does to a running child.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestartMode {
    /// `"restart"`: stop signal, wait up to `kill_timeout`, SIGKILL, start again with the new env.
    #[default]
    Restart,
    /// `"signal"`: send `reload_signal`; the child keeps its env (for apps that re-read rendered files).
    Signal,
    /// `"none"`: leave the child alone.
    None,
}

/// `exec { env { pristine, allow, deny } }`: filtering of the inherited environment. Patterns are exact
/// names or globs with `*` (`"APP_*"`).
#[derive(Clone, Debug, Default)]
pub struct ExecEnvConfig {
    /// `pristine`: inherit nothing but what `allow` lists (the rendered variables are always given).
    pub pristine: bool,
    /// `allow`: when non-empty, only inherited variables matching one of these are passed. An exact name
    /// here also passes a variable sidekey removes by default (e.g. `"VAULT_TOKEN"`).
    pub allow: Vec<String>,
    /// `deny`: inherited variables matching one of these are removed (besides sidekey's defaults).
    pub deny: Vec<String>,
}

/// The `template_config` stanza.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateGlobalConfig {
    /// `exit_on_retry_failure`: exit when fetching a template's secrets fails after retries.
    pub exit_on_retry_failure: bool,
    /// `static_secret_render_interval`: how often KV secrets are re-read. Default 60 s.
    pub static_secret_render_interval: Duration,
    /// `max_connections_per_host`: cap on concurrent backend requests. Default 8.
    pub max_connections_per_host: usize,
    /// `lease_renewal_threshold`: fraction of a lease's life after which it is renewed. Default 2/3.
    pub lease_renewal_threshold: f64,
    /// `revoke_on_shutdown` (sidekey): revoke every lease and the auto-auth token when stopped.
    pub revoke_on_shutdown: bool,
    /// `remove_on_exit` (sidekey): remove the rendered files when stopped.
    pub remove_on_exit: bool,
    /// `revoke_old_after` (sidekey): revoke a replaced lease this long after its replacement was delivered.
    pub revoke_old_after: Option<Duration>,
}

impl Default for TemplateGlobalConfig {
    fn default() -> Self {
        Self {
            exit_on_retry_failure: false,
            static_secret_render_interval: Duration::from_secs(60),
            max_connections_per_host: 8,
            lease_renewal_threshold: 2.0 / 3.0,
            revoke_on_shutdown: false,
            remove_on_exit: false,
            revoke_old_after: None,
        }
    }
}

/// The `audit` extension stanza (sidekey).
#[derive(Clone, Debug, Default)]
pub struct AuditConfig {
    /// `file { path }`: append audit events to this file.
    pub file: Option<PathBuf>,
    /// `file { format }`: what the file holds (default sidekey's own schema).
    pub file_format: crate::audit::Format,
    /// `file { log_rotate_bytes log_rotate_duration log_rotate_max_files }`: rotate the file as Vault
    /// rotates its log files; `None` (none of the keys given): never (an outside tool may, with SIGHUP).
    pub file_rotation: Option<Rotation>,
    /// `anchor { path interval }`: write the file's chain head to a KV v2 path on the backend.
    pub anchor: Option<AuditAnchorConfig>,
    /// `stdout {}`: write audit events to stdout (an error in exec mode: stdout is the child's).
    pub stdout: bool,
    /// `stdout { format }`.
    pub stdout_format: crate::audit::Format,
    /// Where `stdout {}` is given (its file filled in by the merge), for the exec-mode error.
    pub stdout_origin: Option<Origin>,
    /// `http { url, ... }`: POST batches of events to a collector.
    pub http: Option<AuditHttpConfig>,
    /// `syslog { address, ... }`: RFC 5424 messages to a syslog receiver (TLS by default).
    pub syslog: Option<AuditSyslogConfig>,
    /// `otlp { endpoint, ... }`: OTLP/HTTP log records to an OpenTelemetry collector.
    pub otlp: Option<AuditOtlpConfig>,
    /// `hmac_key_file`: a file whose contents key an HMAC-SHA-256 chain instead of plain SHA-256, so
    /// that someone who can write the log cannot recompute the chain.
    pub hmac_key_file: Option<PathBuf>,
    /// `fail_closed`: when an event cannot be made durable (a sink's spool full), refuse new retrievals
    /// instead of retrieving unaudited. Default false.
    pub fail_closed: bool,
    /// `metadata { owner, environment, sensitivity }`: agent-wide metadata carried in every event.
    pub metadata: Metadata,
    /// `secret "PATH" { owner, environment, sensitivity, rotation_period }`: per-secret metadata, keyed
    /// by the path as written in templates or as called (`secret/data/app/config`).
    pub secrets: BTreeMap<String, Metadata>,
}

/// The `audit { http { ... } }` sink.
#[derive(Clone, Debug)]
pub struct AuditHttpConfig {
    /// `url`: the collector's endpoint (`http://` or `https://`); each batch is a JSON array POSTed here.
    pub url: String,
    /// `ca_cert`: PEM CA bundle to trust for the collector instead of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// `spool_path`: the on-disk spool of events not yet accepted by the collector. Required.
    pub spool_path: PathBuf,
    /// `spool_max_bytes`: cap of the spool file. Default 64 MiB.
    pub spool_max_bytes: u64,
    /// `batch_max`: events per POST at most. Default 100.
    pub batch_max: usize,
    /// `timeout`: per POST. Default 10 s.
    pub timeout: Duration,
    /// `format`: what each event in a batch is (default sidekey's own schema).
    pub format: crate::audit::Format,
}

/// The `audit { anchor { ... } }` stanza: the file sink's chain head, written as a new KV v2 version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditAnchorConfig {
    /// `path`: the KV v2 secret, as a Vault user writes it (`secret/sidekey/anchors/web-1`; the API path
    /// `secret/data/...` is taken as well).
    pub path: String,
    /// `interval`: how often the head is anchored (jittered). Default 5 minutes.
    pub interval: Duration,
}

/// Evidence metadata for auditors, carried into events and `sidekey report`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `owner`: the team or person accountable.
    pub owner: Option<String>,
    /// `environment`: e.g. `prod`.
    pub environment: Option<String>,
    /// `sensitivity`: e.g. `high`.
    pub sensitivity: Option<String>,
    /// `rotation_period`: how often the secret is expected to rotate.
    pub rotation_period: Option<Duration>,
}

/// Metadata of where a config value came from, for error messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}
