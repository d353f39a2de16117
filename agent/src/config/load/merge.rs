//! Merging the files' validated parts into one config: single stanzas given twice, destinations and
//! variable names used twice, and the settings put together only once all files are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::log::LogSettings;
use crate::config::ConfigError;
use crate::config::types::{Config, ConfigWarning, Origin};
use crate::config::validate::{self, Located, Partial};

/// The files read so far. Single stanzas remember where they came from, to name both files when one is
/// given again.
#[derive(Default)]
pub(super) struct Merged {
    pub(super) config: Config,
    pub(super) vault: Option<Origin>,
    pub(super) auto_auth: Option<Origin>,
    pub(super) exec: Option<Origin>,
    pub(super) template_config: Option<Origin>,
    pub(super) exit_after_auth: Option<Origin>,
    pub(super) pid_file: Option<Origin>,
    pub(super) disable_mlock: Option<Origin>,
    pub(super) reload_on_config_change: Option<Origin>,
    pub(super) lease_check_interval: Option<Origin>,
    pub(super) audit: Option<Origin>,
    pub(super) lease_state_file: Option<Origin>,
    pub(super) lease_state_key_file: Option<Origin>,
    /// `cache { persist }`'s origin.
    pub(super) persist: Option<Origin>,
    /// `lease_state_file` and `lease_state_key_file` as given: [`Merged::finish_persist`] puts them together.
    pub(super) lease_state: (Option<PathBuf>, Option<PathBuf>),
    pub(super) admin_listener: Option<Origin>,
    pub(super) cache: Option<Origin>,
    pub(super) api_proxy: Option<Origin>,
    /// `api_proxy` sets `use_auto_auth_token` (then it wins over the cache's).
    pub(super) api_proxy_token: bool,
    /// `cache { use_auto_auth_token }`, where it was given.
    pub(super) cache_token: Option<(crate::config::AutoAuthToken, Origin)>,
    pub(super) log_level: Option<Origin>,
    pub(super) log_format: Option<Origin>,
    pub(super) log_file: Option<Origin>,
    pub(super) log_rotate_bytes: Option<Origin>,
    pub(super) log_rotate_duration: Option<Origin>,
    pub(super) log_rotate_max_files: Option<Origin>,
    pub(super) disable_idle_connections: Option<Origin>,
    pub(super) disable_keep_alives: Option<Origin>,
    /// The log keys given so far; [`Merged::finish`] puts them together.
    pub(super) log: LogSettings,
    pub(super) destinations: HashMap<PathBuf, Origin>,
    /// Each atomic set's directory: its first member's origin and the settings all members share.
    pub(super) sets: HashMap<PathBuf, (Origin, validate::template::SetShared)>,
    pub(super) env_names: HashMap<String, Origin>,
    /// `cache` / `api_proxy` keys that ask for the auto-auth token.
    pub(super) token_users: Vec<(&'static str, Origin)>,
    /// `listener "credentials"`'s origin.
    pub(super) credential_listener: Option<Origin>,
    /// Each workload's name.
    pub(super) workload_names: HashMap<String, Origin>,
    /// Each credential's (unit, id).
    pub(super) credential_ids: HashMap<(String, String), Origin>,
}

impl Merged {
    pub(super) fn add(&mut self, file: &Path, mut p: Partial) -> Result<(), ConfigError> {
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
        if let Some(mut v) = once(&mut self.audit, file, "audit", p.audit)? {
            if let Some(o) = &mut v.stdout_origin {
                o.file = file.to_path_buf();
            }
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

    pub(super) fn finish(mut self) -> Result<Config, ConfigError> {
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
        if self.config.exec.is_some()
            && let Some(conflict) = crate::config::stdout_sink_in_exec_mode(&self.config)
        {
            return Err(conflict);
        }
        Ok(self.config)
    }

    /// The state file: `cache { persist }` or `lease_state_file` (with `lease_state_key_file`), not both.
    pub(super) fn finish_persist(&mut self) -> Result<(), ConfigError> {
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
pub(super) fn once<T>(
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
pub(super) fn unique<K: std::hash::Hash + Eq>(
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
