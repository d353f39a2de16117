//! An OTLP/HTTP logs endpoint (`POST /v1/logs`) decoding `ExportLogsServiceRequest` as protobuf or as
//! OTLP JSON, by its content type, with the OpenTelemetry project's own message types. It can be told to
//! answer the next requests with an error (and `Retry-After`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use super::Loopback;

/// One log record as received, with its resource's attributes.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request's content type (`application/x-protobuf` or `application/json`).
    pub content_type: String,
    /// The resource's attributes, as text.
    pub resource: Vec<(String, String)>,
    /// The log record.
    pub log: LogRecord,
}

impl Received {
    /// The record's attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<String> {
        text(&self.log.attributes, key)
    }

    /// The resource's attribute `key`.
    pub fn resource_attr(&self, key: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The body, when it is a string.
    pub fn body(&self) -> Option<&str> {
        match self.log.body.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    got: Vec<Received>,
    requests: usize,
    errors: Vec<String>,
    /// Answers for the next requests instead of 200: status and `Retry-After`.
    plan: VecDeque<(u16, Option<String>)>,
}

/// The OTLP/HTTP receiver.
pub struct OtlpReceiver {
    server: Loopback,
    state: Arc<Mutex<State>>,
}

impl Default for OtlpReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl OtlpReceiver {
    /// A receiver on a free port (not listening yet).
    pub fn new() -> OtlpReceiver {
        OtlpReceiver {
            server: Loopback::new(),
            state: Arc::default(),
        }
    }

    /// The full logs URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1/logs", self.server.port)
    }

    /// Answer the next requests with `status` (and `Retry-After: retry_after`), one per entry.
    pub fn fail_next(&self, status: u16, retry_after: Option<&str>, times: usize) {
        let mut st = self.state.lock().unwrap();
        for _ in 0..times {
            st.plan.push_back((status, retry_after.map(str::to_string)));
        }
    }

    /// Listen.
    pub fn start(&mut self) {
        let state = self.state.clone();
        self.server.start(move |conn| {
            let state = state.clone();
            async move {
                let svc = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, hyper::Error>(handle(req, &state).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(conn), svc)
                    .await;
            }
        });
    }

    /// Close the listener and every connection (an outage).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Every log record received and answered 200 so far, in arrival order.
    pub fn records(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }

    /// Requests seen, failed ones included.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// Requests that did not decode or went to another path.
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().unwrap().errors.clone()
    }
}

async fn handle(req: Request<Incoming>, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let decoded = match content_type.as_str() {
        _ if path != "/v1/logs" => Err(format!("POST to {path}")),
        "application/x-protobuf" => {
            ExportLogsServiceRequest::decode(body.as_ref()).map_err(|e| e.to_string())
        }
        "application/json" => serde_json::from_slice(&body).map_err(|e| e.to_string()),
        other => Err(format!("content type {other:?}")),
    };
    let mut st = state.lock().unwrap();
    st.requests += 1;
    let request = match decoded {
        Ok(r) => r,
        Err(e) => {
            st.errors.push(e);
            return answer(400, None, "");
        }
    };
    if let Some((status, after)) = st.plan.pop_front() {
        return answer(status, after.as_deref(), "");
    }
    for rl in request.resource_logs {
        let resource = rl
            .resource
            .map(|r| {
                r.attributes
                    .iter()
                    .filter_map(|kv| {
                        Some((kv.key.clone(), text(std::slice::from_ref(kv), &kv.key)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for sl in rl.scope_logs {
            for log in sl.log_records {
                st.got.push(Received {
                    content_type: content_type.clone(),
                    resource: Vec::clone(&resource),
                    log,
                });
            }
        }
    }
    // An empty ExportLogsServiceResponse: no bytes in protobuf, `{}` in JSON.
    let body = if content_type == "application/json" {
        "{}"
    } else {
        ""
    };
    answer(200, None, body)
}

fn answer(status: u16, retry_after: Option<&str>, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    if let Some(a) = retry_after {
        r = r.header("retry-after", a);
    }
    r.body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// Attribute `key` of `kvs` as text (an int as its decimal digits).
fn text(kvs: &[KeyValue], key: &str) -> Option<String> {
    let kv = kvs.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(n) => Some(n.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}
