//! One test per error case: the message names the key path, and the line is right.

use super::{Files, invalid, invalid_files};

/// A valid prefix used by several cases (lines 1-13).
const BASE: &str = r#"vault {
  address = "https://openbao.internal:8200"
}

auto_auth {
  method "jwt" {
    mount_path = "auth/k8s-jwt"
    config = {
      path = "/var/run/secrets/tokens/bao"
      role = "payments"
    }
  }
}
"#;

fn with_base(tail: &str) -> String {
    format!("{BASE}{tail}")
}

#[test]
fn unknown_top_level_key_suggests_the_right_one() {
    let (file, line, message) = invalid("agent.hcl", &with_base("\nexit_after_auht = true\n"));
    assert_eq!(file, "agent.hcl");
    assert_eq!(line, 15);
    assert_eq!(
        message,
        r#"exit_after_auht: unknown key (did you mean "exit_after_auth"?)"#
    );
}

#[test]
fn unknown_key_in_template() {
    let text = with_base(
        r#"
template {
  source      = "/etc/sidekey/db.ctmpl"
  destinaton  = "/run/secrets/db.env"
}
"#,
    );
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 17);
    assert_eq!(
        message,
        r#"template.destinaton: unknown key (did you mean "destination"?)"#
    );
}

#[test]
fn error_display_is_file_line_message() {
    let files = Files::new().add("agent.hcl", "vault {\n  adress = \"https://x:8200\"\n}\n");
    let err = files.load().expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.ends_with(r#"agent.hcl:2: vault.adress: unknown key (did you mean "address"?)"#),
        "{text}"
    );
}

#[test]
fn unknown_key_in_method_config() {
    let text = r#"auto_auth {
  method "kubernetes" {
    config = {
      role = "web"
      token_pth = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    }
  }
}
"#;
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert_eq!(
        message,
        r#"auto_auth.method.config.token_pth: unknown key (did you mean "token_path"?)"#
    );
}

#[test]
fn misspelled_required_key_is_reported_as_the_typo() {
    let text = "auto_auth {\n  method \"jwt\" {\n    config = {\n      path = \"/t\"\n      rol = \"x\"\n    }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert_eq!(
        message,
        r#"auto_auth.method.config.rol: unknown key (did you mean "role"?)"#
    );
}

#[test]
fn missing_role_is_required() {
    let text =
        "auto_auth {\n  method \"jwt\" {\n    config = {\n      path = \"/t\"\n    }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(message, "auto_auth.method.config.role: required");
}

#[test]
fn wrong_type() {
    let text = "vault {\n  address = \"https://x:8200\"\n  tls_skip_verify = [\"yes\"]\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "vault.tls_skip_verify: expected true or false, found a list"
    );

    let text = "template {\n  contents = \"x\"\n  destination = 42\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "template.destination: expected a string, found the number 42"
    );
}

#[test]
fn bad_perms() {
    let text = with_base(
        "\ntemplate {\n  contents    = \"x\"\n  destination = \"/run/secrets/x\"\n  perms       = \"0999\"\n}\n",
    );
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 18);
    assert_eq!(
        message,
        r#"template.perms: "0999" is not an octal file mode (write e.g. "0640")"#
    );
}

#[test]
fn decimal_perms_that_look_octal_are_refused() {
    let text = "template {\n  contents = \"x\"\n  destination = \"/x\"\n  perms = 600\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 4);
    assert!(
        message.starts_with("template.perms: 600 is not a file mode"),
        "{message}"
    );
}

#[test]
fn bad_duration() {
    let text = "template {\n  contents = \"x\"\n  destination = \"/x\"\n  command = \"reload\"\n  command_timeout = \"5 minutes\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert!(
        message.starts_with(r#"template.command_timeout: "5 minutes" is not a duration"#),
        "{message}"
    );
}

#[test]
fn missing_destination() {
    let text = with_base("\ntemplate {\n  source = \"/etc/sidekey/app.ctmpl\"\n}\n");
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 15);
    assert_eq!(message, "template.destination: required");
}

#[test]
fn source_and_contents_together() {
    let text =
        "template {\n  source = \"/a.ctmpl\"\n  contents = \"x\"\n  destination = \"/x\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "template.contents: give either source (line 2) or contents, not both"
    );
}

#[test]
fn neither_source_nor_contents() {
    let text = "template {\n  destination = \"/x\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 1);
    assert!(
        message.starts_with("template: needs source (a template file) or contents"),
        "{message}"
    );
}

#[test]
fn unknown_method_type() {
    let text =
        "auto_auth {\n  method \"jwtt\" {\n    config = { path = \"/t\", role = \"r\" }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 2);
    assert_eq!(
        message,
        r#"auto_auth.method: unknown auth method "jwtt" (did you mean "jwt"?); supported: jwt, kubernetes, approle, cert, token_file"#
    );
}

#[test]
fn vault_only_method_type() {
    let text = "auto_auth {\n  method {\n    type = \"aws\"\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert!(
        message.starts_with(r#"auto_auth.method: auth method "aws" is not supported by sidekey"#),
        "{message}"
    );
}

/// An empty or zero `wrap_ttl` wraps nothing in Vault Agent (generated JSON writes `"wrap_ttl": ""`): it
/// loads.
#[test]
fn empty_or_zero_wrap_ttl_loads() {
    for ttl in ["\"\"", "\"0s\"", "0"] {
        let text = format!(
            "auto_auth {{\n  method \"approle\" {{\n    wrap_ttl = {ttl}\n    config = {{ role_id_file_path = \"/r\" }}\n  }}\n  sink \"file\" {{\n    wrap_ttl = {ttl}\n    config = {{ path = \"/dev/shm/t\" }}\n  }}\n}}\n"
        );
        super::ok("agent.hcl", &text);
    }
}

#[test]
fn hcl_syntax_error_has_line_and_column() {
    let text = "vault {\n  address = \"https://x:8200\"\n\ntemplate {\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert!(line >= 4, "line {line}: {message}");
    assert!(
        message.starts_with("HCL syntax error at column"),
        "{message}"
    );
}

#[test]
fn json_syntax_error_has_line_and_column() {
    let text = "{\n  \"vault\": {\n    \"address\": \"https://x:8200\",\n  }\n}\n";
    let (_, line, message) = invalid("agent.json", text);
    assert_eq!(line, 4);
    assert!(
        message.starts_with("JSON syntax error at column"),
        "{message}"
    );
}

#[test]
fn json_unknown_key_has_its_line() {
    let text = "{\n  \"template\": [\n    {\n      \"contents\": \"x\",\n      \"destinaton\": \"/x\"\n    }\n  ]\n}\n";
    let (_, line, message) = invalid("agent.json", text);
    assert_eq!(line, 5);
    assert_eq!(
        message,
        r#"template.destinaton: unknown key (did you mean "destination"?)"#
    );
}

#[test]
fn single_stanza_in_two_files_names_both() {
    let files = Files::new()
        .add("base.hcl", "vault {\n  address = \"https://a:8200\"\n}\n")
        .add(
            "override.hcl",
            "\n\nvault {\n  address = \"https://b:8200\"\n}\n",
        );
    let (file, line, message) = invalid_files(files);
    assert_eq!(file, "override.hcl");
    assert_eq!(line, 3);
    assert!(message.starts_with("vault: already given in "), "{message}");
    assert!(message.contains("base.hcl:1"), "{message}");
}

#[test]
fn stanza_twice_in_one_file() {
    let text = "exec {\n  command = [\"/a\"]\n}\nexec {\n  command = [\"/b\"]\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 4);
    assert_eq!(message, "exec: given twice (lines 1 and 4); give it once");
}

#[test]
fn duplicate_destination_across_files() {
    let t = "template {\n  contents = \"x\"\n  destination = \"/run/secrets/db\"\n}\n";
    let files = Files::new().add("a.hcl", t).add("b.hcl", t);
    let (file, line, message) = invalid_files(files);
    assert_eq!((file.as_str(), line), ("b.hcl", 1));
    assert!(message.contains("a.hcl:1"), "{message}");
}

#[test]
fn expressions_are_refused() {
    let text = "pid_file = upper(\"x\")\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 1);
    assert!(
        message.contains("expressions are not supported"),
        "{message}"
    );
}

#[test]
fn bad_signal_and_restart_mode() {
    let text = "exec {\n  command = [\"/app\"]\n  restart_stop_signal = \"SIGNOPE\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert!(
        message.starts_with("exec.restart_stop_signal: \"SIGNOPE\" is not a signal name"),
        "{message}"
    );

    let text = "exec {\n  command = [\"/app\"]\n  restart_on_secret_changes = \"sometimes\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        r#"exec.restart_on_secret_changes: expected "always" or "never", found "sometimes""#
    );
}

#[test]
fn unsupported_sink_type() {
    let text = "auto_auth {\n  method \"token_file\" {\n    config { token_file_path = \"/t\" }\n  }\n  sink \"socket\" {\n    config = { path = \"/s\" }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert!(
        message.contains(r#"sink type "socket" is not supported by sidekey"#),
        "{message}"
    );
}

#[test]
fn missing_file_is_a_read_error() {
    let err = super::load(&[std::path::Path::new("/nonexistent/agent.hcl")]).expect_err("missing");
    assert!(matches!(err, super::ConfigError::Read { .. }));
}

#[test]
fn first_error_in_file_order_for_top_level_typos() {
    let text =
        "vualt {\n  address = \"https://x:8200\"\n}\ntemplate {\n  destination = \"/x\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 1);
    assert_eq!(message, r#"vualt: unknown key (did you mean "vault"?)"#);
}

#[test]
fn env_template_needs_a_name() {
    let text = "env_template {\n  contents = \"x\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 2);
    assert!(
        message.starts_with("env_template: needs a name"),
        "{message}"
    );
}

#[test]
fn template_command_and_exec_together() {
    let text = "template {\n  contents = \"x\"\n  destination = \"/x\"\n  command = \"reload\"\n  exec {\n    command = [\"/bin/reload\"]\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert!(message.starts_with("template.exec: give exec"), "{message}");
}

#[test]
fn vault_address_and_client_cert_pairs() {
    let (_, line, message) = invalid("agent.hcl", "vault {\n  address = \"bao:8200\"\n}\n");
    assert_eq!(line, 2);
    assert_eq!(
        message,
        r#"vault.address: "bao:8200" is not an http:// or https:// URL"#
    );

    let text = "vault {\n  client_cert = \"/tls/agent.crt\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 1);
    assert_eq!(
        message,
        "vault.client_key: required when client_cert is set"
    );
}

#[test]
fn method_label_and_type_disagree() {
    let text = "auto_auth {\n  method \"jwt\" {\n    type = \"kubernetes\"\n    config = { role = \"r\" }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        r#"auto_auth.method.type: "kubernetes" disagrees with the block label "jwt""#
    );
}

#[test]
fn wrong_type_in_a_list() {
    let text = "exec {\n  command = [\"/app\",\n    8080]\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "exec.command[1]: expected a string, found the number 8080"
    );
}

#[test]
fn string_wait_and_owner_spellings() {
    let text = "template {\n  contents = \"x\"\n  destination = \"/x\"\n  wait = \"10s:2s\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 4);
    assert!(
        message.starts_with("template.wait: 2s is less than min"),
        "{message}"
    );

    let text = "template {\n  contents = \"x\"\n  destination = \"/x\"\n  wait = \"soon\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 4);
    assert!(
        message.starts_with("template.wait: \"soon\" is not a duration"),
        "{message}"
    );

    let text = "template {\n  contents = \"x\"\n  destination = \"/x\"\n  user = \"app\"\n  uid = 1000\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert_eq!(message, "template.uid: give user or uid, not both");
}

#[test]
fn a_cluster_address_that_is_not_a_url_names_the_key() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "vault {\n  addresses = [\"http://127.0.0.1:8200\", \"127.0.0.1:8210\"]\n}\n",
    );
    assert_eq!(line, 2);
    assert!(message.contains("vault.addresses"), "{message}");
    assert!(message.contains("127.0.0.1:8210"), "{message}");
}
