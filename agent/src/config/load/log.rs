//! The `log_*` keys merged across files into the config's log file settings.

use std::path::{Path, PathBuf};

use super::{Merged, once};
use crate::config::ConfigError;
use crate::config::types::{ConfigWarning, KeepRotated};
use crate::config::validate::logging::{self, LogKeys};

impl Merged {
    pub(super) fn add_log(&mut self, file: &Path, keys: LogKeys) -> Result<(), ConfigError> {
        let log = &mut self.log;
        if let Some(v) = once(&mut self.log_file, file, "log_file", keys.file)? {
            log.file = Some(v);
        }
        if let Some(v) = once(
            &mut self.log_rotate_bytes,
            file,
            "log_rotate_bytes",
            keys.rotate_bytes,
        )? {
            log.rotate_bytes = v;
        }
        if let Some(v) = once(
            &mut self.log_rotate_duration,
            file,
            "log_rotate_duration",
            keys.rotate_duration,
        )? {
            log.rotate_duration = Some(v);
        }
        if let Some(v) = once(
            &mut self.log_rotate_max_files,
            file,
            "log_rotate_max_files",
            keys.max_files,
        )? {
            log.keep = Some(v);
        }
        Ok(())
    }

    /// Put the log keys given so far together into the config's log file settings.
    pub(super) fn finish_log(&mut self) {
        let log = std::mem::take(&mut self.log);
        match log.file {
            Some(path) => {
                self.config.log_file = Some(logging::log_file(
                    &path,
                    log.rotate_bytes,
                    log.rotate_duration,
                    log.keep.unwrap_or(KeepRotated::All),
                ));
            }
            None => {
                // Vault Agent reads them and does nothing without a file: say so rather than rotate nothing.
                for (key, origin) in [
                    ("log_rotate_bytes", &self.log_rotate_bytes),
                    ("log_rotate_duration", &self.log_rotate_duration),
                    ("log_rotate_max_files", &self.log_rotate_max_files),
                ] {
                    if let Some(o) = origin {
                        self.config.warnings.push(ConfigWarning {
                            file: o.file.clone(),
                            line: o.line,
                            message: format!("{key}: has no effect without log_file"),
                        });
                    }
                }
            }
        }
    }
}

/// The `log_*` keys of every file so far.
#[derive(Default)]
pub(super) struct LogSettings {
    file: Option<PathBuf>,
    rotate_bytes: Option<u64>,
    rotate_duration: Option<std::time::Duration>,
    keep: Option<KeepRotated>,
}
