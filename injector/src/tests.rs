//! Unit tests: annotation parsing, vault-k8s defaults, errors and warnings, and golden patches for the docs
//! examples' annotation sets (`tests/fixtures/injector/`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::annotations::{Defaults, parse, should_inject};
use crate::config::{agent_config, default_template};
use crate::review::{Settings, review};
use crate::spec::{AuthType, DefaultTemplate};

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (format!("vault.hashicorp.com/{k}"), v.to_string()))
        .collect()
}

fn defaults() -> Defaults {
    Defaults {
        vault_address: Some("https://vault.vault.svc:8200".into()),
        ..Defaults::default()
    }
}

fn settings() -> Settings {
    Settings {
        agent_image: "sidekey:test".into(),
        defaults: defaults(),
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/injector")
}

fn admission_review(pod: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "dryRun": false
        }
    }))
    .unwrap()
}

/// The response part of the review answered for `pod`.
fn respond(pod: Value) -> Value {
    review(&admission_review(pod), &settings()).unwrap()["response"].clone()
}

/// The response's patch (base64 of the JSON patch).
fn decoded_patch(response: &Value) -> Vec<Value> {
    use base64::Engine as _;
    let text = response["patch"].as_str().expect("a base64 patch");
    let bytes = base64::prelude::BASE64_STANDARD.decode(text).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// === annotations ===

#[test]
fn inject_only_when_asked_and_not_yet_injected() {
    assert!(!should_inject(&BTreeMap::new()).unwrap());
    assert!(should_inject(&ann(&[("agent-inject", "true")])).unwrap());
    assert!(should_inject(&ann(&[("agent-inject", "T")])).unwrap());
    assert!(!should_inject(&ann(&[("agent-inject", "false")])).unwrap());
    assert!(
        !should_inject(&ann(&[
            ("agent-inject", "true"),
            ("agent-inject-status", "injected")
        ]))
        .unwrap()
    );
    let err = should_inject(&ann(&[("agent-inject", "yes")])).unwrap_err();
    assert_eq!(err.annotation, "vault.hashicorp.com/agent-inject");
}

#[test]
fn defaults_are_vault_k8s_defaults() {
    let spec = parse(
        &ann(&[
            ("agent-inject", "true"),
            ("role", "app"),
            ("agent-inject-secret-db", "db/creds/app"),
        ]),
        &defaults(),
    )
    .unwrap();
    assert_eq!(spec.vault.address, "https://vault.vault.svc:8200");
    assert_eq!(spec.auth.kind, AuthType::Kubernetes);
    assert_eq!(spec.auth.mount_path, "auth/kubernetes");
    assert_eq!(
        spec.auth.config.get("role").map(String::as_str),
        Some("app")
    );
    assert_eq!(spec.secret_volume_path, "/vault/secrets");
    assert_eq!(spec.default_template, DefaultTemplate::Map);
    assert!(spec.pre_populate && !spec.pre_populate_only && !spec.init_first);
    assert_eq!((spec.run_as_user, spec.run_as_group), (100, 1000));
    assert_eq!(spec.resources.limits_cpu, "500m");
    assert_eq!(spec.resources.requests_mem, "64Mi");
    assert!(spec.exit_on_retry_failure && !spec.inject_token && spec.containers.is_none());
    assert!(spec.warnings.is_empty(), "{:?}", spec.warnings);
    let secret = &spec.secrets[0];
    assert_eq!(
        (secret.name.as_str(), secret.path.as_str()),
        ("db", "db/creds/app")
    );
    assert_eq!(secret.mount_path, "/vault/secrets");
}

#[test]
fn default_templates_are_vault_k8s_texts() {
    assert_eq!(
        default_template(DefaultTemplate::Map, "db/creds/app"),
        "{{ with secret \"db/creds/app\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
    );
    assert_eq!(
        default_template(DefaultTemplate::Json, "db/creds/app"),
        "{{ with secret \"db/creds/app\" }}{{ .Data | toJSON }}\n{{ end }}"
    );
}

#[test]
fn files_are_readable_by_the_app_containers_unless_perms_say_otherwise() {
    let spec = parse(
        &ann(&[
            ("role", "app"),
            ("agent-inject-secret-a", "kv/a"),
            ("agent-inject-secret-b", "kv/b"),
            ("agent-inject-perms-b", "0400"),
        ]),
        &defaults(),
    )
    .unwrap();
    let config = agent_config(&spec, false);
    assert_eq!(config["template"][0]["perms"], "0644");
    assert_eq!(config["template"][1]["perms"], "0400");
}

#[test]
fn secret_names_are_lower_cased_unless_preserved() {
    let base = [
        ("role", "app"),
        ("agent-inject-secret-MyDB", "db/creds/app"),
    ];
    let spec = parse(&ann(&base), &defaults()).unwrap();
    assert_eq!(spec.secrets[0].name, "mydb");
    let mut preserved = base.to_vec();
    preserved.push(("preserve-secret-case-MyDB", "true"));
    let spec = parse(&ann(&preserved), &defaults()).unwrap();
    assert_eq!(spec.secrets[0].name, "MyDB");
}

#[test]
fn a_template_alone_makes_a_secret() {
    let spec = parse(
        &ann(&[
            ("role", "app"),
            ("agent-inject-template-config", "static\n"),
        ]),
        &defaults(),
    )
    .unwrap();
    assert_eq!(spec.secrets.len(), 1);
    assert_eq!(spec.secrets[0].template.as_deref(), Some("static\n"));
}

#[test]
fn inject_token_adds_a_sink_in_the_secrets_volume() {
    let spec = parse(
        &ann(&[("role", "app"), ("agent-inject-token", "true")]),
        &defaults(),
    )
    .unwrap();
    let config = agent_config(&spec, false);
    assert_eq!(
        config["auto_auth"]["sink"],
        json!([
            {"type": "file", "config": {"path": "/home/vault/.vault-token"}},
            {"type": "file", "config": {"path": "/vault/secrets/token"}}
        ])
    );
}

#[test]
fn init_config_exits_after_auth_and_sidecar_does_not() {
    let spec = parse(&ann(&[("role", "app")]), &defaults()).unwrap();
    assert_eq!(agent_config(&spec, true)["exit_after_auth"], json!(true));
    assert_eq!(agent_config(&spec, false)["exit_after_auth"], json!(false));
}

#[test]
fn malformed_values_name_their_annotation() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("agent-pre-populate", "yes")], "agent-pre-populate"),
        (
            &[("agent-inject-default-template", "yaml")],
            "agent-inject-default-template",
        ),
        (
            &[
                ("agent-inject-secret-a", "x"),
                ("agent-inject-perms-a", "rw-r"),
            ],
            "agent-inject-perms-a",
        ),
        (&[("agent-limits-mem", "lots")], "agent-limits-mem"),
        (&[("agent-run-as-user", "-1")], "agent-run-as-user"),
        (&[("agent-run-as-group", "root")], "agent-run-as-group"),
        (&[("auth-type", "gcp")], "auth-type"),
        (&[("service", "vault:8200")], "service"),
        (
            &[("template-static-secret-render-interval", "often")],
            "template-static-secret-render-interval",
        ),
        (
            &[
                ("agent-inject-secret-a", "x"),
                ("error-on-missing-key-a", "maybe"),
            ],
            "error-on-missing-key-a",
        ),
        (
            &[
                ("agent-pre-populate", "false"),
                ("agent-pre-populate-only", "true"),
            ],
            "agent-pre-populate-only",
        ),
    ];
    for (pairs, annotation) in cases {
        let mut all = vec![("role", "app")];
        all.extend_from_slice(pairs);
        let err = parse(&ann(&all), &defaults()).unwrap_err();
        assert_eq!(
            err.annotation,
            format!("vault.hashicorp.com/{annotation}"),
            "{pairs:?}"
        );
        assert!(err.to_string().starts_with("vault.hashicorp.com/"), "{err}");
    }
    let err = parse(&ann(&[("agent-inject", "true")]), &defaults()).unwrap_err();
    assert_eq!(err.annotation, "vault.hashicorp.com/role");
    let err = parse(&ann(&[("role", "app")]), &Defaults::default()).unwrap_err();
    assert_eq!(err.annotation, "vault.hashicorp.com/service");
}

#[test]
fn unsupported_and_unknown_annotations_become_warnings() {
    let spec = parse(
        &ann(&[
            ("role", "app"),
            ("agent-extra-secret", "extra"),
            ("agent-cache-enable", "true"),
            ("agent-inject-template-file-a", "/vault/configs/a.ctmpl"),
            ("no-such-thing", "x"),
        ]),
        &defaults(),
    )
    .unwrap();
    let w = spec.warnings.join("\n");
    assert!(
        w.contains("vault.hashicorp.com/agent-extra-secret: not supported"),
        "{w}"
    );
    assert!(w.contains("vault.hashicorp.com/agent-cache-enable"), "{w}");
    assert!(
        w.contains("vault.hashicorp.com/agent-inject-template-file-a: not supported"),
        "{w}"
    );
    assert!(
        w.contains("vault.hashicorp.com/no-such-thing: unknown annotation"),
        "{w}"
    );
    assert_eq!(spec.warnings.len(), 4, "{w}");
    assert!(
        spec.secrets.is_empty(),
        "a template file is not an inline template"
    );
}

#[test]
fn jwt_auth_reads_the_service_account_token_by_default() {
    let pod = json!({
        "metadata": {"annotations": ann(&[("agent-inject", "true"), ("role", "app"), ("auth-type", "jwt")])},
        "spec": {"containers": [{"name": "app"}]}
    });
    let config = patched_config(&respond(pod));
    assert_eq!(config["auto_auth"]["method"]["type"], "jwt");
    assert_eq!(
        config["auto_auth"]["method"]["config"]["path"],
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    );
}

#[test]
fn revoke_on_shutdown_is_set_for_the_sidecar_only() {
    let spec = parse(
        &ann(&[("role", "app"), ("agent-revoke-on-shutdown", "true")]),
        &defaults(),
    )
    .unwrap();
    assert_eq!(
        agent_config(&spec, false)["template_config"]["revoke_on_shutdown"],
        json!(true)
    );
    assert!(
        agent_config(&spec, true)["template_config"]
            .get("revoke_on_shutdown")
            .is_none()
    );
}

/// The config annotation of a patch.
fn patched_config(response: &Value) -> Value {
    let patch = decoded_patch(response);
    let op = patch
        .iter()
        .find(|op| op["path"] == "/metadata/annotations/sidekey.io~1agent-config")
        .expect("a config annotation");
    serde_json::from_str(op["value"].as_str().unwrap()).unwrap()
}

#[test]
fn a_service_account_token_volume_is_mounted_and_read() {
    let pod = json!({
        "metadata": {"annotations": ann(&[
            ("agent-inject", "true"),
            ("role", "app"),
            ("agent-service-account-token-volume-name", "vault-token"),
        ])},
        "spec": {
            "containers": [{"name": "app"}],
            "volumes": [{"name": "vault-token", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "audience": "vault"}}
            ]}}]
        }
    });
    let r = respond(pod.clone());
    assert_eq!(
        patched_config(&r)["auto_auth"]["method"]["config"]["token_path"],
        "/var/run/secrets/vault.hashicorp.com/serviceaccount/token"
    );
    let patch = decoded_patch(&r);
    let sidecar = patch
        .iter()
        .find(|op| op["path"] == "/spec/containers/-")
        .unwrap();
    assert!(
        sidecar["value"]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "vault-token"
                && m["mountPath"] == "/var/run/secrets/vault.hashicorp.com/serviceaccount"),
        "{sidecar}"
    );

    let mut missing = pod;
    missing["spec"]["volumes"] = json!([]);
    let r = respond(missing);
    assert_eq!(r["allowed"], json!(false));
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("agent-service-account-token-volume-name")
    );
}

// === review ===

#[test]
fn pods_without_the_annotation_are_allowed_unchanged() {
    let r =
        respond(json!({"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "app"}]}}));
    assert_eq!(r["allowed"], json!(true));
    assert!(r.get("patch").is_none_or(Value::is_null), "{r}");
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
}

#[test]
fn malformed_annotations_deny_the_pod_with_the_annotation_named() {
    let r = respond(json!({
        "metadata": {"annotations": ann(&[("agent-inject", "true"), ("role", "app"), ("tls-skip-verify", "nope")])},
        "spec": {"containers": [{"name": "app"}]}
    }));
    assert_eq!(r["allowed"], json!(false));
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("vault.hashicorp.com/tls-skip-verify"),
        "{message}"
    );
}

#[test]
fn unknown_container_names_deny_the_pod() {
    let r = respond(json!({
        "metadata": {"annotations": ann(&[("agent-inject", "true"), ("role", "app"), ("agent-inject-containers", "web")])},
        "spec": {"containers": [{"name": "app"}]}
    }));
    assert_eq!(r["allowed"], json!(false));
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("agent-inject-containers")
    );
}

#[test]
fn named_init_containers_get_the_secrets_too() {
    let r = respond(json!({
        "metadata": {"annotations": ann(&[
            ("agent-inject", "true"),
            ("role", "app"),
            ("agent-init-first", "true"),
            ("agent-inject-containers", "migrate,app"),
        ])},
        "spec": {
            "initContainers": [{"name": "migrate"}],
            "containers": [{"name": "sidecar-proxy"}, {"name": "app"}]
        }
    }));
    let paths: Vec<String> = decoded_patch(&r)
        .iter()
        .map(|op| op["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        paths.contains(&"/spec/initContainers/0/volumeMounts".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/spec/containers/1/volumeMounts".to_string()),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&"/spec/containers/0/volumeMounts".to_string()),
        "{paths:?}"
    );
}

#[test]
fn warnings_reach_the_admission_response() {
    let r = respond(json!({
        "metadata": {"annotations": ann(&[("agent-inject", "true"), ("role", "app"), ("log-level", "debug")])},
        "spec": {"containers": [{"name": "app"}]}
    }));
    assert_eq!(r["allowed"], json!(true));
    assert_eq!(
        r["warnings"],
        json!(["vault.hashicorp.com/log-level: not supported by sidekey's injector; ignored"])
    );
}

#[test]
fn a_patched_pod_is_not_patched_again() {
    let pod: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("docs-basic.pod.json")).unwrap())
            .unwrap();
    let mut patched = pod.clone();
    let ops: json_patch::Patch =
        serde_json::from_value(Value::Array(decoded_patch(&respond(pod)))).unwrap();
    json_patch::patch(&mut patched, &ops).unwrap();
    let again = respond(patched);
    assert_eq!(again["allowed"], json!(true));
    assert!(again.get("patch").is_none_or(Value::is_null));
}

/// Every `*.pod.json` fixture: the patch applies to the pod, and equals the golden `*.patch.json`.
#[test]
fn docs_examples_give_the_golden_patches() {
    let update = std::env::var_os("SIDEKEY_UPDATE_GOLDEN").is_some();
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pod.json"))
        else {
            continue;
        };
        seen += 1;
        let pod: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let response = respond(pod.clone());
        assert_eq!(response["allowed"], json!(true), "{name}: {response}");
        let ops = decoded_patch(&response);
        let mut patched = pod;
        let typed: json_patch::Patch = serde_json::from_value(Value::Array(ops.clone())).unwrap();
        json_patch::patch(&mut patched, &typed).unwrap_or_else(|e| panic!("{name}: {e}"));
        let golden_path = fixtures().join(format!("{name}.patch.json"));
        let got = serde_json::to_string_pretty(&ops).unwrap() + "\n";
        if update {
            std::fs::write(&golden_path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (SIDEKEY_UPDATE_GOLDEN=1 writes it)",
                golden_path.display()
            )
        });
        assert_eq!(
            got,
            want,
            "{name}: the patch differs from {}",
            golden_path.display()
        );
    }
    assert!(seen >= 4, "only {seen} fixtures");
}

/// openbao-k8s spells the same annotations `openbao.openbao.org/*` and mounts secrets at `/openbao/secrets`.
#[test]
fn openbao_k8s_annotations_are_read_the_same_way() {
    let openbao = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("openbao.openbao.org/{k}"), v.to_string()))
            .collect()
    };
    let r = respond(json!({
        "metadata": {"annotations": openbao(&[
            ("agent-inject", "true"),
            ("role", "app"),
            ("agent-inject-secret-db.txt", "secret/data/db"),
            ("agent-cache-listener-port", "8200"),
        ])},
        "spec": {"containers": [{"name": "app"}]}
    }));
    assert_eq!(r["allowed"], json!(true), "{r}");
    let config = patched_config(&r);
    assert_eq!(
        config["template"][0]["destination"],
        json!("/openbao/secrets/db.txt")
    );
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("openbao.openbao.org/agent-cache-listener-port"),
        "{warnings}"
    );

    let denied = respond(json!({
        "metadata": {"annotations": openbao(&[("agent-inject", "true"), ("role", "app"), ("tls-skip-verify", "nope")])},
        "spec": {"containers": [{"name": "app"}]}
    }));
    assert_eq!(denied["allowed"], json!(false));
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("openbao.openbao.org/tls-skip-verify"),
        "{message}"
    );
}
