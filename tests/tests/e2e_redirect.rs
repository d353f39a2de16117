//! Redirects from the backend (DESIGN §6): sidekey follows a 307 only to a configured address, so the
//! token never reaches any other. Real processes on loopback: `bao server -dev` for the token and the
//! secret, small HTTP servers in front of it (one hostile, one redirecting to itself), the built binary.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sidekey_tests::hcl::{template, token_file_auto_auth, vault};
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey, sidekey_bin};

const KV_PASSWORD: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;

/// Marks a request that already went through the same-origin redirect.
const MARKER: &str = "redirected=1";

/// One request as an [`HttpStub`] saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// The request line and headers, as sent.
    head: String,
    /// The body (`content-length` bytes).
    body: Vec<u8>,
}

impl Seen {
    /// The request target: path and query.
    fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or_default()
    }

    /// The value of header `name` (case-insensitive), if present.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// What a stub answers: the raw HTTP response bytes for a request.
type Handler = Arc<dyn Fn(&Seen) -> Vec<u8> + Send + Sync>;

/// A loopback HTTP/1.1 server: one thread per connection, one request per connection (it always answers
/// `Connection: close`), every request recorded.
struct HttpStub {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl HttpStub {
    fn start(handler: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback stub");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Handler = Arc::new(handler);
        let (log, halt) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (log, handler) = (log.clone(), handler.clone());
                thread::spawn(move || serve(conn, &log, &*handler));
            }
        });
        HttpStub { port, seen, stop }
    }

    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Read one request, record it, answer it, close.
fn serve(
    mut conn: TcpStream,
    log: &Mutex<Vec<Seen>>,
    handler: &(dyn Fn(&Seen) -> Vec<u8> + Send + Sync),
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
    let mut seen = Seen {
        head,
        body: Vec::new(),
    };
    let length: usize = seen
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.body = buf[head_end..].to_vec();
    log.lock().unwrap().push(seen.clone());
    let _ = conn.write_all(&handler(&seen));
    let _ = conn.shutdown(Shutdown::Both);
}

fn redirect(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Forward `req` to `127.0.0.1:port` as-is except for its target and `Connection: close`, and return the
/// whole response (the upstream closes after it).
fn forward(req: &Seen, target: &str, port: u16) -> Vec<u8> {
    let mut lines = req.head.lines();
    let method = lines
        .next()
        .and_then(|l| l.split(' ').next())
        .unwrap_or("GET");
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for line in lines.filter(|l| {
        let name = l.split(':').next().unwrap_or_default().trim();
        !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("host")
    }) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Host: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ));
    let mut up = TcpStream::connect(("127.0.0.1", port)).expect("connect to OpenBao");
    up.write_all(out.as_bytes()).unwrap();
    up.write_all(&req.body).unwrap();
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).unwrap();
    resp
}

/// Build sidekey before starting servers (a cold build can take minutes), then set up.
fn fixture() -> Fixture {
    sidekey_bin();
    Setup::new().start()
}

/// A token with policy `app` (reads `secret/data/app/*`, looks itself up), in a file.
fn app_token(fx: &Fixture) -> (String, PathBuf) {
    let (token, _) = fx.app_token();
    let path = fx.write_file("token", &token);
    (token, path)
}

/// `vault { address = addr }`, the token file, one template rendering the KV password to `dest`.
fn config(fx: &Fixture, addr: &str, token: &Path, dest: &Path) -> PathBuf {
    let text = vault(addr) + &token_file_auto_auth(token) + &template(KV_PASSWORD, dest, &[]);
    fx.write_file("agent.hcl", &text)
}

#[test]
fn a_redirect_to_an_address_not_configured_is_refused_and_the_token_stays_home() {
    let fx = fixture();
    let (token, token_file) = app_token(&fx);
    // Where the hostile server sends everything: records what arrives, answers nothing useful.
    let elsewhere = HttpStub::start(|_| {
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    });
    let elsewhere_addr = elsewhere.addr();
    let to = elsewhere_addr.clone();
    let hostile = HttpStub::start(move |req| redirect(&format!("{to}{}", req.target())));
    let shm = ShmDir::new();
    let dest = shm.join("password");
    let cfg = config(&fx, &hostile.addr(), &token_file, &dest);

    let out = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .timeout(Duration::from_secs(10))
        .run();

    // The test means something only if sidekey did go to the configured (hostile) address...
    let asked = hostile.seen();
    assert!(!asked.is_empty(), "sidekey never called {}", hostile.addr());
    assert!(
        asked
            .iter()
            .any(|r| r.header("x-vault-token") == Some(token.as_str())),
        "no request with the token reached the configured address: {:?}",
        asked.iter().map(Seen::target).collect::<Vec<_>>()
    );
    // ...and nothing at all went where it was sent.
    let leaked = elsewhere.seen();
    assert!(
        leaked.is_empty(),
        "the redirect target was contacted ({} requests, {} with X-Vault-Token)",
        leaked.len(),
        leaked
            .iter()
            .filter(|r| r.header("x-vault-token").is_some())
            .count()
    );

    assert_ne!(out.code(), 0, "{}", out.show());
    let refused = format!("redirect to {elsewhere_addr} refused");
    assert!(
        out.stderr.contains(&refused),
        "stderr does not name the refused redirect ({refused}):\n{}",
        out.show()
    );
    for (what, value) in [("token", token.as_str()), ("secret", fx.sentinel.as_str())] {
        assert!(
            !out.stderr.contains(value) && !out.stdout.contains(value),
            "the {what} appears in sidekey's output:\n{}",
            out.show()
        );
    }
    assert!(!dest.exists(), "a secret file was written: {}", out.show());
    assert!(shm.entries().is_empty(), "left behind: {:?}", shm.entries());
}

#[test]
fn a_redirect_to_the_configured_address_is_followed() {
    let fx = fixture();
    let (_, token_file) = app_token(&fx);
    let bao_port = fx.bao.port();
    // In front of OpenBao: first sends each request back to itself with a marker, then forwards it.
    let front = HttpStub::start(move |req| {
        let target = req.target();
        match target
            .strip_suffix(MARKER)
            .and_then(|t| t.strip_suffix(['?', '&']))
        {
            Some(original) => forward(req, original, bao_port),
            None => {
                let host = req.header("host").unwrap_or_default();
                let sep = if target.contains('?') { '&' } else { '?' };
                redirect(&format!("http://{host}{target}{sep}{MARKER}"))
            }
        }
    });
    let shm = ShmDir::new();
    let dest = shm.join("password");
    let cfg = config(&fx, &front.addr(), &token_file, &dest);

    let out = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .timeout(Duration::from_secs(10))
        .run();

    assert_eq!(out.code(), 0, "{}", out.show());
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap_or_else(|e| panic!("{e}\n{}", out.show())),
        fx.sentinel
    );
    let seen = front.seen();
    let followed: Vec<&Seen> = seen
        .iter()
        .filter(|r| r.target().ends_with(MARKER))
        .collect();
    assert!(
        followed
            .iter()
            .any(|r| r.target().starts_with("/v1/secret/data/app/config")),
        "the KV read did not go through the redirect: {:?}",
        seen.iter().map(Seen::target).collect::<Vec<_>>()
    );
    assert!(
        followed.iter().all(|r| r.header("x-vault-token").is_some()),
        "a followed request lost its token"
    );
}

/// `vault { address, addresses }` for a two-node "cluster": `first` is tried first, `second` next.
fn cluster_config(fx: &Fixture, first: &str, second: &str, token: &Path, dest: &Path) -> PathBuf {
    let text = format!("vault {{\n  address   = \"{first}\"\n  addresses = [\"{second}\"]\n}}\n")
        + &token_file_auto_auth(token)
        + &template(KV_PASSWORD, dest, &[]);
    fx.write_file("cluster.hcl", &text)
}

/// A standby's 307 to another node of the configured cluster is followed with the token; a standby that
/// redirects outside the cluster is refused (nothing reaches that address) and the next node answers.
#[test]
fn in_a_cluster_a_redirect_to_a_node_is_followed_and_one_outside_is_refused() {
    let fx = fixture();
    let (token, token_file) = app_token(&fx);
    let active = fx.addr();

    let to_active = active.clone();
    let standby = HttpStub::start(move |req| redirect(&format!("{to_active}{}", req.target())));
    let shm = ShmDir::new();
    let dest = shm.join("password");
    let cfg = cluster_config(&fx, &standby.addr(), &active, &token_file, &dest);
    let out = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(out.code(), 0, "{}", out.show());
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), fx.sentinel);
    assert!(!standby.seen().is_empty(), "the standby was never asked");
    std::fs::remove_file(&dest).unwrap();

    let outside = HttpStub::start(|_| {
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    });
    let to_outside = outside.addr();
    let hostile = HttpStub::start(move |req| redirect(&format!("{to_outside}{}", req.target())));
    let cfg = cluster_config(&fx, &hostile.addr(), &active, &token_file, &dest);
    let out = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .timeout(Duration::from_secs(10))
        .run();
    assert_eq!(out.code(), 0, "the next node answers: {}", out.show());
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), fx.sentinel);
    assert!(
        hostile
            .seen()
            .iter()
            .any(|r| r.header("x-vault-token") == Some(token.as_str())),
        "the first node was not tried"
    );
    assert!(
        outside.seen().is_empty(),
        "the address outside the cluster was contacted: {} requests",
        outside.seen().len()
    );
    let refused = format!("redirect to {} refused", outside.addr());
    assert!(out.stderr.contains(&refused), "{}", out.show());
    assert!(!out.stderr.contains(&token), "the token was logged");
}
