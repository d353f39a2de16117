//! A hostile backend: a loopback HTTP/1.1 server that answers a token lookup and a mount lookup as
//! OpenBao would, and every read under `secret/` the way a broken or hostile server might (a body too
//! big, one dripping a byte a second, malformed JSON, an HTML error page, a bare 500, a body shorter
//! than its `Content-Length`, a connection closed mid-body) — or well, so a test can render a good
//! output first. It is not a model of OpenBao: only what a one-shot render of one KV v2 secret asks.
//!
//! Every bad answer carries [`SENTINEL`] in its body where a careless client could echo it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Text in every hostile body: it must never show in what sidekey prints.
pub const SENTINEL: &str = "HOSTILE-SENTINEL-7f3a";

/// How the server answers reads under `/v1/secret/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostility {
    /// A KV v2 answer with `data.data.password` = [`Hostile::PASSWORD`].
    Good,
    /// A 200 whose chunked body runs to 6 MiB (no `Content-Length` to refuse it by).
    Huge,
    /// A 200 with a `Content-Length` of 1000 whose body comes one byte a second.
    Drip,
    /// A 200 whose body is JSON cut off in the middle (its `Content-Length` is honest).
    MalformedJson,
    /// A 500 with a load balancer's HTML page.
    HtmlError,
    /// A 500 with a plain-text body.
    Plain500,
    /// A 200 whose `Content-Length` says 500 bytes, then 40 are sent and the connection closed.
    Truncated,
    /// A 200, chunked, closed in the middle of its first chunk.
    ClosedMidBody,
    /// The good answer, leased for `u64::MAX` seconds, with a token `ttl` of `u64::MAX` beside it (as
    /// `lookup-self` would carry it): a backend cannot mean it, and no clock can add it.
    EndlessLease,
}

/// The running server; stopped when dropped.
pub struct Hostile {
    port: u16,
    mode: Arc<Mutex<Hostility>>,
    reads: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hostile {
    /// The password the good answer carries.
    pub const PASSWORD: &'static str = "good-password-1";

    /// Start on a free loopback port, answering reads as `mode` says.
    pub fn start(mode: Hostility) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hostile backend");
        let port = listener.local_addr().expect("its address").port();
        let mode = Arc::new(Mutex::new(mode));
        let reads = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, s) = (mode.clone(), reads.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (m, r, s) = (m.clone(), r.clone(), s.clone());
                std::thread::spawn(move || serve(conn, &m, &r, &s));
            }
        });
        Hostile {
            port,
            mode,
            reads,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answer reads as `mode` says from now on.
    pub fn set(&self, mode: Hostility) {
        *self.mode.lock().expect("mode lock") = mode;
    }

    /// How many reads under `/v1/secret/` came in so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer one connection (one request; every answer closes it).
fn serve(mut conn: TcpStream, mode: &Mutex<Hostility>, reads: &AtomicUsize, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(head) = read_head(&mut conn) else {
        return;
    };
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string();
    if path.starts_with("/v1/auth/token/lookup-self") {
        let body = r#"{"data":{"accessor":"hostile-accessor","ttl":0,"renewable":false,"display_name":"token","policies":["root"]}}"#;
        let _ = conn.write_all(answer("200 OK", "application/json", body).as_bytes());
        return;
    }
    if path.starts_with("/v1/sys/internal/ui/mounts/secret") {
        let body = r#"{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}"#;
        let _ = conn.write_all(answer("200 OK", "application/json", body).as_bytes());
        return;
    }
    if !path.starts_with("/v1/secret/") {
        let _ = conn
            .write_all(answer("404 Not Found", "application/json", r#"{"errors":[]}"#).as_bytes());
        return;
    }
    reads.fetch_add(1, Ordering::SeqCst);
    let now = *mode.lock().expect("mode lock");
    misbehave(&mut conn, now, stop);
}

/// Write the answer `mode` stands for.
fn misbehave(conn: &mut TcpStream, mode: Hostility, stop: &AtomicBool) {
    let json = "application/json";
    match mode {
        Hostility::Good => {
            let body = format!(
                r#"{{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":{{"data":{{"password":"{}"}},"metadata":{{"version":1}}}},"wrap_info":null,"warnings":null,"auth":null}}"#,
                Hostile::PASSWORD
            );
            let _ = conn.write_all(answer("200 OK", json, &body).as_bytes());
        }
        Hostility::EndlessLease => {
            let body = format!(
                r#"{{"request_id":"r","lease_id":"secret/data/app/endless","renewable":true,"lease_duration":{max},"data":{{"ttl":{max},"renewable":true,"data":{{"password":"{}"}},"metadata":{{"version":1}}}},"wrap_info":null,"warnings":null,"auth":null}}"#,
                Hostile::PASSWORD,
                max = u64::MAX
            );
            let _ = conn.write_all(answer("200 OK", json, &body).as_bytes());
        }
        Hostility::Huge => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if conn.write_all(head.as_bytes()).is_err() {
                return;
            }
            let piece = format!(
                "{{\"data\":{{\"data\":{{\"password\":\"{SENTINEL}{}",
                "x".repeat(64 * 1024)
            );
            for _ in 0..(6 * 1024 * 1024 / piece.len() + 1) {
                let frame = format!("{:x}\r\n{piece}\r\n", piece.len());
                if conn.write_all(frame.as_bytes()).is_err() {
                    return;
                }
            }
            let _ = conn.write_all(b"0\r\n\r\n");
        }
        Hostility::Drip => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
            if conn.write_all(head.as_bytes()).is_err() {
                return;
            }
            let body = format!("{{\"data\":{{\"data\":{{\"password\":\"{SENTINEL}");
            for b in body.bytes().cycle().take(1000) {
                if stop.load(Ordering::SeqCst) || conn.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Hostility::MalformedJson => {
            let body = format!(r#"{{"data":{{"data":{{"password":"{SENTINEL}"#);
            let _ = conn.write_all(answer("200 OK", json, &body).as_bytes());
        }
        Hostility::HtmlError => {
            let page = format!(
                "<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>{SENTINEL}</p></body></html>"
            );
            let _ = conn.write_all(
                answer(
                    "500 Internal Server Error",
                    "text/html; charset=utf-8",
                    &page,
                )
                .as_bytes(),
            );
        }
        Hostility::Plain500 => {
            let body = format!("internal error {SENTINEL}");
            let _ =
                conn.write_all(answer("500 Internal Server Error", "text/plain", &body).as_bytes());
        }
        Hostility::Truncated => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n";
            let part = format!("{{\"data\":{{\"data\":{{\"password\":\"{SENTINEL}");
            let _ = conn.write_all(format!("{head}{part}").as_bytes());
        }
        Hostility::ClosedMidBody => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            let part = format!("200\r\n{{\"data\":{{\"data\":{{\"password\":\"{SENTINEL}");
            let _ = conn.write_all(format!("{head}{part}").as_bytes());
        }
    }
    let _ = conn.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// A whole answer with a `Content-Length`, closing the connection.
fn answer(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A request's head (and whatever body came with it, ignored).
fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}
