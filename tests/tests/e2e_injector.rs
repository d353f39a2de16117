//! End to end: the built `sidekey-injector` answers an AdmissionReview over HTTPS for a pod carrying the
//! vault-k8s docs' annotation set; the returned JSON patch is applied, the init container's agent config is
//! taken out of the patched pod exactly where its downwardAPI volume reads it, and that config renders the
//! same bytes with the real `bao agent` and with `sidekey`.
//!
//! There is no Kubernetes API here: OpenBao's `jwt` auth method is mounted at `kubernetes` (it takes the same
//! `{role, jwt}` login body), and the test points the method's `token_path` at a harness-minted JWT. The
//! container paths (`/vault/secrets`, `/home/vault`) are moved to temp dirs; nothing else is changed.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::bao::bao_bin;
use sidekey_tests::jwt::{APP_SUBJECT, AUDIENCE, ISSUER};
use sidekey_tests::ports::free_port;
use sidekey_tests::process::run_with_timeout;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey, injector_bin};

const USERNAME: &str = "db-readonly-user";
const PASSWORD: &str = "db-secret-password";

/// The docs tutorial's server side: a kv-v2 mount `internal`, its secret, a policy, and role `internal-app`
/// at `auth/kubernetes` (a `jwt` method standing in for `kubernetes`).
fn seed(fx: &Fixture) {
    let bao = &fx.bao;
    bao.write(
        "sys/mounts/internal",
        json!({ "type": "kv", "options": { "version": "2" } }),
    );
    bao.write(
        "internal/data/database/config",
        json!({ "data": { "username": USERNAME, "password": PASSWORD } }),
    );
    bao.write(
        "sys/policies/acl/internal-app",
        json!({ "policy": "path \"internal/data/database/config\" { capabilities = [\"read\"] }" }),
    );
    bao.write("sys/auth/kubernetes", json!({ "type": "jwt" }));
    bao.write(
        "auth/kubernetes/config",
        json!({ "jwt_validation_pubkeys": [fx.jwt().public_key_pem()], "bound_issuer": ISSUER }),
    );
    bao.write(
        "auth/kubernetes/role/internal-app",
        json!({
            "role_type": "jwt",
            "bound_audiences": [AUDIENCE],
            "bound_subject": APP_SUBJECT,
            "user_claim": "sub",
            "token_policies": ["internal-app"],
        }),
    );
}

/// A running injector with a fresh self-signed certificate; the client trusts exactly that certificate.
struct Injector {
    process: Background,
    _dir: tempfile::TempDir,
    url: String,
    client: reqwest::blocking::Client,
}

impl Injector {
    fn start() -> Injector {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
        let cert_path = dir.path().join("tls.crt");
        let key_path = dir.path().join("tls.key");
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let process = Background::start_bin(
            &injector_bin(),
            &[
                "--listen",
                &listen,
                "--tls-cert",
                cert_path.to_str().unwrap(),
                "--tls-key",
                key_path.to_str().unwrap(),
                "--agent-image",
                "sidekey:e2e",
                "--vault-address",
                "https://vault.vault.svc:8200",
            ],
            &[],
            dir.path(),
        );
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .add_root_certificate(
                reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap(),
            )
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTPS client");
        let url = format!("https://localhost:{port}");
        let healthy = wait_until(Duration::from_secs(30), || {
            client
                .get(format!("{url}/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        assert!(
            healthy,
            "injector never became healthy:\n{}",
            process.stderr()
        );
        Injector {
            process,
            _dir: dir,
            url,
            client,
        }
    }

    /// POST an AdmissionReview for `pod`; the `response` object.
    fn review(&self, pod: &Value) -> Value {
        let body = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "e2e-0001",
                "kind": { "group": "", "version": "v1", "kind": "Pod" },
                "resource": { "group": "", "version": "v1", "resource": "pods" },
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": { "username": "e2e" },
                "object": pod,
                "dryRun": false
            }
        });
        let reply = self
            .client
            .post(format!("{}/mutate", self.url))
            .json(&body)
            .send()
            .expect("POST /mutate");
        assert!(reply.status().is_success(), "status {}", reply.status());
        let answer: Value = reply.json().expect("JSON AdmissionReview");
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["response"]["uid"], "e2e-0001");
        answer["response"].clone()
    }
}

/// The docs tutorial's pod (`tests/fixtures/injector/docs-template.pod.json`), plus one secret rendered with
/// vault-k8s's default `map` template.
fn docs_pod() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/injector/docs-template.pod.json");
    let mut pod: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-secret-database-config.map"] =
        json!("internal/data/database/config");
    pod
}

/// Apply the response's JSON patch to `pod`.
fn apply(pod: &Value, response: &Value) -> Value {
    assert_eq!(response["patchType"], "JSONPatch");
    use base64::Engine as _;
    let text = response["patch"]
        .as_str()
        .expect("the patch, base64 as the API documents it");
    let bytes = base64::prelude::BASE64_STANDARD
        .decode(text)
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("an RFC 6902 patch");
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the pod");
    patched
}

/// The file the container `name` passes to `-c`, and its contents as the kubelet would project them.
fn projected_config(pod: &Value, list: &str, name: &str) -> (String, String) {
    let container = pod["spec"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"));
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let ["run", "-c", file] = args.as_slice() else {
        panic!("{name} runs {args:?}")
    };
    let (dir, file_name) = file.rsplit_once('/').unwrap();
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap_or_else(|| panic!("{name} mounts nothing at {dir}"));
    let volume = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let item = volume["downwardAPI"]["items"]
        .as_array()
        .expect("a downwardAPI volume")
        .iter()
        .find(|i| i["path"] == file_name)
        .expect("an item for the config file");
    let field = item["fieldRef"]["fieldPath"].as_str().unwrap();
    let key = field
        .strip_prefix("metadata.annotations['")
        .and_then(|k| k.strip_suffix("']"))
        .unwrap_or_else(|| panic!("unexpected fieldPath {field}"));
    let text = pod["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no annotation {key}"));
    (file.to_string(), text.to_string())
}

/// The config with the container paths moved to `out` / `home` and the token read from `jwt`.
fn localize(config: &str, addr: &str, out: &Path, home: &Path, jwt: &Path) -> PathBuf {
    let text = config
        .replace("/vault/secrets", out.to_str().unwrap())
        .replace("/home/vault", home.to_str().unwrap());
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["vault"]["address"] = json!(addr);
    v["auto_auth"]["method"]["config"]["token_path"] = json!(jwt);
    let path = home.join("agent.json");
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    path
}

#[test]
fn docs_annotations_render_the_same_files_with_bao_agent_and_sidekey() {
    let fx = Setup::new().jwt().start();
    seed(&fx);
    let injector = Injector::start();

    let pod = docs_pod();
    let response = injector.review(&pod);
    assert_eq!(response["allowed"], json!(true), "{response}");
    assert!(
        response.get("warnings").is_none_or(Value::is_null),
        "{response}"
    );
    let patched = apply(&pod, &response);
    assert_eq!(
        patched["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
    let app_mounts = patched["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(app_mounts.contains("\"/vault/secrets\""), "{app_mounts}");

    let (file, init_config) = projected_config(&patched, "initContainers", "vault-agent-init");
    assert!(file.ends_with(".json"), "{file}");
    let (_, sidecar_config) = projected_config(&patched, "containers", "vault-agent");
    let parsed: Value = serde_json::from_str(&init_config).unwrap();
    assert_eq!(parsed["exit_after_auth"], json!(true));
    assert_eq!(parsed["auto_auth"]["method"]["type"], "kubernetes");

    // bao agent.
    let jwt = fx.app_jwt();
    let bao_out = tempfile::tempdir().unwrap();
    let bao_home = tempfile::tempdir().unwrap();
    let bao_cfg = localize(
        &init_config,
        &fx.addr(),
        bao_out.path(),
        bao_home.path(),
        &jwt.path,
    );
    let mut cmd = Command::new(bao_bin());
    cmd.arg("agent")
        .arg(format!("-config={}", bao_cfg.display()))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", bao_home.path())
        .current_dir(bao_home.path());
    let done = run_with_timeout(cmd, Duration::from_secs(60));
    assert_eq!(
        done.code(),
        0,
        "bao agent failed:\n{}\n{}",
        done.stdout,
        done.stderr
    );

    // sidekey, run exactly as the init container runs it (`run -c FILE`; the config exits after auth).
    let sk_out = ShmDir::new();
    let sk_home = tempfile::tempdir().unwrap();
    let sk_cfg = localize(
        &init_config,
        &fx.addr(),
        sk_out.path(),
        sk_home.path(),
        &jwt.path,
    );
    let done = Sidekey::new(["run", "-c"]).args([&sk_cfg]).run();
    assert_eq!(done.code(), 0, "sidekey failed:\n{}", done.stderr);

    for name in ["database-config.txt", "database-config.map"] {
        let want = std::fs::read(bao_out.path().join(name))
            .unwrap_or_else(|e| panic!("bao agent {name}: {e}"));
        let got =
            std::fs::read(sk_out.join(name)).unwrap_or_else(|e| panic!("sidekey {name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name} differs (left: sidekey, right: bao agent)"
        );
    }
    assert_eq!(
        std::fs::read_to_string(sk_out.join("database-config.txt")).unwrap(),
        format!("postgresql://{USERNAME}:{PASSWORD}@postgres:5432/wizard")
    );
    // Readable by app containers that run as another user than the agent, as with vault-k8s.
    let mode = std::fs::metadata(sk_out.join("database-config.txt"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );

    // The sidecar's config is valid for sidekey as generated.
    let sidecar = sk_home.path().join("sidecar.json");
    std::fs::write(&sidecar, &sidecar_config).unwrap();
    let done = Sidekey::new(["check", "-c"]).args([&sidecar]).run();
    assert_eq!(done.code(), 0, "sidekey check failed:\n{}", done.stderr);

    // A second pass over the patched pod changes nothing.
    let again = injector.review(&patched);
    assert_eq!(again["allowed"], json!(true));
    assert!(again.get("patch").is_none_or(Value::is_null), "{again}");
}

#[test]
fn malformed_annotations_are_denied_over_https() {
    let injector = Injector::start();
    let mut pod = docs_pod();
    pod["metadata"]["annotations"]["vault.hashicorp.com/agent-pre-populate"] = json!("sometimes");
    let response = injector.review(&pod);
    assert_eq!(response["allowed"], json!(false));
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("vault.hashicorp.com/agent-pre-populate"),
        "{message}"
    );
}

/// The injector is hardened as sidekey is: core dumps off (and not dumpable, by the same shared code).
#[test]
fn the_injector_dumps_no_core() {
    let injector = Injector::start();
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", injector.process.pid())).unwrap();
    let soft = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max core file size"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(soft, "0", "{limits}");
}
