//! The evidence stanzas (sidekey extensions): `audit { ... }`, and the top-level `log_level` /
//! `log_format` keys (as in Vault Agent). `listener "admin"` is read with the other listeners.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::field::Field;
use super::super::node::Problem;
use super::super::section::{Labels, Section};
use super::super::types::{AuditConfig, AuditHttpConfig, LogFormat, Metadata};
use crate::audit::Format;

/// Default `spool_max_bytes`: 64 MiB.
const SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// `audit { file {path format} stdout {format} http {...} hmac_key_file fail_closed metadata {...} secret "P" {...} }`.
pub(super) fn audit(mut s: Section<'_>) -> Result<AuditConfig, Problem> {
    let (file, file_format) = match s.block("file")? {
        Some(mut f) => {
            let path = f.require("path", Field::path_buf)?;
            let format = f.get("format", format)?.unwrap_or_default();
            f.finish(&[])?;
            (Some(path), format)
        }
        None => (None, Format::default()),
    };
    let (stdout, stdout_format) = match s.block("stdout")? {
        Some(mut block) => {
            let format = block.get("format", format)?.unwrap_or_default();
            block.finish(&[])?;
            (true, format)
        }
        None => (false, Format::default()),
    };
    let http = match s.block("http")? {
        Some(h) => Some(http(h)?),
        None => None,
    };
    let agent_meta = match s.block("metadata")? {
        Some(m) => metadata(m, false)?,
        None => Metadata::default(),
    };
    let mut secrets = BTreeMap::new();
    for block in s.blocks("secret", Labels::Required)? {
        let path = block.label.unwrap_or_default();
        let path = path.trim_matches('/').to_string();
        if secrets.contains_key(&path) {
            return Err(Problem::new(
                block.line,
                format!("audit.secret {path:?}: given twice"),
            ));
        }
        secrets.insert(path, metadata(block.section, true)?);
    }
    let config = AuditConfig {
        file,
        file_format,
        stdout,
        stdout_format,
        http,
        hmac_key_file: s.get("hmac_key_file", Field::path_buf)?,
        fail_closed: s.get("fail_closed", Field::bool)?.unwrap_or(false),
        metadata: agent_meta,
        secrets,
    };
    s.finish(&[])?;
    Ok(config)
}

fn http(mut s: Section<'_>) -> Result<AuditHttpConfig, Problem> {
    let url = s.require("url", |f| {
        let url = f.non_empty()?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(f.problem(format!("{url:?} is not an http:// or https:// URL")));
        }
        Ok(url)
    })?;
    let batch_max = match s.field("batch_max")? {
        Some(f) => match usize::try_from(f.unsigned()?) {
            Ok(n) if n > 0 => n,
            _ => return Err(f.problem("must be a whole number of 1 or more")),
        },
        None => 100,
    };
    let config = AuditHttpConfig {
        url,
        ca_cert: s.get("ca_cert", Field::path_buf)?,
        spool_path: s.require("spool_path", Field::path_buf)?,
        spool_max_bytes: s
            .get("spool_max_bytes", Field::unsigned)?
            .unwrap_or(SPOOL_MAX_BYTES),
        batch_max,
        timeout: s
            .get("timeout", Field::duration)?
            .unwrap_or(Duration::from_secs(10)),
        format: s.get("format", format)?.unwrap_or_default(),
    };
    s.finish(&[])?;
    Ok(config)
}

/// A sink's `format`.
fn format(f: &Field<'_>) -> Result<Format, Problem> {
    let name = f.string()?;
    Format::from_name(&name)
        .ok_or_else(|| f.problem(format!("{name:?} is not one of {}", Format::CHOICES)))
}

/// `owner`, `environment`, `sensitivity`, and (per secret only) `rotation_period`.
fn metadata(mut s: Section<'_>, per_secret: bool) -> Result<Metadata, Problem> {
    let rotation_period = if per_secret {
        s.get("rotation_period", Field::duration)?
    } else {
        None
    };
    let m = Metadata {
        owner: s.get("owner", Field::string)?,
        environment: s.get("environment", Field::string)?,
        sensitivity: s.get("sensitivity", Field::string)?,
        rotation_period,
    };
    let hint: &[(&str, &str)] = if per_secret {
        &[]
    } else {
        &[(
            "rotation_period",
            "give it per secret: audit { secret \"PATH\" { rotation_period = \"720h\" } }",
        )]
    };
    s.finish(hint)?;
    Ok(m)
}

/// `log_level`.
pub(super) fn log_level(f: &Field<'_>) -> Result<String, Problem> {
    let v = f.string()?.to_ascii_lowercase();
    match v.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(v),
        "warning" => Ok("warn".into()),
        "err" => Ok("error".into()),
        _ => Err(f.problem(format!(
            "{v:?} is not one of trace, debug, info, warn, error"
        ))),
    }
}

/// `log_format`.
pub(super) fn log_format(f: &Field<'_>) -> Result<LogFormat, Problem> {
    match f.string()?.to_ascii_lowercase().as_str() {
        "text" | "standard" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(f.problem(format!("{other:?} is not \"text\" or \"json\""))),
    }
}
