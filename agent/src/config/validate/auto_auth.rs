//! `auto_auth { method ... sink ... }`: the auth method and its `config`, and the file sinks.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::field::Field;
use crate::config::node::Problem;
use crate::config::section::{Labeled, Labels, Section};
use crate::config::types::{
    Aad, AutoAuthConfig, FileSinkConfig, MethodConfig, MethodKind, SinkEncryption,
};
use crate::config::values;

/// Keys of a `method` body (to tell `{"method": {"jwt": {...}}}` from a body in JSON).
pub(super) const METHOD_KEYS: &[&str] = &[
    "type",
    "mount_path",
    "namespace",
    "min_backoff",
    "max_backoff",
    "exit_on_err",
    "config",
    "wrap_ttl",
];

/// Keys of a `sink` body.
pub(super) const SINK_KEYS: &[&str] = &[
    "type",
    "config",
    "wrap_ttl",
    "dh_type",
    "dh_path",
    "derive_key",
    "aad",
    "aad_env_var",
];

/// The methods sidekey implements.
const SUPPORTED: &[&str] = &["jwt", "kubernetes", "approle", "cert", "token_file"];

/// Vault Agent methods sidekey does not implement.
const VAULT_ONLY: &[&str] = &[
    "alicloud", "aws", "azure", "cf", "gcp", "kerberos", "ldap", "oci", "userpass",
];

/// Default `config.token_path` of the kubernetes method.
const K8S_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Read `auto_auth`.
pub(super) fn auto_auth(
    mut s: Section<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<AutoAuthConfig, Problem> {
    let (method, wrap_line) = one_method(&mut s)?;
    let mut sinks: Vec<(FileSinkConfig, usize)> = s
        .blocks("sink", Labels::Optional(SINK_KEYS))?
        .into_iter()
        .map(sink)
        .collect::<Result<_, _>>()?;
    // The documented JSON form (`"sinks": [{"sink": {...}}]`) and its HCL twin `sinks { sink {...} }`.
    for mut group in s.blocks("sinks", Labels::None)? {
        for block in group.section.blocks("sink", Labels::Optional(SINK_KEYS))? {
            sinks.push(sink(block)?);
        }
        group.section.finish(&[])?;
    }
    if let Some(line) = wrap_line {
        method_wrapping(line, &sinks)?;
    }
    let sinks = sinks.into_iter().map(|(sink, _)| sink).collect();
    if let Some(f) = s.field("enable_reauth_on_new_credentials")?
        && f.bool()?
    {
        warnings.push(f.problem(
            "ignored: sidekey logs in again when its token expires or is refused, not when a credential file changes",
        ));
    }
    s.finish(&[])?;
    Ok(AutoAuthConfig { method, sinks })
}

/// The one `method` block of `s` (an `auto_auth` stanza), and the line of its `wrap_ttl` when the login
/// response is wrapped.
pub(super) fn one_method(s: &mut Section<'_>) -> Result<(MethodConfig, Option<usize>), Problem> {
    let mut methods = s
        .blocks("method", Labels::Optional(METHOD_KEYS))?
        .into_iter();
    let first = methods.next().ok_or_else(|| {
        Problem::new(
            s.line(),
            format!(
                "{}.method: required (e.g. method \"jwt\" {{ ... }})",
                s.path()
            ),
        )
    })?;
    if let Some(second) = methods.next() {
        return Err(Problem::new(
            second.line,
            format!(
                "{}.method: given twice (lines {} and {}); sidekey uses one auth method",
                s.path(),
                first.line,
                second.line
            ),
        ));
    }
    method(first)
}

/// The block's type: its label, or its `type` attribute (both must agree when both are given).
fn block_type(block: &mut Labeled<'_>) -> Result<(String, usize), Problem> {
    let attr = block.section.field("type")?;
    match (&block.label, attr) {
        (Some(label), None) => Ok((label.clone(), block.line)),
        (None, Some(f)) => Ok((f.non_empty()?, f.line)),
        (Some(label), Some(f)) => {
            let ty = f.string()?;
            if ty == *label {
                Ok((ty, f.line))
            } else {
                Err(f.problem(format!("{ty:?} disagrees with the block label {label:?}")))
            }
        }
        (None, None) => Err(Problem::new(
            block.line,
            format!("{}.type: required", block.section.path()),
        )),
    }
}

/// Vault Agent's rules for `method { wrap_ttl }`: the wrapped login response goes to exactly one sink, and
/// that sink does not wrap it again.
fn method_wrapping(line: usize, sinks: &[(FileSinkConfig, usize)]) -> Result<(), Problem> {
    match sinks {
        [(sink, sink_line)] if sink.wrap_ttl.is_some() => Err(Problem::new(
            *sink_line,
            format!(
                "auto_auth.sink.wrap_ttl: wrapping is enabled both on the auth method (auto_auth.method.wrap_ttl, \
                 line {line}) and on the sink; give wrap_ttl in one of them"
            ),
        )),
        [_] => Ok(()),
        _ => Err(Problem::new(
            line,
            format!(
                "auto_auth.method.wrap_ttl: the wrapped login response goes to exactly one sink, found {}; \
                 give one sink \"file\", or wrap_ttl in each sink instead",
                sinks.len()
            ),
        )),
    }
}

/// The `method` block, and the line of its `wrap_ttl` when the login response is wrapped.
fn method(mut block: Labeled<'_>) -> Result<(MethodConfig, Option<usize>), Problem> {
    let (ty, ty_line) = block_type(&mut block)?;
    let mut s = block.section;
    let path = s.path().to_string();
    if !SUPPORTED.contains(&ty.as_str()) {
        let message = if VAULT_ONLY.contains(&ty.as_str()) {
            format!("auth method {ty:?} is not supported by sidekey")
        } else {
            let hint = values::closest(&ty, SUPPORTED)
                .map(|c| format!(" (did you mean {c:?}?)"))
                .unwrap_or_default();
            format!("unknown auth method {ty:?}{hint}")
        };
        return Err(Problem::new(
            ty_line,
            format!("{path}: {message}; supported: {}", SUPPORTED.join(", ")),
        ));
    }
    let mount_path = match s.field("mount_path")? {
        Some(f) => {
            let m = f.string()?.trim().trim_matches('/').to_string();
            if m.is_empty() {
                return Err(f.problem("must not be empty (e.g. \"auth/jwt\")"));
            }
            m
        }
        None => format!("auth/{ty}"),
    };
    let namespace = s.get("namespace", Field::string)?;
    let min_backoff = s
        .get("min_backoff", Field::duration)?
        .unwrap_or(Duration::from_secs(1));
    let max_backoff = match s.field("max_backoff")? {
        Some(f) => {
            let max = f.duration()?;
            if max < min_backoff {
                return Err(f.problem(format!(
                    "{max:?} is less than min_backoff ({min_backoff:?})"
                )));
            }
            max
        }
        None => Duration::from_secs(300).max(min_backoff),
    };
    let exit_on_err = s.get("exit_on_err", Field::bool)?.unwrap_or(false);
    let config = s.block("config")?;
    let kind = match config {
        Some(config) => method_kind(&ty, config)?,
        None if ty == "cert" => MethodKind::Cert {
            name: None,
            client_cert: None,
            client_key: None,
            ca_cert: None,
        },
        None => {
            return Err(Problem::new(
                s.line(),
                format!("{path}.config: required (the {ty} method's settings)"),
            ));
        }
    };
    let (wrap_ttl, wrap_line) = wrap_ttl(&mut s)?;
    s.finish(&[])?;
    let method = MethodConfig {
        kind,
        mount_path,
        namespace,
        min_backoff,
        max_backoff,
        exit_on_err,
        wrap_ttl,
    };
    Ok((method, wrap_line))
}

/// `wrap_ttl` of a method or a sink, with its line; `0` means no wrapping, as in Vault Agent.
fn wrap_ttl(s: &mut Section<'_>) -> Result<(Option<Duration>, Option<usize>), Problem> {
    let Some(f) = s.field("wrap_ttl")? else {
        return Ok((None, None));
    };
    let ttl = f.duration()?;
    if ttl.is_zero() {
        return Ok((None, None));
    }
    // The server refuses a wrapping TTL under one second: say so before anything runs.
    if ttl < Duration::from_secs(1) {
        return Err(f.problem(format!(
            "{ttl:?} is too short; a response-wrapping TTL is at least 1s"
        )));
    }
    Ok((Some(ttl), Some(f.line)))
}

/// The method's `config` settings, by type.
fn method_kind(ty: &str, mut c: Section<'_>) -> Result<MethodKind, Problem> {
    let (kind, unsupported): (MethodKind, &[(&str, &str)]) = match ty {
        "jwt" => (
            MethodKind::Jwt {
                path: c.require("path", Field::path_buf)?,
                role: c.require("role", Field::non_empty)?,
                remove_jwt_after_reading: c
                    .get("remove_jwt_after_reading", Field::bool)?
                    .unwrap_or(false),
            },
            &[("remove_jwt_follows_symlinks", "")],
        ),
        "kubernetes" => (
            MethodKind::Kubernetes {
                role: c.require("role", Field::non_empty)?,
                token_path: c
                    .get("token_path", Field::path_buf)?
                    .unwrap_or_else(|| PathBuf::from(K8S_TOKEN)),
            },
            &[],
        ),
        "approle" => (
            MethodKind::AppRole {
                role_id_file_path: c.require("role_id_file_path", Field::path_buf)?,
                secret_id_file_path: c.get("secret_id_file_path", Field::path_buf)?,
                remove_secret_id_file_after_reading: c
                    .get("remove_secret_id_file_after_reading", Field::bool)?
                    .unwrap_or(true),
            },
            &[(
                "secret_id_response_wrapping_path",
                "response-wrapped secret IDs",
            )],
        ),
        "cert" => {
            let kind = MethodKind::Cert {
                name: c.get("name", Field::non_empty)?,
                client_cert: c.get("client_cert", Field::path_buf)?,
                client_key: c.get("client_key", Field::path_buf)?,
                ca_cert: c.get("ca_cert", Field::path_buf)?,
            };
            if let MethodKind::Cert {
                client_cert,
                client_key,
                ..
            } = &kind
                && client_cert.is_some() != client_key.is_some()
            {
                return Err(c.problem("give both client_cert and client_key, or neither"));
            }
            // `reload` re-reads the certificate files at each login, which sidekey always does.
            let _ = c.get("reload", Field::bool)?;
            (kind, &[])
        }
        _ => (
            MethodKind::TokenFile {
                token_file_path: c.require("token_file_path", Field::path_buf)?,
            },
            &[],
        ),
    };
    c.finish(unsupported)?;
    Ok(kind)
}

/// One `sink` block, with its line.
fn sink(mut block: Labeled<'_>) -> Result<(FileSinkConfig, usize), Problem> {
    let (ty, ty_line) = block_type(&mut block)?;
    let line = block.line;
    let mut s = block.section;
    if ty != "file" {
        return Err(Problem::new(
            ty_line,
            format!(
                "{}: sink type {ty:?} is not supported by sidekey (only \"file\")",
                s.path()
            ),
        ));
    }
    let mut config = s.block("config")?.ok_or_else(|| {
        Problem::new(
            s.line(),
            format!(
                "{}.config: required (config = {{ path = \"...\" }})",
                s.path()
            ),
        )
    })?;
    let path = config.require("path", Field::path_buf)?;
    let mode = config.get("mode", Field::mode)?.unwrap_or(0o640);
    config.finish(&[])?;
    let (wrap_ttl, _) = wrap_ttl(&mut s)?;
    let encrypt = encryption(&mut s)?;
    s.finish(&[])?;
    let sink = FileSinkConfig {
        path,
        mode,
        wrap_ttl,
        encrypt,
    };
    Ok((sink, line))
}

/// `dh_type`, `dh_path`, `derive_key`, `aad`, `aad_env_var`, with Vault Agent's rules: `dh_type` and
/// `dh_path` together or not at all, and the others only with them.
fn encryption(s: &mut Section<'_>) -> Result<Option<SinkEncryption>, Problem> {
    let dh_type = s.field("dh_type")?;
    let dh_path = s.field("dh_path")?;
    let derive_key = s.field("derive_key")?;
    let aad = s.field("aad")?;
    let aad_env_var = s.field("aad_env_var")?;
    if let Some(f) = &dh_type {
        let ty = f.string()?;
        if ty != "curve25519" {
            return Err(f.problem(format!(
                "{ty:?} is not a supported Diffie-Hellman type (only \"curve25519\")"
            )));
        }
    }
    match (&dh_type, &dh_path) {
        (Some(_), Some(path)) => Ok(Some(SinkEncryption {
            dh_path: path.path_buf()?,
            derive_key: derive_key.map(|f| f.bool()).transpose()?.unwrap_or(false),
            aad: Aad(zeroize::Zeroizing::new(
                aad.map(|f| f.string()).transpose()?.unwrap_or_default(),
            )),
            aad_env_var: aad_env_var.map(|f| f.non_empty()).transpose()?,
        })),
        (Some(f), None) | (None, Some(f)) => Err(f.problem(
            "dh_type and dh_path must be given together (dh_type = \"curve25519\", and dh_path: the \
             consumer's public key file)",
        )),
        (None, None) => {
            // Vault Agent: "does not make sense" without dh_type; a typo'd dh_type must not leave the
            // token unencrypted unnoticed.
            let pointless = match (aad.or(aad_env_var), derive_key) {
                (Some(f), _) => Some(f),
                (None, Some(f)) if f.bool()? => Some(f),
                _ => None,
            };
            match pointless {
                Some(f) => Err(f.problem("encrypts nothing without dh_type and dh_path; give them too")),
                None => Ok(None),
            }
        }
    }
}
