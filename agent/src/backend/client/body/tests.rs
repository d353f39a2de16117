//! Hostile answers against a tiny loopback server: each one a classified error naming the path, never
//! a partial answer, never the body's content.

#![allow(clippy::panic)] // a failed test panics

use std::time::Duration;

use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::{Client, Limits};
use crate::backend::BackendError;

/// What the server does after reading a request's head.
#[derive(Clone)]
enum Misbehave {
    /// Write these bytes, then close.
    Send(Vec<u8>),
    /// Write the head, then the body a byte at a time, `every` apart.
    Drip(Vec<u8>, Vec<u8>, Duration),
    /// A 200 with `n` bytes of JSON-ish body, chunked (no `Content-Length`).
    Chunked(usize),
}

/// A loopback server answering every connection as `how` says; its origin.
async fn server(how: Misbehave) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer(conn, how.clone()));
        }
    });
    format!("http://127.0.0.1:{port}")
}

async fn answer(mut conn: TcpStream, how: Misbehave) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    match how {
        Misbehave::Send(bytes) => {
            let _ = conn.write_all(&bytes).await;
        }
        Misbehave::Drip(head, body, every) => {
            let _ = conn.write_all(&head).await;
            for b in body {
                if conn.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
        Misbehave::Chunked(n) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if conn.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let piece = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < n {
                let frame = format!("{:x}\r\n", piece.len());
                let ok = conn.write_all(frame.as_bytes()).await.is_ok()
                    && conn.write_all(&piece).await.is_ok()
                    && conn.write_all(b"\r\n").await.is_ok();
                if !ok {
                    return;
                }
                sent += piece.len();
            }
            let _ = conn.write_all(b"0\r\n\r\n").await;
        }
    }
    let _ = conn.shutdown().await;
}

/// `GET /v1/secret/data/app` against a server that answers as `how` says.
async fn read(how: Misbehave, timeout: Duration) -> BackendError {
    let origin = server(how).await;
    let token = SecretString::from("s.body-test".to_string());
    let limits = Limits {
        timeout,
        ..Limits::default()
    };
    match Client::plain_with(&origin, limits)
        .read(crate::backend::Bearer::new(&token, ""), "secret/data/app")
        .await
    {
        Ok(s) => panic!("a hostile answer was accepted: {:?}", s.map(|s| s.lease_id)),
        Err(e) => e,
    }
}

fn response(status: &str, content_type: &str, body: &str) -> Misbehave {
    Misbehave::Send(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        6 * 1024 * 1024
    );
    let e = read(Misbehave::Send(head.into_bytes()), Duration::from_secs(5)).await;
    assert!(matches!(e, BackendError::TooLarge { .. }), "{e:?}");
    assert!(!e.is_transient() && !e.fails_over(), "{e}");
    assert_eq!(
        e.to_string(),
        "GET /v1/secret/data/app: response body larger than the 4 MiB limit: refused, nothing of it used"
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_once_it_passes_it() {
    let e = read(Misbehave::Chunked(6 * 1024 * 1024), Duration::from_secs(10)).await;
    assert!(matches!(e, BackendError::TooLarge { .. }), "{e:?}");
}

#[tokio::test]
async fn a_body_shorter_than_its_length_is_cut_short_and_retried() {
    let cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"data\":{\"password\":\"SENTINEL".to_vec();
    let e = read(Misbehave::Send(cut), Duration::from_secs(5)).await;
    assert!(matches!(e, BackendError::Incomplete { .. }), "{e:?}");
    assert!(e.is_transient(), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("GET /v1/secret/data/app: response cut short"),
        "{text}"
    );
    assert!(!text.contains("SENTINEL"), "{text}");
}

#[tokio::test]
async fn a_connection_closed_mid_chunk_is_cut_short() {
    let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n{\"data\":".to_vec();
    let e = read(Misbehave::Send(cut), Duration::from_secs(5)).await;
    assert!(matches!(e, BackendError::Incomplete { .. }), "{e:?}");
}

#[tokio::test]
async fn a_dripping_body_ends_at_the_client_timeout() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        .to_vec();
    let body = vec![b' '; 100];
    let e = read(
        Misbehave::Drip(head, body, Duration::from_millis(200)),
        Duration::from_secs(1),
    )
    .await;
    assert!(matches!(e, BackendError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient(), "{e}");
    assert_eq!(
        e.to_string(),
        "GET /v1/secret/data/app: timed out after 1s (BAO_CLIENT_TIMEOUT): no whole answer"
    );
}

#[tokio::test]
async fn malformed_json_from_a_200_is_permanent_and_not_echoed() {
    let e = read(
        response("200 OK", "application/json", "{\"data\": SENTINEL-value"),
        Duration::from_secs(5),
    )
    .await;
    assert!(matches!(e, BackendError::Decode { .. }), "{e:?}");
    assert!(!e.is_transient(), "{e}");
    let text = e.to_string();
    assert!(text.contains("not the expected JSON"), "{text}");
    assert!(!text.contains("SENTINEL"), "{text}");
}

#[tokio::test]
async fn an_html_error_page_is_a_server_error_without_its_text() {
    let page = "<html><body><h1>502 Bad Gateway</h1>SENTINEL</body></html>";
    let e = read(
        response(
            "500 Internal Server Error",
            "text/html; charset=utf-8",
            page,
        ),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(e.status(), Some(500), "{e:?}");
    assert!(e.is_transient(), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "GET /v1/secret/data/app: HTTP 500: no Vault error list in the body (text/html, {} bytes)",
            page.len()
        )
    );
}

#[tokio::test]
async fn a_hostile_content_type_is_not_written_into_the_message() {
    let e = read(
        response(
            "500 Internal Server Error",
            "text/html SENTINEL=\"x y\"",
            "",
        ),
        Duration::from_secs(5),
    )
    .await;
    let text = e.to_string();
    assert!(
        text.contains("(an unusual Content-Type, 0 bytes)"),
        "{text}"
    );
    assert!(!text.contains("SENTINEL"), "{text}");
}

#[tokio::test]
async fn a_token_in_the_path_is_not_in_the_error() {
    let origin = server(response("500 Internal Server Error", "text/plain", "")).await;
    let token = SecretString::from("s.body-test".to_string());
    let e = Client::plain(&origin)
        .read(
            crate::backend::Bearer::new(&token, ""),
            "auth/token/lookup/s.SENTINEL-token",
        )
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("GET /v1/auth/token/lookup/<token>: HTTP 500"),
        "{text}"
    );
    assert!(!text.contains("SENTINEL"), "{text}");
}

#[test]
fn a_body_grown_by_hand_keeps_every_byte_in_order() {
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(2));
    for chunk in [&b"ab"[..], b"cde", b"", b"fghijklmnop"] {
        super::extend(&mut body, chunk);
    }
    assert_eq!(body.as_slice(), b"abcdefghijklmnop");
}

#[tokio::test]
async fn control_characters_in_a_servers_error_text_are_replaced() {
    let body = r#"{"errors":["denied \u001b[31mred\u001b[0m\u0007 \u009b2J\n\tdone"]}"#;
    let e = read(
        response("403 Forbidden", "application/json", body),
        Duration::from_secs(5),
    )
    .await;
    let BackendError::Status { message, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(message, "denied ?[31mred?[0m? ?2J done");
}
