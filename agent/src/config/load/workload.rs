//! Per-host mode across stanzas and files: workload names and credentials unique, the listeners callers
//! reach the workloads through, and matches that may take the same caller.

use std::path::Path;

use super::{Merged, once, unique};
use crate::config::ConfigError;
use crate::config::types::{
    AutoAuthToken, ConfigWarning, CredentialListener, ListenerBind, Origin, WorkloadConfig,
};
use crate::config::validate::Located;
use crate::config::validate::workload::overlap;

impl Merged {
    /// One file's workloads and credentials listener.
    pub(super) fn add_workloads(
        &mut self,
        file: &Path,
        workloads: Vec<WorkloadConfig>,
        listener: Option<Located<CredentialListener>>,
    ) -> Result<(), ConfigError> {
        let key = "listener \"credentials\"";
        if let Some(mut l) = once(&mut self.credential_listener, file, key, listener)? {
            l.origin.file = file.to_path_buf();
            self.config.credential_listener = Some(l);
        }
        for mut w in workloads {
            w.origin.file = file.to_path_buf();
            w.matcher.origin.file = file.to_path_buf();
            unique(
                &mut self.workload_names,
                w.name.clone(),
                file,
                w.origin.line,
                || format!("workload {:?}: already defined", w.name),
            )?;
            for c in &mut w.credentials {
                c.origin.file = file.to_path_buf();
                let pair = (c.unit.clone(), c.id.clone());
                unique(&mut self.credential_ids, pair, file, c.origin.line, || {
                    format!(
                        "workload {:?}: credential {:?}: unit {:?} already has a credential {:?}",
                        w.name, c.id, c.unit, c.id
                    )
                })?;
            }
            self.config.workloads.push(w);
        }
        Ok(())
    }

    /// The checks that need every file: the auto-auth token beside listeners that serve workloads (an
    /// error on a unix listener, a warning on tcp), and warnings for workloads no caller can reach, a
    /// credentials listener with nothing to serve, and matches that may take the same caller.
    pub(super) fn finish_workloads(&mut self) -> Result<(), ConfigError> {
        let mut warnings = Vec::new();
        if let Some(l) = &self.config.credential_listener
            && !self
                .config
                .workloads
                .iter()
                .any(|w| !w.credentials.is_empty())
        {
            warnings.push(warning(
                &l.origin,
                "listener \"credentials\": no workload has a credential \"ID\" { unit, contents }, so \
                 every unit that asks is refused"
                    .into(),
            ));
        }
        if !self.config.workloads.is_empty() {
            self.token_beside_workloads(&mut warnings)?;
            let has_files = |w: &WorkloadConfig| {
                self.config
                    .templates
                    .iter()
                    .any(|t| t.workload.as_deref() == Some(w.name.as_str()))
            };
            let unreached = self.config.workloads.iter().find(|w| !has_files(w));
            if let Some(w) = unreached
                && self.first_listener(true).is_none()
                && self.config.credential_listener.is_none()
            {
                warnings.push(warning(
                    &w.origin,
                    format!(
                        "workload {:?}: no listener \"unix\" or listener \"credentials\" is configured, and it \
                         has no template, so it serves nothing; add e.g. listener \"unix\" {{ address = \
                         \"/run/sidekey/api.sock\" }}",
                        w.name
                    ),
                ));
            }
            warnings.extend(self.quit_unserved());
            warnings.extend(self.agent_token_from_environment());
            warnings.extend(self.credentials_unserved());
            warnings.extend(self.overlaps());
        }
        self.config.warnings.extend(warnings);
        Ok(())
    }

    /// Workloads whose tokens the agent's token creates, without `auto_auth` to log the agent in: the
    /// token comes from the environment, as everywhere without auto_auth, and is never obtained again.
    fn agent_token_from_environment(&self) -> Option<ConfigWarning> {
        if self.config.auto_auth.is_some() {
            return None;
        }
        let w = self
            .config
            .workloads
            .iter()
            .find(|w| w.auto_auth.is_none())?;
        Some(warning(
            &w.origin,
            format!(
                "workload {:?}: there is no auto_auth stanza, so workload tokens are created with the agent's \
                 token from BAO_TOKEN/VAULT_TOKEN/~/.vault-token; use auto_auth for a token that is renewed \
                 and re-obtained",
                w.name
            ),
        ))
    }

    /// `enable_quit` on a `listener "unix"`, which serves workloads' callers: `/agent/v1/quit` is refused
    /// to them there (any workload could stop the agent), so the key does nothing.
    fn quit_unserved(&self) -> impl Iterator<Item = ConfigWarning> + '_ {
        self.config
            .listeners
            .iter()
            .filter(|l| l.enable_quit && matches!(l.bind, ListenerBind::Unix { .. }))
            .map(|l| {
                warning(
                    &l.origin,
                    "listener \"unix\": enable_quit: with workload stanzas this listener serves workloads' \
                     callers, who are refused /agent/v1/quit (any of them could stop the agent); serve it on \
                     a listener \"tcp\" instead"
                        .into(),
                )
            })
    }

    /// A workload's credential with no `listener "credentials"` for systemd to ask through.
    fn credentials_unserved(&self) -> Option<ConfigWarning> {
        if self.config.credential_listener.is_some() {
            return None;
        }
        let (w, c) = self
            .config
            .workloads
            .iter()
            .find_map(|w| w.credentials.first().map(|c| (w, c)))?;
        Some(warning(
            &c.origin,
            format!(
                "workload {:?}: credential {:?}: no listener \"credentials\" is configured, so no unit can \
                 load it; add e.g. listener \"credentials\" {{ address = \"/run/sidekey/creds.sock\" }}",
                w.name, c.id
            ),
        ))
    }

    /// `use_auto_auth_token` asking for the agent's token while workloads are served: refused beside a
    /// unix listener (which serves each caller with its workload's token, never the agent's), a warning
    /// beside tcp listeners only (any local process could use the agent's token there).
    fn token_beside_workloads(&self, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
        let Some((key, at)) = self.effective_token_user() else {
            return Ok(());
        };
        if let Some(unix) = self.first_listener(true) {
            return Err(ConfigError::Invalid {
                file: at.file.clone(),
                line: at.line,
                message: format!(
                    "{key}: cannot be used with workload stanzas: the listener \"unix\" at {}:{} serves each \
                     caller with its workload's token, never the agent's; remove {key} (callers' own \
                     X-Vault-Token still pass through)",
                    unix.file.display(),
                    unix.line
                ),
            });
        }
        if let Some(tcp) = self.first_listener(false) {
            warnings.push(warning(
                at,
                format!(
                    "{key}: every local process can use the agent's token through the listener \"tcp\" at \
                     {}:{}, whatever its workload; workloads are served per caller on a listener \"unix\" only",
                    tcp.file.display(),
                    tcp.line
                ),
            ));
        }
        Ok(())
    }

    /// The `use_auto_auth_token` key that decides (api_proxy's wins over the cache's), if it asks for the
    /// agent's token.
    fn effective_token_user(&self) -> Option<&(&'static str, Origin)> {
        if self.config.api_proxy.use_auto_auth_token == AutoAuthToken::No {
            return None;
        }
        let key = if self.api_proxy_token {
            "api_proxy.use_auto_auth_token"
        } else {
            "cache.use_auto_auth_token"
        };
        self.token_users.iter().find(|(k, _)| *k == key)
    }

    /// Where the first `listener "unix"` (or `"tcp"`) is.
    fn first_listener(&self, unix: bool) -> Option<&Origin> {
        self.config
            .listeners
            .iter()
            .find(|l| matches!(l.bind, ListenerBind::Unix { .. }) == unix)
            .map(|l| &l.origin)
    }

    /// One warning for each pair of workloads whose matches may both take one caller.
    fn overlaps(&self) -> Vec<ConfigWarning> {
        let workloads = &self.config.workloads;
        let matches: Vec<_> = workloads.iter().map(|w| &w.matcher).collect();
        overlap::overlapping(&matches)
            .into_iter()
            .filter_map(|(i, j)| {
                let (a, b) = (workloads.get(i)?, workloads.get(j)?);
                let first = &a.matcher.origin;
                Some(warning(
                    &b.matcher.origin,
                    format!(
                        "workload {:?}: its match may accept the same caller as workload {:?}'s match at {}:{}; \
                         a caller matching both is refused at run time (give both a key that tells them apart, \
                         e.g. different uids or units)",
                        b.name,
                        a.name,
                        first.file.display(),
                        first.line
                    ),
                ))
            })
            .collect()
    }
}

fn warning(at: &Origin, message: String) -> ConfigWarning {
    ConfigWarning {
        file: at.file.clone(),
        line: at.line,
        message,
    }
}
