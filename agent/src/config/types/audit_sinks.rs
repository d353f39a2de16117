//! The spooled audit sinks that speak a SIEM's protocol: `audit { syslog { ... } }` (RFC 5424) and
//! `audit { otlp { ... } }` (OTLP/HTTP logs).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// `transport` of the syslog sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyslogTransport {
    /// `"tcp"`: a stream, octet-counted frames (RFC 6587 §3.4.1), TLS by default (RFC 5425).
    #[default]
    Tcp,
    /// `"udp"`: one datagram per message (RFC 5426). Lossy: nothing tells sidekey a datagram was lost.
    Udp,
}

/// The `audit { syslog { ... } }` sink.
#[derive(Clone, Debug)]
pub struct AuditSyslogConfig {
    /// `address` without its port: a host name or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port of `address`; when left out, 6514 with TLS (RFC 5425), 514 otherwise.
    pub port: u16,
    /// `transport`: `tcp` (default) or `udp`.
    pub transport: SyslogTransport,
    /// `tls`: TLS over the TCP stream. Default true with `tcp`; UDP has none.
    pub tls: bool,
    /// `ca_cert`: PEM CA bundle to trust for the receiver instead of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// `client_cert` and `client_key`: PEM client certificate and its key, for a receiver that requires
    /// mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `facility`: the syslog facility code, given by name as Vault's syslog audit device takes it
    /// (`AUTH`, the default, `AUTHPRIV`, `LOCAL0`..`LOCAL7`, ...).
    pub facility: u8,
    /// `format`: the schema of each message's MSG part.
    pub format: crate::audit::Format,
    /// `spool_path`: the on-disk spool of messages not yet delivered. Required.
    pub spool_path: PathBuf,
    /// `spool_max_bytes`: cap of the spool file. Default 64 MiB.
    pub spool_max_bytes: u64,
    /// `batch_max`: messages per write at most. Default 100.
    pub batch_max: usize,
}

/// `protocol` of the OTLP sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `"http/protobuf"` (default, as OpenTelemetry's exporters): binary protobuf.
    #[default]
    Protobuf,
    /// `"http/json"`: OTLP's JSON mapping of the same messages.
    Json,
}

/// The `audit { otlp { ... } }` sink.
#[derive(Clone, Debug)]
pub struct AuditOtlpConfig {
    /// `endpoint`: the full logs URL (`http://127.0.0.1:4318/v1/logs`), taken as it is, like
    /// `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`.
    pub endpoint: String,
    /// `protocol`: `http/protobuf` (default) or `http/json`.
    pub protocol: OtlpProtocol,
    /// `format`: the schema of each log record's body.
    pub format: crate::audit::Format,
    /// `headers = { name = "value" }`: sent with every export (e.g. an API key: kept secret, never logged).
    pub headers: Vec<(String, SecretString)>,
    /// `ca_cert`: PEM CA bundle to trust for the collector instead of the system roots.
    pub ca_cert: Option<PathBuf>,
    /// `timeout`: per export request. Default 10 s (as `OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub timeout: Duration,
    /// `spool_path`: the on-disk spool of log records not yet exported. Required.
    pub spool_path: PathBuf,
    /// `spool_max_bytes`: cap of the spool file. Default 64 MiB.
    pub spool_max_bytes: u64,
    /// `batch_max`: log records per export at most. Default 100.
    pub batch_max: usize,
    /// Resource attributes from `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` (read at startup,
    /// as OpenTelemetry SDKs read them), added to sidekey's own.
    pub resource: Vec<(String, String)>,
}
