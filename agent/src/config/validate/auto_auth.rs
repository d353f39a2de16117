//! `auto_auth { method ... sink ... }`: the auth method and its `config`, and the file sinks.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::field::Field;
use crate::config::node::Problem;
use crate::config::section::{Labeled, Labels, Section};
use crate::config::types::{AutoAuthConfig, FileSinkConfig, MethodConfig, MethodKind};
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
    let method = method(first)?;
    let mut sinks: Vec<FileSinkConfig> = s
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

fn method(mut block: Labeled<'_>) -> Result<MethodConfig, Problem> {
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
    no_wrapping(&mut s, "the auth token")?;
    s.finish(&[])?;
    Ok(MethodConfig {
        kind,
        mount_path,
        namespace,
        min_backoff,
        max_backoff,
        exit_on_err,
    })
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

/// `wrap_ttl`: Vault Agent wraps `what` only for a positive TTL, so an empty or zero one (generated configs
/// write `"wrap_ttl": ""`) changes nothing and loads; any other is refused by name.
fn no_wrapping(s: &mut Section<'_>, what: &str) -> Result<(), Problem> {
    match s.field("wrap_ttl")? {
        Some(f) if f.duration()? > Duration::ZERO => Err(Problem::new(
            f.line,
            format!(
                "{} is not supported by sidekey (response wrapping of {what})",
                f.path
            ),
        )),
        _ => Ok(()),
    }
}

fn sink(mut block: Labeled<'_>) -> Result<FileSinkConfig, Problem> {
    let (ty, ty_line) = block_type(&mut block)?;
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
    let sink = FileSinkConfig {
        path: config.require("path", Field::path_buf)?,
        mode: config.get("mode", Field::mode)?.unwrap_or(0o640),
    };
    config.finish(&[])?;
    no_wrapping(&mut s, "the sink token")?;
    s.finish(&[
        ("dh_type", "encrypted sinks"),
        ("dh_path", "encrypted sinks"),
        ("derive_key", "encrypted sinks"),
        ("aad", "encrypted sinks"),
        ("aad_env_var", "encrypted sinks"),
    ])?;
    Ok(sink)
}
