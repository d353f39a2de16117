//! Checks across stanzas about the auto-auth token: who asks for it (`api_proxy` / `cache`
//! `use_auto_auth_token`), whether there is one to give (`auto_auth`), and whether it is wrapped away.

use super::Merged;
use crate::config::ConfigError;
use crate::config::types::{AutoAuthToken, ConfigWarning};

impl Merged {
    /// `use_auto_auth_token` without `auto_auth`: Vault Agent refuses it, and the token sidekey would
    /// otherwise find (`BAO_TOKEN`, `~/.vault-token`: an operator's, often root) must never be handed to
    /// every caller of a listener.
    pub(super) fn token_user_without_auto_auth(&self) -> Option<ConfigError> {
        if self.config.auto_auth.is_some()
            || self.config.api_proxy.use_auto_auth_token == AutoAuthToken::No
        {
            return None;
        }
        let (key, at) = self.token_users.first()?;
        Some(ConfigError::Invalid {
            file: at.file.clone(),
            line: at.line,
            message: format!(
                "{key}: asks for the auto-auth token, but there is no auto_auth stanza (Vault Agent \
                 refuses this too); add auto_auth, or remove the key so callers' own tokens pass through"
            ),
        })
    }

    /// With `auto_auth.method.wrap_ttl` the login response is wrapped for the sink's consumer and
    /// sidekey holds no token: what would need one is refused, naming where it is. Vault Agent refuses
    /// the API proxy's `use_auto_auth_token`; its templates would retry with the wrapped
    /// response as a token forever, so sidekey refuses them too.
    pub(super) fn wrapped_login_conflict(&self) -> Option<ConfigError> {
        let c = &self.config;
        c.auto_auth.as_ref()?.method.wrap_ttl?;
        const NO_TOKEN: &str = "cannot be used with auto_auth.method.wrap_ttl: the login response is \
                                wrapped for the sink's consumer, so sidekey holds no token";
        const INSTEAD: &str =
            "remove wrap_ttl from the method, or wrap in the sink instead (sink { wrap_ttl })";
        let token_user = self.token_users.first().map(|(key, at)| {
            let m = format!(
                "{key}: asks for the auto-auth token, which auto_auth.method.wrap_ttl wraps for the sink \
                 (Vault Agent refuses this too); {INSTEAD}"
            );
            (at, m)
        });
        let template = c.templates.first().and_then(|t| {
            let at = self.destinations.get(&t.destination)?;
            Some((
                at,
                format!("template: {NO_TOKEN} to read secrets with; {INSTEAD}"),
            ))
        });
        let env = c.env_templates.first().and_then(|t| {
            let at = self.env_names.get(&t.name)?;
            let m = format!(
                "env_template {:?}: {NO_TOKEN} to read secrets with; {INSTEAD}",
                t.name
            );
            Some((at, m))
        });
        let state = c.persist.as_ref().map(|p| {
            (
                &p.origin,
                format!("{}: {NO_TOKEN} to resume; remove one of them", p.name()),
            )
        });
        let (at, message) = token_user.or(template).or(env).or(state)?;
        Some(ConfigError::Invalid {
            file: at.file.clone(),
            line: at.line,
            message,
        })
    }

    /// `cache { use_auto_auth_token }` is Vault's older spelling of `api_proxy`'s: it applies unless
    /// `api_proxy` gives its own, which wins (the cache's is then reported as ignored).
    pub(super) fn finish_api_proxy(&mut self) {
        let Some((t, at)) = self.cache_token.take() else {
            return;
        };
        if self.api_proxy_token {
            // In file order, among its file's warnings.
            let w = &mut self.config.warnings;
            let at_file = |x: &ConfigWarning| x.file == at.file;
            let pos = w
                .iter()
                .position(|x| at_file(x) && x.line > at.line)
                .or_else(|| w.iter().rposition(at_file).map(|i| i + 1))
                .unwrap_or(w.len());
            w.insert(
                pos,
                ConfigWarning {
                    file: at.file,
                    line: at.line,
                    message:
                        "cache.use_auto_auth_token: ignored: api_proxy.use_auto_auth_token is \
                              given and wins"
                            .into(),
                },
            );
        } else {
            self.config.api_proxy.use_auto_auth_token = t;
        }
    }
}
