//! Positive tests: realistic Vault/OpenBao Agent configs read into the typed config.

use std::path::Path;
use std::time::Duration;

use super::{Files, ok};
use crate::config::{MethodKind, TemplateSource};

/// A sidecar in Kubernetes: projected service-account JWT, a token sink, two file templates, an env
/// template and an exec'd app.
const K8S_AGENT: &str = r#"
pid_file = "/run/sidekey/agent.pid"
exit_after_auth = false

vault {
  address         = "https://openbao.vault.svc:8200"
  ca_cert         = "/vault/tls/ca.crt"
  tls_server_name = "openbao.vault.svc"
  namespace       = "team-payments"
  retry {
    num_retries = 5
  }
}

auto_auth {
  method "jwt" {
    mount_path  = "/auth/k8s-jwt/"
    min_backoff = "2s"
    max_backoff = "1m"
    config = {
      path = "/var/run/secrets/tokens/openbao"
      role = "payments-api"
    }
  }

  sink "file" {
    config = {
      path = "/home/app/.vault-token"
      mode = 0640
    }
  }
}

template_config {
  exit_on_retry_failure         = true
  static_secret_render_interval = "5m"
}

template {
  source      = "/vault/templates/db.ctmpl"
  destination = "/run/secrets/db.env"
  perms       = "0400"
  command     = "pkill -HUP payments-api"
  wait {
    min = "2s"
    max = "10s"
  }
}

template {
  contents = <<-EOT
    {{ with secret "pki/issue/payments" "common_name=payments.svc" }}{{ .Data.certificate }}{{ end }}
    home=${HOME}
    EOT
  destination          = "/run/secrets/tls.crt"
  perms                = 0440
  error_on_missing_key = true
  exec {
    command = ["/usr/local/bin/reload-tls", "--graceful"]
    timeout = "45s"
  }
}

env_template "DB_PASSWORD" {
  contents             = "{{ with secret \"database/creds/payments\" }}{{ .Data.password }}{{ end }}"
  error_on_missing_key = true
}

exec {
  command                   = ["/app/payments-api", "--port", "8080"]
  restart_on_secret_changes = "always"
  restart_stop_signal       = "SIGINT"
}
"#;

#[test]
fn kubernetes_sidecar_config() {
    let c = ok("agent.hcl", K8S_AGENT);
    assert_eq!(
        c.pid_file.as_deref(),
        Some(Path::new("/run/sidekey/agent.pid"))
    );
    assert!(!c.exit_after_auth);
    assert_eq!(c.vault.address, "https://openbao.vault.svc:8200");
    assert_eq!(
        c.vault.ca_cert.as_deref(),
        Some(Path::new("/vault/tls/ca.crt"))
    );
    assert_eq!(
        c.vault.tls_server_name.as_deref(),
        Some("openbao.vault.svc")
    );
    assert_eq!(c.vault.namespace.as_deref(), Some("team-payments"));

    let auth = c.auto_auth.expect("auto_auth");
    assert_eq!(auth.method.mount_path, "auth/k8s-jwt");
    assert_eq!(auth.method.min_backoff, Duration::from_secs(2));
    assert_eq!(auth.method.max_backoff, Duration::from_secs(60));
    match &auth.method.kind {
        MethodKind::Jwt {
            path,
            role,
            remove_jwt_after_reading,
        } => {
            assert_eq!(path, Path::new("/var/run/secrets/tokens/openbao"));
            assert_eq!(role, "payments-api");
            assert!(!remove_jwt_after_reading);
        }
        other => panic!("expected jwt, got {other:?}"),
    }
    assert_eq!(auth.sinks.len(), 1);
    assert_eq!(auth.sinks[0].path, Path::new("/home/app/.vault-token"));
    assert_eq!(auth.sinks[0].mode, 0o640);

    assert!(c.template_config.exit_on_retry_failure);
    assert_eq!(
        c.template_config.static_secret_render_interval,
        Duration::from_secs(300)
    );
    assert_eq!(c.template_config.max_connections_per_host, 8);

    assert_eq!(c.templates.len(), 2);
    let db = &c.templates[0];
    assert!(
        matches!(&db.source, TemplateSource::File(p) if p == Path::new("/vault/templates/db.ctmpl"))
    );
    assert_eq!(db.destination, Path::new("/run/secrets/db.env"));
    assert_eq!(db.perms, 0o400);
    assert_eq!(
        db.command,
        Some(vec![
            "sh".into(),
            "-c".into(),
            "pkill -HUP payments-api".into()
        ])
    );
    assert_eq!(db.command_timeout, Duration::from_secs(30));
    assert_eq!(
        db.wait,
        Some((Duration::from_secs(2), Duration::from_secs(10)))
    );
    assert!(db.create_dest_dirs);
    assert_eq!(db.error_on_missing_key, None);
    assert_eq!(
        (db.left_delimiter.as_str(), db.right_delimiter.as_str()),
        ("{{", "}}")
    );

    let tls = &c.templates[1];
    match &tls.source {
        TemplateSource::Inline(text) => {
            assert!(
                text.starts_with("{{ with secret \"pki/issue/payments\""),
                "{text}"
            );
            assert!(
                text.contains("home=${HOME}\n"),
                "interpolation kept as text: {text}"
            );
        }
        other => panic!("expected inline contents, got {other:?}"),
    }
    assert_eq!(tls.perms, 0o440);
    assert_eq!(tls.error_on_missing_key, Some(true));
    assert_eq!(
        tls.command,
        Some(vec![
            "/usr/local/bin/reload-tls".into(),
            "--graceful".into()
        ])
    );
    assert_eq!(tls.command_timeout, Duration::from_secs(45));

    assert_eq!(c.env_templates.len(), 1);
    assert_eq!(c.env_templates[0].name, "DB_PASSWORD");
    assert!(matches!(
        &c.env_templates[0].source,
        TemplateSource::Inline(s) if s.contains("database/creds/payments")
    ));

    let exec = c.exec.expect("exec");
    assert_eq!(exec.command, ["/app/payments-api", "--port", "8080"]);
    assert_eq!(exec.restart_mode, crate::config::RestartMode::Restart);
    assert_eq!(exec.restart_stop_signal, libc::SIGINT);
    assert_eq!(exec.kill_timeout, Duration::from_secs(30));
}

#[test]
fn method_and_sink_with_type_attribute_and_config_blocks() {
    let c = ok(
        "agent.hcl",
        r#"
auto_auth {
  method {
    type      = "kubernetes"
    namespace = "/admin/"
    config {
      role = "web"
    }
  }
  sink {
    type = "file"
    config {
      path = "/tmp/token"
      mode = 416
    }
  }
  sink {
    type = "file"
    config {
      path = "/tmp/token2"
      mode = "0600"
    }
  }
}
"#,
    );
    let auth = c.auto_auth.expect("auto_auth");
    assert_eq!(auth.method.mount_path, "auth/kubernetes");
    assert_eq!(auth.method.namespace.as_deref(), Some("/admin/"));
    assert_eq!(auth.method.min_backoff, Duration::from_secs(1));
    assert_eq!(auth.method.max_backoff, Duration::from_secs(300));
    match &auth.method.kind {
        MethodKind::Kubernetes { role, token_path } => {
            assert_eq!(role, "web");
            assert_eq!(
                token_path,
                Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token")
            );
        }
        other => panic!("expected kubernetes, got {other:?}"),
    }
    let modes: Vec<u32> = auth.sinks.iter().map(|s| s.mode).collect();
    assert_eq!(modes, [0o640, 0o600]);
}

#[test]
fn json_form() {
    let c = ok(
        "agent.json",
        r#"{
  "exit_after_auth": "true",
  "vault": { "address": "http://127.0.0.1:8200", "tls_skip_verify": true },
  "auto_auth": {
    "method": [
      { "type": "approle", "mount_path": "auth/approle",
        "config": { "role_id_file_path": "/etc/bao/role-id", "secret_id_file_path": "/etc/bao/secret-id" } }
    ],
    "sink": [ { "type": "file", "config": { "path": "/tmp/token", "mode": 416 } } ]
  },
  "template": [
    { "contents": "{{ with secret \"kv/data/app\" }}{{ .Data.data.key }}{{ end }}", "destination": "/run/a", "perms": "0640" },
    { "source": "/t/b.ctmpl", "destination": "/run/b", "command": ["systemctl", "reload", "app"] }
  ],
  "env_template": { "API_KEY": { "contents": "{{ with secret \"kv/data/app\" }}{{ .Data.data.api }}{{ end }}" } },
  "exec": { "command": ["/app"], "restart_on_secret_changes": "never", "restart_stop_signal": "TERM", "kill_timeout": 10 }
}
"#,
    );
    assert!(c.exit_after_auth);
    assert!(c.vault.tls_skip_verify);
    let auth = c.auto_auth.expect("auto_auth");
    match &auth.method.kind {
        MethodKind::AppRole {
            role_id_file_path,
            secret_id_file_path,
            remove_secret_id_file_after_reading,
        } => {
            assert_eq!(role_id_file_path, Path::new("/etc/bao/role-id"));
            assert_eq!(
                secret_id_file_path.as_deref(),
                Some(Path::new("/etc/bao/secret-id"))
            );
            assert!(remove_secret_id_file_after_reading);
        }
        other => panic!("expected approle, got {other:?}"),
    }
    assert_eq!(auth.sinks[0].mode, 0o640);
    assert_eq!(c.templates.len(), 2);
    assert_eq!(c.templates[0].perms, 0o640);
    assert_eq!(c.templates[1].perms, 0o600);
    assert_eq!(
        c.templates[1].command,
        Some(vec!["systemctl".into(), "reload".into(), "app".into()])
    );
    assert_eq!(c.env_templates[0].name, "API_KEY");
    let exec = c.exec.expect("exec");
    assert_eq!(exec.restart_mode, crate::config::RestartMode::None);
    assert_eq!(exec.restart_stop_signal, libc::SIGTERM);
    assert_eq!(exec.kill_timeout, Duration::from_secs(10));
}

#[test]
fn json_labeled_method() {
    let c = ok(
        "agent.json",
        r#"{ "auto_auth": { "method": { "jwt": { "config": { "path": "/t", "role": "r" } } } } }"#,
    );
    let auth = c.auto_auth.expect("auto_auth");
    assert_eq!(auth.method.kind.type_name(), "jwt");
    assert_eq!(auth.method.mount_path, "auth/jwt");
}

#[test]
fn approle_method() {
    let c = ok(
        "agent.hcl",
        r#"
auto_auth {
  method "approle" {
    config = {
      role_id_file_path                   = "/etc/bao/role-id"
      remove_secret_id_file_after_reading = false
    }
  }
}
"#,
    );
    match c.auto_auth.expect("auto_auth").method.kind {
        MethodKind::AppRole {
            secret_id_file_path,
            remove_secret_id_file_after_reading,
            ..
        } => {
            assert_eq!(secret_id_file_path, None);
            assert!(!remove_secret_id_file_after_reading);
        }
        other => panic!("expected approle, got {other:?}"),
    }
}

#[test]
fn kubernetes_method_with_token_path() {
    let c = ok(
        "agent.hcl",
        "auto_auth {\n  method \"kubernetes\" {\n    mount_path = \"auth/cluster-b\"\n    exit_on_err = true\n    config = {\n      role = \"app\"\n      token_path = \"/var/run/secrets/tokens/vault\"\n    }\n  }\n}\n",
    );
    let method = c.auto_auth.expect("auto_auth").method;
    assert_eq!(method.mount_path, "auth/cluster-b");
    assert!(method.exit_on_err);
    assert!(
        matches!(method.kind, MethodKind::Kubernetes { token_path, .. }
        if token_path == Path::new("/var/run/secrets/tokens/vault"))
    );
}

#[test]
fn cert_method() {
    let c = ok(
        "agent.hcl",
        r#"
vault {
  address     = "https://bao.example.com:8200"
  client_cert = "/etc/tls/agent.crt"
  client_key  = "/etc/tls/agent.key"
}
auto_auth {
  method "cert" {
    config = {
      name = "web-servers"
    }
  }
}
"#,
    );
    assert_eq!(
        c.vault.client_cert.as_deref(),
        Some(Path::new("/etc/tls/agent.crt"))
    );
    match c.auto_auth.expect("auto_auth").method.kind {
        MethodKind::Cert {
            name, client_cert, ..
        } => {
            assert_eq!(name.as_deref(), Some("web-servers"));
            assert_eq!(client_cert, None);
        }
        other => panic!("expected cert, got {other:?}"),
    }
    // The cert method may omit `config` entirely.
    let c = ok("agent.hcl", "auto_auth {\n  method \"cert\" {}\n}\n");
    assert_eq!(
        c.auto_auth.expect("auto_auth").method.mount_path,
        "auth/cert"
    );
}

#[test]
fn token_file_method() {
    let c = ok(
        "agent.hcl",
        "auto_auth {\n  method \"token_file\" {\n    config {\n      token_file_path = \"/home/app/.vault-token\"\n    }\n  }\n}\n",
    );
    assert!(matches!(c.auto_auth.expect("auto_auth").method.kind,
        MethodKind::TokenFile { token_file_path } if token_file_path == Path::new("/home/app/.vault-token")));
}

/// Vault Agent reads an env_template from a file (`source`) as well as inline (`contents`).
#[test]
fn env_template_from_a_source_file() {
    let c = ok(
        "agent.hcl",
        "env_template \"UPSTREAM\" {\n  source = \"/etc/app/upstream.ctmpl\"\n}\nenv_template \"REGION\" {\n  contents = \"x\"\n}\nexec {\n  command = [\"/app\"]\n}\n",
    );
    assert_eq!(
        c.env_templates[0].source,
        TemplateSource::File("/etc/app/upstream.ctmpl".into())
    );
    assert_eq!(
        c.env_templates[1].source,
        TemplateSource::Inline("x".into())
    );
}

#[test]
fn multi_file_merge() {
    let files = Files::new()
        .add(
            "00-base.hcl",
            r#"
vault { address = "https://bao:8200" }
auto_auth {
  method "kubernetes" { config = { role = "web" } }
}
template {
  contents    = "a"
  destination = "/run/secrets/a"
}
"#,
        )
        .add(
            "10-app.json",
            r#"{ "template": { "contents": "b", "destination": "/run/secrets/b" },
                 "env_template": { "TOKEN": { "contents": "{{ .Token }}" } },
                 "lease_state_file": "/run/sidekey/leases.json",
                 "audit": { "file": { "path": "/var/log/sidekey/audit.log" }, "stdout": {} } }"#,
        )
        .add(
            "20-more.hcl",
            "template {\n  contents = \"c\"\n  destination = \"/run/secrets/c\"\n}\nenv_template \"OTHER\" {\n  contents = \"x\"\n}\n",
        );
    let c = files.load().expect("valid");
    assert_eq!(c.vault.address, "https://bao:8200");
    let dests: Vec<&Path> = c
        .templates
        .iter()
        .map(|t| t.destination.as_path())
        .collect();
    assert_eq!(
        dests,
        [
            Path::new("/run/secrets/a"),
            Path::new("/run/secrets/b"),
            Path::new("/run/secrets/c")
        ]
    );
    let names: Vec<&str> = c.env_templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["TOKEN", "OTHER"]);
    assert_eq!(
        c.persist.as_ref().map(|p| p.path.as_path()),
        Some(Path::new("/run/sidekey/leases.json"))
    );
    assert_eq!(
        c.audit.file.as_deref(),
        Some(Path::new("/var/log/sidekey/audit.log"))
    );
    assert!(c.audit.stdout);
}

#[test]
fn defaults_without_optional_stanzas() {
    let c = ok(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/run/x\"\n}\n",
    );
    assert_eq!(c.vault.address, "https://127.0.0.1:8200");
    assert!(c.auto_auth.is_none());
    let t = &c.templates[0];
    assert_eq!(t.perms, 0o600);
    assert!(!t.allow_non_tmpfs);
    assert!(!t.backup);
    assert!(t.command.is_none());
}

#[test]
fn template_extras() {
    let c = ok(
        "agent.hcl",
        r#"
template {
  contents          = "[[ .x ]]"
  destination       = "/run/x"
  user              = 1000
  group             = "app"
  create_dest_dirs  = false
  left_delimiter    = "[["
  right_delimiter   = "]]"
  backup            = true
  allow_non_tmpfs   = true
  function_denylist = ["plugin", "writeToFile"]
  wait { min = 5 }
}
template_config {
  max_connections_per_host = 4
  lease_renewal_threshold  = 0.5
}
"#,
    );
    let t = &c.templates[0];
    assert_eq!(t.user.as_deref(), Some("1000"));
    assert_eq!(t.group.as_deref(), Some("app"));
    assert!(!t.create_dest_dirs);
    assert_eq!(
        (t.left_delimiter.as_str(), t.right_delimiter.as_str()),
        ("[[", "]]")
    );
    assert!(t.backup && t.allow_non_tmpfs);
    assert_eq!(t.function_denylist, ["plugin", "writeToFile"]);
    assert_eq!(
        t.wait,
        Some((Duration::from_secs(5), Duration::from_secs(20)))
    );
    assert_eq!(c.template_config.max_connections_per_host, 4);
    assert!((c.template_config.lease_renewal_threshold - 0.5).abs() < f64::EPSILON);
}

#[test]
fn json_labeled_sink_and_vault_retry() {
    let c = ok(
        "agent.json",
        r#"{
  "vault": { "address": "https://bao:8200", "retry": { "num_retries": -1 } },
  "auto_auth": {
    "method": { "type": "token_file", "config": { "token_file_path": "/t" } },
    "sink": { "file": { "config": { "path": "/run/token", "mode": "0o600" } } }
  }
}"#,
    );
    let auth = c.auto_auth.expect("auto_auth");
    assert_eq!(auth.sinks.len(), 1);
    assert_eq!(auth.sinks[0].mode, 0o600);
}

#[test]
fn hcl_negative_retry_and_string_booleans() {
    let c = ok(
        "agent.hcl",
        "vault {\n  address = \"https://bao:8200\"\n  tls_skip_verify = \"true\"\n  retry {\n    num_retries = -1\n  }\n}\nexit_after_auth = \"false\"\n",
    );
    assert!(c.vault.tls_skip_verify);
    assert!(!c.exit_after_auth);
}

/// The shape of the JSON config the Vault Agent injector generates (empty strings for unset values).
#[test]
fn injector_style_json_with_empty_strings() {
    let c = ok(
        "config.json",
        r#"{
  "auto_auth": {
    "method": {
      "type": "kubernetes",
      "mount_path": "auth/kubernetes",
      "namespace": "",
      "config": { "role": "app", "token_path": "" }
    },
    "sink": [ { "type": "file", "config": { "path": "/home/vault/.vault-token" } } ]
  },
  "exit_after_auth": false,
  "pid_file": "/home/vault/.pid",
  "vault": { "address": "https://vault.vault.svc:8200", "ca_cert": "", "client_cert": "", "client_key": "", "tls_skip_verify": false, "tls_server_name": "" },
  "template": [
    { "destination": "/vault/secrets/db", "contents": "{{ with secret \"db/creds/app\" }}{{ .Data.password }}{{ end }}",
      "left_delimiter": "{{", "right_delimiter": "}}", "command": "" }
  ],
  "template_config": { "exit_on_retry_failure": true, "static_secret_render_interval": "" }
}"#,
    );
    assert_eq!(c.vault.ca_cert, None);
    assert_eq!(c.vault.client_cert, None);
    let auth = c.auto_auth.expect("auto_auth");
    assert!(
        matches!(auth.method.kind, MethodKind::Kubernetes { token_path, .. }
        if token_path == Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token"))
    );
    assert_eq!(auth.sinks[0].mode, 0o640);
    assert_eq!(c.templates[0].command, None);
    assert!(c.template_config.exit_on_retry_failure);
    assert_eq!(
        c.template_config.static_secret_render_interval,
        Duration::from_secs(60)
    );
}

/// The auto-auth docs' JSON form wraps each sink (`"sinks": [{"sink": {...}}]`); HCL's `sinks { sink {} }`
/// too. Both add to the plain `sink` blocks, in order.
#[test]
fn sinks_wrapper_forms() {
    let json = r#"{
  "auto_auth": {
    "method": [{"type": "token_file", "config": {"token_file_path": "/t"}}],
    "sinks": [{"sink": {"type": "file", "config": {"path": "/run/a"}}},
              {"sink": {"type": "file", "config": {"path": "/run/b", "mode": 384}}}]
  }
}"#;
    let hcl = "auto_auth {\n  method \"token_file\" {\n    config = { token_file_path = \"/t\" }\n  }\n  sink \"file\" {\n    config = { path = \"/run/a\" }\n  }\n  sinks {\n    sink {\n      type = \"file\"\n      config = {\n        path = \"/run/b\"\n        mode = 0600\n      }\n    }\n  }\n}\n";
    for (name, text) in [("agent.json", json), ("agent.hcl", hcl)] {
        let c = ok(name, text);
        let sinks = c.auto_auth.map(|a| a.sinks).unwrap_or_default();
        let got: Vec<(&Path, u32)> = sinks.iter().map(|s| (s.path.as_path(), s.mode)).collect();
        assert_eq!(
            got,
            [(Path::new("/run/a"), 0o640), (Path::new("/run/b"), 0o600)],
            "{name}"
        );
    }
}

/// consul-template's older spellings Vault Agent still reads: `wait = "MIN[:MAX]"`, numeric `uid`/`gid`.
#[test]
fn consul_template_string_wait_and_numeric_owner() {
    let text = "template {\n  contents = \"x\"\n  destination = \"/run/a\"\n  wait = \"2s:10s\"\n  uid = 1000\n  gid = 1000\n}\ntemplate {\n  contents = \"x\"\n  destination = \"/run/b\"\n  wait = \"5s\"\n}\n";
    let c = ok("agent.hcl", text);
    let a = &c.templates[0];
    assert_eq!(
        a.wait,
        Some((Duration::from_secs(2), Duration::from_secs(10)))
    );
    assert_eq!(a.user.as_deref(), Some("1000"));
    assert_eq!(a.group.as_deref(), Some("1000"));
    assert_eq!(
        c.templates[1].wait,
        Some((Duration::from_secs(5), Duration::from_secs(20)))
    );
}

/// A directory (Vault Agent's `-config=DIR`, e.g. a mounted ConfigMap) stands for its `*.hcl` / `*.json`
/// files in name order; other files, editor leftovers and subdirectories are left out.
#[test]
fn a_directory_loads_its_config_files_in_name_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("write");
    };
    write(
        "20-b.json",
        r#"{"template": [{"contents": "b", "destination": "/run/b"}]}"#,
    );
    write(
        "10-a.hcl",
        "template {\n  contents = \"a\"\n  destination = \"/run/a\"\n}\n",
    );
    write("README.md", "not a config");
    write("30-c.hcl~", "broken {");
    write(".#40-d.hcl", "broken {");
    std::fs::create_dir(dir.path().join("..data.hcl")).expect("mkdir");
    let c = super::super::load(&[dir.path()]).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<&Path> = c
        .templates
        .iter()
        .map(|t| t.destination.as_path())
        .collect();
    assert_eq!(got, [Path::new("/run/a"), Path::new("/run/b")]);
}

#[test]
fn windows_line_endings_load_as_vault_agent_reads_them() {
    let text = "template {\r\n  destination = \"/dev/shm/a\"\r\n  contents = <<EOT\r\na={{ env \"X\" }}\r\nEOT\r\n}\r\n";
    let c = ok("crlf.hcl", text);
    match &c.templates[0].source {
        TemplateSource::Inline(text) => assert_eq!(text, "a={{ env \"X\" }}\n"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cluster_is_given_as_address_and_addresses() {
    let cfg = ok(
        "agent.hcl",
        "vault {\n  address   = \"http://127.0.0.1:8200/\"\n  addresses = [\"http://127.0.0.1:8210\", \"http://127.0.0.1:8200\", \"http://127.0.0.1:8220\", \"http://127.0.0.1:8210/\"]\n}\n",
    );
    assert_eq!(cfg.vault.address, "http://127.0.0.1:8200");
    assert_eq!(
        cfg.vault.addresses,
        ["http://127.0.0.1:8210", "http://127.0.0.1:8220"],
        "duplicates of address and of each other are dropped"
    );
    // Without `address`, the first of `addresses` is tried first.
    let cfg = ok(
        "agent.hcl",
        "vault {\n  addresses = [\"https://b.example:8200\", \"https://c.example:8200\"]\n}\n",
    );
    assert_eq!(cfg.vault.address, "https://b.example:8200");
    assert_eq!(cfg.vault.addresses, ["https://c.example:8200"]);
}

#[test]
fn an_address_from_the_environment_replaces_the_whole_cluster() {
    struct Env;
    impl crate::runtime::EnvSource for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "BAO_ADDR").then(|| "http://127.0.0.1:9999/".to_string())
        }
        fn vars_os(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
            Vec::new()
        }
    }
    let mut cfg = ok(
        "agent.hcl",
        "vault {\n  addresses = [\"http://127.0.0.1:8200\", \"http://127.0.0.1:8210\"]\n}\n",
    );
    crate::runtime::apply_env_overrides(&mut cfg, &Env);
    assert_eq!(cfg.vault.address, "http://127.0.0.1:9999");
    assert!(cfg.vault.addresses.is_empty());
}
