//! The exec'd child's environment: the agent's own, filtered (`exec { env { pristine, allow, deny } }`,
//! minus sidekey's settings and any token), plus the rendered variables.

use std::collections::BTreeMap;
use std::ffi::OsString;

use zeroize::Zeroizing;

use crate::config::ExecEnvConfig;

/// Variables never passed to the child unless `allow` names them exactly: credentials the agent itself
/// was given.
const DENIED: &[&str] = &[
    "VAULT_TOKEN",
    "BAO_TOKEN",
    "VAULT_SECRET_ID",
    "BAO_SECRET_ID",
    "VAULT_ROLE_ID",
    "BAO_ROLE_ID",
];
/// systemd's notify protocol belongs to sidekey (see `runtime::NOTIFY_VARS`): a child that got
/// `NOTIFY_SOCKET` could report READY for it. Only `exec { notify = "child" }` hands the socket over.
const SERVICE_MANAGER: &[&str] = &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];
/// Prefixes of variables that configure sidekey itself.
const DENIED_PREFIXES: &[&str] = &["SIDEKEY_"];

/// Whether an inherited variable may be passed on under sidekey's defaults (no `env` block).
pub fn inherit_allowed(name: &str) -> bool {
    !DENIED.contains(&name)
        && !SERVICE_MANAGER.contains(&name)
        && !DENIED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `name` matches `pattern`: an exact name, or a glob where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Whether the inherited variable `name` passes the `env` block and sidekey's defaults.
pub fn inherit(filter: &ExecEnvConfig, name: &str) -> bool {
    let allowed = filter.allow.iter().any(|p| glob_match(p, name));
    let explicitly = filter.allow.iter().any(|p| p == name);
    if (filter.pristine || !filter.allow.is_empty()) && !allowed {
        return false;
    }
    if filter.deny.iter().any(|p| glob_match(p, name)) {
        return false;
    }
    explicitly || inherit_allowed(name)
}

/// The bytes `output.content_hmac` covers for an env: each rendered variable's `NAME=value\n` line, in
/// name order (byte order, as `LC_ALL=C sort` sorts), one after another; values are not copied.
pub fn hmac_lines(rendered: &BTreeMap<String, Zeroizing<String>>) -> impl Iterator<Item = &[u8]> {
    rendered.iter().flat_map(|(k, v)| {
        [
            k.as_bytes(),
            b"=".as_slice(),
            v.as_bytes(),
            b"\n".as_slice(),
        ]
    })
}

/// The child's environment: `inherited` filtered by [`inherit`], then `rendered` on top.
pub fn child_env(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    rendered: &BTreeMap<String, Zeroizing<String>>,
    filter: &ExecEnvConfig,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = inherited
        .into_iter()
        .filter(|(k, _)| {
            // A name that is not UTF-8 can match no pattern: it passes only when nothing restricts.
            k.to_str()
                .map_or(!filter.pristine && filter.allow.is_empty(), |k| {
                    inherit(filter, k) && !rendered.contains_key(k)
                })
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

    fn names(env: &[(OsString, OsString)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.to_str().unwrap()).collect()
    }

    fn inherited() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/bin"),
            ("VAULT_TOKEN", "t"),
            ("BAO_TOKEN", "t"),
            ("SIDEKEY_CONFIG", "x"),
            ("AWS_KEY", "k"),
            ("APP_MODE", "prod"),
            ("DB", "old"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .to_vec()
    }

    #[test]
    fn drops_tokens_and_own_settings_and_overrides_with_rendered() {
        let rendered = BTreeMap::from([("DB".to_string(), Zeroizing::new("new".to_string()))]);
        let env = child_env(inherited(), &rendered, &ExecEnvConfig::default());
        assert_eq!(names(&env), ["PATH", "AWS_KEY", "APP_MODE", "DB"]);
        assert_eq!(env[3].1, "new");
    }

    #[test]
    fn pristine_allow_and_deny() {
        let rendered = BTreeMap::from([("DB".to_string(), Zeroizing::new("new".to_string()))]);
        let pristine = ExecEnvConfig {
            pristine: true,
            ..ExecEnvConfig::default()
        };
        assert_eq!(names(&child_env(inherited(), &rendered, &pristine)), ["DB"]);

        let allow = ExecEnvConfig {
            allow: vec![
                "PATH".into(),
                "APP_*".into(),
                "VAULT_TOKEN".into(),
                "BAO_*".into(),
            ],
            ..ExecEnvConfig::default()
        };
        // An exact name re-admits a default-removed token; a glob does not.
        assert_eq!(
            names(&child_env(inherited(), &rendered, &allow)),
            ["PATH", "VAULT_TOKEN", "APP_MODE", "DB"]
        );

        let deny = ExecEnvConfig {
            deny: vec!["AWS_*".into()],
            ..ExecEnvConfig::default()
        };
        assert_eq!(
            names(&child_env(inherited(), &rendered, &deny)),
            ["PATH", "APP_MODE", "DB"]
        );
    }

    #[test]
    fn the_hashed_bytes_are_the_sorted_name_value_lines() {
        let rendered = BTreeMap::from([
            ("b".to_string(), Zeroizing::new("2".to_string())),
            ("A".to_string(), Zeroizing::new("x=1".to_string())),
        ]);
        let bytes: Vec<u8> = hmac_lines(&rendered).flatten().copied().collect();
        assert_eq!(bytes, b"A=x=1\nb=2\n");
    }

    #[test]
    fn globs() {
        assert!(glob_match("APP_*", "APP_MODE"));
        assert!(glob_match("*_KEY", "AWS_KEY"));
        assert!(glob_match("A*B*C", "AxxBxxC"));
        assert!(glob_match("*", "ANY"));
        assert!(!glob_match("APP_*", "MYAPP_MODE"));
        assert!(!glob_match("PATH", "PATHX"));
        assert!(!glob_match("A*A", "A"));
    }
}
