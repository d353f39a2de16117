//! HCL 1 forms (what Vault Agent's parser accepts and HCL 2 refuses) load with the same meaning as their
//! HCL 2 spelling, and errors in such files still name the right line and key.

use super::{invalid, ok};

/// The canonical HCL 2 spelling every form below must equal.
const CANONICAL: &str = r#"vault {
  address         = "https://127.0.0.1:8200"
  tls_skip_verify = true
}

auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/etc/bao/role-id"
      secret_id_file_path = "/etc/bao/secret-id"
    }
  }
  sink "file" {
    config = {
      path = "/dev/shm/token"
    }
  }
}

template {
  contents    = "{{ with secret \"kv/app\" }}{{ .Data.k }}{{ end }}"
  destination = "/dev/shm/app"
}
"#;

/// The loaded config, as text (the file name is the same in every case, so warnings compare too).
fn loaded(text: &str) -> String {
    format!("{:?}", ok("agent.hcl", text))
}

#[test]
fn hcl1_only_forms_mean_what_their_hcl2_spelling_means() {
    let want = loaded(CANONICAL);
    let forms = [
        // A block inside an object (`auto_auth = { method "approle" { ... } }`).
        r#"vault = {
  address = "https://127.0.0.1:8200"
  tls_skip_verify = true
}
auto_auth = {
  method "approle" {
    config = {
      role_id_file_path = "/etc/bao/role-id"
      secret_id_file_path = "/etc/bao/secret-id"
    }
  }
  sink "file" {
    config = { path = "/dev/shm/token" }
  }
}
template = {
  contents = "{{ with secret \"kv/app\" }}{{ .Data.k }}{{ end }}"
  destination = "/dev/shm/app"
}
"#,
        // Several attributes on one line without commas; commas after block attributes.
        r#"vault {
  address = "https://127.0.0.1:8200",
  tls_skip_verify = true,
}
auto_auth {
  method "approle" {
    config = { role_id_file_path = "/etc/bao/role-id" secret_id_file_path = "/etc/bao/secret-id" }
  }
  sink "file" { config = { path = "/dev/shm/token" } }
}
template { contents = "{{ with secret \"kv/app\" }}{{ .Data.k }}{{ end }}", destination = "/dev/shm/app" }
"#,
        // Quoted block names, unquoted labels, nested blocks on one line, every comment style.
        r#"/* agent */ "vault" { "address" = "https://127.0.0.1:8200"  tls_skip_verify = true }
# auth
auto_auth { method approle { config { role_id_file_path = "/etc/bao/role-id"
  secret_id_file_path = "/etc/bao/secret-id" } } // inline
  sink file { config { path = "/dev/shm/token" } } }
template {
  contents = <<EOT
{{ with secret "kv/app" }}{{ .Data.k }}{{ end }}
EOT
  destination = "/dev/shm/app"
}
"#,
        // Every key quoted and assigned, as JSON-to-HCL converters write it (the vault-k8s docs'
        // ConfigMap example).
        r#""vault" = {
  "address" = "https://127.0.0.1:8200"
  "tls_skip_verify" = true
}
"auto_auth" = {
  "method" = {
    "config" = {
      "role_id_file_path" = "/etc/bao/role-id"
      "secret_id_file_path" = "/etc/bao/secret-id"
    }
    "type" = "approle"
  }
  "sink" = {
    "config" = {
      "path" = "/dev/shm/token"
    }
    "type" = "file"
  }
}
"template" = {
  "contents" = "{{ with secret \"kv/app\" }}{{ .Data.k }}{{ end }}"
  "destination" = "/dev/shm/app"
}
"#,
    ];
    for (i, form) in forms.iter().enumerate() {
        let got = loaded(form);
        let got = got.replace(r"{{ end }}\n", "{{ end }}");
        assert_eq!(got, want, "form {i}");
    }
}

#[test]
fn percent_brace_and_indented_heredocs_read_as_hcl1_does() {
    let text = "auto_auth = {\n  method \"token_file\" {\n    config = { token_file_path = \"/t\" }\n  }\n}\ntemplate {\n  destination = \"/dev/shm/a\"\n  contents = <<-EOT\n    100%{ x }\n      indented \\n ${ y }\n    EOT\n}\ntemplate {\n  destination = \"/dev/shm/b\"\n  contents = \"%{ if } \\\"q\\\" \\u00e9 ${ env \"A\" }\"\n}\n";
    assert_eq!(
        contents(text),
        [
            "100%{ x }\n  indented \\n ${ y }\n".to_string(),
            "%{ if } \"q\" é ${ env \"A\" }".to_string(),
        ]
    );
}

#[test]
fn errors_in_hcl1_files_name_line_and_key() {
    let text = "auto_auth = {\n  method \"approle\" {\n    config = { role_id_file_path = \"/r\" }\n  }\n}\nvault = {\n  adress = \"https://x\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 7);
    assert_eq!(
        message,
        r#"vault.adress: unknown key (did you mean "address"?)"#
    );
}

#[test]
fn a_file_neither_reader_accepts_reports_the_hcl2_error() {
    let (_, line, message) = invalid("agent.hcl", "vault {\n  address = \"x\"\n  retry {\n}\n");
    assert_eq!(line, 4);
    assert!(
        message.starts_with("HCL syntax error at column"),
        "{message}"
    );
}

/// The inline contents of each template of `text` (a valid config).
fn contents(text: &str) -> Vec<String> {
    ok("agent.hcl", text)
        .templates
        .iter()
        .map(|t| match &t.source {
            crate::config::TemplateSource::Inline(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn strings_in_hcl2_files_are_read_by_hcl1_rules_too() {
    // Valid HCL 2, so the HCL 2 reader takes it; the strings must still mean what `bao agent` reads.
    let text = "template {\n  destination = \"/dev/shm/a\"\n  contents = <<-EOT\n      deeper: 1\n\n        name: \"$${HOME} %%{x}\"\n    EOT\n}\ntemplate {\n  destination = \"/dev/shm/b\"\n  contents = <<-EOT\n      a: 1\n        b: 2\n    EOT\n}\ntemplate {\n  destination = \"/dev/shm/c\"\n  contents = \"home=$${HOME} pct=%%{x} raw=${HOME} q=\\\"\\\" t=\\t\"\n}\n";
    assert_eq!(
        contents(text),
        [
            // An empty line lacks the closing marker's indentation: nothing is stripped.
            "      deeper: 1\n\n        name: \"$${HOME} %%{x}\"\n".to_string(),
            // Only the closing marker's indentation is stripped (HCL 2 would strip the common six).
            "  a: 1\n    b: 2\n".to_string(),
            "home=$${HOME} pct=%%{x} raw=${HOME} q=\"\" t=\t".to_string(),
        ]
    );
}

#[test]
fn a_syntax_error_after_hcl1_forms_is_reported_where_it_is() {
    let text = "auto_auth = {\n  method \"approle\" {\n    config = { role_id_file_path = \"/r\" }\n  }\n}\ntemplate {\n  destination = \"/dev/shm/a\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 7);
    assert_eq!(message, "HCL syntax error: unterminated string");
}

#[test]
fn heredoc_closing_marker_indentation_as_bao_agent_reads_it() {
    // Bytes observed from `bao agent` (HCL 1) for the same four heredocs.
    let text = "template {\n  contents = <<EOH\n    a\n    b\n    EOH\n  destination = \"/dev/shm/1\"\n}\ntemplate {\n  contents = <<EOH\n  x\n\tEOH\n  destination = \"/dev/shm/2\"\n}\ntemplate {\n  contents = <<EOH\nq\nEOH\n  destination = \"/dev/shm/3\"\n}\ntemplate {\n  contents = <<-EOH\n    a\n  b\n    EOH\n  destination = \"/dev/shm/4\"\n}\n";
    assert_eq!(
        contents(text),
        ["    a\n    b\n    ", "  x\n\t", "q\n", "    a\n  b\n"]
    );
}
