//! Secret references in inherited environment values, so that `sidekey exec -- app` works from the
//! environment alone: `DB_PASSWORD=sidekey:secret/data/app/db#password` (a field of a KV v2 secret, or of
//! any secret's `data`), `...#password@3` (KV v2 version 3).
//!
//! Each reference becomes an `env_template` for its variable, so it is fetched, refreshed and audited by
//! the lease engine like any other.

use std::ffi::OsString;

use crate::config::{EnvTemplateConfig, TemplateSource};

/// The prefix that marks a value as a reference.
pub const PREFIX: &str = "sidekey:";

/// A reference that cannot be understood; names the variable, never shows a value.
#[derive(Debug, thiserror::Error)]
#[error(
    "environment variable {name}: not a valid secret reference ({reason}); expected sidekey:PATH#FIELD or sidekey:PATH#FIELD@VERSION"
)]
pub struct RefError {
    /// The variable.
    pub name: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// One parsed reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvRef {
    /// The variable the value goes into.
    pub name: String,
    /// The secret's API path, e.g. `secret/data/app/db`.
    pub path: String,
    /// The field of the secret's data.
    pub field: String,
    /// A KV v2 version, read with `?version=N`.
    pub version: Option<u64>,
}

impl EnvRef {
    /// Parse `value` of variable `name`; `Ok(None)` when it is not a reference.
    ///
    /// # Errors
    /// [`RefError`] when it starts with [`PREFIX`] but is malformed.
    pub fn parse(name: &str, value: &str) -> Result<Option<Self>, RefError> {
        let Some(rest) = value.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        let err = |reason| RefError {
            name: name.to_string(),
            reason,
        };
        let (path, field) = rest.rsplit_once('#').ok_or_else(|| err("no #FIELD"))?;
        let (field, version) = match field.rsplit_once('@') {
            Some((f, v)) => {
                let v = v
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| err("the version after @ is not a number of 1 or more"))?;
                (f, Some(v))
            }
            None => (field, None),
        };
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Err(err("empty path"));
        }
        if path.contains(['?', '"', '`']) || path.chars().any(char::is_whitespace) {
            return Err(err("the path has characters a secret path cannot have"));
        }
        if field.is_empty() || field.contains(['"', '`', '\\']) {
            return Err(err("empty or unusable field name"));
        }
        Ok(Some(Self {
            name: name.to_string(),
            path: path.to_string(),
            field: field.to_string(),
            version,
        }))
    }

    /// The `env_template` that renders this reference: the field of a KV v2 secret's `.Data.data`, or of
    /// `.Data` for any other secret (KV v1, database credentials). Printing a missing field is an error.
    pub fn env_template(&self) -> EnvTemplateConfig {
        let path = match self.version {
            Some(v) => format!("{}?version={v}", self.path),
            None => self.path.clone(),
        };
        let f = &self.field;
        let contents = format!(
            "{{{{ with secret \"{path}\" }}}}{{{{ if and .Data.data .Data.metadata }}}}{{{{ index .Data.data \"{f}\" }}}}{{{{ else }}}}{{{{ index .Data \"{f}\" }}}}{{{{ end }}}}{{{{ end }}}}"
        );
        EnvTemplateConfig {
            name: self.name.clone(),
            source: TemplateSource::Inline(contents),
            error_on_missing_key: None,
            left_delimiter: "{{".into(),
            right_delimiter: "}}".into(),
        }
    }
}

impl std::fmt::Display for EnvRef {
    /// The reference as written (a path and a field name: no secret).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}#{}", self.path, self.field)?;
        match self.version {
            Some(v) => write!(f, "@{v}"),
            None => Ok(()),
        }
    }
}

/// Every reference among `inherited`.
///
/// # Errors
/// The first malformed reference.
pub fn references(inherited: &[(OsString, OsString)]) -> Result<Vec<EnvRef>, RefError> {
    let mut out = Vec::new();
    for (k, v) in inherited {
        if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
            && let Some(r) = EnvRef::parse(k, v)?
        {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
