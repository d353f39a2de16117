//! The spooled sinks that speak a SIEM's protocol: `audit { syslog { ... } }` and `audit { otlp { ... } }`,
//! and the spool settings every spooled sink shares.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::super::super::field::Field;
use super::super::super::node::Problem;
use super::super::super::section::Section;
use super::super::super::types::{
    AuditOtlpConfig, AuditSyslogConfig, OtlpProtocol, SyslogTransport,
};

/// Default `spool_max_bytes`: 64 MiB.
const SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Syslog facilities by the names Vault's syslog audit device (Go's `log/syslog`) takes, with their
/// RFC 5424 codes.
const FACILITIES: &[(&str, u8)] = &[
    ("KERN", 0),
    ("USER", 1),
    ("MAIL", 2),
    ("DAEMON", 3),
    ("AUTH", 4),
    ("SYSLOG", 5),
    ("LPR", 6),
    ("NEWS", 7),
    ("UUCP", 8),
    ("CRON", 9),
    ("AUTHPRIV", 10),
    ("FTP", 11),
    ("LOCAL0", 16),
    ("LOCAL1", 17),
    ("LOCAL2", 18),
    ("LOCAL3", 19),
    ("LOCAL4", 20),
    ("LOCAL5", 21),
    ("LOCAL6", 22),
    ("LOCAL7", 23),
];

/// The spool settings of one sink.
pub(in super::super) struct Spool {
    /// `spool_path`.
    pub path: PathBuf,
    /// The line of `spool_path`, to name it when another key names the same file.
    pub line: usize,
    /// `spool_max_bytes`.
    pub max: u64,
    /// `batch_max`.
    pub batch_max: usize,
}

/// `spool_path` (required), `spool_max_bytes` and `batch_max`: the on-disk spool of a sink that delivers
/// in the background.
pub(in super::super) fn spool(s: &mut Section<'_>) -> Result<Spool, Problem> {
    let batch_max = match s.field("batch_max")? {
        Some(f) => match usize::try_from(f.unsigned()?) {
            Ok(n) if n > 0 => n,
            _ => return Err(f.problem("must be a whole number of 1 or more")),
        },
        None => 100,
    };
    let max = match s.field("spool_max_bytes")? {
        Some(f) => match f.unsigned()? {
            0 => return Err(f.problem("must be more than 0")),
            n => n,
        },
        None => SPOOL_MAX_BYTES,
    };
    let (path, line) = s.require("spool_path", |f| Ok((f.path_buf()?, f.line)))?;
    Ok(Spool {
        path,
        line,
        max,
        batch_max,
    })
}

/// `syslog { address, transport, tls, ca_cert, client_cert, client_key, facility, format, spool_path, spool_max_bytes, batch_max }`,
/// and the line of its `spool_path`.
pub(in super::super) fn syslog(mut s: Section<'_>) -> Result<(AuditSyslogConfig, usize), Problem> {
    let (address, address_line) = s.require("address", |f| Ok((f.non_empty()?, f.line)))?;
    let address_field = s.key_path("address");
    let transport = match s.field("transport")? {
        None => SyslogTransport::Tcp,
        Some(f) => match f.string()?.to_ascii_lowercase().as_str() {
            "tcp" => SyslogTransport::Tcp,
            "udp" => SyslogTransport::Udp,
            other => return Err(f.problem(format!("{other:?} is not \"tcp\" or \"udp\""))),
        },
    };
    let tls = match (s.field("tls")?, transport) {
        (Some(f), SyslogTransport::Udp) => {
            if f.bool()? {
                return Err(f.problem(
                    "TLS needs transport = \"tcp\" (syslog over UDP has no TLS; DTLS is not supported)",
                ));
            }
            false
        }
        (Some(f), SyslogTransport::Tcp) => f.bool()?,
        (None, SyslogTransport::Udp) => false,
        // Port 6514 is syslog over TLS (RFC 5425): what a receiver listening there expects.
        (None, SyslogTransport::Tcp) => true,
    };
    let ca_cert = match s.field("ca_cert")? {
        Some(f) if !tls => {
            return Err(f.problem("only used with TLS (tls = true, transport = \"tcp\")"));
        }
        Some(f) => Some(f.path_buf()?),
        None => None,
    };
    let client_cert = client_identity(&mut s, tls)?;
    let (host, port) = split_address(&address, if tls { 6514 } else { 514 })
        .map_err(|m| Problem::new(address_line, format!("{address_field}: {address:?}: {m}")))?;
    let facility = match s.field("facility")? {
        None => 4,
        Some(f) => {
            let name = f.string()?.to_ascii_uppercase();
            match FACILITIES.iter().find(|(n, _)| *n == name) {
                Some((_, code)) => *code,
                None => {
                    let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
                    return Err(f.problem(format!(
                        "{name:?} is not a syslog facility (one of {})",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let format = s.get("format", super::format)?.unwrap_or_default();
    let spool = spool(&mut s)?;
    s.finish(&[])?;
    let config = AuditSyslogConfig {
        host,
        port,
        transport,
        tls,
        ca_cert,
        client_cert,
        facility,
        format,
        spool_path: spool.path,
        spool_max_bytes: spool.max,
        batch_max: spool.batch_max,
    };
    Ok((config, spool.line))
}

/// `client_cert` and `client_key` (both or neither, TLS only): the client certificate for a receiver
/// that requires mutual TLS, as RFC 5425 deployments often do.
fn client_identity(s: &mut Section<'_>, tls: bool) -> Result<Option<(PathBuf, PathBuf)>, Problem> {
    let cert = s.field("client_cert")?;
    let key = s.field("client_key")?;
    if let Some(f) = cert.as_ref().or(key.as_ref())
        && !tls
    {
        return Err(f.problem("only used with TLS (tls = true, transport = \"tcp\")"));
    }
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(c), Some(k)) => Ok(Some((c.path_buf()?, k.path_buf()?))),
        (Some(c), None) => Err(c.problem(format!(
            "needs {} (the PEM key of the certificate)",
            s.key_path("client_key")
        ))),
        (None, Some(k)) => Err(k.problem(format!(
            "needs {} (the PEM certificate of the key)",
            s.key_path("client_cert")
        ))),
    }
}

/// `host:port`, `[v6]:port`, or a host alone (then `default_port`).
fn split_address(address: &str, default_port: u16) -> Result<(String, u16), String> {
    let address = address.trim();
    if address.contains("://") {
        return Err("expected HOST:PORT, without a scheme".into());
    }
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address in brackets needs its closing ']'")?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or("expected :PORT after ']'")?),
            ),
        }
    } else {
        match address.split_once(':') {
            None => (address, None),
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            Some(_) => return Err("write an IPv6 address in brackets: \"[::1]:6514\"".into()),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err("expected HOST:PORT, e.g. \"syslog.example.com:6514\"".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("{p:?} is not a port number")),
        },
    };
    Ok((host.to_string(), port))
}

/// `otlp { endpoint, protocol, headers, ca_cert, timeout, format, spool_path, spool_max_bytes, batch_max }`,
/// and the line of its `spool_path`.
pub(in super::super) fn otlp(mut s: Section<'_>) -> Result<(AuditOtlpConfig, usize), Problem> {
    let endpoint = s.require("endpoint", |f| {
        let url = f.non_empty()?;
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(url),
            _ => Err(f.problem(format!(
                "{url:?} is not an http:// or https:// URL (the full logs URL, e.g. \
                 \"http://127.0.0.1:4318/v1/logs\")"
            ))),
        }
    })?;
    let protocol = match s.field("protocol")? {
        None => OtlpProtocol::Protobuf,
        Some(f) => match f.string()?.as_str() {
            "http/protobuf" => OtlpProtocol::Protobuf,
            "http/json" => OtlpProtocol::Json,
            "grpc" => {
                return Err(f.problem(
                    "OTLP over gRPC is not supported: use \"http/protobuf\" (port 4318 on a collector)",
                ));
            }
            other => {
                return Err(f.problem(format!(
                    "{other:?} is not \"http/protobuf\" or \"http/json\""
                )));
            }
        },
    };
    let headers = match s.field("headers")? {
        None => Vec::new(),
        Some(f) => f
            .string_map()?
            .into_iter()
            .map(|(name, value, line)| header(&f.path, name, value, line))
            .collect::<Result<_, _>>()?,
    };
    let timeout = match s.field("timeout")? {
        Some(f) => match f.duration()? {
            d if d.is_zero() => return Err(f.problem("must be more than 0")),
            d => d,
        },
        None => Duration::from_secs(10),
    };
    let ca_cert = s.get("ca_cert", Field::path_buf)?;
    let format = s.get("format", super::format)?.unwrap_or_default();
    let spool = spool(&mut s)?;
    s.finish(&[])?;
    let config = AuditOtlpConfig {
        endpoint,
        protocol,
        format,
        headers,
        ca_cert,
        timeout,
        spool_path: spool.path,
        spool_max_bytes: spool.max,
        batch_max: spool.batch_max,
        resource: Vec::new(),
    };
    Ok((config, spool.line))
}

/// Every sink writes its own file: two spools on one file would deliver each other's records (and
/// clobber each other's offsets), and a spool on the audit file would interleave with its lines. `files`
/// are `(key path, file, line)` in the order given; the second key naming a file is the error.
pub(in super::super) fn distinct_files(files: &[(&str, &Path, usize)]) -> Result<(), Problem> {
    for (i, (key, path, line)) in files.iter().enumerate() {
        if let Some((first, _, first_line)) = files[..i].iter().find(|(_, p, _)| p == path) {
            return Err(Problem::new(
                *line,
                format!(
                    "{key}: the same file as {first} (line {first_line}); give each sink its own file"
                ),
            ));
        }
    }
    Ok(())
}

/// One `headers` entry, checked as an HTTP header (the value is never echoed: it may be an API key).
fn header(
    path: &str,
    name: String,
    value: String,
    line: usize,
) -> Result<(String, SecretString), Problem> {
    let at = |m: &str| Problem::new(line, format!("{path}.{name}: {m}"));
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(at("is not a valid HTTP header name"));
    }
    if name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length") {
        return Err(at("is set by sidekey from `protocol`"));
    }
    if reqwest::header::HeaderValue::from_str(&value).is_err() {
        return Err(at(
            "the value is not a valid HTTP header value (control characters or non-ASCII)",
        ));
    }
    Ok((name, SecretString::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_with_default_ports() {
        assert_eq!(
            split_address("logs.example.com:6514", 514),
            Ok(("logs.example.com".into(), 6514))
        );
        assert_eq!(
            split_address("logs.example.com", 6514),
            Ok(("logs.example.com".into(), 6514))
        );
        assert_eq!(split_address("[::1]:1514", 514), Ok(("::1".into(), 1514)));
        assert_eq!(split_address("[::1]", 514), Ok(("::1".into(), 514)));
        assert!(split_address("::1:514", 514).is_err());
        assert!(split_address("host:0", 514).is_err());
        assert!(split_address("host:x", 514).is_err());
        assert!(split_address(":514", 514).is_err());
        assert!(split_address("tcp://host:514", 514).is_err());
    }
}
