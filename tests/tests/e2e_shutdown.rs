//! End-to-end tests of how fast sidekey stops: SIGTERM is acted on at once even while a backend request
//! hangs (the teardown's revocations are bounded, so an orchestrator's grace period does not run out
//! first), and a one-shot run stopped while a template command runs ends at once, killing the command, and
//! reports that its job was not done.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::{Setup, ShmDir, sidekey_bin};

/// A TCP proxy to the backend that, once told to, accepts connections and never answers (a backend that
/// hangs: no reset, no error, just silence until the client's timeout).
struct HangingProxy {
    port: u16,
    hang: Arc<AtomicBool>,
}

impl HangingProxy {
    fn start(target: u16) -> HangingProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let hang = Arc::new(AtomicBool::new(false));
        let h = hang.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in l.incoming() {
                let Ok(client) = conn else { return };
                if h.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let h = h.clone();
                std::thread::spawn(move || pipe(client, target, &h));
            }
        });
        HangingProxy { port, hang }
    }

    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn hang(&self) {
        self.hang.store(true, Ordering::SeqCst);
    }
}

/// Copy bytes both ways until either side closes; once hanging, stop forwarding what the client sends.
fn pipe(client: TcpStream, target: u16, hang: &AtomicBool) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = s_read.read(&mut buf) {
            if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut buf = [0u8; 16384];
    while let Ok(n) = c_read.read(&mut buf) {
        if n == 0 {
            break;
        }
        if hang.load(Ordering::SeqCst) {
            // Keep the connection open and answer nothing, for as long as the client waits.
            std::thread::sleep(Duration::from_secs(600));
            break;
        }
        if s_write.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// SIGTERM while a refresh hangs on the backend: sidekey stops within seconds, not after the client's
/// timeout, and its revocations (which hang too) are cut off by the teardown's limit.
#[test]
fn sigterm_while_a_backend_request_hangs_stops_within_the_teardown_limit() {
    sidekey_bin();
    let fx = Setup::new().jwt().database().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let proxy = HangingProxy::start(fx.addr().rsplit(':').next().unwrap().parse().unwrap());
    let kv = out.join("kv.txt");
    let db = out.join("db.txt");
    let pid_file = out.join("sidekey.pid");
    let config = [
        hcl::vault(&proxy.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::template_config(&[
            "static_secret_render_interval = \"1s\"",
            "revoke_on_shutdown = true",
        ]),
        hcl::attr_path("pid_file", &pid_file),
        hcl::template(
            r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            &kv,
            &[],
        ),
        hcl::template(
            r#"{{ with secret "database/creds/app" }}{{ .Data.username }}{{ end }}"#,
            &db,
            &[],
        ),
    ]
    .concat();
    let cfg = fx.write_file("hang.hcl", &config);
    let cfg = cfg.display().to_string();
    let mut bg = Background::sidekey()
        .args(["run", "-c", cfg.as_str()])
        .logs_in(out.path())
        .start();
    assert!(
        wait_until(Duration::from_secs(10), || kv.exists() && db.exists()),
        "not rendered:\n{}",
        bg.stderr()
    );
    proxy.hang();
    // Let a refresh (every second) start and hang.
    std::thread::sleep(Duration::from_millis(2500));
    let sent = Instant::now();
    bg.signal(libc::SIGTERM);
    let code = bg.wait_timeout(Duration::from_secs(20));
    let took = sent.elapsed();
    assert_eq!(code, Some(0), "exit after SIGTERM:\n{}", bg.stderr());
    assert!(
        took < Duration::from_secs(15),
        "SIGTERM took {took:?} to end sidekey (revocations are limited to 10 s):\n{}",
        bg.stderr()
    );
    assert!(!pid_file.exists(), "the pid file is left behind");
}

/// `run --once` stopped while a template command runs: the command's group is killed, sidekey exits at
/// once and non-zero (its job was not done), instead of waiting for the command's timeout.
#[test]
fn sigterm_during_a_one_shot_commands_run_ends_it_at_once_and_fails() {
    sidekey_bin();
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let dest = out.join("once.txt");
    let marker = format!("sleep 62.{}", std::process::id());
    let config = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::template(
            r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            &dest,
            &[
                &format!("command = [\"sh\", \"-c\", {}]", hcl::quote(&marker)),
                "command_timeout = \"30s\"",
            ],
        ),
    ]
    .concat();
    let cfg = fx.write_file("once-hang.hcl", &config);
    let cfg = cfg.display().to_string();
    let mut bg = Background::sidekey()
        .args(["run", "--once", "-c", cfg.as_str()])
        .logs_in(out.path())
        .start();
    assert!(
        wait_until(Duration::from_secs(10), || dest.exists()
            && command_running(&marker)),
        "the command did not start:\n{}",
        bg.stderr()
    );
    let sent = Instant::now();
    bg.signal(libc::SIGTERM);
    let code = bg.wait_timeout(Duration::from_secs(10));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(
        code,
        Some(1),
        "an interrupted one-shot reports failure:\n{}",
        bg.stderr()
    );
    assert!(
        wait_until(Duration::from_secs(5), || !command_running(&marker)),
        "the command's process group survived sidekey"
    );
}

/// Whether a process whose command line holds `marker` is running.
fn command_running(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .contains(marker)
        })
}
