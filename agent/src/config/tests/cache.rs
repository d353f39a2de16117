//! The `cache` stanza: its keys typed with their defaults, sidekey's `static_secret_ttl`, what cannot go
//! together, and Vault's keys that sidekey accepts without acting on them.

use std::time::Duration;

use super::{Files, invalid, ok};
use crate::config::CacheConfig;

#[test]
fn an_empty_cache_caches_leases_and_tokens_only() {
    let c = ok("agent.hcl", "cache {}\n");
    assert_eq!(c.cache, Some(CacheConfig::default()));
    let d = CacheConfig::default();
    assert!(!d.cache_static_secrets && !d.disable_caching_dynamic_secrets);
    assert_eq!(d.static_secret_ttl, Duration::from_secs(30));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(ok("agent.hcl", "vault {}\n").cache, None);
}

#[test]
fn static_secrets_are_opt_in_with_their_ttl() {
    let c = ok(
        "agent.hcl",
        "cache {\n  cache_static_secrets = true\n  static_secret_ttl = \"2m\"\n  \
         disable_caching_dynamic_secrets = true\n}\n",
    );
    assert_eq!(
        c.cache,
        Some(CacheConfig {
            cache_static_secrets: true,
            static_secret_ttl: Duration::from_secs(120),
            disable_caching_dynamic_secrets: true,
        })
    );
    let c = ok(
        "agent.json",
        r#"{"cache": {"cache_static_secrets": "true"}}"#,
    );
    assert_eq!(
        c.cache
            .map(|c| (c.cache_static_secrets, c.static_secret_ttl)),
        Some((true, Duration::from_secs(30)))
    );
}

#[test]
fn settings_that_cannot_take_effect_are_errors_naming_the_line() {
    for (text, line, start) in [
        (
            "cache {\n  static_secret_ttl = \"10s\"\n}\n",
            2,
            "cache.static_secret_ttl: has no effect without cache_static_secrets = true",
        ),
        (
            "cache {\n  cache_static_secrets = true\n  static_secret_ttl = 0\n}\n",
            3,
            "cache.static_secret_ttl: must be more than 0",
        ),
        (
            "cache {\n  disable_caching_dynamic_secrets = true\n}\n",
            2,
            "cache.disable_caching_dynamic_secrets: with cache_static_secrets off too, nothing",
        ),
        (
            "cache {\n  static_secret_tll = \"10s\"\n}\n",
            2,
            "cache.static_secret_tll: unknown key (did you mean \"static_secret_ttl\"?)",
        ),
        ("cache {}\ncache {}\n", 2, "cache: given twice"),
    ] {
        let (_, got_line, message) = invalid("agent.hcl", text);
        assert!(message.starts_with(start), "{text}: {message}");
        assert_eq!(got_line, line, "{text}: {message}");
    }
    let e = Files::new()
        .add("a.hcl", "cache {}\n")
        .add("b.hcl", "cache {}\n")
        .load()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.hcl:1") && e.contains("a.hcl"), "{e}");
}

#[test]
fn vaults_keys_sidekey_does_not_act_on_warn_by_name() {
    let c = ok(
        "agent.hcl",
        "cache {\n  use_auto_auth_token = true\n  enforce_consistency = \"always\"\n  \
         cache_static_secrets = true\n  static_secret_token_capability_refresh_interval = \"5m\"\n}\n\
         auto_auth {\n  method \"token_file\" {\n    config = {\n      token_file_path = \"/t\"\n    }\n  }\n}\n",
    );
    let got: Vec<(usize, &str)> = c
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, 3);
    assert!(
        got[0]
            .1
            .starts_with("cache.enforce_consistency: ignored here: give it in api_proxy")
    );
    assert_eq!(got[1].0, 5);
    assert!(
        got[1]
            .1
            .starts_with("cache.static_secret_token_capability_refresh_interval: ignored")
    );
}
