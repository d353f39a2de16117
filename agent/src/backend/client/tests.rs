//! The client against tiny loopback HTTP servers: which redirects it follows, and that the token never
//! reaches an address that is not configured.

#![allow(clippy::panic)] // a failed test panics

use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Client, ClientSettings, Limits, Reuse};
use crate::backend::redirect::{MAX_REDIRECT_HOPS, RedirectRefused};
use crate::backend::tls::TlsSettings;
use crate::backend::{BackendError, Bearer};

mod observe;

const TOKEN: &str = "s.redirect-test-token";

/// How a test server answers a request: from its own port and the request head.
type Answer = Arc<dyn Fn(u16, &str) -> String + Send + Sync>;

/// A loopback HTTP/1.1 server answering each request with `answer(port, request head)` and closing the
/// connection; it records every request head (lowercased) it saw.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(answer: impl Fn(u16, &str) -> String + Send + Sync + 'static) -> Server {
        let answer: Answer = Arc::new(answer);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move {
                    if let Some(head) = read_request(conn, port, &*answer).await {
                        log.lock().unwrap().push(head);
                    }
                });
            }
        });
        Server { port, seen }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Read one request (head and `content-length` body, so closing does not reset the connection), answer.
async fn read_request(
    mut conn: TcpStream,
    port: u16,
    answer: &(dyn Fn(u16, &str) -> String + Send + Sync),
) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    conn.write_all(answer(port, &head).as_bytes()).await.ok()?;
    conn.shutdown().await.ok()?;
    Some(head)
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn client(address: &str) -> Client {
    Client::new(&ClientSettings {
        address,
        addresses: &[],
        namespace: None,
        tls: TlsSettings::default(),
        max_in_flight: 4,
        auth: Reuse::default(),
        templating: Reuse::default(),
        limits: Limits::default(),
    })
    .unwrap()
}

fn token() -> SecretString {
    SecretString::from(TOKEN.to_string())
}

/// The request target (path and query) of a recorded head.
fn target(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or_default()
}

#[tokio::test]
async fn a_redirect_to_the_configured_origin_is_followed_with_the_token() {
    let server = Server::start(|port, head| {
        if target(head).contains("redirected=1") {
            let body = r#"{"data":{"value":"ok"}}"#;
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        } else {
            redirect_to(&format!(
                "http://127.0.0.1:{port}{}?redirected=1",
                target(head)
            ))
        }
    })
    .await;
    let secret = client(&server.origin())
        .read(Bearer::new(&token(), ""), "secret/x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret.data.0, json!({ "value": "ok" }));
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(target(&seen[1]), "/v1/secret/x?redirected=1");
    assert!(
        seen[1].contains(&format!("x-vault-token: {}", TOKEN.to_lowercase())),
        "the followed request lost the token: {}",
        seen[1]
    );
}

#[tokio::test]
async fn a_redirect_elsewhere_is_refused_and_nothing_is_sent_there() {
    let elsewhere = Server::start(|_, _| redirect_to("/")).await;
    let location = format!("{}/v1/secret/x", elsewhere.origin());
    let hostile = Server::start(move |_, _| redirect_to(&location)).await;
    let c = client(&hostile.origin());

    let err = c
        .read(Bearer::new(&token(), ""), "secret/x")
        .await
        .unwrap_err();
    let BackendError::Redirect { refused, .. } = &err else {
        panic!("not a redirect error: {err:?}");
    };
    assert_eq!(
        refused,
        &RedirectRefused::ForeignOrigin {
            target: elsewhere.origin()
        }
    );
    assert!(err.is_transient(), "like a 5xx: retried with backoff");
    assert_eq!(err.status(), None, "not a status answer (never a 403)");
    let text = err.to_string();
    assert!(text.contains(&elsewhere.origin()), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    // A login's credential (in the body) does not go there either.
    let err = c
        .login("auth/jwt", &json!({ "role": "app", "jwt": "a.b.c" }), None)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Redirect { .. }), "{err:?}");

    assert_eq!(hostile.seen().len(), 2);
    assert!(
        elsewhere.seen().is_empty(),
        "the refused target was contacted: {:?}",
        elsewhere.seen()
    );
}

#[tokio::test]
async fn a_redirect_loop_on_the_configured_origin_stops_after_a_few_hops() {
    let server = Server::start(|port, head| {
        redirect_to(&format!("http://127.0.0.1:{port}{}", target(head)))
    })
    .await;
    let err = client(&server.origin())
        .read(Bearer::new(&token(), ""), "secret/x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BackendError::Redirect {
                refused: RedirectRefused::TooManyHops { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 1 + MAX_REDIRECT_HOPS);
}

fn cluster(address: &str, others: &[String]) -> Client {
    Client::new(&ClientSettings {
        address,
        addresses: others,
        namespace: None,
        tls: TlsSettings::default(),
        max_in_flight: 4,
        auth: Reuse::default(),
        templating: Reuse::default(),
        limits: Limits::default(),
    })
    .unwrap()
}

fn json_answer(status: &str, body: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn ok_answer(value: &str) -> String {
    json_answer(
        "200 OK",
        &format!(r#"{{"data":{{"value":"{value}"}}}}"#),
        "",
    )
}

/// A port nothing listens on: connections are refused.
async fn dead_origin() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_dead_or_sealed_node_fails_over_to_the_next_and_the_client_stays_there() {
    let dead = dead_origin().await;
    let sealed = Server::start(|_, _| {
        json_answer(
            "503 Service Unavailable",
            r#"{"errors":["Vault is sealed"]}"#,
            "",
        )
    })
    .await;
    let good = Server::start(|_, _| ok_answer("from-c")).await;
    let c = cluster(&dead, &[sealed.origin(), good.origin()]);
    let s = c
        .read(Bearer::new(&token(), ""), "secret/x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data.0, json!({ "value": "from-c" }));
    assert_eq!(
        c.node(),
        good.origin(),
        "the node that answered is the one in use"
    );
    assert_eq!(sealed.seen().len(), 1);
    // The next request goes straight to the node in use.
    c.read(Bearer::new(&token(), ""), "secret/y").await.unwrap();
    assert_eq!(
        sealed.seen().len(),
        1,
        "not tried again while the good node answers"
    );
    assert_eq!(good.seen().len(), 2);
}

#[tokio::test]
async fn when_every_node_fails_the_error_is_transient_and_never_about_the_token() {
    let a = Server::start(|_, _| {
        json_answer(
            "500 Internal Server Error",
            r#"{"errors":["local node not active but active cluster node not found"]}"#,
            "",
        )
    })
    .await;
    let b = Server::start(|_, _| {
        json_answer(
            "429 Too Many Requests",
            r#"{"errors":[]}"#,
            "Retry-After: 1\r\n",
        )
    })
    .await;
    let c = cluster(&a.origin(), &[b.origin()]);
    let err = c
        .read(Bearer::new(&token(), ""), "secret/x")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_ne!(err.status(), Some(403));
    assert_eq!(
        (a.seen().len(), b.seen().len()),
        (1, 1),
        "each node tried once"
    );
}

#[tokio::test]
async fn a_standby_redirect_to_another_node_of_the_cluster_is_followed_with_the_token() {
    let active = Server::start(|_, _| ok_answer("active")).await;
    let to = format!("{}/v1/secret/x", active.origin());
    let standby = Server::start(move |_, _| redirect_to(&to)).await;
    let c = cluster(&standby.origin(), &[active.origin()]);
    let s = c
        .read(Bearer::new(&token(), ""), "secret/x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data.0, json!({ "value": "active" }));
    let seen = active.seen();
    assert!(
        seen[0].contains(&format!("x-vault-token: {}", TOKEN.to_lowercase())),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_standby_that_does_not_know_a_new_mount_fails_over_and_a_404_everywhere_is_not_retried() {
    let no_route = |_: u16, _: &str| {
        json_answer(
            "404 Not Found",
            r#"{"errors":["no handler for route \"db/creds/app\". route entry not found."]}"#,
            "",
        )
    };
    let standby = Server::start(no_route).await;
    let active = Server::start(|_, _| ok_answer("creds")).await;
    let c = cluster(&standby.origin(), &[active.origin()]);
    let s = c
        .read(Bearer::new(&token(), ""), "db/creds/app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data.0, json!({ "value": "creds" }));

    let other = Server::start(no_route).await;
    let err = cluster(&standby.origin(), &[other.origin()])
        .read(Bearer::new(&token(), ""), "db/creds/app")
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "no node has the mount: {err}");
}

#[tokio::test]
async fn the_newest_index_seen_is_sent_on_later_requests_and_an_older_one_does_not_replace_it() {
    use base64::Engine;
    let enc = |i: u64| {
        base64::engine::general_purpose::STANDARD
            .encode(format!(r#"{{"cluster_id":"c","index":{i}}}"#))
    };
    let (newer, older) = (enc(42), enc(7));
    // Answers pop from the end: index 42 first, then an older 7 (a standby behind), then none.
    let answers = Arc::new(Mutex::new(vec![older, newer.clone()]));
    let server = Server::start(move |_, _| {
        let next = answers.lock().unwrap().pop().unwrap_or_default();
        let extra = if next.is_empty() {
            String::new()
        } else {
            format!("X-Vault-Index: {next}\r\n")
        };
        ok_answer("x").replace("Connection: close", &format!("{extra}Connection: close"))
    })
    .await;
    let c = client(&server.origin());
    for _ in 0..3 {
        c.read(Bearer::new(&token(), ""), "secret/x").await.unwrap();
    }
    let seen = server.seen();
    assert!(!seen[0].contains("x-vault-index"), "{}", seen[0]);
    assert!(
        seen[1].contains(&format!("x-vault-index: {}", newer.to_lowercase())),
        "{}",
        seen[1]
    );
    assert!(
        seen[2].contains(&format!("x-vault-index: {}", newer.to_lowercase())),
        "{}",
        seen[2]
    );
}

#[tokio::test]
async fn a_standby_waiting_for_a_new_kv_v2_mount_fails_over_and_alone_is_retried_later() {
    let waiting = |_: u16, _: &str| {
        json_answer(
            "400 Bad Request",
            r#"{"errors":["Waiting for the primary to upgrade from non-versioned to versioned data. This backend will be unavailable for a brief period and will resume service when the primary is finished."]}"#,
            "",
        )
    };
    let standby = Server::start(waiting).await;
    let active = Server::start(|_, _| ok_answer("v2")).await;
    let c = cluster(&standby.origin(), &[active.origin()]);
    let s = c
        .read(Bearer::new(&token(), ""), "fresh/data/x")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.data.0, json!({ "value": "v2" }));
    assert_eq!(c.node(), active.origin());

    // With no other node to ask, the 400 is an error to retry, not a missing secret.
    let err = client(&standby.origin())
        .read(Bearer::new(&token(), ""), "fresh/data/x")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn a_client_with_other_tls_shares_the_node_in_use_and_the_index() {
    use base64::Engine;
    let index = base64::engine::general_purpose::STANDARD.encode(r#"{"cluster_id":"c","index":5}"#);
    let header = format!("X-Vault-Index: {index}\r\nConnection: close");
    let good =
        Server::start(move |_, _| ok_answer("x").replace("Connection: close", &header)).await;
    let dead = dead_origin().await;
    let c = cluster(&dead, &[good.origin()]);
    // The `cert` method logs in through such a client: its answer moves both to the node that answered.
    let cert = c.with_tls(&TlsSettings::default()).unwrap();
    cert.read(Bearer::new(&token(), ""), "auth/cert/login")
        .await
        .unwrap();
    assert_eq!(
        c.node(),
        good.origin(),
        "audit events name the node that answered"
    );
    c.read(Bearer::new(&token(), ""), "secret/x").await.unwrap();
    let seen = good.seen();
    assert_eq!(seen.len(), 2, "the dead node is not tried again: {seen:?}");
    assert!(
        seen[1].contains(&format!("x-vault-index: {}", index.to_lowercase())),
        "the index the login saw is sent on: {}",
        seen[1]
    );
}

// === raw forwarding (the API proxy) ===

fn forward(body: super::ForwardBody, headers: reqwest::header::HeaderMap) -> super::Forward {
    super::Forward {
        method: reqwest::Method::PUT,
        path_and_query: "/v1/database/creds/app?x=1".into(),
        headers,
        body,
        timeout: std::time::Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_forwarded_request_and_its_answer_pass_unchanged_but_for_hop_by_hop_headers() {
    let server = Server::start(|_, _| {
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nX-Custom: kept\r\nContent-Length: 32\r\nConnection: close\r\n\r\n{\"errors\":[\"permission denied\"]}".to_string()
    })
    .await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-vault-token", TOKEN.parse().unwrap());
    headers.insert("connection", "x-private".parse().unwrap());
    headers.insert("x-private", "dropped".parse().unwrap());
    headers.insert("keep-alive", "timeout=5".parse().unwrap());
    headers.insert("x-app", "kept".parse().unwrap());
    let body = super::ForwardBody::Buffered(bytes::Bytes::from_static(b"{\"ttl\":\"1h\"}"));
    let resp = client(&server.origin())
        .forward(forward(body, headers), false)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["x-custom"], "kept");
    assert_eq!(
        resp.text().await.unwrap(),
        "{\"errors\":[\"permission denied\"]}"
    );
    let head = &server.seen()[0];
    assert!(
        head.starts_with("put /v1/database/creds/app?x=1 http/1.1"),
        "{head}"
    );
    assert!(head.contains(&format!("x-vault-token: {}", TOKEN.to_lowercase())));
    assert!(
        head.contains("x-app: kept") && head.contains("content-length: 12"),
        "{head}"
    );
    assert!(
        !head.contains("x-private") && !head.contains("keep-alive"),
        "{head}"
    );
}

#[tokio::test]
async fn a_read_body_fails_over_to_the_next_node_and_a_streamed_one_does_not() {
    let unavailable =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let sealed = Server::start(move |_, _| unavailable.to_string()).await;
    let active = Server::start(|_, _| {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_string()
    })
    .await;
    let others = [active.origin()];
    let c = Client::new(&ClientSettings {
        address: &sealed.origin(),
        addresses: &others,
        namespace: None,
        tls: TlsSettings::default(),
        max_in_flight: 4,
        auth: Reuse::default(),
        templating: Reuse::default(),
        limits: Limits::default(),
    })
    .unwrap();
    let read = super::ForwardBody::Buffered(bytes::Bytes::from_static(b"{}"));
    let resp = c
        .forward(forward(read, Default::default()), false)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!((sealed.seen().len(), active.seen().len()), (1, 1));
    // The client stays on the node that answered: a streamed body goes there, once.
    let streamed = super::ForwardBody::Stream(reqwest::Body::from("{}"));
    let resp = c
        .forward(forward(streamed, Default::default()), false)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!((sealed.seen().len(), active.seen().len()), (1, 2));
}
