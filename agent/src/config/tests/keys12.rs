//! The Vault Agent keys sidekey once loaded with an "ignored" warning and now acts on: `log_file` with
//! `log_rotate_*`, `disable_idle_connections` / `disable_keep_alives`.

use std::path::Path;
use std::time::Duration;

use super::{Files, invalid, ok};
use crate::config::{KeepRotated, Parts};

#[test]
fn log_file_and_rotation_keys_are_read_as_vault_agent_reads_them() {
    let text = "log_file = \"/var/log/sidekey/agent.log\"\nlog_rotate_bytes = 1048576\nlog_rotate_duration = \"1h\"\nlog_rotate_max_files = 3\n";
    let c = ok("agent.hcl", text);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let log = c.log_file.expect("log_file");
    assert_eq!(log.dir, Path::new("/var/log/sidekey"));
    assert_eq!(log.name, "agent.log");
    assert_eq!(log.rotation.bytes, Some(1_048_576));
    assert_eq!(log.rotation.duration, Duration::from_secs(3600));
    assert_eq!(log.rotation.keep, KeepRotated::Newest(3));
}

#[test]
fn log_rotation_defaults_and_vault_agents_special_values() {
    let c = ok("agent.hcl", "log_file = \"/var/log/agent\"\n");
    let log = c.log_file.expect("log_file");
    assert_eq!(
        (log.dir.as_path(), log.name.as_str()),
        (Path::new("/var/log"), "agent")
    );
    assert_eq!(log.rotation.bytes, None);
    assert_eq!(log.rotation.duration, Duration::from_secs(24 * 3600));
    assert_eq!(log.rotation.keep, KeepRotated::All);

    // JSON writes numbers as strings too; 0 bytes or a 0 duration are "no limit" / the default.
    let c = ok(
        "agent.json",
        r#"{"log_file": "x.log", "log_rotate_bytes": "0", "log_rotate_duration": "0", "log_rotate_max_files": -1}"#,
    );
    let log = c.log_file.expect("log_file");
    assert_eq!(
        (log.dir.as_path(), log.name.as_str()),
        (Path::new("."), "x.log")
    );
    assert_eq!(log.rotation.bytes, None);
    assert_eq!(log.rotation.duration, Duration::from_secs(24 * 3600));
    assert_eq!(log.rotation.keep, KeepRotated::None);
}

#[test]
fn a_log_file_path_ending_in_a_slash_or_naming_a_directory_means_bao_log_in_it() {
    let c = ok("agent.hcl", "log_file = \"/var/log/sidekey/\"\n");
    let log = c.log_file.expect("log_file");
    assert_eq!(
        (log.dir.as_path(), log.name.as_str()),
        (Path::new("/var/log/sidekey/"), "bao.log")
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let c = ok("agent.hcl", &format!("log_file = {:?}\n", dir.path()));
    let log = c.log_file.expect("log_file");
    assert_eq!(
        (log.dir.as_path(), log.name.as_str()),
        (dir.path(), "bao.log")
    );
}

#[test]
fn rotation_keys_without_log_file_warn_and_log_keys_may_come_from_several_files() {
    let c = ok("agent.hcl", "\nlog_rotate_max_files = 2\n");
    assert!(c.log_file.is_none());
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert_eq!(c.warnings[0].line, 2);
    assert_eq!(
        c.warnings[0].message,
        "log_rotate_max_files: has no effect without log_file"
    );

    let c = Files::new()
        .add("a.hcl", "log_file = \"/var/log/a.log\"\n")
        .add("b.hcl", "log_rotate_bytes = 100\n")
        .load()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.log_file.expect("log_file").rotation.bytes, Some(100));

    let (file, line, message) = super::invalid_files(
        Files::new()
            .add("a.hcl", "log_file = \"/var/log/a.log\"\n")
            .add("b.hcl", "\nlog_file = \"/var/log/b.log\"\n"),
    );
    assert_eq!((file.as_str(), line), ("b.hcl", 2));
    assert!(
        message.starts_with("log_file: already given in"),
        "{message}"
    );
}

#[test]
fn bad_log_rotation_values_are_errors() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "log_file = \"a.log\"\nlog_rotate_duration = \"soon\"\n",
    );
    assert_eq!(line, 2);
    assert!(
        message.starts_with("log_rotate_duration: \"soon\" is not a duration"),
        "{message}"
    );
    let (_, line, message) = invalid(
        "agent.hcl",
        "log_file = \"a.log\"\nlog_rotate_bytes = \"1MB\"\n",
    );
    assert_eq!(line, 2);
    assert!(
        message.starts_with("log_rotate_bytes: expected a whole number"),
        "{message}"
    );
}

#[test]
fn connection_keys_name_the_parts_they_apply_to() {
    let c = ok(
        "agent.hcl",
        "disable_idle_connections = [\"auto-auth\"]\ndisable_keep_alives = [\"templating\", \"auto-auth\"]\n",
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.disable_idle_connections,
        Parts {
            auto_auth: true,
            templating: false
        }
    );
    assert_eq!(
        c.disable_keep_alives,
        Parts {
            auto_auth: true,
            templating: true
        }
    );
    assert_eq!(ok("agent.hcl", "").disable_keep_alives, Parts::default());
}

#[test]
fn the_api_proxy_parts_warn_and_an_unknown_part_is_an_error() {
    let c = ok(
        "agent.hcl",
        "\ndisable_keep_alives = [\"caching\", \"proxying\", \"templating\"]\n",
    );
    assert!(c.disable_keep_alives.templating);
    let got: Vec<(usize, &str)> = c
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                2,
                "disable_keep_alives: \"caching\" has no effect: the API proxy forwards through the \"templating\" part's connections"
            ),
            (
                2,
                "disable_keep_alives: \"proxying\" has no effect: the API proxy forwards through the \"templating\" part's connections"
            ),
        ]
    );
    let (_, line, message) = invalid(
        "agent.hcl",
        "\n\ndisable_idle_connections = [\"autoauth\"]\n",
    );
    assert_eq!(line, 3);
    assert_eq!(
        message,
        r#"disable_idle_connections: "autoauth" is not one of "auto-auth", "caching", "proxying", "templating""#
    );
}
