//! A one-shot run ends at its deadline whatever the backend does, on tokio's paused clock: a server
//! that accepts connections and never answers holds each request until the client's timeout.

#![allow(clippy::panic)] // a failed test panics

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::Auditor;
use crate::backend::Client;
use crate::config::Config;
use crate::lease::outcome::Stage;
use crate::lease::schedule::{ONCE_DEADLINE, once_deadline};
use crate::lease::{Engine, Fatal, Outcome, Until};
use crate::runtime::EnvSource;

/// Only a token: the one-shot run looks it up first (`lookup-self`), and that call never gets an answer.
struct Env;

impl EnvSource for Env {
    fn var(&self, name: &str) -> Option<String> {
        (name == "BAO_TOKEN").then(|| "s.deadline-test".to_string())
    }
    fn vars_os(&self) -> Vec<(OsString, OsString)> {
        Vec::new()
    }
}

/// A server that answers `lookup-self` and holds every other request without an answer; its origin.
async fn stalling_server() -> String {
    server(false).await
}

/// A server that answers `lookup-self` and, when `serves` is set, `secret/data/app` (any other path a
/// 404); when not, it holds every other request without an answer. Its origin.
async fn server(serves: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if String::from_utf8_lossy(&head).contains("lookup-self") {
                    let body = r#"{"data":{"accessor":"a","ttl":3600,"renewable":false,"display_name":"t"}}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                    return;
                }
                if serves {
                    let (status, body) =
                        if String::from_utf8_lossy(&head).contains("GET /v1/secret/data/app") {
                            (
                                "200 OK",
                                r#"{"data":{"data":{"pw":"x"},"metadata":{"version":1}}}"#,
                            )
                        } else {
                            ("404 Not Found", r#"{"errors":[]}"#)
                        };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                    return;
                }
                // Held open, never answered, until the client gives up.
                let _ = conn.read(&mut buf).await;
            });
        }
    });
    origin
}

/// A config with one template reading `secret/data/app` from `origin`, its destination in `dir`, and
/// `extra` top-level HCL.
fn config(origin: &str, dir: &std::path::Path, extra: &str) -> Config {
    let file = dir.join("agent.hcl");
    let text = format!(
        "vault {{\n  address = \"{origin}\"\n{extra}}}\ntemplate {{\n  contents = \"{{{{ with secret \\\"secret/data/app\\\" }}}}{{{{ .Data.data.pw }}}}{{{{ end }}}}\"\n  destination = \"{}\"\n}}\n",
        dir.join("out").display()
    );
    std::fs::write(&file, text).unwrap();
    crate::config::load(&[&file]).unwrap()
}

/// A one-shot run of `cfg`: how it ended and how long it took on the paused clock.
async fn run_once(cfg: Config) -> (Outcome, Duration) {
    let client = Client::for_config(&cfg).unwrap();
    let (files, envs) = crate::lease::jobs::prepare(&cfg).unwrap();
    let mut engine = Engine::new(
        Arc::new(cfg),
        client,
        files,
        envs,
        Auditor::disabled(),
        Arc::new(Env),
        true,
    );
    let start = Instant::now();
    let outcome = engine.run(&CancellationToken::new(), Until::Once).await;
    (outcome, start.elapsed())
}

/// A one-shot run against a stalling server with `retry { num_retries = n }` (`None`: the defaults): how
/// it ended, how long it took on the paused clock, and the directory its output would be in.
async fn stalled_once(num_retries: Option<i64>) -> (Outcome, Duration, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let retry = num_retries.map_or_else(String::new, |n| {
        format!("  retry {{\n    num_retries = {n}\n  }}\n")
    });
    let cfg = config(&stalling_server().await, dir.path(), &retry);
    assert_eq!(
        cfg.vault.num_retries,
        num_retries.and_then(crate::config::VaultConfig::retries_from)
    );
    let (outcome, took) = run_once(cfg).await;
    (outcome, took, dir)
}

/// With the defaults, four tries of a 60 s request do not fit: the deadline ends the run first, and
/// nothing was written.
#[tokio::test(start_paused = true)]
async fn with_default_settings_a_one_shot_run_ends_within_two_minutes() {
    let (outcome, took, dir) = stalled_once(None).await;
    assert!(
        matches!(outcome, Outcome::Fatal(Fatal::Deadline(d, Stage::Fetch)) if d == ONCE_DEADLINE),
        "{outcome:?}"
    );
    assert!(
        took >= ONCE_DEADLINE && took < ONCE_DEADLINE + Duration::from_secs(1),
        "took {took:?}"
    );
    assert!(ONCE_DEADLINE < Duration::from_secs(120));
    assert!(!dir.path().join("out").exists());
}

/// However many retries are asked for, the deadline holds.
#[tokio::test(start_paused = true)]
async fn retries_that_would_outlast_it_end_at_the_deadline() {
    let (outcome, took, _dir) = stalled_once(Some(1000)).await;
    assert!(
        matches!(outcome, Outcome::Fatal(Fatal::Deadline(..))),
        "{outcome:?}"
    );
    assert!(
        took < ONCE_DEADLINE + Duration::from_secs(1),
        "took {took:?}"
    );
}

/// `num_retries = -1`: one try, then the error (no deadline needed).
#[tokio::test(start_paused = true)]
async fn no_retries_ends_after_one_try() {
    let (outcome, took, _dir) = stalled_once(Some(-1)).await;
    let Outcome::Delivered(d) = outcome else {
        panic!("{outcome:?}");
    };
    let failures: Vec<String> = d.failures().map(ToString::to_string).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("secret/data/app") && failures[0].contains("timed out after 60s"),
        "{failures:?}"
    );
    assert!(took < Duration::from_secs(61), "took {took:?}");
}

#[test]
fn a_longer_client_timeout_still_gets_a_whole_request() {
    assert_eq!(once_deadline(Duration::from_secs(60)), ONCE_DEADLINE);
    assert_eq!(once_deadline(Duration::from_secs(1)), ONCE_DEADLINE);
    assert_eq!(
        once_deadline(Duration::from_secs(300)),
        Duration::from_secs(340)
    );
}

/// The deadline bounds fetching and writing, not the templates' commands: a command with a 150 s
/// `command_timeout` that outlives the deadline runs to its own timeout, and the run ends delivered.
#[tokio::test(start_paused = true)]
async fn a_slow_command_runs_to_its_own_timeout_past_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.hcl");
    let text = format!(
        "vault {{\n  address = \"{}\"\n}}\ntemplate {{\n  contents = \"{{{{ with secret \\\"secret/data/app\\\" }}}}{{{{ .Data.data.pw }}}}{{{{ end }}}}\"\n  destination = \"{}\"\n  command = \"sleep 5\"\n  command_timeout = \"150s\"\n  allow_non_tmpfs = true\n}}\n",
        server(true).await,
        dir.path().join("out").display()
    );
    std::fs::write(&file, text).unwrap();
    let cfg = crate::config::load(&[&file]).unwrap();
    let (outcome, took) = run_once(cfg).await;
    let Outcome::Delivered(d) = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        d.failures().next().is_none(),
        "{:?}",
        d.failures().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out")).unwrap(),
        "x"
    );
    assert!(
        took >= Duration::from_secs(150) && took > ONCE_DEADLINE,
        "took {took:?}"
    );
}
