//! How the agent logs and reuses backend connections: `log_*` keys and `disable_idle_connections` /
//! `disable_keep_alives`.

use std::path::PathBuf;
use std::time::Duration;

/// `log_format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `log_file = "PATH"` with `log_rotate_bytes`, `log_rotate_duration` and `log_rotate_max_files`, as
/// Vault Agent reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFileConfig {
    /// The directory the log file is in (rotated files go beside it).
    pub dir: PathBuf,
    /// The log file's name: the last part of `log_file`, or `bao.log` when `log_file` ends with `/` or
    /// names a directory.
    pub name: String,
    /// When it is rotated and which rotated files are kept.
    pub rotation: Rotation,
}

/// The `log_rotate_*` keys, as Vault reads them for its log files (and sidekey for `audit { file }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// `log_rotate_bytes`: rotate once the file holds this many bytes; `None` (unset, or 0 or less as in
    /// Vault Agent): no size limit.
    pub bytes: Option<u64>,
    /// `log_rotate_duration`: rotate when the file is this old (default 24 h, as in Vault Agent).
    pub duration: Duration,
    /// `log_rotate_max_files`: which rotated files are kept.
    pub keep: KeepRotated,
}

/// `log_rotate_max_files`: how many rotated log files are kept (the current file is not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepRotated {
    /// `0` or unset: every rotated file is kept.
    All,
    /// `-1` (any negative number): rotated files are removed at once.
    None,
    /// `N`: the newest `N`.
    Newest(usize),
}

/// The parts of the agent `disable_idle_connections` / `disable_keep_alives` name. Vault Agent's
/// `caching` and `proxying` parts are the API proxy, which forwards through the `templating` part's connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// `"auto-auth"`: logging in, and looking up, renewing and revoking the agent's own token.
    pub auto_auth: bool,
    /// `"templating"`: reading, issuing, renewing and revoking the secrets of templates and env templates.
    pub templating: bool,
}

impl Parts {
    /// Add the part Vault Agent calls `name`. `Ok(false)` for `caching` and `proxying`, which name the
    /// API proxy (nothing to change in sidekey), and for `""`.
    ///
    /// # Errors
    /// A name Vault Agent does not know, as a message.
    pub fn add(&mut self, name: &str) -> Result<bool, String> {
        match name {
            "auto-auth" => self.auto_auth = true,
            "templating" => self.templating = true,
            "caching" | "proxying" | "" => return Ok(false),
            other => {
                return Err(format!(
                    "{other:?} is not one of \"auto-auth\", \"caching\", \"proxying\", \"templating\""
                ));
            }
        }
        Ok(true)
    }
}
