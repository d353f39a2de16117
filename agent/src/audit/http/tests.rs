use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use super::*;

/// A loopback collector answering each request with `answer(path, body)`; its URL (`http://ADDR/`).
pub(in crate::audit) async fn serve<F>(answer: F) -> String
where
    F: Fn(&str, Bytes) -> Response<Full<Bytes>> + Clone + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let answer = answer.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        Ok::<_, std::convert::Infallible>(answer(&path, body))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    url
}

/// An empty answer with `status`.
pub(in crate::audit) fn status(status: u16) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A collector that answers every request to `/` with `302 Found` to `/moved`, where it answers `200`
/// to anything; its URL, and how many requests reached `/moved`.
pub(in crate::audit) async fn redirecting() -> (String, Arc<AtomicUsize>) {
    let moved = Arc::new(AtomicUsize::new(0));
    let seen = moved.clone();
    let url = serve(move |path, _| {
        if path == "/moved" {
            seen.fetch_add(1, Ordering::SeqCst);
            return status(200);
        }
        let mut r = status(302);
        r.headers_mut().insert(
            "location",
            hyper::header::HeaderValue::from_static("/moved"),
        );
        r
    })
    .await;
    (url, moved)
}

#[tokio::test]
async fn a_redirect_is_a_failure_to_retry_and_is_not_followed() {
    let (url, moved) = redirecting().await;
    let post = Post::new(&url, None, Duration::from_secs(5)).unwrap();
    let err = post.send(&["{\"seq\":1}".to_string()]).await.unwrap_err();
    assert!(matches!(err, SendError::Retry { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("HTTP 302"), "{text}");
    assert!(text.contains("set the final URL"), "{text}");
    assert!(!text.contains("moved"), "{text}");
    assert_eq!(moved.load(Ordering::SeqCst), 0, "the redirect was followed");
}
