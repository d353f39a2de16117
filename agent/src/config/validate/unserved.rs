//! The keys Vault Agent knows in its stanzas (for did-you-mean and misplaced-key hints), and what sidekey
//! loads without acting on: `telemetry` and the listener keys it does not implement
//! (`listener` reads the rest).
//!
//! Docs and generated configs carry them, so refusing them would make those files unusable; silently
//! dropping them would hide what is not done. So each loads with one warning naming its line (DESIGN.md
//! §4), while the keys inside are still checked against the set Vault Agent knows, so a typo is still an
//! error naming it.

use super::Located;
use crate::config::node::Problem;
use crate::config::section::{Labels, Section};
use crate::config::types::AutoAuthToken;

/// The keys Vault Agent knows inside a stanza: attributes, and nested blocks (`None`: contents not
/// checked, e.g. `custom_response_headers`, whose keys are status codes).
pub(super) struct Known {
    pub(super) keys: &'static [&'static str],
    blocks: &'static [(&'static str, Option<&'static Known>)],
}

/// `api_proxy { ... }`.
pub(super) const API_PROXY: Known = Known {
    keys: &[
        "use_auto_auth_token",
        "enforce_consistency",
        "when_inconsistent",
    ],
    blocks: &[],
};

/// `listener "tcp" | "unix" { ... }` (the shared listener stanza of Vault's configutil).
pub(super) const LISTENER: Known = Known {
    keys: &[
        "type",
        "address",
        "role",
        "tls_disable",
        "tls_cert_file",
        "tls_key_file",
        "tls_min_version",
        "tls_max_version",
        "tls_cipher_suites",
        "tls_prefer_server_cipher_suites",
        "tls_require_and_verify_client_cert",
        "tls_client_ca_file",
        "tls_disable_client_certs",
        "socket_mode",
        "socket_user",
        "socket_group",
        "require_request_header",
        "max_request_size",
        "max_request_duration",
        "http_idle_timeout",
        "http_read_header_timeout",
        "http_read_timeout",
        "http_write_timeout",
        "proxy_protocol_behavior",
        "proxy_protocol_authorized_addrs",
        "x_forwarded_for_authorized_addrs",
        "x_forwarded_for_hop_skips",
        "x_forwarded_for_reject_not_authorized",
        "x_forwarded_for_reject_not_present",
        "x_forwarded_for_client_cert_header",
        "x_forwarded_for_client_cert_header_decoders",
        "cluster_address",
        "disable_replication_status_endpoints",
        "disable_request_limiter",
        "redact_addresses",
        "redact_cluster_name",
        "redact_version",
    ],
    blocks: &[],
};

/// The blocks of a listener sidekey does not act on (`agent_api` / `proxy_api` it reads).
pub(super) const LISTENER_BLOCKS: &[(&str, Option<&Known>)] = &[
    ("telemetry", Some(&LISTENER_TELEMETRY)),
    ("profiling", Some(&PROFILING)),
    ("inflight_requests_logging", Some(&INFLIGHT)),
    ("cors", Some(&CORS)),
    ("custom_response_headers", None),
];

pub(super) const ENABLE_QUIT: Known = Known {
    keys: &["enable_quit"],
    blocks: &[],
};

pub(super) const LISTENER_TELEMETRY: Known = Known {
    keys: &["unauthenticated_metrics_access", "disallow_metrics"],
    blocks: &[],
};

pub(super) const PROFILING: Known = Known {
    keys: &["unauthenticated_pprof_access"],
    blocks: &[],
};

pub(super) const INFLIGHT: Known = Known {
    keys: &["unauthenticated_in_flight_requests_access"],
    blocks: &[],
};

pub(super) const CORS: Known = Known {
    keys: &["enabled", "allowed_origins", "allowed_headers"],
    blocks: &[],
};

/// `telemetry { ... }` (Vault's shared telemetry stanza).
pub(super) const TELEMETRY: Known = Known {
    keys: &[
        "usage_gauge_period",
        "maximum_gauge_cardinality",
        "disable_hostname",
        "enable_hostname_label",
        "metrics_prefix",
        "lease_metrics_epsilon",
        "num_lease_metrics_buckets",
        "add_lease_metrics_namespace_labels",
        "add_mount_point_rollback_metrics",
        "filter_default",
        "prefix_filter",
        "statsite_address",
        "statsd_address",
        "dogstatsd_addr",
        "dogstatsd_tags",
        "prometheus_retention_time",
        "circonus_api_token",
        "circonus_api_app",
        "circonus_api_url",
        "circonus_submission_interval",
        "circonus_submission_url",
        "circonus_check_id",
        "circonus_check_force_metric_activation",
        "circonus_check_instance_id",
        "circonus_check_search_tag",
        "circonus_check_display_name",
        "circonus_check_tags",
        "circonus_broker_id",
        "circonus_broker_select_tag",
        "stackdriver_project_id",
        "stackdriver_location",
        "stackdriver_namespace",
        "stackdriver_debug_logs",
    ],
    blocks: &[],
};

/// The top-level stanzas and keys of this module, each turned into a warning.
pub(super) fn top(s: &mut Section<'_>, warnings: &mut Vec<Problem>) -> Result<(), Problem> {
    for block in s.blocks("telemetry", Labels::None)? {
        let line = block.line;
        check(block.section, &TELEMETRY)?;
        warnings.push(Problem::new(
            line,
            "telemetry: not served: sidekey's metrics are served on listener \"admin\" at /metrics \
             (and on a listener with role = \"metrics_only\")",
        ));
    }
    Ok(())
}

/// Note `use_auto_auth_token` of `s` (at `path`) in `token_users` when it asks for the auto-auth token
/// (`true` or `"force"`), which Vault Agent refuses beside a wrapped login (see `load`); returns its
/// value.
pub(super) fn auto_auth_token_user(
    s: &mut Section<'_>,
    path: &'static str,
    token_users: &mut Vec<Located<&'static str>>,
) -> Result<Option<Located<AutoAuthToken>>, Problem> {
    let found = super::listener::use_auto_auth_token(s)?;
    if let Some((t, line)) = found
        && t != AutoAuthToken::No
    {
        token_users.push((path, line));
    }
    Ok(found)
}

/// Every key of `s` must be one Vault Agent knows there.
pub(super) fn check(mut s: Section<'_>, known: &Known) -> Result<(), Problem> {
    for (key, inner) in known.blocks {
        let body_keys = inner.map_or(&[][..], |k| k.keys);
        for block in s.blocks(key, Labels::Optional(body_keys))? {
            if let Some(inner) = inner {
                check(block.section, inner)?;
            }
        }
    }
    for key in known.keys {
        s.skip(key);
    }
    s.finish(&[])
}
