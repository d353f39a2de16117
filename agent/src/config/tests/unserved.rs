//! Vault Agent's telemetry and the listener keys sidekey does not implement load with one warning each
//! (file, line, what is not served); the API proxy stanzas are read (see `listener`); a typo inside any
//! of them is still an error naming it. The log-file, connection, exec output and
//! `error_fatal` keys are acted on (see `keys12`): they load without a warning.

use super::{Files, invalid, ok};

/// The OpenBao agent docs' example shape: auto-auth, a caching API proxy on a TCP listener, a template.
const PROXY_CONFIG: &str = r#"pid_file = "./pidfile"

vault {
  address = "https://127.0.0.1:8200"
}

auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "/etc/bao/role-id"
    }
  }
}

cache {
  use_auto_auth_token = true
  persist "kubernetes" {
    path = "/vault/agent-cache"
    keep_after_import = true
  }
}

api_proxy {
  use_auto_auth_token = "force"
}

listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true
  agent_api {
    enable_quit = true
  }
}

listener "unix" {
  address = "/run/agent.sock"
}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
}

disable_keep_alives = ["auto-auth"]
log_file            = "/var/log/agent.log"

template {
  contents    = "{{ with secret \"kv/app\" }}{{ .Data.k }}{{ end }}"
  destination = "/dev/shm/app"
}
"#;

#[test]
fn the_api_proxy_stanzas_are_read_and_telemetry_warns() {
    let c = ok("agent.hcl", PROXY_CONFIG);
    assert_eq!(c.templates.len(), 1);
    assert!(c.admin_listener.is_none());
    let got: Vec<(usize, String)> = c
        .warnings
        .iter()
        .map(|w| (w.line, w.message.clone()))
        .collect();
    let lines: Vec<usize> = got.iter().map(|(l, _)| *l).collect();
    // The cache, its persist block, api_proxy and the listeners are read; the cache's
    // use_auto_auth_token loses to api_proxy's, and telemetry is not served.
    assert_eq!(lines, [16, 39], "{got:#?}");
    let text = |i: usize| got.get(i).map(|(_, m)| m.as_str()).unwrap_or_default();
    assert!(c.cache.is_some(), "the cache itself is read");
    assert!(c.persist.is_some(), "its persist block is the state store");
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(
        c.api_proxy.use_auto_auth_token,
        crate::config::AutoAuthToken::Force
    );
    assert!(text(0).starts_with("cache.use_auto_auth_token: ignored: api_proxy"));
    assert!(text(1).starts_with("telemetry: not served"));
    assert!(c.disable_keep_alives.auto_auth && !c.disable_keep_alives.templating);
    let log = c.log_file.as_ref().expect("log_file is read");
    assert_eq!(log.dir, std::path::Path::new("/var/log"));
    assert_eq!(log.name, "agent.log");
    let w = &c.warnings[0];
    assert!(
        w.to_string()
            .ends_with(&format!("agent.hcl:16: {}", w.message))
    );
}

#[test]
fn a_typo_inside_an_unserved_stanza_is_still_an_error() {
    let text = PROXY_CONFIG.replace("use_auto_auth_token = true", "use_auto_auth_tokn = true");
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 16);
    assert_eq!(
        message,
        r#"cache.use_auto_auth_tokn: unknown key (did you mean "use_auto_auth_token"?)"#
    );

    let text = PROXY_CONFIG.replace("keep_after_import", "keep_after_imports");
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 19);
    assert!(
        message.starts_with("cache.persist.keep_after_imports: unknown key"),
        "{message}"
    );

    let text = PROXY_CONFIG.replace("tls_disable = true", "tls_disabled = true");
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 29);
    assert!(
        message.starts_with("listener.tls_disabled: unknown key"),
        "{message}"
    );

    let text = PROXY_CONFIG.replace("enable_quit", "enable_quitt");
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 31);
    assert!(
        message.starts_with("listener.agent_api.enable_quitt: unknown key"),
        "{message}"
    );
}

#[test]
fn vault_k8s_json_listener_and_cache_load() {
    let text = r#"{
  "auto_auth": {"method": {"type": "kubernetes", "config": {"role": "app"}},
                "sink": [{"type": "file", "config": {"path": "/home/vault/.vault-token"}}]},
  "vault": {"address": "https://vault.vault.svc:8200"},
  "listener": [{"type": "tcp", "address": "127.0.0.1:8200", "tls_disable": true}],
  "cache": {"use_auto_auth_token": "force",
            "persist": {"type": "kubernetes", "path": "/vault/agent-cache", "keep_after_import": true,
                        "exit_on_err": true, "service_account_token_file": ""}},
  "template": [{"destination": "/vault/secrets/db", "contents": "x"}]
}"#;
    let c = ok("config.json", text);
    assert!(c.cache.is_some() && c.persist.is_some());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(
        c.api_proxy.use_auto_auth_token,
        crate::config::AutoAuthToken::Force,
        "the cache's use_auto_auth_token applies without api_proxy"
    );
}

#[test]
fn an_unknown_listener_type_is_an_error() {
    let (_, line, message) = invalid("agent.hcl", "\nlistener \"udp\" {\n  address = \"x\"\n}\n");
    assert_eq!(line, 2);
    assert!(
        message.starts_with("listener \"udp\": unknown listener type"),
        "{message}"
    );
}

#[test]
fn warnings_keep_their_file_across_files() {
    let c = Files::new()
        .add(
            "a.hcl",
            "vault {\n  address = \"https://127.0.0.1:8200\"\n}\n",
        )
        .add("b.hcl", "\n\ntelemetry {}\n")
        .load()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].file.ends_with("b.hcl"));
    assert_eq!(c.warnings[0].line, 3);
}

#[test]
fn keys_that_change_nothing_delivered_warn_by_name_and_exec_outputs_are_read() {
    let text = r#"auto_auth {
  enable_reauth_on_new_credentials = true
  method "cert" {
    config = {
      name   = "web"
      reload = true
    }
  }
}
env_template "A" {
  contents = "x"
}
exec {
  command              = ["/app"]
  child_process_stdout = "/var/log/app.out"
  child_process_stderr = "/var/log/app.err"
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
        [(
            2,
            "auto_auth.enable_reauth_on_new_credentials: ignored: sidekey logs in again when its token expires or is refused, not when a credential file changes"
        )]
    );
    let exec = c.exec.as_ref().expect("exec stanza");
    assert_eq!(
        exec.child_stdout.as_deref(),
        Some(std::path::Path::new("/var/log/app.out"))
    );
    assert_eq!(
        exec.child_stderr.as_deref(),
        Some(std::path::Path::new("/var/log/app.err"))
    );
}

#[test]
fn the_openbao_injectors_openbao_stanza_is_read_as_vault() {
    let text = r#"{"openbao":{"address":"https://openbao.openbao.svc:8200","tls_skip_verify":true},"template":[{"destination":"/dev/shm/a","contents":"x"}]}"#;
    let c = ok("config.json", text);
    assert_eq!(c.vault.address, "https://openbao.openbao.svc:8200");
    assert!(c.vault.tls_skip_verify);
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0]
            .message
            .starts_with("openbao: read as the `vault` stanza")
    );

    let (_, line, message) = invalid(
        "agent.hcl",
        "vault {\n  address = \"https://a:8200\"\n}\nopenbao {\n  adress = \"https://b:8200\"\n}\n",
    );
    assert_eq!(line, 5);
    assert!(
        message.starts_with("openbao.adress: unknown key"),
        "{message}"
    );

    let (_, line, message) = invalid(
        "agent.hcl",
        "vault {\n  address = \"https://a:8200\"\n}\nopenbao {\n  address = \"https://b:8200\"\n}\n",
    );
    assert_eq!(line, 4);
    assert!(
        message.starts_with("openbao: give the server's settings once"),
        "{message}"
    );
}

#[test]
fn template_error_fatal_is_read_without_a_warning() {
    let text = "template {\n  contents = \"x\"\n  destination = \"/run/a\"\n  error_fatal = true\n}\ntemplate {\n  contents = \"x\"\n  destination = \"/run/b\"\n  error_fatal = false\n}\ntemplate {\n  contents = \"x\"\n  destination = \"/run/c\"\n}\n";
    let c = ok("agent.hcl", text);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let fatal: Vec<bool> = c.templates.iter().map(|t| t.error_fatal).collect();
    assert_eq!(fatal, [true, false, true]);
}

#[test]
fn allow_write_to_file_loads_with_one_warning_either_way() {
    // Configs written when writeToFile needed this key keep loading; the key no longer changes anything.
    for value in ["true", "false"] {
        let text = format!(
            "template {{\n  contents            = \"x\"\n  destination         = \"/run/a\"\n  allow_write_to_file = {value}\n}}\n"
        );
        let c = ok("agent.hcl", &text);
        let got: Vec<(usize, &str)> = c
            .warnings
            .iter()
            .map(|w| (w.line, w.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                4,
                r#"template.allow_write_to_file: ignored: writeToFile is on by default, as in Vault Agent; to turn it off, write function_denylist = ["writeToFile"]"#
            )],
            "allow_write_to_file = {value}"
        );
        assert!(c.templates[0].function_denylist.is_empty());
    }
    let (_, line, message) = invalid(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/run/a\"\n  allow_write_to_file = \"yes\"\n}\n",
    );
    assert_eq!(line, 4);
    assert!(
        message.starts_with("template.allow_write_to_file:"),
        "{message}"
    );
}
