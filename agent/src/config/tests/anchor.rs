//! `audit { file { log_rotate_* } anchor { path interval } }`.

use std::time::Duration;

use super::{invalid, ok};
use crate::config::{AuditAnchorConfig, KeepRotated, Rotation};

#[test]
fn rotation_keys_and_anchor_are_read_as_vault_reads_its_log_keys() {
    let c = ok(
        "agent.hcl",
        r#"audit {
  file {
    path                 = "/var/log/sidekey/audit.log"
    log_rotate_bytes     = 1048576
    log_rotate_duration  = "1h"
    log_rotate_max_files = 7
  }
  anchor {
    path     = "/secret/sidekey/anchors/web-1/"
    interval = "10m"
  }
}
"#,
    );
    assert_eq!(
        c.audit.file_rotation,
        Some(Rotation {
            bytes: Some(1_048_576),
            duration: Duration::from_secs(3600),
            keep: KeepRotated::Newest(7),
        })
    );
    assert_eq!(
        c.audit.anchor,
        Some(AuditAnchorConfig {
            path: "secret/sidekey/anchors/web-1".into(),
            interval: Duration::from_secs(600),
        })
    );
}

#[test]
fn defaults_no_rotation_without_a_key_vaults_24h_with_one_and_a_5m_anchor() {
    let c = ok(
        "agent.hcl",
        "audit {\n  file { path = \"a.log\" }\n  anchor { path = \"secret/data/anchors\" }\n}\n",
    );
    assert_eq!(c.audit.file_rotation, None);
    assert_eq!(
        c.audit.anchor.map(|a| a.interval),
        Some(Duration::from_secs(300))
    );
    let c = ok(
        "agent.hcl",
        "audit {\n  file {\n    path = \"a.log\"\n    log_rotate_max_files = -1\n    log_rotate_bytes = 0\n  }\n}\n",
    );
    assert_eq!(
        c.audit.file_rotation,
        Some(Rotation {
            bytes: None,
            duration: Duration::from_secs(24 * 3600),
            keep: KeepRotated::None,
        })
    );
}

#[test]
fn an_anchor_needs_the_file_sink() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "audit {\n  stdout {}\n  anchor {\n    path = \"secret/anchors\"\n  }\n}\n",
    );
    assert_eq!(line, 3);
    assert!(
        message.starts_with("audit.anchor: anchors the file sink's chain"),
        "{message}"
    );
}

#[test]
fn bad_anchor_settings_are_named() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "audit {\n  file { path = \"a.log\" }\n  anchor {\n    path = \"secret\"\n  }\n}\n",
    );
    assert_eq!(line, 4);
    assert!(
        message.starts_with("audit.anchor.path: \"secret\" is not a KV v2 secret path"),
        "{message}"
    );
    let (_, line, message) = invalid(
        "agent.hcl",
        "audit {\n  file { path = \"a.log\" }\n  anchor {\n    path = \"secret/a\"\n    intervall = \"1m\"\n  }\n}\n",
    );
    assert_eq!(line, 5);
    assert!(message.contains("interval"), "{message}");
    let (_, _, message) = invalid(
        "agent.hcl",
        "audit {\n  file {\n    path = \"a.log\"\n    log_rotate_duration = \"soon\"\n  }\n}\n",
    );
    assert!(
        message.starts_with("audit.file.log_rotate_duration"),
        "{message}"
    );
}
