//! The limits every local listener applies, on tokio's paused clock: a head sent too slowly is cut off,
//! one too big gets 431, and a full listener waits for a free slot.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{HEADER_READ_TIMEOUT, MAX_HEADER_SIZE, Slots, http1_server};

/// Serve one in-memory connection with a handler answering 200; the client's end and the connection.
fn serve() -> (
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let svc =
        service_fn(|_req| async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) });
    let conn = tokio::spawn(http1_server().serve_connection(TokioIo::new(server), svc));
    (client, conn)
}

#[tokio::test(start_paused = true)]
async fn a_head_sent_too_slowly_is_cut_off() {
    let (mut client, conn) = serve();
    client
        .write_all(b"GET / HTTP/1.1\r\nX-Slow: a")
        .await
        .unwrap();
    tokio::time::sleep(HEADER_READ_TIMEOUT - Duration::from_secs(1)).await;
    assert!(!conn.is_finished(), "cut off before the timeout");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ended = conn.await.unwrap();
    assert!(
        ended.is_err_and(|e| e.is_timeout()),
        "still open past the timeout"
    );
}

#[tokio::test]
async fn a_head_over_the_limit_gets_431() {
    let (mut client, conn) = serve();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(MAX_HEADER_SIZE)
    );
    client.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 12];
    client.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 431");
    let _ = conn.await;
}

#[tokio::test(start_paused = true)]
async fn a_full_listener_waits_for_a_free_slot() {
    let stop = CancellationToken::new();
    let mut slots = Slots::new(2, "test listener");
    let first = slots.next(&stop).await.unwrap();
    let _second = slots.next(&stop).await.unwrap();
    let third = tokio::time::timeout(Duration::from_secs(5), slots.next(&stop)).await;
    assert!(third.is_err(), "a third connection while two are open");
    drop(first);
    let _third = slots.next(&stop).await.expect("a slot freed is taken");
    stop.cancel();
    assert!(slots.next(&stop).await.is_none(), "stopping ends the wait");
}
