//! Issue 16: a hostile backend and hostile local clients.
//!
//! - `sidekey run --once` against each bad answer of [`Hostility`] (short `BAO_CLIENT_TIMEOUT`, one
//!   retry): it exits non-zero within seconds, stderr names the class of error and the path, never a
//!   panic nor the body's content, and the output a good render wrote before stays byte for byte, with
//!   nothing new beside it.
//! - A `listener "tcp"` under slowloris (many connections sending a header a byte at a time) still
//!   answers a normal request within seconds; a head over the limit gets 431, a body over
//!   `max_request_size` 413.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl;
use sidekey_tests::hostile::{Hostile, Hostility, SENTINEL};
use sidekey_tests::ports::free_port;
use sidekey_tests::{ShmDir, Sidekey, SidekeyOutput};

/// The template: the KV v2 secret's password.
const TEMPLATE: &str = "{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}";

/// A one-shot config against `origin`, rendering into `out/password`, with one retry.
fn write_config(dir: &ShmDir, origin: &str) -> std::path::PathBuf {
    let text = [
        hcl::block(
            "vault",
            &[
                &hcl::attr("address", origin),
                &hcl::block("retry", &["num_retries = 1"]),
            ],
        ),
        hcl::template(TEMPLATE, &dir.join("password"), &[]),
    ]
    .concat();
    let cfg = dir.join("agent.hcl");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `sidekey run --once -c cfg` with the token and a 1 s client timeout, killed after `limit`.
fn once(cfg: &Path, limit: Duration, timeout: &str) -> (SidekeyOutput, Duration) {
    let start = Instant::now();
    let mut run = Sidekey::new(["run", "--once", "-c"])
        .args([cfg])
        .env("BAO_TOKEN", "hostile-token")
        .timeout(limit);
    if !timeout.is_empty() {
        run = run.env("BAO_CLIENT_TIMEOUT", timeout);
    }
    let out = run.run();
    (out, start.elapsed())
}

/// A good render, then one against `mode`: each the class of error expected (`class`, in stderr).
fn hostile_case(mode: Hostility, class: &str) {
    let backend = Hostile::start(Hostility::Good);
    let dir = ShmDir::new();
    let cfg = write_config(&dir, &backend.origin());
    let (good, _) = once(&cfg, Duration::from_secs(10), "1s");
    assert_eq!(good.code(), 0, "the good render: {}", good.show());
    let dest = dir.join("password");
    let before = std::fs::read(&dest).unwrap();
    assert_eq!(before, Hostile::PASSWORD.as_bytes());
    let entries = dir.entries();

    backend.set(mode);
    let reads = backend.reads();
    let (bad, took) = once(&cfg, Duration::from_secs(10), "1s");
    let shown = bad.show();
    assert_ne!(bad.code(), 0, "{mode:?}: {shown}");
    assert!(took < Duration::from_secs(10), "{mode:?} took {took:?}");
    assert!(
        bad.stderr.contains(class),
        "{mode:?}: stderr does not name {class:?}: {shown}"
    );
    assert!(
        bad.stderr.contains("secret/data/app"),
        "{mode:?}: stderr does not name the path: {shown}"
    );
    assert!(!shown.contains("panicked"), "{mode:?}: {shown}");
    assert!(!shown.contains(SENTINEL), "{mode:?}: body echoed: {shown}");
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        before,
        "{mode:?}: the earlier output changed"
    );
    assert_eq!(dir.entries(), entries, "{mode:?}: new files beside it");
    assert!(
        backend.reads() > reads,
        "{mode:?}: the secret was never read"
    );
}

#[test]
fn a_body_over_the_limit_is_refused() {
    hostile_case(Hostility::Huge, "larger than the 4 MiB limit");
}

#[test]
fn a_dripping_body_times_out() {
    hostile_case(Hostility::Drip, "timed out after 1s (BAO_CLIENT_TIMEOUT)");
}

#[test]
fn malformed_json_is_refused() {
    hostile_case(Hostility::MalformedJson, "not the expected JSON");
}

#[test]
fn an_html_error_page_is_a_server_error() {
    hostile_case(
        Hostility::HtmlError,
        "HTTP 500: no Vault error list in the body (text/html",
    );
}

#[test]
fn a_plain_500_is_a_server_error() {
    hostile_case(
        Hostility::Plain500,
        "HTTP 500: no Vault error list in the body (text/plain",
    );
}

#[test]
fn a_body_shorter_than_its_length_is_cut_short() {
    hostile_case(Hostility::Truncated, "response cut short");
}

#[test]
fn a_connection_closed_mid_body_is_cut_short() {
    hostile_case(Hostility::ClosedMidBody, "response cut short");
}

/// A lease (and a token TTL) of `u64::MAX` seconds is taken as the longest TTL sidekey keeps (100 years),
/// not added to a clock as it is: the render succeeds and nothing panics.
#[test]
fn an_endless_lease_is_bounded_not_a_panic() {
    let backend = Hostile::start(Hostility::EndlessLease);
    let dir = ShmDir::new();
    let cfg = write_config(&dir, &backend.origin());
    let (out, _) = once(&cfg, Duration::from_secs(10), "1s");
    let shown = out.show();
    assert_eq!(out.code(), 0, "{shown}");
    assert!(!shown.contains("panicked"), "{shown}");
    assert_eq!(
        std::fs::read(dir.join("password")).unwrap(),
        Hostile::PASSWORD.as_bytes()
    );
}

/// With the default settings (60 s per request, sidekey's few retries) a dripping backend still ends a
/// one-shot run within two minutes: at its 100 s deadline.
#[test]
#[ignore = "takes 100 s (the one-shot deadline); lease::tests::deadline proves the same on tokio's paused clock in milliseconds"]
fn with_default_settings_a_dripping_backend_ends_a_one_shot_run_within_two_minutes() {
    let backend = Hostile::start(Hostility::Drip);
    let dir = ShmDir::new();
    let cfg = dir.join("agent.hcl");
    let text = [
        hcl::vault(&backend.origin()),
        hcl::template(TEMPLATE, &dir.join("password"), &[]),
    ]
    .concat();
    std::fs::write(&cfg, text).unwrap();
    let (out, took) = once(&cfg, Duration::from_secs(130), "");
    assert_eq!(out.code(), 69, "{}", out.show());
    assert!(took < Duration::from_secs(120), "took {took:?}");
    assert!(out.stderr.contains("gave up after 100s"), "{}", out.show());
    assert!(!dir.join("password").exists());
}

// === local listeners ===

/// `sidekey run` with a plain `listener "tcp"` on a free port (`max_request_size = 1024`), forwarding
/// to a well-behaved backend; the port once it answers.
fn agent_with_listener(backend: &Hostile, dir: &ShmDir) -> (Background, u16) {
    let port = free_port();
    let text = [
        hcl::vault(&backend.origin()),
        hcl::block(
            "listener \"tcp\"",
            &[
                &hcl::attr("address", &format!("127.0.0.1:{port}")),
                "tls_disable = true",
                "max_request_size = 1024",
            ],
        ),
    ]
    .concat();
    let cfg = dir.join("agent.hcl");
    std::fs::write(&cfg, text).unwrap();
    let agent = Background::sidekey()
        .args(["run", "-c"])
        .arg(&cfg)
        .clean_env()
        .env("HOME", dir.path())
        .logs_in(dir.path())
        .start();
    assert!(
        wait_until(Duration::from_secs(10), || metrics(port).is_some()),
        "the listener never answered: {}",
        agent.stderr()
    );
    (agent, port)
}

/// The status of `GET /agent/v1/metrics` on a fresh connection (5 s at most).
fn metrics(port: u16) -> Option<u16> {
    raw(
        port,
        b"GET /agent/v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
}

/// Send `request` on a fresh connection; the answer's status (5 s at most).
fn raw(port: u16, request: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(request).ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[test]
fn slowloris_does_not_stop_a_normal_request() {
    let backend = Hostile::start(Hostility::Good);
    let dir = ShmDir::new();
    let (mut agent, port) = agent_with_listener(&backend, &dir);
    // 200 connections, each sending its request head a byte at a time and never finishing it.
    let mut slow: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(slow.len() >= 150, "only {} slow connections", slow.len());
    let head = b"GET /agent/v1/metrics HTTP/1.1\r\nX-Slow: ";
    for round in 0..head.len().min(20) {
        for s in &mut slow {
            let _ = s.write_all(&head[round..=round]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    assert_eq!(metrics(port), Some(200), "{}", agent.stderr());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    drop(slow);
    assert!(agent.running(), "{}", agent.stderr());
    agent.stop();
}

#[test]
fn an_oversized_head_gets_431_and_an_oversized_body_413() {
    let backend = Hostile::start(Hostility::Good);
    let dir = ShmDir::new();
    let (mut agent, port) = agent_with_listener(&backend, &dir);
    let big = format!(
        "GET /agent/v1/metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    assert_eq!(raw(port, big.as_bytes()), Some(431));
    // Over `max_request_size` by its Content-Length, and by what a chunked body turns out to hold.
    let body = "x".repeat(2048);
    let declared = format!(
        "PUT /v1/secret/data/app HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw(port, declared.as_bytes()), Some(413));
    assert_eq!(
        backend.reads(),
        0,
        "a declared body over the limit reached the backend"
    );
    let chunked = format!(
        "PUT /v1/secret/data/app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    assert_eq!(raw(port, chunked.as_bytes()), Some(413));
    assert_eq!(metrics(port), Some(200));
    agent.stop();
}

/// A `listener "unix"` without workloads and the admin listener's unix socket: only sidekey's own user
/// may connect (0600) unless `socket_mode` says otherwise.
#[test]
fn unix_sockets_are_private_by_default() {
    use std::os::unix::fs::PermissionsExt;
    let backend = Hostile::start(Hostility::Good);
    let dir = ShmDir::new();
    let (api, admin, wide) = (
        dir.join("api.sock"),
        dir.join("admin.sock"),
        dir.join("wide.sock"),
    );
    let text = [
        hcl::vault(&backend.origin()),
        hcl::block("listener \"unix\"", &[&hcl::attr_path("address", &api)]),
        hcl::block(
            "listener \"unix\"",
            &[&hcl::attr_path("address", &wide), "socket_mode = \"0660\""],
        ),
        hcl::block(
            "listener \"admin\"",
            &[&hcl::attr("address", &format!("unix:{}", admin.display()))],
        ),
    ]
    .concat();
    let cfg = dir.join("agent.hcl");
    std::fs::write(&cfg, text).unwrap();
    let mut agent = Background::sidekey()
        .args(["run", "-c"])
        .arg(&cfg)
        .clean_env()
        .env("HOME", dir.path())
        .logs_in(dir.path())
        .start();
    assert!(
        wait_until(Duration::from_secs(10), || {
            api.exists() && admin.exists() && wide.exists()
        }),
        "{}",
        agent.stderr()
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&api), 0o600, "listener \"unix\"");
    assert_eq!(mode(&admin), 0o600, "listener \"admin\"");
    assert_eq!(mode(&wide), 0o660, "socket_mode is kept");
    agent.stop();
}
