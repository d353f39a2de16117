//! Response-wrapped and encrypted sinks, and `method { wrap_ttl }`: what loads, and what Vault Agent (and
//! sidekey, where Vault Agent would retry forever) refuses, with the key named and the line right.

use std::path::Path;
use std::time::Duration;

use super::{Files, invalid, invalid_files, ok};
use crate::runtime::{EnvSource, apply_env_overrides};

/// `auto_auth` with an approle method (`method_extra` lines inside it) and the given sink blocks.
fn auth(method_extra: &str, sinks: &str) -> String {
    format!(
        "auto_auth {{\n  method \"approle\" {{\n{method_extra}    config = {{ role_id_file_path = \"/r\" }}\n  }}\n{sinks}}}\n"
    )
}

/// A `sink "file"` writing to `path`, with `extra` lines.
fn sink(path: &str, extra: &str) -> String {
    format!("  sink \"file\" {{\n{extra}    config = {{ path = \"{path}\" }}\n  }}\n")
}

struct Env(&'static [(&'static str, &'static str)]);

impl EnvSource for Env {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_string())
    }
    fn vars_os(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        Vec::new()
    }
}

#[test]
fn a_wrapped_and_encrypted_sink_loads_with_every_setting() {
    let extra = "    wrap_ttl    = \"5m\"\n    dh_type     = \"curve25519\"\n    dh_path     = \"/run/app/dh.json\"\n    derive_key  = true\n    aad         = \"sealed\"\n";
    let c = ok("agent.hcl", &auth("", &sink("/run/app/token", extra)));
    let s = &c.auto_auth.expect("auto_auth").sinks[0];
    assert_eq!(s.wrap_ttl, Some(Duration::from_secs(300)));
    let e = s.encrypt.as_ref().expect("encrypted");
    assert_eq!(e.dh_path, Path::new("/run/app/dh.json"));
    assert!(e.derive_key);
    assert_eq!(e.aad.0.as_str(), "sealed");
    assert_eq!(e.aad_env_var, None);
    // The AAD is never printed.
    assert!(!format!("{s:?}").contains("sealed"), "{s:?}");
}

#[test]
fn a_plain_sink_has_neither_and_wrap_ttl_zero_is_off() {
    let c = ok("agent.hcl", &auth("", &sink("/t", "    wrap_ttl = 0\n")));
    let s = &c.auto_auth.expect("auto_auth").sinks[0];
    assert_eq!(s.wrap_ttl, None);
    assert!(s.encrypt.is_none());
}

#[test]
fn aad_env_var_replaces_aad_when_the_config_is_loaded() {
    let extra = "    dh_type = \"curve25519\"\n    dh_path = \"/dh\"\n    aad = \"literal\"\n    aad_env_var = \"SINK_AAD\"\n";
    let mut c = ok("agent.hcl", &auth("", &sink("/t", extra)));
    apply_env_overrides(&mut c, &Env(&[("SINK_AAD", "from-env")]));
    let e = c.auto_auth.as_ref().expect("auto_auth").sinks[0]
        .encrypt
        .clone()
        .expect("encrypted");
    assert_eq!(e.aad.0.as_str(), "from-env");
    // Unset: empty, as Vault Agent reads it.
    let mut c = ok("agent.hcl", &auth("", &sink("/t", extra)));
    apply_env_overrides(&mut c, &Env(&[]));
    let e = c.auto_auth.expect("auto_auth").sinks[0]
        .encrypt
        .clone()
        .expect("encrypted");
    assert_eq!(e.aad.0.as_str(), "");
}

#[test]
fn the_json_form_loads_too() {
    let text = r#"{
  "auto_auth": {
    "method": [{"type": "approle", "wrap_ttl": 60, "config": {"role_id_file_path": "/r"}}],
    "sinks": [{"sink": {"type": "file", "dh_type": "curve25519", "dh_path": "/dh", "aad_env_var": "X",
                        "config": {"path": "/t"}}}]
  }
}"#;
    let c = ok("agent.json", text);
    let a = c.auto_auth.expect("auto_auth");
    assert_eq!(a.method.wrap_ttl, Some(Duration::from_secs(60)));
    let e = a.sinks[0].encrypt.as_ref().expect("encrypted");
    assert_eq!(e.aad_env_var.as_deref(), Some("X"));
    assert!(!e.derive_key);
}

#[test]
fn method_wrap_ttl_with_one_sink_loads() {
    let c = ok(
        "agent.hcl",
        &auth("    wrap_ttl = \"2m\"\n", &sink("/t", "")),
    );
    let a = c.auto_auth.expect("auto_auth");
    assert_eq!(a.method.wrap_ttl, Some(Duration::from_secs(120)));
}

#[test]
fn method_wrap_ttl_needs_exactly_one_sink() {
    for sinks in [String::new(), sink("/a", "") + &sink("/b", "")] {
        let (_, line, message) = invalid("agent.hcl", &auth("    wrap_ttl = \"5m\"\n", &sinks));
        assert_eq!(line, 3, "{message}");
        assert!(
            message.starts_with(
                "auto_auth.method.wrap_ttl: the wrapped login response goes to exactly one sink"
            ),
            "{message}"
        );
    }
}

#[test]
fn wrapping_in_both_the_method_and_the_sink_is_refused_at_the_sink() {
    let text = auth(
        "    wrap_ttl = \"5m\"\n",
        &sink("/t", "    wrap_ttl = \"1m\"\n"),
    );
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 6, "{message}");
    assert!(
        message.starts_with("auto_auth.sink.wrap_ttl: wrapping is enabled both on the auth method"),
        "{message}"
    );
}

#[test]
fn method_wrap_ttl_refuses_what_would_need_the_token() {
    let base = auth("    wrap_ttl = \"5m\"\n", &sink("/t", ""));
    for (tail, key) in [
        (
            "template {\n  contents = \"x\"\n  destination = \"/dev/shm/x\"\n}\n",
            "template:",
        ),
        (
            "env_template \"A\" {\n  contents = \"x\"\n}\nexec {\n  command = [\"true\"]\n}\n",
            "env_template \"A\":",
        ),
        ("lease_state_file = \"/dev/shm/s\"\n", "lease_state_file:"),
        (
            "cache {\n  use_auto_auth_token = \"force\"\n}\n",
            "cache.use_auto_auth_token:",
        ),
        (
            "api_proxy {\n  use_auto_auth_token = true\n}\n",
            "api_proxy.use_auto_auth_token:",
        ),
    ] {
        let (_, line, message) = invalid("agent.hcl", &format!("{base}{tail}"));
        assert!(message.starts_with(key), "{message}");
        assert!(message.contains("auto_auth.method.wrap_ttl"), "{message}");
        assert!(line > 8, "{line}: {message}");
    }
    // api_proxy without the token is fine.
    ok(
        "agent.hcl",
        &format!("{base}api_proxy {{\n  use_auto_auth_token = false\n}}\n"),
    );
}

#[test]
fn a_template_in_another_file_is_named_with_its_file() {
    let files = Files::new()
        .add("a.hcl", &auth("    wrap_ttl = \"5m\"\n", &sink("/t", "")))
        .add(
            "b.hcl",
            "\ntemplate {\n  contents = \"x\"\n  destination = \"/dev/shm/x\"\n}\n",
        );
    let (file, line, message) = invalid_files(files);
    assert_eq!((file.as_str(), line), ("b.hcl", 2), "{message}");
}

#[test]
fn encryption_settings_follow_vault_agents_rules() {
    for (extra, line, start) in [
        (
            "    dh_type = \"p256\"\n    dh_path = \"/dh\"\n",
            3,
            "auto_auth.sink.dh_type: \"p256\" is not a supported Diffie-Hellman type",
        ),
        (
            "    dh_type = \"curve25519\"\n",
            3,
            "auto_auth.sink.dh_type: dh_type and dh_path must be given together",
        ),
        (
            "    dh_path = \"/dh\"\n",
            3,
            "auto_auth.sink.dh_path: dh_type and dh_path must be given together",
        ),
        (
            "    aad = \"x\"\n",
            3,
            "auto_auth.sink.aad: encrypts nothing without dh_type and dh_path",
        ),
        (
            "    aad_env_var = \"X\"\n",
            3,
            "auto_auth.sink.aad_env_var: encrypts nothing without dh_type",
        ),
        (
            "    derive_key = true\n",
            3,
            "auto_auth.sink.derive_key: encrypts nothing without dh_type",
        ),
        (
            "    wrap_ttl = \"500ms\"\n",
            3,
            "auto_auth.sink.wrap_ttl: 500ms is too short",
        ),
    ] {
        let text = format!(
            "auto_auth {{\n  sink \"file\" {{\n{extra}    config = {{ path = \"/t\" }}\n  }}\n  method \"approle\" {{\n    config = {{ role_id_file_path = \"/r\" }}\n  }}\n}}\n"
        );
        let (_, got_line, message) = invalid("agent.hcl", &text);
        assert_eq!(got_line, line, "{message}");
        assert!(message.starts_with(start), "{message}");
    }
    // derive_key = false alone is harmless, as in Vault Agent.
    ok(
        "agent.hcl",
        &auth("", &sink("/t", "    derive_key = false\n")),
    );
}
