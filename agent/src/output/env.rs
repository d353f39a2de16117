//! The exec'd child's environment: the agent's own, minus sidekey's settings and any token, plus the
//! rendered `env_template` variables.

use std::collections::BTreeMap;
use std::ffi::OsString;

use zeroize::Zeroizing;

/// Variables never passed to the child: credentials the agent itself was given, and its own settings.
const DENIED: &[&str] = &[
    "VAULT_TOKEN",
    "BAO_TOKEN",
    "VAULT_SECRET_ID",
    "BAO_SECRET_ID",
    "VAULT_ROLE_ID",
    "BAO_ROLE_ID",
];
/// Prefixes of variables that configure sidekey itself.
const DENIED_PREFIXES: &[&str] = &["SIDEKEY_"];

/// Whether an inherited variable may be passed on to the child.
pub fn inherit_allowed(name: &str) -> bool {
    !DENIED.contains(&name) && !DENIED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The child's environment: `inherited` filtered by [`inherit_allowed`], then `rendered` on top.
pub fn child_env(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    rendered: &BTreeMap<String, Zeroizing<String>>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = inherited
        .into_iter()
        .filter(|(k, _)| {
            k.to_str()
                .is_none_or(|k| inherit_allowed(k) && !rendered.contains_key(k))
        })
        .collect();
    env.extend(
        rendered
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v.as_str()))),
    );
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_tokens_and_own_settings_and_overrides_with_rendered() {
        let inherited = [
            ("PATH", "/bin"),
            ("VAULT_TOKEN", "t"),
            ("BAO_TOKEN", "t"),
            ("SIDEKEY_CONFIG", "x"),
            ("DB", "old"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let rendered = BTreeMap::from([("DB".to_string(), Zeroizing::new("new".to_string()))]);
        let env = child_env(inherited, &rendered);
        let names: Vec<_> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "DB"]);
        assert_eq!(env[1].1, "new");
    }
}
