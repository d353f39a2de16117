use hyper::header::AUTHORIZATION;
use secrecy::ExposeSecret;

use super::answer::{Peeked, peek};
use super::token::{
    caller_token, hide_token, is_lookup_self, reveals_token_wrapped, under_token_api,
};
use super::*;
use crate::listen::types::ProxyResponse;

#[test]
fn the_callers_token_is_x_vault_token_then_a_bearer_token() {
    let mut h = HeaderMap::new();
    assert!(caller_token(&h).is_none());
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s.bearer"));
    assert_eq!(caller_token(&h).unwrap().expose_secret(), "s.bearer");
    h.insert("x-vault-token", HeaderValue::from_static("s.header"));
    assert_eq!(caller_token(&h).unwrap().expose_secret(), "s.header");
    let mut basic = HeaderMap::new();
    basic.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcg=="));
    assert!(caller_token(&basic).is_none());
}

#[test]
fn an_empty_token_is_no_token() {
    let mut h = HeaderMap::new();
    h.insert("x-vault-token", HeaderValue::from_static(""));
    assert!(caller_token(&h).is_none());
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
    assert!(caller_token(&h).is_none());
    // An empty `X-Vault-Token` does not hide a bearer token.
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s.bearer"));
    assert_eq!(caller_token(&h).unwrap().expose_secret(), "s.bearer");
}

/// `body` answered with `status` at `path`, after the rule for the sent token `s.agent`.
fn hidden(path: &str, status: StatusCode, body: &'static [u8]) -> ProxyResponse {
    let mut r = ProxyResponse {
        status,
        headers: HeaderMap::new(),
        body: Bytes::from_static(body),
    };
    hide_token(path, &SecretString::from("s.agent"), &mut r);
    r
}

fn json(r: &ProxyResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn lookup_self_with_the_agents_token_hides_its_id_and_accessor() {
    let body = br#"{"request_id":"r","data":{"id":"s.agent","accessor":"acc","ttl":60},"wrap_info":null,"auth":null}"#;
    let v = json(&hidden("auth/token/lookup-self", StatusCode::OK, body));
    assert_eq!(
        v,
        serde_json::json!({"request_id": "r", "data": {"ttl": 60}})
    );
    // The same answer at another path still loses the token it echoes.
    let v = json(&hidden("auth/token/lookup", StatusCode::OK, body));
    assert_eq!(v["data"], serde_json::json!({"ttl": 60}));
}

#[test]
fn an_answer_echoing_the_sent_token_loses_it() {
    // renew-self: `auth.client_token` is the token sent.
    let renewed = br#"{"request_id":"r","data":null,"wrap_info":null,"auth":{"client_token":"s.agent","accessor":"acc","policies":["pa"],"lease_duration":3600,"renewable":true}}"#;
    let r = hidden("auth/token/renew-self", StatusCode::OK, renewed);
    assert!(r.headers.get(CONTENT_LENGTH).is_none());
    let v = json(&r);
    assert_eq!(
        v["auth"],
        serde_json::json!({"policies": ["pa"], "lease_duration": 3600, "renewable": true})
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("s.agent"));
    // A new token (a create, a login) is the caller's to have: unchanged, byte for byte.
    let created = br#"{"auth":{"client_token":"s.child","accessor":"acc2"},"data":null}"#;
    let r = hidden("auth/token/create", StatusCode::OK, created);
    assert_eq!(&r.body[..], &created[..]);
    // A secret that merely has an `id` passes.
    let other = br#"{"data":{"id":"s.other","value":"x"}}"#;
    assert_eq!(
        &hidden("secret/data/app", StatusCode::OK, other).body[..],
        &other[..]
    );
}

/// A backend answer of unknown length (no `Content-Length`) in `chunks`.
fn chunked(chunks: Vec<Bytes>) -> reqwest::Response {
    let frames = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(hyper::body::Frame::data(c))),
    );
    let body = reqwest::Body::wrap(http_body_util::StreamBody::new(frames));
    reqwest::Response::from(Response::new(body))
}

#[tokio::test]
async fn an_answer_of_unknown_length_is_read_whole_up_to_the_limit_then_streamed() {
    let small = chunked(vec![
        Bytes::from_static(b"{\"a\":"),
        Bytes::from_static(b"1}"),
    ]);
    assert!(small.content_length().is_none());
    let whole = peek(small, &Method::GET, "x").await.unwrap();
    assert!(
        matches!(&whole, Peeked::Whole(r) if &r.body[..] == b"{\"a\":1}"),
        "a small answer is read whole"
    );

    let mib = Bytes::from(vec![b'x'; 1024 * 1024]);
    let big = chunked(vec![mib.clone(); 6]);
    let streamed = match peek(big, &Method::GET, "x").await.unwrap() {
        Peeked::Big(r) => Some(r),
        Peeked::Whole(_) => None,
    };
    let all = streamed
        .expect("a big answer streams on")
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(all.len(), 6 * mib.len(), "nothing lost at the switch");
}

#[test]
fn every_spelling_of_lookup_self_is_one() {
    for raw in [
        "auth/token/lookup-self",
        "/auth/token/lookup-self",
        "auth//token/lookup-self/",
        "auth/%74oken/lookup-self",
        "team/auth/token/lookup-self",
    ] {
        let p = crate::listen::cache::normalize_path(raw).unwrap();
        assert!(is_lookup_self(&p), "{raw}");
    }
    assert!(crate::listen::cache::normalize_path("auth/token/./lookup-self").is_none());
    assert!(!is_lookup_self("auth/token/lookup-self-other"));
}

#[test]
fn a_wrapped_answer_of_the_token_api_is_refused_but_for_creations() {
    for p in [
        "auth/token/renew-self",
        "auth/token/lookup-self",
        "auth/token/lookup",
        "auth/token/renew",
        "auth/token/lookup-accessor",
        "team/auth/token/renew-self",
        "sys/wrapping/wrap",
        "team/sys/wrapping/wrap",
    ] {
        assert!(reveals_token_wrapped(p), "{p}");
    }
    for p in [
        "auth/token/create",
        "auth/token/create-orphan",
        "auth/token/create/role",
        "team/auth/token/create",
        "secret/data/app",
        "sys/wrapping/unwrap",
        "auth/approle/login",
    ] {
        assert!(!reveals_token_wrapped(p), "{p}");
    }
    assert!(under_token_api("auth/token/create"));
    assert!(under_token_api("team/auth/token/renew-self"));
    assert!(!under_token_api("auth/tokens/x"));
    assert!(!under_token_api("secret/data/app"));
}

#[test]
fn errors_have_vaults_shape() {
    let r = error(
        StatusCode::PRECONDITION_FAILED,
        "missing 'X-Vault-Request' header",
    );
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    let timeout = BackendError::Transport {
        method: "GET".into(),
        path: "x".into(),
        reason: "timed out".into(),
    };
    assert_eq!(
        backend_error(&timeout).status(),
        StatusCode::GATEWAY_TIMEOUT
    );
    let refused = BackendError::Transport {
        method: "GET".into(),
        path: "x".into(),
        reason: "connection failed".into(),
    };
    assert_eq!(backend_error(&refused).status(), StatusCode::BAD_GATEWAY);
}
