//! `listener "tcp"` / `listener "unix"` and `api_proxy`: typed as Vault Agent reads them, Vault's
//! defaults, the keys sidekey does not implement warned about one by one, and mistakes named by line.

use std::path::PathBuf;
use std::time::Duration;

use super::{Files, invalid, ok};

/// An `auto_auth` stanza, for configs whose API proxy asks for the auto-auth token (refused without one).
const AUTO_AUTH: &str = "auto_auth {\n  method \"token_file\" {\n    config = {\n      token_file_path = \"/t\"\n    }\n  }\n}\n";
use crate::config::{
    AutoAuthToken, DEFAULT_MAX_REQUEST_SIZE, ListenerBind, ListenerRole, ListenerTls, TlsVersion,
    WhenInconsistent,
};

#[test]
fn a_tcp_listener_gets_vaults_defaults() {
    let c = ok(
        "agent.hcl",
        "listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n  tls_disable = true\n}\n",
    );
    let l = &c.listeners[0];
    assert_eq!(
        l.bind,
        ListenerBind::Tcp {
            address: "127.0.0.1:8100".into(),
            tls: None
        }
    );
    assert_eq!(l.role, ListenerRole::Default);
    assert!(!l.require_request_header && !l.enable_quit);
    assert_eq!(l.max_request_size, Some(DEFAULT_MAX_REQUEST_SIZE));
    assert_eq!(l.max_request_duration, Duration::from_secs(90));
    assert_eq!(l.origin.line, 1);
    assert!(l.origin.file.ends_with("agent.hcl"));
    assert_eq!(c.api_proxy.use_auto_auth_token, AutoAuthToken::No);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn every_served_key_is_read() {
    let text = r#"
listener "tcp" {
  address                = "localhost:8443"
  tls_cert_file          = "/etc/agent/tls.crt"
  tls_key_file           = "/etc/agent/tls.key"
  tls_min_version        = "tls13"
  require_request_header = true
  max_request_size       = -1
  max_request_duration   = "5s"
  role                   = "metrics_only"
  proxy_api {
    enable_quit = true
  }
}
listener "unix" {
  address      = "/run/agent.sock"
  socket_mode  = "0660"
  socket_user  = "app"
  socket_group = 1000
}
api_proxy {
  use_auto_auth_token = "force"
  enforce_consistency = "always"
  when_inconsistent   = "retry"
}
"#;
    let c = ok("agent.hcl", &format!("{text}{AUTO_AUTH}"));
    let tcp = &c.listeners[0];
    assert_eq!(
        tcp.bind,
        ListenerBind::Tcp {
            address: "localhost:8443".into(),
            tls: Some(ListenerTls {
                cert_file: "/etc/agent/tls.crt".into(),
                key_file: "/etc/agent/tls.key".into(),
                min_version: TlsVersion::Tls13,
            }),
        }
    );
    assert!(tcp.require_request_header && tcp.enable_quit);
    assert_eq!(
        tcp.max_request_size, None,
        "a negative size turns the limit off"
    );
    assert_eq!(tcp.max_request_duration, Duration::from_secs(5));
    assert_eq!(tcp.role, ListenerRole::MetricsOnly);
    assert_eq!(
        c.listeners[1].bind,
        ListenerBind::Unix {
            path: PathBuf::from("/run/agent.sock"),
            mode: Some(0o660),
            user: Some("app".into()),
            group: Some("1000".into()),
        }
    );
    assert_eq!(c.listeners[1].origin.line, 15);
    assert_eq!(c.api_proxy.use_auto_auth_token, AutoAuthToken::Force);
    assert!(c.api_proxy.enforce_consistency);
    assert_eq!(c.api_proxy.when_inconsistent, WhenInconsistent::Retry);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn use_auto_auth_token_reads_bools_strings_and_force_and_the_cache_spelling() {
    for (value, want) in [
        ("true", AutoAuthToken::Add),
        ("\"true\"", AutoAuthToken::Add),
        ("false", AutoAuthToken::No),
        ("\"FORCE\"", AutoAuthToken::Force),
    ] {
        let c = ok(
            "agent.hcl",
            &format!("api_proxy {{\n  use_auto_auth_token = {value}\n}}\n{AUTO_AUTH}"),
        );
        assert_eq!(c.api_proxy.use_auto_auth_token, want, "{value}");
        let c = ok(
            "agent.hcl",
            &format!("cache {{\n  use_auto_auth_token = {value}\n}}\n{AUTO_AUTH}"),
        );
        assert_eq!(c.api_proxy.use_auto_auth_token, want, "cache {value}");
    }
    let (_, line, message) = invalid(
        "agent.hcl",
        "api_proxy {\n  use_auto_auth_token = \"always\"\n}\n",
    );
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "api_proxy.use_auto_auth_token: expected true, false or \"force\""
    );
}

#[test]
fn the_auto_auth_token_without_auto_auth_is_refused() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n  tls_disable = true\n}\napi_proxy {\n  use_auto_auth_token = true\n}\n",
    );
    assert_eq!(line, 6);
    assert!(
        message.starts_with(
            "api_proxy.use_auto_auth_token: asks for the auto-auth token, but there is no auto_auth"
        ),
        "{message}"
    );
    // Without it, callers' tokens pass through: a plain forwarding proxy needs no auto_auth.
    ok(
        "agent.hcl",
        "listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n  tls_disable = true\n}\napi_proxy {\n  use_auto_auth_token = false\n}\n",
    );
}

#[test]
fn the_api_proxy_setting_wins_over_the_caches_across_files() {
    let c = Files::new()
        .add("a.hcl", "cache {\n  use_auto_auth_token = true\n}\n")
        .add("b.hcl", "api_proxy {\n  use_auto_auth_token = false\n}\n")
        .load()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.api_proxy.use_auto_auth_token, AutoAuthToken::No);
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].file.ends_with("a.hcl"));
    assert_eq!(c.warnings[0].line, 2);
}

#[test]
fn keys_vault_knows_but_sidekey_does_not_implement_warn_one_by_one() {
    let text = r#"listener "tcp" {
  address            = "127.0.0.1:8100"
  tls_disable        = true
  http_idle_timeout  = "5m"
  x_forwarded_for_authorized_addrs = "10.0.0.0/8"
  socket_mode        = "0600"
  cors {
    enabled = true
  }
}
"#;
    let c = ok("agent.hcl", text);
    let got: Vec<(usize, &str)> = c
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                4,
                "listener.http_idle_timeout: ignored: sidekey's listener does not implement it"
            ),
            (
                5,
                "listener.x_forwarded_for_authorized_addrs: ignored: sidekey's listener does not implement it"
            ),
            (
                6,
                "listener.socket_mode: ignored: it sets a unix socket's owner and mode"
            ),
            (
                7,
                "listener.cors: ignored: sidekey's listener does not implement it"
            ),
        ]
    );
}

#[test]
fn mistakes_are_named_by_line() {
    for (text, line, message) in [
        (
            "\nlistener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n}\n",
            2,
            "listener: tls_cert_file and tls_key_file are required unless tls_disable = true",
        ),
        (
            "listener \"tcp\" {\n  address = \"127.0.0.1\"\n  tls_disable = true\n}\n",
            2,
            "listener.address: \"127.0.0.1\" is not HOST:PORT",
        ),
        (
            "listener \"tcp\" {\n  tls_disable = true\n  role = \"admin\"\n}\n",
            3,
            "listener.role: \"admin\" is not \"default\" or \"metrics_only\"",
        ),
        (
            "listener \"tcp\" {\n  tls_disable = true\n  tls_require_and_verify_client_cert = true\n}\n",
            3,
            "listener.tls_require_and_verify_client_cert: client certificates are not supported",
        ),
        (
            "listener \"unix\" {\n  socket_mode = \"0660\"\n}\n",
            1,
            "listener.address: required",
        ),
        (
            "listener \"tcp\" {\n  tls_cert_file = \"c\"\n  tls_key_file = \"k\"\n  tls_min_version = \"tls14\"\n}\n",
            4,
            "listener.tls_min_version",
        ),
        (
            "api_proxy {\n  when_inconsistent = \"maybe\"\n}\n",
            2,
            "api_proxy.when_inconsistent: \"maybe\" is not",
        ),
    ] {
        let (_, got_line, got) = invalid("agent.hcl", text);
        assert_eq!(got_line, line, "{got}");
        assert!(got.starts_with(message), "{got}");
    }
}
