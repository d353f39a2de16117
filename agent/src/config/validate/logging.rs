//! Vault Agent's process-wide keys about logs and connections: `log_file` with its `log_rotate_*`
//! keys, and `disable_idle_connections` / `disable_keep_alives`.
//!
//! Each `log_*` key is read on its own (Vault Agent merges them one by one across files);
//! [`super::super::load()`] puts them together into one [`LogFileConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Located, field};
use crate::config::field::Field;
use crate::config::node::Problem;
use crate::config::section::Section;
use crate::config::types::{KeepRotated, LogFileConfig, Parts, Rotation};

/// The name of the log file when `log_file` names a directory: `bao agent`'s.
pub(crate) const DEFAULT_LOG_NAME: &str = "bao.log";

/// How long a log file is written before it is rotated when `log_rotate_duration` is not given (or 0).
pub(crate) const DEFAULT_ROTATE_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The `log_file` and `log_rotate_*` keys of one file, each with its line.
#[derive(Default)]
pub(crate) struct LogKeys {
    /// `log_file`.
    pub file: Option<Located<PathBuf>>,
    /// `log_rotate_bytes` (`None` inside: no size limit).
    pub rotate_bytes: Option<Located<Option<u64>>>,
    /// `log_rotate_duration`.
    pub rotate_duration: Option<Located<Duration>>,
    /// `log_rotate_max_files`.
    pub max_files: Option<Located<KeepRotated>>,
}

/// Read the `log_file` and `log_rotate_*` keys of the top level.
pub(super) fn log_keys(s: &mut Section<'_>) -> Result<LogKeys, Problem> {
    Ok(LogKeys {
        file: field(s, "log_file", Field::path_buf)?,
        rotate_bytes: field(s, "log_rotate_bytes", rotate_bytes)?,
        rotate_duration: field(s, "log_rotate_duration", Field::duration)?,
        max_files: field(s, "log_rotate_max_files", max_files)?,
    })
}

/// `log_rotate_bytes`. Vault Agent parses it as an integer, a number or a numeric string alike; a size
/// of 0 or less means no size limit.
pub(crate) fn rotate_bytes(f: &Field<'_>) -> Result<Option<u64>, Problem> {
    Ok(u64::try_from(f.signed()?).ok().filter(|b| *b > 0))
}

/// `log_rotate_max_files`: 0 keeps every rotated file, a negative count none.
pub(crate) fn max_files(f: &Field<'_>) -> Result<KeepRotated, Problem> {
    Ok(match usize::try_from(f.signed()?) {
        Ok(0) => KeepRotated::All,
        Ok(n) => KeepRotated::Newest(n),
        Err(_) => KeepRotated::None,
    })
}

/// The rotation the `log_rotate_*` keys ask for: a `log_rotate_duration` of 0 (or none) is Vault's 24 h.
pub(crate) fn rotation(
    bytes: Option<u64>,
    duration: Option<Duration>,
    keep: KeepRotated,
) -> Rotation {
    Rotation {
        bytes,
        duration: duration
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_ROTATE_DURATION),
        keep,
    }
}

/// The log file for `path` as written: a path ending with `/`, or naming a directory that exists,
/// stands for `bao.log` in that directory (`bao agent` itself takes only the trailing `/`; it fails on
/// an existing directory written without one).
pub(crate) fn log_file(
    path: &Path,
    rotate_bytes: Option<u64>,
    rotate_duration: Option<Duration>,
    keep: KeepRotated,
) -> LogFileConfig {
    let text = path.as_os_str().to_string_lossy();
    let (dir, name) = if text.ends_with('/') || path.is_dir() {
        (path.to_path_buf(), DEFAULT_LOG_NAME.to_string())
    } else {
        let name = path.file_name().map_or_else(
            || DEFAULT_LOG_NAME.into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (dir, name)
    };
    LogFileConfig {
        dir,
        name,
        rotation: rotation(rotate_bytes, rotate_duration, keep),
    }
}

/// `disable_idle_connections` or `disable_keep_alives`: a list of Vault Agent's part names. `caching`
/// and `proxying` name the API proxy, which forwards through `templating`'s connections: each is a warning.
pub(super) fn parts(
    s: &mut Section<'_>,
    key: &'static str,
    warnings: &mut Vec<Problem>,
) -> Result<Option<Located<Parts>>, Problem> {
    let Some(f) = s.field(key)? else {
        return Ok(None);
    };
    let mut parts = Parts::default();
    for name in f.strings()? {
        match parts.add(&name) {
            Ok(true) => {}
            Ok(false) if name.is_empty() => {}
            Ok(false) => warnings.push(f.problem(format!(
                "{name:?} has no effect: the API proxy forwards through the \"templating\" part's connections"
            ))),
            Err(m) => return Err(f.problem(m)),
        }
    }
    Ok(Some((parts, f.line)))
}
