//! The `cert` auto-auth method against a real OpenBao listening with TLS (`-dev-tls`): the client
//! certificate and key files are read again at every login, so a rotated certificate is used next time.

// Test code: a failed expectation is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sidekey_tests::ShmDir;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::bao::bao_bin;
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::ports::free_ports;

/// `bao server -dev -dev-tls` in its own process group; stopped on drop.
struct TlsBao {
    // Declared before `dir`: the server stops before its directory is removed.
    _server: Background,
    addr: String,
    dir: tempfile::TempDir,
}

impl TlsBao {
    fn start() -> TlsBao {
        let dir = tempfile::tempdir().unwrap();
        let port = free_ports(2);
        let server = Background::command(bao_bin())
            .args([
                "server",
                "-dev",
                "-dev-tls",
                "-dev-root-token-id=root",
                "-dev-no-store-token",
            ])
            .arg(format!("-dev-tls-cert-dir={}", dir.path().display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .clean_env()
            .env("HOME", dir.path())
            .start();
        let bao = TlsBao {
            _server: server,
            addr: format!("https://127.0.0.1:{port}"),
            dir,
        };
        assert!(
            wait_until(Duration::from_secs(20), || bao.cli(&["status"]).0),
            "TLS dev server did not come up"
        );
        bao
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("vault-ca.pem")
    }

    /// Run the `bao` CLI as root against this server.
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(bao_bin())
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", "root")
            .env("BAO_CACERT", self.ca())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn ok(&self, args: &[&str]) {
        let (ok, out) = self.cli(args);
        assert!(ok, "bao {args:?}: {out}");
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>-ca.pem`) and a client certificate it signed for `cn` (`<name>.pem`, `<name>.key`).
fn client_cert(dir: &Path, name: &str, cn: &str) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &ca_key,
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &ca_key,
            "-subj",
            &format!("/CN={name} CA"),
            "-days",
            "1",
            "-out",
            &ca,
        ],
        dir,
    );
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.key"),
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &format!("{name}.csr"),
        ],
        dir,
    );
    std::fs::write(dir.join("ext.cnf"), "extendedKeyUsage = clientAuth\n").unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            &format!("{name}.pem"),
        ],
        dir,
    );
}

#[test]
fn cert_login_rereads_a_rotated_client_certificate() {
    let bao = TlsBao::start();
    let keys = tempfile::tempdir().unwrap();
    client_cert(keys.path(), "first", "app-first");
    client_cert(keys.path(), "second", "app-second");
    let policy = keys.path().join("app.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    bao.ok(&["policy", "write", "app", policy.to_str().unwrap()]);
    bao.ok(&["kv", "put", "-mount=secret", "app/config", "username=app"]);
    bao.ok(&["auth", "enable", "cert"]);
    let trust = |name: &str| {
        let ca = keys.path().join(format!("{name}-ca.pem"));
        bao.ok(&[
            "write",
            "auth/cert/certs/app",
            &format!("certificate=@{}", ca.display()),
            "token_policies=app",
            "ttl=4s",
            "max_ttl=4s",
        ]);
    };
    trust("first");

    // The files sidekey reads; rotated in place below.
    let cert = keys.path().join("client.pem");
    let key = keys.path().join("client.key");
    std::fs::copy(keys.path().join("first.pem"), &cert).unwrap();
    std::fs::copy(keys.path().join("first.key"), &key).unwrap();

    let out = ShmDir::new();
    let cfg = keys.path().join("agent.hcl");
    let text = [
        hcl::block(
            "vault",
            &[
                &hcl::attr("address", &bao.addr),
                &hcl::attr_path("ca_cert", &bao.ca()),
            ],
        ),
        AutoAuth::cert("app", &cert, &key)
            .backoff("1s", "2s")
            .to_string(),
        hcl::audit(&out.join("audit.log"), &[]),
        hcl::template(
            r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            &out.join("kv"),
            &[],
        ),
    ]
    .concat();
    std::fs::write(&cfg, text).unwrap();
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], keys.path());
    assert!(
        wait_until(Duration::from_secs(20), || out.join("kv").exists()),
        "{}",
        agent.stderr()
    );

    // Rotate: only the second CA is trusted from now on, and the files hold the second certificate.
    std::fs::copy(keys.path().join("second.pem"), &cert).unwrap();
    std::fs::copy(keys.path().join("second.key"), &key).unwrap();
    trust("second");

    let subjects = || -> Vec<String> {
        std::fs::read_to_string(out.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == "auth.login" && e["outcome"] == "success")
            .map(|e| e["identity"]["subject"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let rotated = wait_until(Duration::from_secs(20), || {
        subjects().iter().any(|s| s == "app-second")
    });
    assert!(agent.running(), "{}", agent.stderr());
    agent.stop();
    assert!(
        rotated,
        "no login with the rotated certificate; logins: {:?}\n{}",
        subjects(),
        agent.stderr()
    );
    assert_eq!(subjects().first().map(String::as_str), Some("app-first"));
}
