//! An RSA JWT issuer minting tokens shaped like Kubernetes projected service-account tokens.
//!
//! The key pair is generated once per test process with the `openssl` CLI (RSA 2048) and shared.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::process::run_with_timeout;

/// The `iss` of minted tokens (and the JWT auth method's `bound_issuer`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The audience the `app` role accepts.
pub const AUDIENCE: &str = "sidekey-test";
/// The subject the `app` role accepts.
pub const APP_SUBJECT: &str = "system:serviceaccount:default:app";

#[derive(Debug)]
struct KeyPair {
    /// PKCS#1 DER private key (what `EncodingKey::from_rsa_der` takes).
    private_der: Vec<u8>,
    /// SPKI PEM public key (what `jwt_validation_pubkeys` takes).
    public_pem: String,
}

fn key_pair() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(generate_key_pair)
}

fn openssl(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    if !out.status.success() {
        panic!("openssl {args:?} failed ({}): {}", out.status, out.stderr);
    }
}

fn generate_key_pair() -> KeyPair {
    let dir = tempfile::tempdir().expect("temp dir for the JWT key");
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "key.pem",
        ],
    );
    openssl(d, &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "key.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "key.der",
        ],
    );
    KeyPair {
        private_der: std::fs::read(d.join("key.der")).expect("read key.der"),
        public_pem: std::fs::read_to_string(d.join("pub.pem")).expect("read pub.pem"),
    }
}

/// A minted token and the file it was written to.
#[derive(Debug, Clone)]
pub struct MintedJwt {
    /// The compact RS256 JWT.
    pub token: String,
    /// The file holding it (mode 0600), for `auto_auth { method "jwt" { config = { path = ... } } }`.
    pub path: PathBuf,
}

/// Mints RS256 JWTs into files under `dir`.
#[derive(Debug, Clone)]
pub struct JwtIssuer {
    dir: PathBuf,
}

impl JwtIssuer {
    /// An issuer writing token files into `dir`.
    pub fn new(dir: &Path) -> JwtIssuer {
        JwtIssuer {
            dir: dir.to_path_buf(),
        }
    }

    /// The public key, PEM, for `auth/jwt/config` `jwt_validation_pubkeys`.
    pub fn public_key_pem(&self) -> &'static str {
        &key_pair().public_pem
    }

    /// A token for `sub`, audience `[aud]`, valid `ttl` from now, shaped like a projected
    /// service-account token; not written anywhere.
    pub fn mint_token(&self, sub: &str, aud: &str, ttl: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let (namespace, sa) = parse_sa_subject(sub);
        let claims = json!({
            "iss": ISSUER,
            "sub": sub,
            "aud": [aud],
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": { "name": sa, "uid": "00000000-0000-4000-8000-000000000001" },
                "pod": { "name": format!("{sa}-7d4b9c-x2x8q"), "uid": "00000000-0000-4000-8000-000000000002" },
            },
        });
        let key = EncodingKey::from_rsa_der(&key_pair().private_der);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("sidekey-test".to_owned());
        jsonwebtoken::encode(&header, &claims, &key).expect("sign the JWT")
    }

    /// [`mint_token`](Self::mint_token), written to a fresh file (mode 0600) in the issuer's dir.
    pub fn mint_jwt(&self, sub: &str, aud: &str, ttl: Duration) -> MintedJwt {
        use std::os::unix::fs::PermissionsExt;
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let token = self.mint_token(sub, aud, ttl);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(format!("jwt-{n}.token"));
        std::fs::write(&path, &token).expect("write the JWT file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the JWT file");
        MintedJwt { token, path }
    }
}

/// `system:serviceaccount:NS:NAME` → (NS, NAME); anything else → ("default", whole subject).
fn parse_sa_subject(sub: &str) -> (String, String) {
    match sub
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, name)) => (ns.to_owned(), name.to_owned()),
        None => ("default".to_owned(), sub.to_owned()),
    }
}
