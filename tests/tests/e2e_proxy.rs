//! End-to-end tests of the API proxy (issue 14, acceptance 1) against a real OpenBao and PostgreSQL:
//! `sidekey run` with `listener "tcp"` / `"unix"` and `api_proxy`, driven by the real `bao` CLI
//! (`BAO_ADDR` at sidekey's listener) and by plain HTTP.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::bao::bao_bin;
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::ports::free_port;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `sidekey run` with auto-auth, an audit file and `extra` stanzas; waits until `probe` answers.
struct Agent {
    agent: Background,
    out: ShmDir,
}

impl Agent {
    fn start(fx: &Fixture, extra: &[String], probe: &str) -> Agent {
        let http = sidekey_tests::bao::http_client();
        Agent::start_when(fx, extra, || {
            http.get(probe)
                .header("X-Vault-Request", "true")
                .send()
                .is_ok()
        })
    }

    /// As [`Agent::start`], ready when `ready` says so.
    fn start_when(fx: &Fixture, extra: &[String], ready: impl FnMut() -> bool) -> Agent {
        let out = ShmDir::new();
        let jwt = fx.app_jwt();
        let mut text = vec![
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app")
                .backoff("1s", "4s")
                .to_string(),
            hcl::audit(&out.join("audit.log"), &[]),
        ];
        text.extend(extra.iter().cloned());
        let cfg = fx.write_config(&text.concat());
        let agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
        let up = wait_until(secs(20), ready);
        assert!(up, "the proxy never answered: {}", agent.stderr());
        Agent { agent, out }
    }

    fn audit(&self) -> Vec<Value> {
        sidekey_tests::audit::events_so_far(&self.out.join("audit.log"))
    }
}

fn tcp_listener(port: u16, body: &[&str]) -> String {
    let address = hcl::attr("address", &format!("127.0.0.1:{port}"));
    let mut lines = vec![address.as_str(), "tls_disable = true"];
    lines.extend_from_slice(body);
    hcl::block("listener \"tcp\"", &lines)
}

/// The real `bao` CLI with `BAO_ADDR` at the proxy and `token` (if any) as `BAO_TOKEN`.
fn bao(port: u16, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bao_bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("BAO_ADDR", format!("http://127.0.0.1:{port}"));
    if let Some(t) = token {
        cmd.env("BAO_TOKEN", t);
    }
    let out = cmd.output().expect("run bao");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn probe(port: u16) -> String {
    format!("http://127.0.0.1:{port}/v1/sys/health")
}

/// Acceptance 1: `bao kv get` and `bao read database/creds/app` through sidekey's listener with no token
/// (`use_auto_auth_token = true`), with a bogus token (`"force"`), and without auto-auth (the server's 403).
#[test]
fn the_bao_cli_works_through_the_listener_with_the_agents_token() {
    let fx = Setup::new().jwt().database().start();
    for (setting, token, ok) in [
        ("true", None, true),
        ("\"force\"", Some("s.bogus-caller-token"), true),
        ("false", None, false),
    ] {
        let port = free_port();
        let proxy = hcl::block("api_proxy", &[&format!("use_auto_auth_token = {setting}")]);
        let agent = Agent::start(&fx, &[tcp_listener(port, &[]), proxy], &probe(port));
        let (code, stdout, stderr) = bao(
            port,
            token,
            &["kv", "get", "-format=json", "secret/app/config"],
        );
        let (dcode, dout, derr) = bao(port, token, &["read", "-format=json", "database/creds/app"]);
        if ok {
            assert_eq!(
                code,
                0,
                "{setting}: bao kv get: {stderr}\n{}",
                agent.agent.stderr()
            );
            let v: Value = serde_json::from_str(&stdout).unwrap();
            assert!(v["data"]["data"]["username"].is_string(), "{stdout}");
            assert_eq!(dcode, 0, "{setting}: bao read: {derr}");
            let v: Value = serde_json::from_str(&dout).unwrap();
            let lease = v["lease_id"].as_str().unwrap().to_string();
            assert!(lease.starts_with("database/creds/app/"), "{dout}");
            let user = v["data"]["username"].as_str().unwrap();
            let pass = v["data"]["password"].as_str().unwrap();
            assert!(fx.postgres().can_login(user, pass));
            // One proxy.request event for the credential: path, lease, the caller's address; no secret.
            let events = agent.audit();
            let ev = events
                .iter()
                .find(|e| {
                    e["event"] == "proxy.request" && e["secret"]["lease_id"] == lease.as_str()
                })
                .unwrap_or_else(|| panic!("no proxy.request for {lease}: {events:#?}"));
            assert_eq!(ev["secret"]["path"], "database/creds/app");
            assert_eq!(ev["proxy"]["method"], "GET");
            assert_eq!(ev["proxy"]["status"], 200);
            assert_eq!(ev["proxy"]["cache"], "miss");
            assert!(
                ev["caller"]["address"]
                    .as_str()
                    .unwrap()
                    .starts_with("127.0.0.1:")
            );
            let line = ev.to_string();
            assert!(!line.contains(pass) && !line.contains("s.bogus"), "{line}");
        } else {
            assert_ne!(
                code, 0,
                "without auto-auth the caller has no token: {stdout}"
            );
            assert!(
                stderr.contains("403"),
                "the server's 403 comes back: {stderr}"
            );
            assert_ne!(dcode, 0);
            assert!(derr.contains("403"), "{derr}");
        }
    }
}

/// `require_request_header`: a request without `X-Vault-Request: true` gets 412; `enable_quit`: a POST to
/// `/agent/v1/quit` stops the agent through its normal shutdown (exit 0); a `metrics_only` listener
/// serves the metrics and nothing else.
#[test]
fn request_header_quit_and_metrics_only() {
    let fx = Setup::new().jwt().start();
    let (port, metrics) = (free_port(), free_port());
    let extra = [
        tcp_listener(
            port,
            &[
                "require_request_header = true",
                "agent_api {\n  enable_quit = true\n}",
            ],
        ),
        tcp_listener(metrics, &["role = \"metrics_only\""]),
        hcl::block("api_proxy", &["use_auto_auth_token = true"]),
    ];
    let mut agent = Agent::start(&fx, &extra, &probe(port));
    let http = sidekey_tests::bao::http_client();
    let url = format!("http://127.0.0.1:{port}/v1/secret/data/app/config");
    let r = http.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 412);
    assert!(r.text().unwrap().contains("X-Vault-Request"));
    let r = http
        .get(&url)
        .header("X-Vault-Request", "true")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let m = http
        .get(format!("http://127.0.0.1:{metrics}/agent/v1/metrics"))
        .send()
        .unwrap();
    assert_eq!(m.status().as_u16(), 200);
    assert!(m.text().unwrap().contains("sidekey_"));
    let r = http
        .get(format!("http://127.0.0.1:{metrics}/v1/sys/health"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let r = http
        .post(format!("http://127.0.0.1:{port}/agent/v1/quit"))
        .header("X-Vault-Request", "true")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let code = agent.agent.wait_timeout(secs(10));
    assert_eq!(code, Some(0), "{}", agent.agent.stderr());
    assert!(agent.agent.stderr().contains("shutting down"));
}

/// A unix listener: the caller's uid (and pid) from the kernel in the audit event.
#[test]
fn a_unix_listener_names_the_peer_uid_in_the_audit_event() {
    let fx = Setup::new().jwt().database().start();
    let sock = fx.dir.path().join("agent.sock");
    let extra = [
        hcl::block(
            "listener \"unix\"",
            &[&hcl::attr_path("address", &sock), "socket_mode = \"0600\""],
        ),
        hcl::block("api_proxy", &["use_auto_auth_token = true"]),
    ];
    let agent = Agent::start_when(&fx, &extra, || sock.exists());
    let out = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&sock)
        .arg("http://localhost/v1/database/creds/app")
        .output()
        .expect("curl");
    let body: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let lease = body["lease_id"].as_str().unwrap().to_string();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let events = agent.audit();
    let ev = events
        .iter()
        .find(|e| e["event"] == "proxy.request" && e["secret"]["lease_id"] == lease.as_str())
        .unwrap_or_else(|| panic!("{events:#?}"));
    let uid = nix_uid();
    assert_eq!(ev["caller"]["uid"], uid);
    assert!(ev["caller"]["pid"].as_u64().is_some_and(|p| p > 0));
    assert!(ev["caller"].get("address").is_none());
}

fn nix_uid() -> u64 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A listener that cannot be bound is a configuration error naming the stanza's file:line (exit 78).
#[test]
fn a_bind_failure_exits_78_naming_the_stanza() {
    let fx = Setup::new().jwt().start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let jwt = fx.app_jwt();
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        tcp_listener(port, &[]),
    ]
    .concat();
    let cfg = fx.write_config(&text);
    let line = text
        .lines()
        .position(|l| l.starts_with("listener"))
        .unwrap()
        + 1;
    let done = Sidekey::new(["run", "-c"]).args([&cfg]).run();
    assert_eq!(done.code(), 78, "{}", done.stderr);
    let want = format!(
        "{}:{line}: listener \"tcp\" (127.0.0.1:{port})",
        cfg.display()
    );
    assert!(done.stderr.contains(&want), "{want}\n{}", done.stderr);
}

/// A TLS listener (`tls_cert_file` / `tls_key_file`): the `bao` CLI trusting that certificate reads
/// through it.
#[test]
fn a_tls_listener_serves_the_bao_cli() {
    let fx = Setup::new().jwt().start();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let cert_path = fx.write_file("tls.crt", &cert.cert.pem());
    let key_path = fx.write_file("tls.key", &cert.signing_key.serialize_pem());
    let port = free_port();
    let listener = hcl::block(
        "listener \"tcp\"",
        &[
            &hcl::attr("address", &format!("127.0.0.1:{port}")),
            &hcl::attr_path("tls_cert_file", &cert_path),
            &hcl::attr_path("tls_key_file", &key_path),
            "tls_min_version = \"tls12\"",
        ],
    );
    let proxy = hcl::block("api_proxy", &["use_auto_auth_token = true"]);
    let agent = Agent::start_when(&fx, &[listener, proxy], || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bao_bin())
        .args(["kv", "get", "-format=json", "secret/app/config"])
        .env_clear()
        .env("HOME", home.path())
        .env("BAO_ADDR", format!("https://localhost:{port}"))
        .env("BAO_CACERT", &cert_path)
        .output()
        .expect("run bao");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        agent.agent.stderr()
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["data"]["data"]["username"].is_string());
}

/// `max_request_size`: a bigger body gets 413 before anything reaches the server; `run --once` serves no
/// listener (a taken address is no error there).
#[test]
fn request_size_is_bounded_and_once_serves_nothing() {
    let fx = Setup::new().jwt().start();
    let port = free_port();
    let extra = [
        tcp_listener(port, &["max_request_size = 64"]),
        hcl::block("api_proxy", &["use_auto_auth_token = true"]),
    ];
    let _agent = Agent::start(&fx, &extra, &probe(port));
    let http = sidekey_tests::bao::http_client();
    let big = format!("{{\"data\":{{\"k\":\"{}\"}}}}", "x".repeat(200));
    let r = http
        .put(format!("http://127.0.0.1:{port}/v1/secret/data/app/big"))
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let r = http
        .get(format!("http://127.0.0.1:{port}/v1/secret/data/app/config"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "a small request still passes");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let jwt = fx.app_jwt();
    let out = ShmDir::new();
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        tcp_listener(busy, &[]),
        hcl::block(
            "template",
            &[
                "contents = \"{{ with secret \\\"kv/app\\\" }}{{ .Data.region }}{{ end }}\"",
                &hcl::attr_path("destination", &out.join("region")),
            ],
        ),
    ]
    .concat();
    let cfg = fx.write_config(&text);
    let done = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert!(
        !done.stderr.contains("API proxy listening"),
        "{}",
        done.stderr
    );
}

/// The agent's own token never reaches a caller: `lookup-self` through the agent's token hides its `id`
/// and `accessor` however the path is spelled, and cannot be wrapped (the wrapping token would carry it).
#[test]
fn the_agents_token_is_never_shown_to_a_caller() {
    let fx = Setup::new().jwt().start();
    let port = free_port();
    let _agent = Agent::start(
        &fx,
        &[
            tcp_listener(port, &[]),
            hcl::block("api_proxy", &["use_auto_auth_token = true"]),
        ],
        &probe(port),
    );
    let http = sidekey_tests::bao::http_client();
    for spelling in [
        "auth/token/lookup-self",
        "/auth/token/lookup-self",
        "auth//token/lookup-self",
        "auth/%74oken/lookup-self",
    ] {
        let r = http
            .get(format!("http://127.0.0.1:{port}/v1/{spelling}"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{spelling}");
        let body: Value = r.json().unwrap();
        assert!(body["data"]["ttl"].is_u64(), "{spelling}: {body}");
        assert!(
            body["data"].get("id").is_none() && body["data"].get("accessor").is_none(),
            "{spelling} showed the agent's token: {body}"
        );
    }
    // (A `.` segment never arrives here from an HTTP client, which resolves it first; the proxy refuses
    // one with the agent's token: a unit test covers that.)
    let wrapped = http
        .get(format!("http://127.0.0.1:{port}/v1/auth/token/lookup-self"))
        .header("X-Vault-Wrap-TTL", "60s")
        .send()
        .unwrap();
    assert_eq!(wrapped.status().as_u16(), 400, "a wrapped lookup-self");
}

/// With neither auto_auth nor templates, the listener is a plain forwarding proxy (as with Vault Agent):
/// it starts without a token of its own and callers' tokens pass through.
#[test]
fn a_listener_without_auto_auth_forwards_callers_tokens() {
    let fx = Setup::new().start();
    let port = free_port();
    let home = tempfile::tempdir().unwrap();
    let text = [hcl::vault(&fx.addr()), tcp_listener(port, &[])].concat();
    let cfg = fx.write_config(&text);
    let agent = Background::sidekey()
        .args(["run", "-c"])
        .arg(&cfg)
        .clean_env()
        .env("HOME", home.path())
        .logs_in(fx.dir.path())
        .start();
    let http = sidekey_tests::bao::http_client();
    let url = format!("http://127.0.0.1:{port}/v1/secret/data/app/config");
    assert!(
        wait_until(secs(10), || http.get(&url).send().is_ok()),
        "no answer: {}",
        agent.stderr()
    );
    let anonymous = http.get(&url).send().unwrap().status().as_u16();
    assert_eq!(anonymous, 403, "no token of its own is added");
    let (code, stdout, stderr) = bao(
        port,
        Some(fx.bao.root_token()),
        &["kv", "get", "secret/app/config"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}\n{}", agent.stderr());
}
