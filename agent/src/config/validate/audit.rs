//! The evidence stanzas (sidekey extensions): `audit { ... }`, and the top-level `log_level` /
//! `log_format` keys (as in Vault Agent). `listener "admin"` is read with the other listeners.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::field::Field;
use super::super::node::Problem;
use super::super::section::{Labels, Section};
use super::super::types::{
    AuditAnchorConfig, AuditConfig, AuditHttpConfig, KeepRotated, LogFormat, Metadata, Origin,
    Rotation,
};
use super::logging;
use crate::audit::Format;

mod sinks;

/// Default anchor `interval`: 5 minutes.
const ANCHOR_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// `audit { file {path format log_rotate_*} stdout {format} http {...} syslog {...} otlp {...}
/// anchor {...} hmac_key_file fail_closed metadata {...} secret "P" {...} }`.
pub(super) fn audit(mut s: Section<'_>) -> Result<AuditConfig, Problem> {
    let (file, file_format, file_rotation) = match s.block("file")? {
        Some(mut f) => {
            let path = f.require("path", |f| Ok((f.path_buf()?, f.line)))?;
            let format = f.get("format", format)?.unwrap_or_default();
            let rotation = file_rotation(&mut f)?;
            f.finish(&[])?;
            (Some(path), format, rotation)
        }
        None => (None, Format::default(), None),
    };
    let (stdout, stdout_format, stdout_origin) = match s.block("stdout")? {
        Some(mut block) => {
            let origin = Origin {
                file: PathBuf::new(),
                line: block.line(),
            };
            let format = block.get("format", format)?.unwrap_or_default();
            block.finish(&[])?;
            (true, format, Some(origin))
        }
        None => (false, Format::default(), None),
    };
    let http = s.block("http")?.map(http).transpose()?;
    let syslog = s.block("syslog")?.map(sinks::syslog).transpose()?;
    let otlp = s.block("otlp")?.map(sinks::otlp).transpose()?;
    let files: Vec<(&str, &Path, usize)> = [
        file.as_ref().map(|(p, l)| ("audit.file.path", p, l)),
        http.as_ref()
            .map(|(h, l)| ("audit.http.spool_path", &h.spool_path, l)),
        syslog
            .as_ref()
            .map(|(c, l)| ("audit.syslog.spool_path", &c.spool_path, l)),
        otlp.as_ref()
            .map(|(c, l)| ("audit.otlp.spool_path", &c.spool_path, l)),
    ]
    .into_iter()
    .flatten()
    .map(|(k, p, l)| (k, p.as_path(), *l))
    .collect();
    sinks::distinct_files(&files)?;
    let file = file.map(|(p, _)| p);
    let http = http.map(|(h, _)| h);
    let syslog = syslog.map(|(c, _)| c);
    let otlp = otlp.map(|(c, _)| c);
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
    let anchor = match s.block("anchor")? {
        Some(a) => {
            let line = a.line();
            let anchor = anchor(a)?;
            if file.is_none() {
                return Err(Problem::new(
                    line,
                    "audit.anchor: anchors the file sink's chain: add audit { file { path = \"...\" } }",
                ));
            }
            Some(anchor)
        }
        None => None,
    };
    let config = AuditConfig {
        file,
        file_format,
        file_rotation,
        anchor,
        stdout,
        stdout_format,
        stdout_origin,
        http,
        syslog,
        otlp,
        hmac_key_file: s.get("hmac_key_file", Field::path_buf)?,
        fail_closed: s.get("fail_closed", Field::bool)?.unwrap_or(false),
        metadata: agent_meta,
        secrets,
    };
    s.finish(&[])?;
    Ok(config)
}

/// `log_rotate_bytes`, `log_rotate_duration`, `log_rotate_max_files` in `audit { file { ... } }`, read as
/// Vault reads them at the top level; `None` when none is given.
fn file_rotation(s: &mut Section<'_>) -> Result<Option<Rotation>, Problem> {
    let bytes = s.field("log_rotate_bytes")?;
    let duration = s.field("log_rotate_duration")?;
    let max_files = s.field("log_rotate_max_files")?;
    if bytes.is_none() && duration.is_none() && max_files.is_none() {
        return Ok(None);
    }
    Ok(Some(logging::rotation(
        bytes
            .as_ref()
            .map(logging::rotate_bytes)
            .transpose()?
            .flatten(),
        duration.as_ref().map(Field::duration).transpose()?,
        max_files
            .as_ref()
            .map(logging::max_files)
            .transpose()?
            .unwrap_or(KeepRotated::All),
    )))
}

/// `anchor { path interval }`.
fn anchor(mut s: Section<'_>) -> Result<AuditAnchorConfig, Problem> {
    let path = s.require("path", |f| {
        let p = f.non_empty()?;
        let p = p.trim_matches('/');
        if p.split('/').count() < 2 || p.split('/').any(str::is_empty) {
            return Err(f.problem(format!(
                "{p:?} is not a KV v2 secret path (mount and name, e.g. \"secret/sidekey/anchors/web-1\")"
            )));
        }
        Ok(p.to_string())
    })?;
    let interval = match s.field("interval")? {
        Some(f) => {
            let d = f.duration()?;
            if d < Duration::from_secs(1) {
                return Err(f.problem("must be at least 1s"));
            }
            d
        }
        None => ANCHOR_INTERVAL,
    };
    s.finish(&[])?;
    Ok(AuditAnchorConfig { path, interval })
}

/// `http { ... }`, and the line of its `spool_path`.
fn http(mut s: Section<'_>) -> Result<(AuditHttpConfig, usize), Problem> {
    let url = s.require("url", |f| {
        let url = f.non_empty()?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(f.problem(format!("{url:?} is not an http:// or https:// URL")));
        }
        Ok(url)
    })?;
    let spool = sinks::spool(&mut s)?;
    let config = AuditHttpConfig {
        url,
        ca_cert: s.get("ca_cert", Field::path_buf)?,
        spool_path: spool.path,
        spool_max_bytes: spool.max,
        batch_max: spool.batch_max,
        timeout: s
            .get("timeout", Field::duration)?
            .unwrap_or(Duration::from_secs(10)),
        format: s.get("format", format)?.unwrap_or_default(),
    };
    s.finish(&[])?;
    Ok((config, spool.line))
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
