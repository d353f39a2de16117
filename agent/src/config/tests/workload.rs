//! `workload "NAME"` and `listener "credentials"` (per-host mode): every form loads to the same stanzas,
//! and each mistake in a stanza is named by file, line and key. Checks across stanzas (the auto-auth token
//! beside the listeners, unique names, overlapping matches) are in `checks`; credentials in `credentials`;
//! a workload's own login in `auto_auth`; templates inside a workload in `files`.

mod auto_auth;
mod checks;
mod credentials;
mod files;

use std::path::PathBuf;

use super::{invalid, ok};
use crate::config::{CallerMatch, Config, CredentialConfig, Origin, WorkloadConfig};

/// A workload with every match key, two credentials, the sockets callers reach it through.
const HCL2: &str = r#"listener "unix" {
  address = "/run/sidekey/api.sock"
}

listener "credentials" {
  address = "/run/sidekey/creds.sock"
}

workload "app-a" {
  match {
    uid    = 1000
    gid    = 1000
    user   = "app-a"
    group  = "app-a"
    unit   = "app-a.service"
    cgroup = "/system.slice/app-a.service"
    exe    = "/usr/bin/app-a"
    sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
  }
  policies   = ["app-a", "common"]
  token_role = "per-host"

  credential "db-password" {
    unit     = "app-a.service"
    contents = "{{ with secret \"kv/db\" }}{{ .Data.password }}{{ end }}"
  }
  credential "api-key" {
    unit     = "app-a-worker.service"
    contents = "static"
  }
}

workload "app-b" {
  match {
    uid = 1001
  }
  policies = ["app-b"]
}

auto_auth {
  method "token_file" {
    config = {
      token_file_path = "/run/sidekey/token"
    }
  }
}
"#;

/// The workloads of `c` with origins cleared, to compare forms whose lines differ.
fn without_origins(c: &Config) -> Vec<WorkloadConfig> {
    c.workloads
        .iter()
        .cloned()
        .map(|mut w| {
            w.origin = Origin::default();
            w.matcher.origin = Origin::default();
            for cred in &mut w.credentials {
                cred.origin = Origin::default();
            }
            w
        })
        .collect()
}

#[test]
fn every_key_is_read_with_its_line() {
    let c = ok("agent.hcl", HCL2);
    let a = &c.workloads[0];
    assert_eq!(a.name, "app-a");
    assert_eq!(
        a.matcher,
        CallerMatch {
            uid: Some(1000),
            gid: Some(1000),
            user: Some("app-a".into()),
            group: Some("app-a".into()),
            unit: Some("app-a.service".into()),
            cgroup: Some("/system.slice/app-a.service".into()),
            exe: Some(PathBuf::from("/usr/bin/app-a")),
            // Kept in lower case, as sha256sum prints it.
            sha256: Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()),
            origin: Origin {
                file: a.origin.file.clone(),
                line: 10,
            },
        }
    );
    assert!(a.origin.file.ends_with("agent.hcl"));
    assert_eq!(a.origin.line, 9);
    assert_eq!(a.policies, ["app-a", "common"]);
    assert_eq!(a.token_role.as_deref(), Some("per-host"));
    assert_eq!(
        a.credentials[0],
        CredentialConfig {
            id: "db-password".into(),
            unit: "app-a.service".into(),
            contents: "{{ with secret \"kv/db\" }}{{ .Data.password }}{{ end }}".into(),
            origin: Origin {
                file: a.origin.file.clone(),
                line: 23,
            },
        }
    );
    assert_eq!(a.credentials[1].id, "api-key");
    let b = &c.workloads[1];
    assert_eq!((b.name.as_str(), b.matcher.uid), ("app-b", Some(1001)));
    assert_eq!((b.token_role.as_ref(), b.credentials.len()), (None, 0));
    let l = c
        .credential_listener
        .as_ref()
        .expect("credentials listener");
    assert_eq!(l.path, PathBuf::from("/run/sidekey/creds.sock"));
    assert_eq!(l.origin.line, 5);
    assert!(l.origin.file.ends_with("agent.hcl"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn hcl1_and_json_forms_mean_what_the_hcl2_form_means() {
    let want = ok("agent.hcl", HCL2);
    let hcl1 = r#"listener unix { address = "/run/sidekey/api.sock" }
listener credentials { address = "/run/sidekey/creds.sock" }
workload app-a {
  match = {
    uid = 1000, gid = 1000, user = "app-a", group = "app-a", unit = "app-a.service",
    cgroup = "/system.slice/app-a.service", exe = "/usr/bin/app-a",
    sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  }
  policies = ["app-a", "common"], token_role = "per-host"
  credential db-password {
    unit = "app-a.service"
    contents = <<EOT
{{ with secret "kv/db" }}{{ .Data.password }}{{ end }}
EOT
  }
  credential "api-key" { unit = "app-a-worker.service", contents = "static" }
}
"workload" = { "app-b" = { "match" = { "uid" = 1001 }, "policies" = ["app-b"] } }
auto_auth { method token_file { config = { token_file_path = "/run/sidekey/token" } } }
"#;
    let json = r#"{
  "listener": [
    {"type": "unix", "address": "/run/sidekey/api.sock"},
    {"type": "credentials", "address": "/run/sidekey/creds.sock"}
  ],
  "workload": {
    "app-a": {
      "match": {
        "uid": 1000, "gid": 1000, "user": "app-a", "group": "app-a", "unit": "app-a.service",
        "cgroup": "/system.slice/app-a.service", "exe": "/usr/bin/app-a",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
      },
      "policies": ["app-a", "common"],
      "token_role": "per-host",
      "credential": {
        "db-password": {
          "unit": "app-a.service",
          "contents": "{{ with secret \"kv/db\" }}{{ .Data.password }}{{ end }}"
        },
        "api-key": {"unit": "app-a-worker.service", "contents": "static"}
      }
    },
    "app-b": {"match": {"uid": 1001}, "policies": ["app-b"]}
  },
  "auto_auth": {"method": {"type": "token_file", "config": {"token_file_path": "/run/sidekey/token"}}}
}
"#;
    for (name, text) in [("agent.hcl", hcl1), ("agent.json", json)] {
        let mut got = ok(name, text);
        for w in &mut got.workloads {
            for c in &mut w.credentials {
                // A heredoc ends with a newline.
                c.contents = c.contents.trim_end().to_string();
            }
        }
        assert_eq!(without_origins(&got), without_origins(&want), "{name}");
        assert_eq!(
            got.credential_listener.map(|l| l.path),
            want.credential_listener.clone().map(|l| l.path),
            "{name}"
        );
        assert!(got.warnings.is_empty(), "{name}: {:?}", got.warnings);
    }
}

#[test]
fn errors_in_the_json_form_name_the_line_and_key_path() {
    let json = "{\n  \"workload\": {\n    \"app-a\": {\n      \"match\": {\"uid\": 1000},\n      \"policies\": []\n    }\n  }\n}\n";
    let (file, line, message) = invalid("agent.json", json);
    assert_eq!((file.as_str(), line), ("agent.json", 5));
    assert!(
        message.starts_with("workload.app-a.policies: must not be empty without token_role"),
        "{message}"
    );
}

#[test]
fn with_a_token_role_policies_may_be_left_to_the_role() {
    let c = ok(
        "agent.hcl",
        "listener \"unix\" {\n  address = \"/s\"\n}\nworkload \"a\" {\n  match {\n    unit = \"a.service\"\n  }\n  token_role = \"per-host\"\n}\n",
    );
    assert!(c.workloads[0].policies.is_empty());
}

/// `text` wrapped into `workload "a" { ... }` after a unix listener (lines 1-3; the workload is line 4,
/// the first line of `text` line 5).
fn in_workload(text: &str) -> String {
    format!("listener \"unix\" {{\n  address = \"/s\"\n}}\nworkload \"a\" {{\n{text}}}\n")
}

/// The error (line, message) for a workload of body `text` (see [`in_workload`]).
fn refused(text: &str) -> (usize, String) {
    let (file, line, message) = invalid("agent.hcl", &in_workload(text));
    assert_eq!(file, "agent.hcl");
    (line, message)
}

/// A match on uid 1000 (three lines).
const MATCH: &str = "  match {\n    uid = 1000\n  }\n";

#[test]
fn a_workload_needs_a_name_and_a_match_with_a_key() {
    let (_, line, message) = invalid("agent.hcl", &format!("workload \"\" {{\n{MATCH}}}\n"));
    assert_eq!(line, 1);
    assert_eq!(
        message,
        "workload: needs a non-empty name, e.g. workload \"app-a\" { ... }"
    );
    assert_eq!(
        refused("  policies = [\"a\"]\n"),
        (4, "workload.a.match: required: which callers are this workload, e.g. match { unit = \"app-a.service\" }".into())
    );
    assert_eq!(
        refused("  match {\n  }\n  policies = [\"a\"]\n"),
        (5, "workload.a.match: needs at least one of uid, gid, user, group, unit, cgroup, exe, sha256: an empty match would take every local process".into())
    );
}

#[test]
fn match_values_are_checked() {
    let policies = "  policies = [\"a\"]\n";
    for (key, value, want) in [
        (
            "sha256",
            "\"abc123\"",
            "workload.a.match.sha256: expected 64 hex digits (as sha256sum prints them), found 6 characters",
        ),
        (
            "sha256",
            &format!("\"{}\"", "g".repeat(64)),
            "workload.a.match.sha256: expected 64 hex digits (as sha256sum prints them), found 64 characters that are not all hex digits",
        ),
        (
            "uid",
            "4294967296",
            "workload.a.match.uid: 4294967296 is not an id (0 to 4294967295)",
        ),
        (
            "gid",
            "-1",
            "workload.a.match.gid: expected a whole number >= 0, found -1",
        ),
        (
            "user",
            "1000",
            "workload.a.match.user: expected a name, found the number 1000; write uid = 1000 for an id",
        ),
        (
            "exe",
            "\"bin/app\"",
            "workload.a.match.exe: \"bin/app\" is not an absolute path (the kernel reports a caller's executable by its absolute path)",
        ),
        (
            "uidd",
            "1",
            "workload.a.match.uidd: unknown key (did you mean \"uid\"?)",
        ),
        // `sidekey check` refuses the globs `sidekey run` could not compile.
        (
            "cgroup",
            "\"/system.slice/[unclosed\"",
            "workload.a.match.cgroup: not a valid glob: unclosed character class; missing ']'",
        ),
        (
            "unit",
            "\"not a unit\"",
            "workload.a.match.unit: \"not a unit\" is not a systemd unit name: expected NAME.TYPE, TYPE one of \
             service, scope, e.g. \"app-a.service\"",
        ),
        (
            "unit",
            "\"system.slice/a.service\"",
            "workload.a.match.unit: \"system.slice/a.service\" is not a systemd unit name: '/' is not allowed (a \
             unit name has letters, digits and :-_.\\@ only, no path)",
        ),
        (
            "unit",
            "\"app.slice\"",
            "workload.a.match.unit: \"app.slice\" is a .slice unit; a caller's unit is a .service, .scope",
        ),
        (
            "unit",
            "\"getty@.service\"",
            "workload.a.match.unit: \"getty@.service\" is a template, which never runs itself: name an instance, \
             e.g. \"getty@1.service\"",
        ),
        ("user", "\"\"", "workload.a.match.user: must not be empty"),
        (
            "group",
            "\" \"",
            "workload.a.match.group: must not be empty",
        ),
    ] {
        let body = format!("  match {{\n    {key} = {value}\n  }}\n{policies}");
        assert_eq!(refused(&body), (6, want.to_string()), "{key}");
    }
}

#[test]
fn an_empty_token_role_is_refused_not_taken_for_none() {
    assert_eq!(
        refused(&format!(
            "{MATCH}  token_role = \"\"\n  policies = [\"a\"]\n"
        )),
        (8, "workload.a.token_role: must not be empty".into())
    );
}

#[test]
fn without_token_role_policies_are_required_and_named() {
    let wide = "a child token of the agent's token created without policies would hold every policy of the agent's token";
    assert_eq!(
        refused(MATCH),
        (
            4,
            format!(
                "workload.a.policies: required without token_role ({wide}); give e.g. policies = [\"app-a\"]"
            )
        )
    );
    assert_eq!(
        refused(&format!("{MATCH}  policies = []\n")),
        (
            8,
            format!("workload.a.policies: must not be empty without token_role ({wide})")
        )
    );
    assert_eq!(
        refused(&format!(
            "{MATCH}  policies = [\"a\", \"\"]\n  token_role = \"r\"\n"
        )),
        (
            8,
            "workload.a.policies[1]: a policy name must not be empty".into()
        )
    );
}

#[test]
fn workload_keys_elsewhere_are_misplaced() {
    let (_, line, message) = invalid("agent.hcl", "token_role = \"r\"\n");
    assert_eq!(line, 1);
    assert_eq!(
        message,
        "token_role: misplaced: token_role belongs in workload; move it there"
    );
    let (_, line, message) = invalid(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/dev/shm/x\"\n  cgroup = \"/a\"\n}\n",
    );
    assert_eq!(line, 4);
    assert_eq!(
        message,
        "template.cgroup: misplaced: cgroup belongs in workload.match; move it there"
    );
}
