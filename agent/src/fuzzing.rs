//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`; not part of sidekey's API).
//!
//! Each hands its input to one reader exactly as sidekey reads that input, and drops the result: a
//! reader must answer any input with a value or an error, never a panic, a hang or unbounded memory.
//! The readers' logic stays in their modules; what is here is the plumbing and the fixed data a
//! template renders over.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode};
use secrecy::SecretString;

use crate::audit::{Hasher, chain::Verifier, report};
use crate::backend::secret::{Secret, SecretData, SecretRequest};
use crate::listen::types::{ProxyRequest, ProxyResponse};
use crate::template::{MissingKey, ParseOptions, RenderContext, Template};

/// A config file in HCL (2, else 1, as `load` reads a `.hcl` file), loaded and validated.
pub fn config_hcl(text: &str) {
    let _ = crate::config::load_text(Path::new("agent.hcl"), text);
}

/// A config file read by the HCL 1 reader alone, loaded and validated.
pub fn config_hcl1(text: &str) {
    let _ = crate::config::load_hcl1_text(Path::new("agent.hcl"), text);
}

/// A config file in JSON, loaded and validated.
pub fn config_json(text: &str) {
    let _ = crate::config::load_text(Path::new("agent.json"), text);
}

/// A template parsed with `denied` functions refused, then rendered over [`FixedSecrets`]: with
/// `missing_key` 0, 1 or 2 (else 0) for the three [`MissingKey`] settings.
pub fn template(source: &str, denied: &[&str], missing_key: u8) {
    let opts = ParseOptions {
        function_denylist: denied.iter().map(|f| f.to_string()).collect(),
        ..ParseOptions::default()
    };
    let missing_key = match missing_key {
        1 => MissingKey::Error,
        2 => MissingKey::NoValue,
        _ => MissingKey::ErrorOnPrint,
    };
    if let Ok(t) = Template::parse("fuzz.tpl", source, &opts) {
        let _ = t.render(&FixedSecrets, missing_key).result;
    }
}

/// A backend response body with HTTP `status`, read every way sidekey reads one.
pub fn backend_response(status: u16, body: &[u8]) {
    crate::backend::response::fuzz_decode(status, body);
}

/// An audit file's text, verified as `sidekey audit verify` does and summarized as `audit report` does.
pub fn audit_verify(text: &str) {
    let hasher = Hasher::sha256();
    let mut v = Verifier::new(&hasher, true);
    for (i, line) in text.lines().enumerate() {
        if v.line(i + 1, line).is_err() {
            break;
        }
    }
    let _ = v.finish();
    let r = report::build(text.lines(), &hasher);
    let _ = (r.to_markdown(), r.to_html());
}

/// The hash an audit line written over `canonical` carries (so a fuzz target can write lines the
/// verifier reads past the hash check).
pub fn audit_hash(canonical: &str) -> String {
    Hasher::sha256().hash(canonical.as_bytes())
}

/// The abstract socket name a credentials caller (systemd's `LoadCredential=`) connects from.
pub fn credentials_address(name: &[u8]) {
    let _ = crate::workload::credentials::requested(Some(name));
}

/// A request to the API proxy: `method`, the path below `/v1/` and query, `headers` as (name, value)
/// pairs (those that are not valid HTTP are left out), the body; `answer` is the backend's answer body.
pub fn listener_request(
    method: &[u8],
    path: &str,
    query: Option<&str>,
    headers: &[(&[u8], &[u8])],
    body: &[u8],
    answer: &[u8],
) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name),
            hyper::header::HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    let req = ProxyRequest {
        method: Method::from_bytes(method).unwrap_or(Method::GET),
        path: path.to_string(),
        query: query.map(str::to_string),
        token: Some(SecretString::from("s.fuzzingtoken")),
        namespace: map
            .get("x-vault-namespace")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        headers: map,
        body: Bytes::copy_from_slice(body),
    };
    let answer = ProxyResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::copy_from_slice(answer),
    };
    crate::listen::fuzz_request(&req, &answer);
}

/// The secrets a fuzzed template renders over: every read gets the secret of its kind (by path:
/// `pki/`, `database/`, `auth/token/`, a KV v2 `data/` path, else KV v1); listings get a key list.
struct FixedSecrets;

impl RenderContext for FixedSecrets {
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
        static SECRETS: OnceLock<[Arc<Secret>; 6]> = OnceLock::new();
        let [kv1, kv2, database, pki, token, list] = SECRETS.get_or_init(|| {
            [
                fixed(KV1, ""),
                fixed(KV2, ""),
                fixed(DATABASE, "database/creds/app/abcd"),
                fixed(PKI, "pki/issue/app/1234"),
                fixed(TOKEN, ""),
                fixed(LIST, ""),
            ]
        });
        let p = req.path.as_str();
        Some(Arc::clone(match () {
            () if req.op == crate::backend::secret::Operation::List => list,
            () if p.starts_with("pki") => pki,
            () if p.starts_with("database") => database,
            () if p.starts_with("auth/token") => token,
            () if p.contains("data/") => kv2,
            () => kv1,
        }))
    }

    fn env(&self, name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/app".to_string())
    }

    fn file(&self, path: &str) -> Option<String> {
        (path == "/etc/app.conf").then(|| "user = app\n".to_string())
    }
}

fn fixed(data: &str, lease_id: &str) -> Arc<Secret> {
    Arc::new(Secret {
        data: SecretData(serde_json::from_str(data).unwrap_or_default()),
        lease_id: lease_id.to_string(),
        lease_duration: if lease_id.is_empty() { 0 } else { 3600 },
        renewable: !lease_id.is_empty(),
        warnings: Vec::new(),
        request_id: String::new(),
    })
}

const KV1: &str = r#"{"password":"s3cr3t-kv1","user":"app","port":5432,"ratio":1.5,"tags":["a","b","c"],
"nested":{"z":1,"a":{"deep":"x"}},"empty":"","null":null,"flag":true,"json":"{\"k\":[1,2]}",
"yaml":"a: 1\nb: [x, y]\n","b64":"c2VjcmV0","csv":"a, b ,c","time":"2024-05-01T10:00:00Z"}"#;
const KV2: &str = r#"{"data":{"password":"s3cr3t-kv2","user":"app","list":[1,"two",{"three":3}],"map":{"k":"v"},
"multi":"line1\nline2"},"metadata":{"version":3,"created_time":"2024-05-01T10:00:00.000000Z",
"custom_metadata":null,"deletion_time":"","destroyed":false}}"#;
const DATABASE: &str = r#"{"username":"v-app-abcd","password":"A1a-s3cr3tpass"}"#;
const PKI: &str = r#"{"certificate":"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUXD1fRAw5\n-----END CERTIFICATE-----",
"private_key":"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB3x\n-----END EC PRIVATE KEY-----",
"private_key_type":"ec","issuing_ca":"-----BEGIN CERTIFICATE-----\nMIIBtTCCAVug\n-----END CERTIFICATE-----",
"ca_chain":["-----BEGIN CERTIFICATE-----\nMIIBtTCCAVug\n-----END CERTIFICATE-----"],"serial_number":"5c:3d:5f",
"expiration":1893456000}"#;
const TOKEN: &str = r#"{"accessor":"hmac-accessor","id":"s.tokenvalue","policies":["default"],"ttl":3600,
"renewable":true,"meta":{"role":"app"}}"#;
const LIST: &str = r#"{"keys":["app","db/","z"]}"#;
