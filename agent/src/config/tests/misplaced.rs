//! Keys Vault Agent skips harmlessly: a key of another block, or of a newer Vault Agent, loads with one
//! warning naming its line, where it belongs and that it has no effect; a typo, a misplaced key where
//! Vault Agent refuses it too (`template`, `env_template`, `exec`) and a misplaced sidekey key stay errors.

use super::{Files, invalid, ok};

/// auto_auth with a token_file method, then `tail` (the block starts on line 1).
fn auto_auth(inside: &str, tail: &str) -> String {
    format!(
        "auto_auth {{\n  method \"token_file\" {{\n    config = {{\n      token_file_path = \"/t\"\n    }}\n  }}\n{inside}}}\n{tail}"
    )
}

/// (line, message) of each warning.
fn warnings(c: &crate::config::Config) -> Vec<(usize, String)> {
    c.warnings
        .iter()
        .map(|w| (w.line, w.message.clone()))
        .collect()
}

#[test]
fn exit_after_auth_inside_auto_auth_loads_with_one_warning() {
    let c = ok("agent.hcl", &auto_auth("  exit_after_auth = true\n", ""));
    assert_eq!(
        warnings(&c),
        [(
            7,
            "auto_auth.exit_after_auth: misplaced, ignored: exit_after_auth belongs at the top level; it has no effect here"
                .to_string()
        )]
    );
    // As in Vault Agent: the key does nothing where it is.
    assert!(!c.exit_after_auth);
    assert!(
        c.warnings[0]
            .to_string()
            .ends_with("agent.hcl:7: auto_auth.exit_after_auth: misplaced, ignored: exit_after_auth belongs at the top level; it has no effect here"),
        "{}",
        c.warnings[0]
    );
}

#[test]
fn a_key_of_several_blocks_names_them_all() {
    let text = auto_auth("", "template_config {\n  namespace = \"team-a\"\n}\n");
    let c = ok("agent.hcl", &text);
    assert_eq!(
        warnings(&c),
        [(
            9,
            "template_config.namespace: misplaced, ignored: namespace belongs in vault or in auto_auth.method; it has no effect here"
                .to_string()
        )]
    );
}

#[test]
fn a_template_key_in_template_config_is_ignored() {
    let text = auto_auth(
        "",
        "template_config {\n  exit_on_retry_failure = true\n  perms = \"0644\"\n}\n",
    );
    let c = ok("agent.hcl", &text);
    assert!(c.template_config.exit_on_retry_failure);
    assert_eq!(
        warnings(&c),
        [(
            10,
            "template_config.perms: misplaced, ignored: perms belongs in template; it has no effect here"
                .to_string()
        )]
    );
}

#[test]
fn misplaced_keys_in_json_warn_with_their_line() {
    let text = r#"{
  "auto_auth": {
    "method": {"type": "token_file", "config": {"token_file_path": "/t"}},
    "exit_after_auth": true
  },
  "vault": {"address": "https://bao:8200", "destination": "/run/x"}
}"#;
    let c = ok("agent.json", text);
    let got = warnings(&c);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, 4);
    assert!(
        got[0]
            .1
            .starts_with("auto_auth.exit_after_auth: misplaced, ignored")
    );
    assert_eq!(got[1].0, 6);
    assert!(
        got[1]
            .1
            .starts_with("vault.destination: misplaced, ignored: destination belongs in template"),
        "{}",
        got[1].1
    );
}

#[test]
fn a_misplaced_key_inside_an_unserved_stanza_is_one_more_warning() {
    let c = ok("agent.hcl", "telemetry {\n  exit_after_auth = true\n}\n");
    let got = warnings(&c);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, 1);
    assert!(got[0].1.starts_with("telemetry: not served"));
    assert_eq!(got[1].0, 2);
    assert!(
        got[1]
            .1
            .starts_with("telemetry.exit_after_auth: misplaced, ignored")
    );
    // In the cache, which is read, it is the only warning.
    let c = ok("agent.hcl", "cache {\n  exit_after_auth = true\n}\n");
    let got = warnings(&c);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0]
            .1
            .starts_with("cache.exit_after_auth: misplaced, ignored")
    );
}

#[test]
fn a_key_of_a_newer_vault_agent_warns() {
    let text = "auto_auth {\n  method \"token_file\" {\n    lease_renewal_threshold = 0.75\n    config = {\n      token_file_path = \"/t\"\n    }\n  }\n}\n";
    let c = ok("agent.hcl", text);
    assert_eq!(
        warnings(&c),
        [(
            3,
            "auto_auth.method.lease_renewal_threshold: ignored: a key of newer Vault Agent versions; sidekey renews its token at about two thirds of its TTL"
                .to_string()
        )]
    );
}

#[test]
fn a_typo_is_still_an_error() {
    let text = auto_auth(
        "",
        "template {\n  contents   = \"x\"\n  destinaton = \"/run/x\"\n}\n",
    );
    let (file, line, message) = invalid("agent.hcl", &text);
    assert_eq!((file.as_str(), line), ("agent.hcl", 10));
    assert_eq!(
        message,
        r#"template.destinaton: unknown key (did you mean "destination"?)"#
    );
}

#[test]
fn a_typo_of_a_key_of_another_block_is_still_an_error() {
    let (_, line, message) = invalid("agent.hcl", &auto_auth("  exit_after_auht = true\n", ""));
    assert_eq!(line, 7);
    assert_eq!(message, "auto_auth.exit_after_auht: unknown key");
}

#[test]
fn misplaced_in_a_template_is_an_error_as_in_vault_agent() {
    // bao agent refuses it too ("'config.TemplateConfig' has invalid keys: exit_after_auth").
    let text = "template {\n  contents        = \"x\"\n  destination     = \"/run/x\"\n  exit_after_auth = true\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 4);
    assert_eq!(
        message,
        "template.exit_after_auth: misplaced: exit_after_auth belongs at the top level; move it there"
    );
}

#[test]
fn an_exact_key_of_another_block_is_not_taken_for_a_typo() {
    // `min` is one edit from `uid`, but it is a `wait` key written one level too high.
    let text = "template {\n  contents    = \"x\"\n  destination = \"/run/x\"\n  min         = \"5s\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 4);
    assert_eq!(
        message,
        "template.min: misplaced: min belongs in template.wait; move it there"
    );
}

#[test]
fn misplaced_in_exec_or_env_template_is_an_error() {
    let text = "env_template \"A\" {\n  contents = \"x\"\n  perms    = \"0600\"\n}\nexec {\n  command = [\"/app\"]\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "env_template.A.perms: misplaced: perms belongs in template; move it there"
    );

    let text = "exec {\n  command     = [\"/app\"]\n  destination = \"/run/x\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "exec.destination: misplaced: destination belongs in template; move it there"
    );
}

#[test]
fn a_misplaced_sidekey_key_is_an_error() {
    // No Vault Agent config carries sidekey's own keys, so there is nothing to stay compatible with.
    let text = "vault {\n  address          = \"https://bao:8200\"\n  lease_state_file = \"/dev/shm/s\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "vault.lease_state_file: misplaced: lease_state_file belongs at the top level; move it there"
    );
}

#[test]
fn keys_sidekey_refuses_by_name_stay_refused() {
    let text = "auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"/r\"\n      secret_id_response_wrapping_path = \"auth/approle/role/app/secret-id\"\n    }\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 5);
    assert!(
        message.starts_with(
            "auto_auth.method.config.secret_id_response_wrapping_path is not supported by sidekey"
        ),
        "{message}"
    );
}

#[test]
fn the_warning_names_the_file_it_is_in() {
    let c = Files::new()
        .add("a.hcl", "vault {\n  address = \"https://bao:8200\"\n}\n")
        .add("b.hcl", &auto_auth("  exit_after_auth = true\n", ""))
        .load()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].file.ends_with("b.hcl"));
    assert_eq!(c.warnings[0].line, 7);
}

#[test]
fn a_key_of_the_block_itself_is_not_sent_to_another_block() {
    // consul-template's template.exec has its own `splay`; pointing at the top-level exec would mislead.
    let text = "template {\n  contents    = \"x\"\n  destination = \"/run/x\"\n  exec {\n    command = \"true\"\n    splay   = \"5s\"\n  }\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 6);
    assert_eq!(message, "template.exec.splay: unknown key");
}
