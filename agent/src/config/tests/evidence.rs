//! The evidence stanzas: `audit { http, hmac_key_file, fail_closed, metadata, secret }`,
//! `listener "admin"`, `log_level`, `log_format`.

use std::path::Path;
use std::time::Duration;

use super::{Files, invalid, invalid_files, ok};
use crate::audit::Format;
use crate::config::{AdminListener, LogFormat};

const FULL: &str = r#"log_level  = "DEBUG"
log_format = "json"

listener "admin" {
  address = "127.0.0.1:8300"
}

audit {
  file { path = "/var/log/sidekey/audit.log" }
  http {
    url        = "https://collector.internal/v1/events"
    ca_cert    = "/etc/sidekey/collector-ca.pem"
    spool_path = "/var/lib/sidekey/audit.spool"
    batch_max  = 50
  }
  hmac_key_file = "/etc/sidekey/audit.key"
  fail_closed   = true
  metadata {
    owner       = "payments"
    environment = "prod"
  }
  secret "secret/data/app/config" {
    sensitivity     = "high"
    rotation_period = "720h"
  }
}
"#;

#[test]
fn full_evidence_config() {
    let c = ok("agent.hcl", FULL);
    assert_eq!(c.log_level.as_deref(), Some("debug"));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(
        c.admin_listener,
        Some(AdminListener::Tcp(([127, 0, 0, 1], 8300).into()))
    );
    let h = c.audit.http.as_ref().expect("http");
    assert_eq!(h.url, "https://collector.internal/v1/events");
    assert_eq!(h.batch_max, 50);
    assert_eq!(h.spool_max_bytes, 64 * 1024 * 1024);
    assert_eq!(h.spool_path, Path::new("/var/lib/sidekey/audit.spool"));
    assert!(c.audit.fail_closed);
    assert_eq!(
        c.audit.hmac_key_file.as_deref(),
        Some(Path::new("/etc/sidekey/audit.key"))
    );
    assert_eq!(c.audit.metadata.owner.as_deref(), Some("payments"));
    let s = &c.audit.secrets["secret/data/app/config"];
    assert_eq!(s.rotation_period, Some(Duration::from_secs(720 * 3600)));
    assert_eq!(s.sensitivity.as_deref(), Some("high"));
}

#[test]
fn unix_socket_listener() {
    let c = ok(
        "agent.hcl",
        "listener \"admin\" {\n  address = \"unix:/run/sidekey/admin.sock\"\n}\n",
    );
    assert_eq!(
        c.admin_listener,
        Some(AdminListener::Unix("/run/sidekey/admin.sock".into()))
    );
}

#[test]
fn bad_listener_address() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "listener \"admin\" {\n  address = \"nope\"\n}\n",
    );
    assert_eq!(line, 2);
    assert!(
        message.starts_with("listener.address: \"nope\" is neither"),
        "{message}"
    );
}

#[test]
fn http_sink_needs_a_spool() {
    let (_, _, message) = invalid(
        "agent.hcl",
        "audit {\n  http {\n    url = \"http://127.0.0.1:9\"\n  }\n}\n",
    );
    assert!(message.contains("audit.http.spool_path"), "{message}");
}

#[test]
fn bad_log_level() {
    let (_, line, message) = invalid("agent.hcl", "log_level = \"loud\"\n");
    assert_eq!(line, 1);
    assert!(
        message.starts_with("log_level: \"loud\" is not one of"),
        "{message}"
    );
}

#[test]
fn rotation_period_only_per_secret() {
    let (_, _, message) = invalid(
        "agent.hcl",
        "audit {\n  metadata {\n    rotation_period = \"1h\"\n  }\n}\n",
    );
    assert!(
        message.contains("audit.metadata.rotation_period is not supported"),
        "{message}"
    );
}

#[test]
fn every_sink_takes_a_format() {
    let c = ok(
        "agent.hcl",
        r#"audit {
  file {
    path   = "/var/log/sidekey/audit.log"
    format = "ocsf"
  }
  stdout { format = "ecs" }
  http {
    url        = "http://127.0.0.1:9"
    spool_path = "/var/lib/sidekey/audit.spool"
    format     = "sidekey"
  }
}
"#,
    );
    assert_eq!(c.audit.file_format, Format::Ocsf);
    assert_eq!(c.audit.stdout_format, Format::Ecs);
    assert_eq!(
        c.audit.http.as_ref().map(|h| h.format),
        Some(Format::Sidekey)
    );
    let c = ok("agent.hcl", "audit {\n  stdout {}\n}\n");
    assert_eq!(c.audit.stdout_format, Format::Sidekey);
    assert_eq!(c.audit.file_format, Format::Sidekey);
}

#[test]
fn unknown_format_names_the_line_and_key() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "audit {\n  file {\n    path   = \"/tmp/a.log\"\n    format = \"cef\"\n  }\n}\n",
    );
    assert_eq!(line, 4);
    assert_eq!(
        message,
        r#"audit.file.format: "cef" is not one of "sidekey", "ocsf" or "ecs""#
    );
}

#[test]
fn stdout_sink_with_an_exec_stanza_names_the_sink_line() {
    let files = Files::new()
        .add("exec.hcl", "exec {\n  command = [\"/app\"]\n}\n")
        .add(
            "audit.hcl",
            "audit {\n  file { path = \"/a.log\" }\n  stdout {}\n}\n",
        );
    let (file, line, message) = invalid_files(files);
    assert_eq!((file.as_str(), line), ("audit.hcl", 3));
    assert!(
        message.starts_with("audit.stdout: in exec mode stdout belongs to the child"),
        "{message}"
    );
}

#[test]
fn stdout_sink_is_kept_when_the_child_writes_elsewhere_or_no_child_runs() {
    let c = ok(
        "agent.hcl",
        "exec {\n  command = [\"/app\"]\n  child_process_stdout = \"/var/log/app.out\"\n}\naudit {\n  stdout {}\n}\n",
    );
    assert!(c.audit.stdout);
    assert!(crate::config::stdout_sink_in_exec_mode(&c).is_none());
    // Without an exec stanza `sidekey run` keeps stdout; `sidekey exec` asks and gets the error.
    let c = ok("agent.hcl", "audit {\n  stdout {}\n}\n");
    let err = crate::config::stdout_sink_in_exec_mode(&c).map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.ends_with("agent.hcl:2: audit.stdout: in exec mode stdout belongs to the child; use audit.file or a spooled sink (http, syslog, otlp), or exec.child_process_stdout for the child")),
        "{err:?}"
    );
}
