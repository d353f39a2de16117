//! `audit { syslog {...} otlp {...} }`: defaults, every key, and the errors naming file:line and key.

use std::path::Path;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::{invalid, ok};
use crate::audit::Format;
use crate::config::{OtlpProtocol, SyslogTransport};

#[test]
fn syslog_defaults_to_tls_on_port_6514_facility_auth() {
    let c = ok(
        "agent.hcl",
        r#"audit {
  syslog {
    address    = "logs.example.com"
    spool_path = "/var/lib/sidekey/syslog.spool"
  }
}
"#,
    );
    let s = c.audit.syslog.expect("syslog");
    assert_eq!((s.host.as_str(), s.port), ("logs.example.com", 6514));
    assert_eq!(s.transport, SyslogTransport::Tcp);
    assert!(s.tls);
    assert_eq!(s.facility, 4);
    assert_eq!(s.format, Format::Sidekey);
    assert_eq!(s.batch_max, 100);
    assert_eq!(s.spool_max_bytes, 64 * 1024 * 1024);
    assert_eq!(s.spool_path, Path::new("/var/lib/sidekey/syslog.spool"));
}

#[test]
fn syslog_every_key() {
    let c = ok(
        "agent.hcl",
        r#"audit {
  syslog {
    address         = "[::1]:1514"
    tls             = false
    transport       = "udp"
    facility        = "local4"
    format          = "ocsf"
    spool_path      = "/s"
    spool_max_bytes = 4096
    batch_max       = 7
  }
}
"#,
    );
    let s = c.audit.syslog.expect("syslog");
    assert_eq!((s.host.as_str(), s.port), ("::1", 1514));
    assert_eq!(s.transport, SyslogTransport::Udp);
    assert!(!s.tls);
    assert_eq!(s.facility, 20);
    assert_eq!(s.format, Format::Ocsf);
    assert_eq!((s.spool_max_bytes, s.batch_max), (4096, 7));
    // Mutual TLS.
    let c = ok(
        "agent.hcl",
        "audit {\n  syslog {\n    address = \"h\"\n    client_cert = \"/c.pem\"\n    client_key = \"/k.pem\"\n    spool_path = \"/s\"\n  }\n}\n",
    );
    let s = c.audit.syslog.expect("syslog");
    assert_eq!(
        s.client_cert,
        Some((Path::new("/c.pem").into(), Path::new("/k.pem").into()))
    );
    // Plain TCP and UDP default to port 514.
    let c = ok(
        "agent.hcl",
        "audit {\n  syslog {\n    address = \"h\"\n    tls = false\n    spool_path = \"/s\"\n  }\n}\n",
    );
    assert_eq!(c.audit.syslog.expect("syslog").port, 514);
}

#[test]
fn syslog_errors_name_the_line_and_key() {
    let cases = [
        (
            "    address = \"h:6514\"\n    transport = \"udp\"\n    tls = true\n",
            5,
            "audit.syslog.tls: TLS needs transport = \"tcp\"",
        ),
        (
            "    address = \"h:6514\"\n    tls = false\n    ca_cert = \"/ca.pem\"\n",
            5,
            "audit.syslog.ca_cert: only used with TLS",
        ),
        (
            "    address = \"h\"\n    tls = false\n    client_key = \"/k.pem\"\n",
            5,
            "audit.syslog.client_key: only used with TLS",
        ),
        (
            "    address = \"h\"\n    client_cert = \"/c.pem\"\n",
            4,
            "audit.syslog.client_cert: needs audit.syslog.client_key",
        ),
        (
            "    address = \"h\"\n    client_key = \"/k.pem\"\n",
            4,
            "audit.syslog.client_key: needs audit.syslog.client_cert",
        ),
        (
            "    address = \"::1:514\"\n",
            3,
            "audit.syslog.address: \"::1:514\": write an IPv6 address in brackets",
        ),
        (
            "    address = \"h:65536\"\n",
            3,
            "audit.syslog.address: \"h:65536\": \"65536\" is not a port number",
        ),
        (
            "    address = \"h\"\n    transport = \"tls\"\n",
            4,
            "audit.syslog.transport: \"tls\" is not \"tcp\" or \"udp\"",
        ),
        (
            "    address = \"h\"\n    facility = \"audit\"\n",
            4,
            "audit.syslog.facility: \"AUDIT\" is not a syslog facility",
        ),
        (
            "    address = \"h\"\n    format = \"cef\"\n",
            4,
            "audit.syslog.format: \"cef\" is not one of",
        ),
        (
            "    address = \"h\"\n    batch_max = 0\n",
            4,
            "audit.syslog.batch_max: must be a whole number of 1 or more",
        ),
        (
            "    address = \"h\"\n    spool_max_bytes = 0\n",
            4,
            "audit.syslog.spool_max_bytes: must be more than 0",
        ),
        ("    address = \"h\"\n    adress = \"h\"\n", 4, "adress"),
    ];
    for (body, line, expect) in cases {
        let text = format!("audit {{\n  syslog {{\n{body}    spool_path = \"/s\"\n  }}\n}}\n");
        let (file, at, message) = invalid("agent.hcl", &text);
        assert_eq!(file, "agent.hcl");
        assert!(message.contains(expect), "{body}: {message}");
        assert_eq!(at, line, "{body}: {message}");
    }
    let (_, _, message) = invalid(
        "agent.hcl",
        "audit {\n  syslog {\n    address = \"h\"\n  }\n}\n",
    );
    assert!(
        message.contains("audit.syslog.spool_path: required"),
        "{message}"
    );
}

#[test]
fn otlp_defaults_and_every_key() {
    let c = ok(
        "agent.hcl",
        r#"audit {
  otlp {
    endpoint   = "http://127.0.0.1:4318/v1/logs"
    spool_path = "/s"
  }
}
"#,
    );
    let o = c.audit.otlp.expect("otlp");
    assert_eq!(o.endpoint, "http://127.0.0.1:4318/v1/logs");
    assert_eq!(o.protocol, OtlpProtocol::Protobuf);
    assert_eq!(o.timeout, Duration::from_secs(10));
    assert!(o.headers.is_empty());

    let c = ok(
        "agent.hcl",
        r#"audit {
  otlp {
    endpoint = "https://otel.example.com/v1/logs"
    protocol = "http/json"
    format   = "ecs"
    headers  = { "X-Api-Key" = "k3y", "X-Scope-OrgID" = "payments" }
    ca_cert  = "/etc/ssl/otel-ca.pem"
    timeout  = "3s"
    spool_path = "/s"
    batch_max  = 50
  }
}
"#,
    );
    let o = c.audit.otlp.expect("otlp");
    assert_eq!(o.protocol, OtlpProtocol::Json);
    assert_eq!(o.format, Format::Ecs);
    assert_eq!(o.timeout, Duration::from_secs(3));
    assert_eq!(o.batch_max, 50);
    let headers: Vec<(&str, &str)> = o
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose_secret()))
        .collect();
    assert_eq!(
        headers,
        [("X-Api-Key", "k3y"), ("X-Scope-OrgID", "payments")]
    );
    // A header's value is a credential: never in Debug.
    assert!(!format!("{o:?}").contains("k3y"));
}

#[test]
fn otlp_errors_name_the_line_and_key() {
    let cases = [
        (
            "    endpoint = \"127.0.0.1:4318\"\n",
            3,
            "audit.otlp.endpoint: \"127.0.0.1:4318\" is not an http:// or https:// URL",
        ),
        (
            "    endpoint = \"http://h/v1/logs\"\n    protocol = \"grpc\"\n",
            4,
            "audit.otlp.protocol: OTLP over gRPC is not supported",
        ),
        (
            "    endpoint = \"http://h/v1/logs\"\n    headers = { \"Bad Name\" = \"x\" }\n",
            4,
            "audit.otlp.headers.Bad Name: is not a valid HTTP header name",
        ),
        (
            "    endpoint = \"http://h/v1/logs\"\n    headers = {\n      Authorization = \"a\\nb\"\n    }\n",
            5,
            "audit.otlp.headers.Authorization: the value is not a valid HTTP header value",
        ),
        (
            "    endpoint = \"http://h/v1/logs\"\n    headers = { x = 1 }\n",
            4,
            "audit.otlp.headers.x: expected a string",
        ),
        (
            "    endpoint = \"http://h/v1/logs\"\n    headers = { content-type = \"text/plain\" }\n",
            4,
            "audit.otlp.headers.content-type: is set by sidekey",
        ),
        (
            "    endpoint = \"http://h/v1/logs\"\n    timeout = \"0s\"\n",
            4,
            "audit.otlp.timeout: must be more than 0",
        ),
    ];
    for (body, line, expect) in cases {
        let text = format!("audit {{\n  otlp {{\n{body}    spool_path = \"/s\"\n  }}\n}}\n");
        let (_, at, message) = invalid("agent.hcl", &text);
        assert!(message.contains(expect), "{body}: {message}");
        assert_eq!(at, line, "{body}: {message}");
        // Never the header's value.
        assert!(
            !message.contains("a\\nb") && !message.contains("text/plain"),
            "{message}"
        );
    }
}

#[test]
fn two_sinks_on_one_file_are_an_error_naming_both_keys() {
    let (file, at, message) = invalid(
        "agent.hcl",
        r#"audit {
  http {
    url        = "http://127.0.0.1:9/"
    spool_path = "/var/lib/sidekey/audit.spool"
  }
  syslog {
    address    = "h"
    spool_path = "/var/lib/sidekey/audit.spool"
  }
}
"#,
    );
    assert_eq!((file.as_str(), at), ("agent.hcl", 8), "{message}");
    assert!(
        message
            .contains("audit.syslog.spool_path: the same file as audit.http.spool_path (line 4)"),
        "{message}"
    );
    let (_, at, message) = invalid(
        "agent.hcl",
        r#"audit {
  file { path = "/var/log/sidekey/audit.log" }
  otlp {
    endpoint   = "http://127.0.0.1:4318/v1/logs"
    spool_path = "/var/log/sidekey/audit.log"
  }
}
"#,
    );
    assert_eq!(at, 5, "{message}");
    assert!(
        message.contains("audit.otlp.spool_path: the same file as audit.file.path (line 2)"),
        "{message}"
    );
}
