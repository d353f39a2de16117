//! The API proxy's listeners (`listener "tcp"` / `listener "unix"`) and `api_proxy`, as Vault Agent and
//! `bao proxy` read them (DESIGN.md §10). sidekey's own `listener "admin"` is [`super::AdminListener`].

use std::path::PathBuf;
use std::time::Duration;

use super::Origin;

/// Vault's default `max_request_size`: 32 MiB.
pub const DEFAULT_MAX_REQUEST_SIZE: u64 = 32 * 1024 * 1024;

/// Vault's default `max_request_duration`: 90 s.
pub const DEFAULT_MAX_REQUEST_DURATION: Duration = Duration::from_secs(90);

/// One `listener "tcp"` or `listener "unix"` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiListener {
    /// Where it listens, and how.
    pub bind: ListenerBind,
    /// `role`: the whole API proxy, or only `/agent/v1/metrics`.
    pub role: ListenerRole,
    /// `require_request_header`: a request without `X-Vault-Request: true` gets 412.
    pub require_request_header: bool,
    /// `max_request_size` in bytes; `None` when a negative value turned the limit off.
    pub max_request_size: Option<u64>,
    /// `max_request_duration`: a request still unanswered after it gets 504.
    pub max_request_duration: Duration,
    /// `agent_api { enable_quit }` / `proxy_api { enable_quit }`: serve `/agent/v1/quit`.
    pub enable_quit: bool,
    /// Where the stanza is (a bind failure names it).
    pub origin: Origin,
}

/// Where a listener binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerBind {
    /// `listener "tcp"`: `address` (host:port, as given) and its TLS, `None` with `tls_disable`.
    Tcp {
        /// `address`, default `127.0.0.1:8200`.
        address: String,
        /// The server certificate, unless `tls_disable = true`.
        tls: Option<ListenerTls>,
    },
    /// `listener "unix"`: the socket file and who may open it.
    Unix {
        /// `address`: the socket's path.
        path: PathBuf,
        /// `socket_mode`, e.g. `0660`.
        mode: Option<u32>,
        /// `socket_user`: a user name or uid.
        user: Option<String>,
        /// `socket_group`: a group name or gid.
        group: Option<String>,
    },
}

/// A tcp listener's TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerTls {
    /// `tls_cert_file`: PEM chain, leaf first.
    pub cert_file: PathBuf,
    /// `tls_key_file`: PEM private key.
    pub key_file: PathBuf,
    /// `tls_min_version`: `tls12` (default) or `tls13`.
    pub min_version: TlsVersion,
}

/// A TLS protocol version, as Vault spells it (`tls12`, `tls13`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// `role` of a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListenerRole {
    /// The API proxy (and the agent API).
    #[default]
    Default,
    /// Only `/agent/v1/metrics`.
    MetricsOnly,
}

/// `use_auto_auth_token`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoAuthToken {
    /// `false` (default): the caller's token passes through.
    #[default]
    No,
    /// `true`: the agent's token is added to a request that has none.
    Add,
    /// `"force"`: the agent's token replaces the caller's.
    Force,
}

/// `api_proxy { ... }` (and the older `cache { use_auto_auth_token }`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiProxyConfig {
    /// `use_auto_auth_token`.
    pub use_auto_auth_token: AutoAuthToken,
    /// `enforce_consistency = "always"`: send the newest `X-Vault-Index` seen (the backend client
    /// always does; `"never"` is accepted).
    pub enforce_consistency: bool,
    /// `when_inconsistent`: what a standby behind the index does (the backend client retries on
    /// another node, then gives the server's answer).
    pub when_inconsistent: WhenInconsistent,
}

/// `when_inconsistent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenInconsistent {
    /// `fail` (default).
    #[default]
    Fail,
    /// `retry`.
    Retry,
    /// `forward`.
    Forward,
}
