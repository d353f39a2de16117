//! Reading the files (a directory stands for its config files): pick the HCL or JSON reader, validate
//! each file, then merge them in order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::node::Problem;
use super::types::{Config, ConfigWarning, Origin};
use super::validate::{self, Located, Partial};
use super::{ConfigError, hcl, hcl1, json};

mod log;
mod token;
mod workload;

use self::log::LogSettings;

/// Read, validate and merge `files`; a directory stands for its config files (see [`config_files`]).
pub(crate) fn load(files: &[&Path]) -> Result<Config, ConfigError> {
    let mut merged = Merged::default();
    for given in files {
        for file in config_files(given)? {
            let partial = read(&file)?;
            merged.add(&file, partial)?;
        }
    }
    merged.finish()
}

/// `path` itself, or, for a directory (as Vault Agent's `-config=DIR`, e.g. a mounted ConfigMap), its
/// `*.hcl` and `*.json` files in name order, leaving out subdirectories and editor leftovers (`x~`,
/// `.#x`, `#x#`).
fn config_files(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let read_err = |source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_err)? {
        let file = entry.map_err(read_err)?.path();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = name.ends_with('~')
            || name.starts_with(".#")
            || (name.starts_with('#') && name.ends_with('#'));
        let config = name.ends_with(".hcl") || name.ends_with(".json");
        if config && !temporary && !file.is_dir() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Read and validate one file.
fn read(file: &Path) -> Result<Partial, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    from_text(file, &text)
}

/// Validate `text`, the contents of `file` (whose extension picks the JSON or HCL reader).
fn from_text(file: &Path, text: &str) -> Result<Partial, ConfigError> {
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let tree = if is_json {
        json::parse(text)
    } else {
        // Files edited on Windows: Vault Agent reads CRLF as LF, heredoc lines included (line numbers stay).
        let text = text.replace("\r\n", "\n");
        // Vault Agent reads HCL 1; HCL 2 first for its precise errors, HCL 1 for what only it accepts.
        // When both refuse the file, the error further down is the one to fix: HCL 1 read everything
        // before its error, so an earlier HCL 2 error is only an HCL 1 form HCL 2 does not know.
        hcl::parse(&text).or_else(|e2| match hcl1::parse(&text) {
            Ok(tree) => Ok(tree),
            Err(e1) if e1.line > e2.line => Err(e1),
            Err(_) => Err(e2),
        })
    };
    tree.and_then(|t| validate::file(&t))
        .map_err(|p| invalid(file, p))
}

/// `text` loaded as the only config file `file`: [`load`] without the file system (the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn load_text(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut merged = Merged::default();
    merged.add(file, from_text(file, text)?)?;
    merged.finish()
}

/// [`load_text`] through the HCL 1 reader alone, which [`from_text`] reaches only where HCL 2 refuses.
#[cfg(feature = "fuzzing")]
pub(crate) fn load_hcl1_text(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let partial = hcl1::parse(text)
        .and_then(|t| validate::file(&t))
        .map_err(|p| invalid(file, p))?;
    let mut merged = Merged::default();
    merged.add(file, partial)?;
    merged.finish()
}

fn invalid(file: &Path, p: Problem) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_path_buf(),
        line: p.line,
        message: p.message,
    }
}

/// The files read so far. Single stanzas remember where they came from, to name both files when one is
/// given again.
#[derive(Default)]
struct Merged {
    config: Config,
    vault: Option<Origin>,
    auto_auth: Option<Origin>,
    exec: Option<Origin>,
    template_config: Option<Origin>,
    exit_after_auth: Option<Origin>,
    pid_file: Option<Origin>,
    disable_mlock: Option<Origin>,
    reload_on_config_change: Option<Origin>,
    lease_check_interval: Option<Origin>,
    audit: Option<Origin>,
    lease_state_file: Option<Origin>,
    lease_state_key_file: Option<Origin>,
    /// `cache { persist }`'s origin.
    persist: Option<Origin>,
    /// `lease_state_file` and `lease_state_key_file` as given: [`Merged::finish_persist`] puts them together.
    lease_state: (Option<PathBuf>, Option<PathBuf>),
    admin_listener: Option<Origin>,
    cache: Option<Origin>,
    api_proxy: Option<Origin>,
    /// `api_proxy` sets `use_auto_auth_token` (then it wins over the cache's).
    api_proxy_token: bool,
    /// `cache { use_auto_auth_token }`, where it was given.
    cache_token: Option<(crate::config::AutoAuthToken, Origin)>,
    log_level: Option<Origin>,
    log_format: Option<Origin>,
    log_file: Option<Origin>,
    log_rotate_bytes: Option<Origin>,
    log_rotate_duration: Option<Origin>,
    log_rotate_max_files: Option<Origin>,
    disable_idle_connections: Option<Origin>,
    disable_keep_alives: Option<Origin>,
    /// The log keys given so far; [`Merged::finish`] puts them together.
    log: LogSettings,
    destinations: HashMap<PathBuf, Origin>,
    /// Each atomic set's directory: its first member's origin and the settings all members share.
    sets: HashMap<PathBuf, (Origin, validate::template::SetShared)>,
    env_names: HashMap<String, Origin>,
    /// `cache` / `api_proxy` keys that ask for the auto-auth token.
    token_users: Vec<(&'static str, Origin)>,
    /// `listener "credentials"`'s origin.
    credential_listener: Option<Origin>,
    /// Each workload's name.
    workload_names: HashMap<String, Origin>,
    /// Each credential's (unit, id).
    credential_ids: HashMap<(String, String), Origin>,
}

impl Merged {
    fn add(&mut self, file: &Path, mut p: Partial) -> Result<(), ConfigError> {
        self.token_users
            .extend(p.auto_auth_token_users.into_iter().map(|(key, line)| {
                let origin = Origin {
                    file: file.to_path_buf(),
                    line,
                };
                (key, origin)
            }));
        self.add_log(file, std::mem::take(&mut p.log))?;
        self.add_workloads(
            file,
            std::mem::take(&mut p.workloads),
            p.credential_listener.take(),
        )?;
        let c = &mut self.config;
        c.warnings
            .extend(p.warnings.into_iter().map(|w| ConfigWarning {
                file: file.to_path_buf(),
                line: w.line,
                message: w.message,
            }));
        if let Some(v) = once(&mut self.vault, file, "vault", p.vault)? {
            c.vault = v;
        }
        if let Some(v) = once(&mut self.auto_auth, file, "auto_auth", p.auto_auth)? {
            c.auto_auth = Some(v);
        }
        if let Some(v) = once(&mut self.exec, file, "exec", p.exec)? {
            c.exec = Some(v);
        }
        if let Some(v) = once(
            &mut self.template_config,
            file,
            "template_config",
            p.template_config,
        )? {
            c.template_config = v;
        }
        if let Some(v) = once(
            &mut self.exit_after_auth,
            file,
            "exit_after_auth",
            p.exit_after_auth,
        )? {
            c.exit_after_auth = v;
        }
        if let Some(v) = once(&mut self.pid_file, file, "pid_file", p.pid_file)? {
            c.pid_file = Some(v);
        }
        if let Some(v) = once(
            &mut self.disable_mlock,
            file,
            "disable_mlock",
            p.disable_mlock,
        )? {
            c.disable_mlock = v;
        }
        if let Some(v) = once(
            &mut self.reload_on_config_change,
            file,
            "reload_on_config_change",
            p.reload_on_config_change,
        )? {
            c.reload_on_config_change = v;
        }
        if let Some(v) = once(
            &mut self.lease_check_interval,
            file,
            "lease_check_interval",
            p.lease_check_interval,
        )? {
            c.lease_check_interval = v;
        }
        if let Some(v) = once(&mut self.audit, file, "audit", p.audit)? {
            c.audit = v;
        }
        if let Some(v) = once(
            &mut self.lease_state_file,
            file,
            "lease_state_file",
            p.lease_state_file,
        )? {
            self.lease_state.0 = Some(v);
        }
        if let Some(v) = once(
            &mut self.lease_state_key_file,
            file,
            "lease_state_key_file",
            p.lease_state_key_file,
        )? {
            self.lease_state.1 = Some(v);
        }
        if let Some(mut v) = once(&mut self.persist, file, "cache.persist", p.persist)? {
            v.origin.file = file.to_path_buf();
            if let Some(o) = &mut v.key_origin {
                o.file = file.to_path_buf();
            }
            c.persist = Some(v);
        }
        if let Some(v) = once(&mut self.admin_listener, file, "listener", p.admin_listener)? {
            c.admin_listener = Some(v);
        }
        if let Some(v) = once(&mut self.cache, file, "cache", p.cache)? {
            c.cache = Some(v);
        }
        if let Some(v) = once(&mut self.api_proxy, file, "api_proxy", p.api_proxy)? {
            c.api_proxy = v.config;
            self.api_proxy_token = v.token_given;
        }
        if let Some((t, line)) = p.cache_token {
            let origin = Origin {
                file: file.to_path_buf(),
                line,
            };
            self.cache_token = Some((t, origin));
        }
        for mut l in p.listeners {
            l.origin.file = file.to_path_buf();
            c.listeners.push(l);
        }
        if let Some(v) = once(&mut self.log_level, file, "log_level", p.log_level)? {
            c.log_level = Some(v);
        }
        if let Some(v) = once(&mut self.log_format, file, "log_format", p.log_format)? {
            c.log_format = v;
        }
        if let Some(v) = once(
            &mut self.disable_idle_connections,
            file,
            "disable_idle_connections",
            p.disable_idle_connections,
        )? {
            c.disable_idle_connections = v;
        }
        if let Some(v) = once(
            &mut self.disable_keep_alives,
            file,
            "disable_keep_alives",
            p.disable_keep_alives,
        )? {
            c.disable_keep_alives = v;
        }
        for (t, line) in p.templates {
            unique(
                &mut self.destinations,
                t.destination.clone(),
                file,
                line,
                || {
                    format!(
                        "template.destination: {:?} is already the destination of the template",
                        t.destination
                    )
                },
            )?;
            validate::template::join_set(&mut self.sets, &t, file, line)?;
            c.templates.push(t);
        }
        for (t, line) in p.env_templates {
            unique(&mut self.env_names, t.name.clone(), file, line, || {
                format!("env_template {:?}: already defined", t.name)
            })?;
            c.env_templates.push(t);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Config, ConfigError> {
        self.finish_persist()?;
        self.finish_api_proxy();
        self.finish_workloads()?;
        if let Some(missing) = self.token_user_without_auto_auth() {
            return Err(missing);
        }
        if let Some(conflict) = self.wrapped_login_conflict() {
            return Err(conflict);
        }
        self.finish_log();
        Ok(self.config)
    }

    /// The state file: `cache { persist }` or `lease_state_file` (with `lease_state_key_file`), not both.
    fn finish_persist(&mut self) -> Result<(), ConfigError> {
        let (path, key) = std::mem::take(&mut self.lease_state);
        let path = path.zip(self.lease_state_file.clone());
        let key = key.zip(self.lease_state_key_file.clone());
        let cache = self.config.persist.take();
        self.config.persist =
            validate::persist::merge(cache, path, key).map_err(|(at, message)| {
                ConfigError::Invalid {
                    file: at.file,
                    line: at.line,
                    message,
                }
            })?;
        Ok(())
    }
}

/// Take a single stanza's value, unless an earlier file (or this one) already gave it.
fn once<T>(
    seen: &mut Option<Origin>,
    file: &Path,
    key: &str,
    value: Option<Located<T>>,
) -> Result<Option<T>, ConfigError> {
    let Some((value, line)) = value else {
        return Ok(None);
    };
    if let Some(first) = seen {
        return Err(ConfigError::Invalid {
            file: file.to_path_buf(),
            line,
            message: format!(
                "{key}: already given in {}:{}; a single stanza may be given only once across all config files",
                first.file.display(),
                first.line
            ),
        });
    }
    *seen = Some(Origin {
        file: file.to_path_buf(),
        line,
    });
    Ok(Some(value))
}

/// Record `key` (a destination or a variable name) as used at `file:line`; used before is an error.
fn unique<K: std::hash::Hash + Eq>(
    seen: &mut HashMap<K, Origin>,
    key: K,
    file: &Path,
    line: usize,
    message: impl FnOnce() -> String,
) -> Result<(), ConfigError> {
    if let Some(first) = seen.get(&key) {
        return Err(ConfigError::Invalid {
            file: file.to_path_buf(),
            line,
            message: format!("{} at {}:{}", message(), first.file.display(), first.line),
        });
    }
    seen.insert(
        key,
        Origin {
            file: file.to_path_buf(),
            line,
        },
    );
    Ok(())
}
