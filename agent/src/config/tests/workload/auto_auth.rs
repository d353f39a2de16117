//! `workload { auto_auth { method ... } }`: the workload's own login, read as the top-level auto_auth's
//! method is; what only fits the agent's own token (sinks, wrap_ttl, token_role, policies) is refused.

use std::path::PathBuf;

use super::{MATCH, in_workload, refused};
use crate::config::tests::ok;
use crate::config::{MethodConfig, MethodKind};

/// An approle method (lines 5-11 of the workload body, after [`MATCH`]).
const APPROLE: &str = "  auto_auth {\n    method \"approle\" {\n      mount_path = \"auth/apps\"\n      namespace  = \"team\"\n      config = {\n        role_id_file_path   = \"/etc/a/role-id\"\n        secret_id_file_path = \"/etc/a/secret-id\"\n      }\n    }\n  }\n";

/// The workload's own method in a config whose workload body is `body`.
fn method(body: &str) -> MethodConfig {
    let c = ok("agent.hcl", &in_workload(body));
    c.workloads[0]
        .auto_auth
        .clone()
        .expect("the workload's auto_auth")
}

#[test]
fn a_workload_logs_in_with_its_own_method_and_needs_no_policies() {
    let c = ok("agent.hcl", &in_workload(&format!("{MATCH}{APPROLE}")));
    let w = &c.workloads[0];
    assert!(w.policies.is_empty());
    assert_eq!(w.token_role, None);
    assert!(
        c.auto_auth.is_none(),
        "the agent's own auto_auth is not set by it"
    );
    let m = w.auto_auth.as_ref().unwrap();
    assert_eq!(m.mount_path, "auth/apps");
    assert_eq!(m.namespace.as_deref(), Some("team"));
    assert_eq!(m.wrap_ttl, None);
    assert_eq!(
        m.kind,
        MethodKind::AppRole {
            role_id_file_path: PathBuf::from("/etc/a/role-id"),
            secret_id_file_path: Some(PathBuf::from("/etc/a/secret-id")),
            remove_secret_id_file_after_reading: true,
        }
    );
}

#[test]
fn every_method_type_is_read_as_the_top_level_one() {
    let jwt = method(&format!(
        "{MATCH}  auto_auth {{\n    method {{\n      type = \"jwt\"\n      config = {{\n        path = \"/var/run/jwt\"\n        role = \"app\"\n      }}\n    }}\n  }}\n"
    ));
    assert_eq!(jwt.mount_path, "auth/jwt");
    assert!(matches!(jwt.kind, MethodKind::Jwt { ref role, .. } if role == "app"));
    let k8s = method(&format!(
        "{MATCH}  auto_auth {{\n    method \"kubernetes\" {{\n      config = {{\n        role = \"app\"\n      }}\n    }}\n  }}\n"
    ));
    assert_eq!(k8s.kind.type_name(), "kubernetes");
    // The JSON form.
    let c = ok(
        "agent.json",
        r#"{"listener": {"unix": {"address": "/s"}},
            "workload": {"a": {"match": {"uid": 1000},
              "auto_auth": {"method": {"approle": {"mount_path": "auth/apps", "namespace": "team",
                "config": {"role_id_file_path": "/etc/a/role-id", "secret_id_file_path": "/etc/a/secret-id"}}}}}}}"#,
    );
    assert_eq!(
        c.workloads[0].auto_auth,
        Some(method(&format!("{MATCH}{APPROLE}")))
    );
}

#[test]
fn the_method_is_checked_as_the_top_level_one() {
    assert_eq!(
        refused(&format!(
            "{MATCH}  auto_auth {{\n    method \"userpass\" {{\n      config = {{}}\n    }}\n  }}\n"
        )),
        (
            9,
            "workload.a.auto_auth.method: auth method \"userpass\" is not supported by sidekey; supported: jwt, kubernetes, approle, cert, token_file".into()
        )
    );
    assert_eq!(
        refused(&format!(
            "{MATCH}  auto_auth {{\n    method \"approle\" {{\n      config = {{\n        role_id_file = \"/r\"\n      }}\n    }}\n  }}\n"
        )),
        (
            11,
            "workload.a.auto_auth.method.config.role_id_file: unknown key (did you mean \"role_id_file_path\"?)".into()
        )
    );
    assert_eq!(
        refused(&format!("{MATCH}  auto_auth {{\n  }}\n")),
        (
            8,
            "workload.a.auto_auth.method: required (e.g. method \"jwt\" { ... })".into()
        )
    );
}

#[test]
fn sinks_and_wrapping_are_refused_inside_a_workload() {
    let sink = "    sink \"file\" {\n      config = {\n        path = \"/tmp/t\"\n      }\n    }\n";
    let body = format!(
        "{MATCH}{}",
        APPROLE.replace("  }\n  }\n", &format!("  }}\n{sink}  }}\n"))
    );
    let (line, message) = refused(&body);
    assert_eq!(line, 17);
    assert_eq!(
        message,
        "workload.a.auto_auth.sink: not allowed inside a workload: the workload's token is given only to its \
         callers through the sockets, never written to a file"
    );
    let wrapped = APPROLE.replace("namespace  = \"team\"", "wrap_ttl = \"5m\"");
    let (line, message) = refused(&format!("{MATCH}{wrapped}"));
    assert_eq!(line, 11);
    assert!(
        message.starts_with("workload.a.auto_auth.method.wrap_ttl: not allowed inside a workload"),
        "{message}"
    );
}

#[test]
fn token_role_and_policies_beside_it_are_refused_naming_both_lines() {
    for (key, value, why) in [
        ("token_role", "\"r\"", "not created from a token role"),
        ("policies", "[\"a\"]", "decides the token's policies"),
    ] {
        let (line, message) = refused(&format!("{MATCH}{APPROLE}  {key} = {value}\n"));
        assert_eq!(line, 18, "{key}");
        assert!(
            message.starts_with(&format!(
                "workload.a.{key}: cannot be used with the workload's auto_auth (line 8): "
            )),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
    }
}
