//! The cache driven the way the proxy drives it, with a `forward` closure backed by fixtures in place of
//! the server: keys (`keys`), what is stored, renewed and evicted (`lifecycle`), and static secrets (`kv`).

mod keys;
mod kv;
mod lifecycle;
mod persist;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hyper::{HeaderMap, Method, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Cache;
use crate::backend::Client;
use crate::config::CacheConfig;
use crate::lease::proxied::ProxyLeases;
use crate::listen::types::{CacheStatus, ProxyRequest, ProxyResponse};

/// The agent's own token in these tests.
const AGENT: &str = "agent-token";

/// A cache whose agent token is [`AGENT`] (renewable, an hour left), its table, and a client that
/// reaches nothing (so the cache's own calls fail as an unreachable server's would).
fn cache(cfg: CacheConfig) -> (Cache, ProxyLeases) {
    let leases = ProxyLeases::new(2.0 / 3.0);
    (cache_over(cfg, &leases), leases)
}

/// A cache over `leases`, whose agent token is [`AGENT`] (see [`cache`]).
fn cache_over(cfg: CacheConfig, leases: &ProxyLeases) -> Cache {
    let print = leases.token_print(&token(AGENT));
    leases.lock().set_auto(
        Some((
            print,
            "agent-accessor".into(),
            Some(Instant::now() + std::time::Duration::from_secs(3600)),
            false,
        )),
        &HashMap::new(),
        Instant::now(),
    );
    let client = Client::plain("http://127.0.0.1:9");
    Cache::new(cfg, client, leases.clone())
}

fn token(t: &str) -> SecretString {
    SecretString::from(t.to_string())
}

/// A request as the proxy hands it over: `target` is the path below `/v1/` with its query.
fn req(method: &str, target: &str, tok: Option<&str>, body: &str) -> ProxyRequest {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    ProxyRequest {
        method: Method::from_bytes(method.as_bytes()).unwrap(),
        path,
        query,
        token: tok.map(token),
        namespace: None,
        headers: HeaderMap::new(),
        body: Bytes::from(body.to_string()),
    }
}

/// A JSON response.
fn reply(status: u16, body: &Value) -> ProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    ProxyResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: Bytes::from(body.to_string()),
    }
}

/// A 204, as revocations answer.
fn no_content() -> ProxyResponse {
    ProxyResponse {
        status: StatusCode::NO_CONTENT,
        headers: HeaderMap::new(),
        body: Bytes::new(),
    }
}

/// A fake server: answers each forwarded request with `answer(request, n)` (n counts the calls from 1).
struct Server<F> {
    calls: AtomicUsize,
    answer: F,
}

impl<F: Fn(&ProxyRequest, usize) -> ProxyResponse> Server<F> {
    fn new(answer: F) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            answer,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// `req` through `cache`, forwarded to this server on a miss.
    async fn send(&self, cache: &Cache, req: ProxyRequest) -> (ProxyResponse, CacheStatus) {
        cache
            .handle(req, |r| async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok::<_, Infallible>((self.answer)(&r, n))
            })
            .await
            .unwrap()
    }
}

/// A new database credential for every call: lease `database/creds/app/<n>`, 30 s, renewable.
fn creds(_: &ProxyRequest, n: usize) -> ProxyResponse {
    reply(
        200,
        &json!({
            "lease_id": format!("database/creds/app/{n}"),
            "lease_duration": 30,
            "renewable": true,
            "data": { "username": format!("v-app-{n}"), "password": "pw" }
        }),
    )
}

/// The lease id in a response body.
fn lease_of(resp: &ProxyResponse) -> String {
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    v["lease_id"].as_str().unwrap_or_default().to_string()
}
