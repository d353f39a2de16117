//! Where each key belongs: the keys of every block, Vault Agent's and sidekey's. A key nobody read in a block
//! is then one of: a key of newer Vault Agent versions, a key of another block (misplaced), a typo of a key
//! of this block, or unknown. [`stray`] answers the first two; `Section` does the rest.
//!
//! Vault Agent decodes most stanzas with HCL's decoder, which skips keys it does not know, so real configs
//! carry misplaced keys (`exit_after_auth` inside `auto_auth`) that have never done anything. Those load with
//! a warning. Where Vault Agent refuses unknown keys itself (consul-template's `template`, `env_template` and
//! `exec`, checked against `bao agent`), and in sidekey's own blocks, a misplaced key stays an error.

use super::auto_auth::{METHOD_KEYS, SINK_KEYS};
use super::{persist, unserved, workload};

/// One block's keys.
struct Block {
    /// Its key path with labels left out (`""` is the top level); later entries are other spellings of the
    /// same block (`openbao` for `vault`, `auto_auth.sinks.sink` for `auto_auth.sink`).
    kinds: &'static [&'static str],
    /// Every key read in it, attributes and nested blocks.
    keys: &'static [&'static str],
    /// The keys of `keys` only sidekey knows (its extensions): a Vault Agent config cannot carry them.
    sidekey: &'static [&'static str],
    /// Whether Vault Agent skips a key it does not know here, rather than refusing it.
    skips_unknown: bool,
}

impl Block {
    fn is(&self, kind: &str) -> bool {
        self.kinds.contains(&kind)
    }

    /// How a message names the block: "at the top level", "in auto_auth.method".
    fn place(&self) -> String {
        match self.kinds.first() {
            Some(&"") | None => "at the top level".into(),
            Some(kind) => format!("in {kind}"),
        }
    }
}

/// A Vault Agent block, which skips keys it does not know.
const fn agent(
    kinds: &'static [&'static str],
    keys: &'static [&'static str],
    sidekey: &'static [&'static str],
) -> Block {
    Block {
        kinds,
        keys,
        sidekey,
        skips_unknown: true,
    }
}

/// A block that refuses keys it does not know: consul-template's, or sidekey's own.
const fn strict(
    kinds: &'static [&'static str],
    keys: &'static [&'static str],
    sidekey: &'static [&'static str],
) -> Block {
    Block {
        kinds,
        keys,
        sidekey,
        skips_unknown: false,
    }
}

/// The top-level keys sidekey reads, or accepts with a warning (see `unserved`).
pub(super) const TOP_KEYS: &[&str] = &[
    "vault",
    "openbao",
    "auto_auth",
    "template",
    "env_template",
    "exec",
    "template_config",
    "audit",
    "exit_after_auth",
    "pid_file",
    "reload_on_config_change",
    "lease_state_file",
    "lease_state_key_file",
    "lease_check_interval",
    "listener",
    "log_level",
    "log_format",
    "cache",
    "api_proxy",
    "telemetry",
    "disable_idle_connections",
    "disable_keep_alives",
    "log_file",
    "log_rotate_duration",
    "log_rotate_bytes",
    "log_rotate_max_files",
    "disable_mlock",
    "workload",
];

/// Every block's keys.
const BLOCKS: &[Block] = &[
    agent(
        &[""],
        TOP_KEYS,
        &[
            "openbao",
            "audit",
            "reload_on_config_change",
            "lease_state_file",
            "lease_state_key_file",
            "lease_check_interval",
            "workload",
        ],
    ),
    agent(
        &["vault", "openbao"],
        &[
            "address",
            "addresses",
            "ca_cert",
            "ca_path",
            "client_cert",
            "client_key",
            "tls_skip_verify",
            "tls_server_name",
            "namespace",
            "retry",
        ],
        &["addresses"],
    ),
    agent(&["vault.retry", "openbao.retry"], &["num_retries"], &[]),
    agent(
        &["auto_auth"],
        &[
            "method",
            "sink",
            "sinks",
            "enable_reauth_on_new_credentials",
        ],
        &[],
    ),
    agent(&["auto_auth.sinks"], &["sink"], &[]),
    agent(&["auto_auth.method"], METHOD_KEYS, &[]),
    // The settings of every method sidekey implements, together: a key of another method's settings is
    // not "misplaced" into another block, so it stays unknown.
    agent(
        &["auto_auth.method.config"],
        &[
            "path",
            "role",
            "remove_jwt_after_reading",
            "remove_jwt_follows_symlinks",
            "token_path",
            "role_id_file_path",
            "secret_id_file_path",
            "remove_secret_id_file_after_reading",
            "secret_id_response_wrapping_path",
            "name",
            "client_cert",
            "client_key",
            "ca_cert",
            "reload",
            "token_file_path",
        ],
        &[],
    ),
    agent(&["auto_auth.sink", "auto_auth.sinks.sink"], SINK_KEYS, &[]),
    agent(
        &["auto_auth.sink.config", "auto_auth.sinks.sink.config"],
        &["path", "mode"],
        &[],
    ),
    agent(
        &["template_config"],
        &[
            "exit_on_retry_failure",
            "static_secret_render_interval",
            "max_connections_per_host",
            "lease_renewal_threshold",
            "revoke_on_shutdown",
            "remove_on_exit",
            "revoke_old_after",
        ],
        &["revoke_on_shutdown", "remove_on_exit", "revoke_old_after"],
    ),
    strict(
        &["template"],
        &[
            "source",
            "contents",
            "destination",
            "perms",
            "user",
            "group",
            "uid",
            "gid",
            "create_dest_dirs",
            "command",
            "command_timeout",
            "exec",
            "error_on_missing_key",
            "error_fatal",
            "left_delimiter",
            "right_delimiter",
            "wait",
            "backup",
            "function_denylist",
            "function_blacklist",
            "sandbox_path",
            "allow_non_tmpfs",
            "allow_write_to_file",
            "atomic_set",
        ],
        &["allow_non_tmpfs", "allow_write_to_file", "atomic_set"],
    ),
    // consul-template's keys here, read or not: a key of the block itself must not be sent elsewhere (its
    // `splay` is not the top-level exec's, its `enabled` not listener.cors's).
    strict(
        &["template.exec"],
        &[
            "command",
            "timeout",
            "enabled",
            "env",
            "kill_signal",
            "kill_timeout",
            "reload_signal",
            "splay",
        ],
        &[],
    ),
    strict(&["template.wait"], &["min", "max", "enabled"], &[]),
    strict(
        &["env_template"],
        &[
            "contents",
            "source",
            "error_on_missing_key",
            "error_fatal",
            "left_delimiter",
            "right_delimiter",
            "function_denylist",
            "function_blacklist",
        ],
        &[],
    ),
    strict(
        &["exec"],
        &[
            "command",
            "restart_on_secret_changes",
            "restart_stop_signal",
            "child_process_stdout",
            "child_process_stderr",
            "kill_timeout",
            "restart_mode",
            "reload_signal",
            "splay",
            "restart_on_exit",
            "mask_output",
            "signal_process_group",
            "notify",
            "env",
        ],
        &[
            "kill_timeout",
            "restart_mode",
            "reload_signal",
            "splay",
            "restart_on_exit",
            "mask_output",
            "signal_process_group",
            "notify",
            "env",
        ],
    ),
    strict(
        &["exec.env"],
        &["pristine", "allow", "deny"],
        &["pristine", "allow", "deny"],
    ),
    strict(&["audit"], AUDIT, AUDIT),
    strict(&["audit.file"], AUDIT_FILE, AUDIT_FILE),
    strict(&["audit.stdout"], &["format"], &["format"]),
    strict(
        &["audit.anchor"],
        &["path", "interval"],
        &["path", "interval"],
    ),
    strict(&["audit.http"], AUDIT_HTTP, AUDIT_HTTP),
    strict(&["audit.syslog"], AUDIT_SYSLOG, AUDIT_SYSLOG),
    strict(&["audit.otlp"], AUDIT_OTLP, AUDIT_OTLP),
    strict(&["audit.metadata"], AUDIT_METADATA, AUDIT_METADATA),
    strict(&["audit.secret"], AUDIT_SECRET, AUDIT_SECRET),
    strict(&["workload"], workload::KEYS, workload::KEYS),
    strict(
        &["workload.match"],
        workload::MATCH_KEYS,
        workload::MATCH_KEYS,
    ),
    strict(
        &["workload.credential"],
        workload::CREDENTIAL_KEYS,
        workload::CREDENTIAL_KEYS,
    ),
    agent(&["cache"], super::cache::KEYS, &["static_secret_ttl"]),
    agent(&["cache.persist"], persist::KEYS, persist::SIDEKEY_KEYS),
    agent(&["api_proxy"], unserved::API_PROXY.keys, &[]),
    agent(&["telemetry"], unserved::TELEMETRY.keys, &[]),
    agent(&["listener"], unserved::LISTENER.keys, &[]),
    agent(
        &["listener.agent_api", "listener.proxy_api"],
        unserved::ENABLE_QUIT.keys,
        &[],
    ),
    agent(
        &["listener.telemetry"],
        unserved::LISTENER_TELEMETRY.keys,
        &[],
    ),
    agent(&["listener.profiling"], unserved::PROFILING.keys, &[]),
    agent(
        &["listener.inflight_requests_logging"],
        unserved::INFLIGHT.keys,
        &[],
    ),
    agent(&["listener.cors"], unserved::CORS.keys, &[]),
];

const AUDIT: &[&str] = &[
    "file",
    "stdout",
    "http",
    "anchor",
    "syslog",
    "otlp",
    "metadata",
    "secret",
    "hmac_key_file",
    "fail_closed",
];
const AUDIT_FILE: &[&str] = &[
    "path",
    "format",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
];
const AUDIT_HTTP: &[&str] = &[
    "url",
    "ca_cert",
    "spool_path",
    "spool_max_bytes",
    "batch_max",
    "timeout",
    "format",
];
const AUDIT_SYSLOG: &[&str] = &[
    "address",
    "transport",
    "tls",
    "ca_cert",
    "client_cert",
    "client_key",
    "facility",
    "format",
    "spool_path",
    "spool_max_bytes",
    "batch_max",
];
const AUDIT_OTLP: &[&str] = &[
    "endpoint",
    "protocol",
    "headers",
    "ca_cert",
    "timeout",
    "format",
    "spool_path",
    "spool_max_bytes",
    "batch_max",
];
const AUDIT_METADATA: &[&str] = &["owner", "environment", "sensitivity"];
const AUDIT_SECRET: &[&str] = &["owner", "environment", "sensitivity", "rotation_period"];

/// Keys of newer Vault Agent versions than sidekey follows, by block, and why ignoring them changes nothing
/// that is delivered.
const NEWER: &[(&str, &str, &str)] = &[(
    "auto_auth.method",
    "lease_renewal_threshold",
    "sidekey renews its token at about two thirds of its TTL",
)];

/// What a key nobody read is, when it is more than unknown.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stray {
    /// A key of newer Vault Agent versions, and why ignoring it changes nothing delivered.
    Newer(&'static str),
    /// A key of other blocks: where it belongs ("at the top level", "in vault or in auto_auth.method"), and
    /// whether it may be ignored (Vault Agent skips it in this block, and it is a Vault Agent key).
    Misplaced {
        /// Where it belongs.
        places: String,
        /// Whether it loads with a warning rather than an error.
        ignored: bool,
    },
}

/// What `key`, found unread in the block `kind`, is; `None` for a typo or an unknown key.
pub(crate) fn stray(kind: &str, key: &str) -> Option<Stray> {
    if let Some((_, _, why)) = NEWER.iter().find(|(k, name, _)| *k == kind && *name == key) {
        return Some(Stray::Newer(why));
    }
    let here = BLOCKS.iter().find(|b| b.is(kind));
    // A key of this very block that nobody read (another method's settings, a consul-template key sidekey
    // does not read) is not misplaced, even if another block has a key of that name.
    if here.is_some_and(|b| b.keys.contains(&key)) {
        return None;
    }
    let homes: Vec<&Block> = BLOCKS.iter().filter(|b| b.keys.contains(&key)).collect();
    if homes.is_empty() {
        return None;
    }
    let skips_unknown = here.is_some_and(|b| b.skips_unknown);
    let agent_key = homes.iter().any(|b| !b.sidekey.contains(&key));
    let places: Vec<String> = homes.iter().map(|b| b.place()).collect();
    Some(Stray::Misplaced {
        places: places.join(" or "),
        ignored: skips_unknown && agent_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_is_listed_once() {
        let mut kinds: Vec<&str> = BLOCKS
            .iter()
            .flat_map(|b| b.kinds.iter().copied())
            .collect();
        let all = kinds.len();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), all, "a block kind is listed twice");
        for b in BLOCKS {
            for k in b.sidekey {
                assert!(
                    b.keys.contains(k),
                    "{:?}: {k} is not among its keys",
                    b.kinds
                );
            }
        }
    }

    #[test]
    fn a_vault_agent_key_in_a_skipping_block_is_ignored() {
        assert_eq!(
            stray("auto_auth", "exit_after_auth"),
            Some(Stray::Misplaced {
                places: "at the top level".into(),
                ignored: true
            })
        );
        assert_eq!(
            stray("", "namespace"),
            Some(Stray::Misplaced {
                places: "in vault or in auto_auth.method".into(),
                ignored: true
            })
        );
    }

    #[test]
    fn strict_blocks_and_sidekey_keys_stay_errors() {
        let refused = |kind, key| {
            matches!(
                stray(kind, key),
                Some(Stray::Misplaced { ignored: false, .. })
            )
        };
        assert!(refused("template", "exit_after_auth"));
        assert!(refused("env_template", "perms"));
        assert!(refused("exec", "destination"));
        assert!(refused("vault", "lease_state_file"));
        assert!(refused("template_config", "hmac_key_file"));
    }

    #[test]
    fn own_keys_and_unknown_keys_are_not_strays() {
        assert_eq!(stray("auto_auth.method.config", "token_path"), None);
        assert_eq!(stray("template.exec", "splay"), None);
        assert_eq!(stray("template.wait", "enabled"), None);
        assert_eq!(stray("env_template", "error_fatal"), None);
        assert_eq!(stray("template", "destinaton"), None);
        assert_eq!(
            stray("auto_auth.method", "lease_renewal_threshold"),
            Some(Stray::Newer(
                "sidekey renews its token at about two thirds of its TTL"
            ))
        );
    }
}
