//! The audit event, schema version 1 (DESIGN §8). Never holds a secret value, token, secret_id or JWT.

use serde::Serialize;

mod caller;
mod record;

pub use caller::{CallerMeta, CredentialMeta};
pub use record::Record;

/// Schema version written in every event's `v`.
pub const SCHEMA_VERSION: u32 = 1;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// A read (or list) of a secret from the backend.
    #[serde(rename = "secret.read")]
    SecretRead,
    /// A write-style retrieval (`pki/issue/...`).
    #[serde(rename = "secret.write")]
    SecretWrite,
    /// A lease renewal.
    #[serde(rename = "secret.renew")]
    SecretRenew,
    /// A lease revocation.
    #[serde(rename = "secret.revoke")]
    SecretRevoke,
    /// An auto-auth login.
    #[serde(rename = "auth.login")]
    AuthLogin,
    /// A token renewal.
    #[serde(rename = "auth.renew")]
    AuthRenew,
    /// A rendered file or env set delivered.
    #[serde(rename = "output.write")]
    OutputWrite,
    /// A template's `command` ran after its file changed (failure: its exit status, or `timeout`).
    #[serde(rename = "output.command")]
    OutputCommand,
    /// The configuration was reloaded (or a reload was rejected: `error` names file:line).
    #[serde(rename = "config.reload")]
    ConfigReload,
    /// `POST /agent/v1/refresh` on the admin listener: every secret is fetched again now.
    #[serde(rename = "agent.refresh")]
    AgentRefresh,
    /// The exec'd child started.
    #[serde(rename = "exec.start")]
    ExecStart,
    /// The exec'd child was restarted.
    #[serde(rename = "exec.restart")]
    ExecRestart,
    /// The exec'd child exited.
    #[serde(rename = "exec.exit")]
    ExecExit,
    /// The API proxy answered a request with a secret (a lease, a token, or data).
    #[serde(rename = "proxy.request")]
    ProxyRequest,
    /// A local caller was refused: it matches no workload, or several, or could not be attested.
    #[serde(rename = "caller.refused")]
    CallerRefused,
    /// The `LoadCredential=` socket served (or refused) a credential: `credential` names unit and id.
    #[serde(rename = "credential.serve")]
    CredentialServe,
    /// The file sink's chain head was written to the backend (`audit { anchor }`): `anchor` says where.
    #[serde(rename = "audit.anchor")]
    AuditAnchor,
    /// A backend request no other event records (a mount lookup, a lookup-self, a lease check, a token
    /// revocation, a wrap): `backend` names its method, path and purpose.
    #[serde(rename = "backend.request")]
    BackendRequest,
    /// The backend client moved to another node of the cluster: `backend` names the new one and the
    /// `previous`.
    #[serde(rename = "backend.failover")]
    BackendFailover,
}

/// Whether it worked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It worked.
    Success,
    /// It failed; `error` says why.
    Failure,
}

/// The agent that wrote the event.
#[derive(Clone, Debug, Serialize)]
pub struct AgentInfo {
    /// Random id of this agent run.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// sidekey's version.
    pub version: &'static str,
}

/// Who the backend saw: the auth method, its mount and role, the workload's subject and the token accessor.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Identity {
    /// Auth method type (`jwt`, `kubernetes`, `approle`, `cert`, `token_file`).
    pub method: String,
    /// Auth mount path (`auth/jwt`).
    pub mount: String,
    /// Role logged in as.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// The workload's subject: JWT `sub`, cert CN, or AppRole role name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// The token's accessor (never the token).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token_accessor: String,
}

/// Which secret: its path, engine, version and lease.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SecretMeta {
    /// API path requested (after KV v2 rewriting).
    pub path: String,
    /// Engine type of the mount (`kv`, `database`, `pki`...), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
    /// KV v2 version number, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The lease id (empty for KV).
    pub lease_id: String,
    /// Lease duration in seconds.
    pub lease_duration_s: u64,
    /// Whether the lease is renewable.
    pub renewable: bool,
}

/// One secret that fed an output, as the backend gave it: which path, which KV version, which lease, which
/// certificate. Never a value. Ordered (path first) so an output's list is sorted and deduplicated.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecretRef {
    /// The API path called (after KV v2 rewriting), as in the `secret.*` event that fetched it.
    pub path: String,
    /// The KV v2 version (the response's `data.metadata.version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The lease, for a leased secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_id: Option<String>,
    /// The issued certificate's serial number (`serial_number` of a PKI issue), `xx:xx:…` hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// Where a secret went. `secrets` and `content_hmac` say what a delivery delivered (empty on events that
/// wrote no content, such as a mode or owner put back).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OutputMeta {
    /// A rendered file.
    File {
        /// Its path.
        destination: String,
        /// The secrets its template read.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        secrets: Vec<SecretRef>,
        /// HMAC-SHA-256 (hex) of the bytes written, keyed with `hmac_key_file` (absent without one).
        #[serde(skip_serializing_if = "Option::is_none")]
        content_hmac: Option<String>,
    },
    /// An auto-auth token sink (its path; never the token, nor a hash of it).
    Sink {
        /// Its path.
        destination: String,
    },
    /// Environment variables of the exec'd child.
    Env {
        /// The variable names (never values).
        names: Vec<String>,
        /// The secrets the `env_template`s read.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        secrets: Vec<SecretRef>,
        /// HMAC-SHA-256 (hex) of the rendered `NAME=value\n` lines in name order, keyed with
        /// `hmac_key_file` (absent without one).
        #[serde(skip_serializing_if = "Option::is_none")]
        content_hmac: Option<String>,
    },
}

impl OutputMeta {
    /// The file at `destination`, saying nothing yet of what it holds.
    pub fn file(destination: String) -> Self {
        Self::File {
            destination,
            secrets: Vec::new(),
            content_hmac: None,
        }
    }

    /// The child's variables `names`, saying nothing yet of what they hold.
    pub fn env(names: Vec<String>) -> Self {
        Self::Env {
            names,
            secrets: Vec::new(),
            content_hmac: None,
        }
    }

    /// Saying what was delivered: the secrets that fed it and the keyed hash of what was written (see
    /// [`super::Auditor::content_hmac`]). A sink is left as it is.
    #[must_use]
    pub fn delivered(mut self, fed_by: &[SecretRef], hmac: Option<String>) -> Self {
        if let Self::File {
            secrets,
            content_hmac,
            ..
        }
        | Self::Env {
            secrets,
            content_hmac,
            ..
        } = &mut self
        {
            *secrets = fed_by.to_vec();
            *content_hmac = hmac;
        }
        self
    }
}

/// What a `config.reload` changed: templates (by destination), env_templates (by variable name) and
/// workloads (`workload "NAME"`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReloadMeta {
    /// Outputs and workloads the new config adds.
    pub added: Vec<String>,
    /// Outputs whose template or settings changed, and workloads whose stanza changed.
    pub changed: Vec<String>,
    /// Outputs and workloads the new config no longer has.
    pub removed: Vec<String>,
}

/// A request the API proxy answered: how it was asked and answered (the path is in `secret`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProxyMeta {
    /// The HTTP method.
    pub method: String,
    /// The status code given back.
    pub status: u16,
    /// `hit` (answered from the cache) or `miss`.
    pub cache: &'static str,
}

/// Evidence metadata from the config (`audit { metadata {...} secret "PATH" {...} }`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EventMeta {
    /// The accountable team or person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The environment, e.g. `prod`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The sensitivity class, e.g. `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    /// The configured rotation period of the secret, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_s: Option<u64>,
}

impl EventMeta {
    /// Whether nothing is set (then the event carries no `meta`).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The server side of a backend call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BackendMeta {
    /// The configured address of the node that answered (`vault.address` or one of `addresses`).
    pub node: String,
    /// The server's `request_id` from the answer: the key of the server's own audit entry. Absent when
    /// the answer had none (an error, a 204).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The HTTP method (`backend.request` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The API path below `/v1/`, a token in it shown as `<token>` (`backend.request` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Why the agent made the request (`backend.request` only): `mount_lookup`, `lookup_self`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<&'static str>,
    /// The node the client left (`backend.failover` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// An anchor written to the backend (`audit.anchor`): which chain head went to which KV v2 version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnchorMeta {
    /// The KV v2 API path written (`secret/data/...`).
    pub path: String,
    /// The KV version the write created (absent when it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// `seq` of the event anchored.
    pub seq: u64,
    /// `hash` of the event anchored: the chain head.
    pub hash: String,
    /// The sink whose chain it is (`file`).
    pub sink: String,
}

/// One audit event as written (one JSON line). Field order is the canonical order hashed.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Schema version.
    pub v: u32,
    /// RFC 3339 UTC time with milliseconds.
    pub time: String,
    /// Sequence number in this agent run, from 1.
    pub seq: u64,
    /// What happened.
    pub event: EventKind,
    /// Whether it worked.
    pub outcome: Outcome,
    /// The agent.
    pub agent: AgentInfo,
    /// Who the backend saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Which secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretMeta>,
    /// Which server node answered (backend calls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendMeta>,
    /// Where it went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputMeta>,
    /// What a reload changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadMeta>,
    /// How the API proxy was asked and answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyMeta>,
    /// Who called the API proxy (or, for `credential.serve`, the unit systemd asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<CallerMeta>,
    /// Which `LoadCredential=` credential was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialMeta>,
    /// Which chain head an `audit.anchor` wrote where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AnchorMeta>,
    /// Evidence metadata from the config.
    #[serde(skip_serializing_if = "EventMeta::is_empty")]
    pub meta: EventMeta,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Hash of the previous event in this file (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 or HMAC-SHA-256 (hex) of this event's canonical JSON without `hash` (see `chain`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hash: String,
}
