//! The `otlp` sink's transport: OTLP/HTTP logs export (`ExportLogsServiceRequest`), as protobuf or as
//! OTLP's JSON mapping, POSTed to the full logs URL.
//!
//! Each event is one `LogRecord`: its time, the time sidekey observed it, severity INFO (WARN for a
//! failure), the event line (in the sink's format) as a string body, the event name, and the key fields
//! as attributes (`event.name`, `sidekey.seq`, `sidekey.agent_id`, ...). The resource names the agent
//! by OpenTelemetry's semantic conventions: `service.name` (`sidekey`), `service.instance.id` (the agent
//! id), `service.version`, `host.name`, `process.pid`, plus what `OTEL_RESOURCE_ATTRIBUTES` adds (the
//! workload: `k8s.pod.name`, ...). The spool keeps each record with its own resource, so records
//! spooled by an earlier run go out under that run's agent id.
//!
//! Answers follow the OTLP specification: 2xx is delivered (records a partial success rejects are
//! dropped and counted); 429, 502, 503 and 504 are retried, after `Retry-After` when given; 400 means
//! the batch is malformed: sending it again cannot help, so its records are sent one at a time and
//! those refused again are dropped and counted (logged with their `seq`). A redirect is not
//! followed: it is retried until the endpoint is fixed, as a POST re-sent as a GET would be lost and the
//! headers would go to another host. Any other answer
//! (401, 404, 500, ...) is retried too, unlike the specification says, since an operator can fix it and
//! an audit trail must not lose events to a misconfiguration.

use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::event::Event;
use super::http::{client, redirected, without_url};
use super::sender::{SendError, SetupError};
use crate::config::{AuditOtlpConfig, OtlpProtocol};

mod records;

pub use records::env_resource;
use records::{log_record, resource};

/// The instrumentation scope of sidekey's log records.
const SCOPE: &str = "sidekey.audit";

/// The most of a collector's answer read (an `ExportLogsServiceResponse` is a few bytes).
const RESPONSE_MAX: usize = 64 * 1024;

/// One spooled log record with the resource of the agent run that wrote it.
#[derive(Serialize, Deserialize)]
struct Spooled {
    resource: Resource,
    log: LogRecord,
}

/// Exports spooled log records to one collector.
pub(super) struct Export {
    client: reqwest::Client,
    endpoint: String,
    protocol: OtlpProtocol,
    headers: HeaderMap,
    /// `OTEL_RESOURCE_ATTRIBUTES` / `OTEL_SERVICE_NAME`.
    extra: Vec<(String, String)>,
}

impl Export {
    /// The transport for `cfg`.
    ///
    /// # Errors
    /// [`SetupError`] for an unusable CA file or header.
    pub(super) fn new(cfg: &AuditOtlpConfig) -> Result<Self, SetupError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let bad = || SetupError {
                sink: "otlp",
                reason: format!("header {name}: not a valid HTTP header"),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| bad())?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        Ok(Self {
            client: client("otlp", cfg.ca_cert.as_deref(), cfg.timeout)?,
            endpoint: cfg.endpoint.clone(),
            protocol: cfg.protocol,
            headers,
            extra: cfg.resource.clone(),
        })
    }

    /// The spool record: the log record and its resource, in OTLP's JSON mapping (one line).
    pub(super) fn encode(&self, ev: &Event, line: &[u8]) -> Vec<u8> {
        let spooled = Spooled {
            resource: resource(ev, &self.extra),
            log: log_record(
                ev,
                &String::from_utf8_lossy(line),
                unix_nanos(SystemTime::now()),
            ),
        };
        serde_json::to_vec(&spooled).unwrap_or_default()
    }

    /// Export one batch; `Ok` with the number of records the collector rejected (partial success) or
    /// refused. A batch of several records refused as malformed (400) is sent again one record at a
    /// time, so that only the records the collector refuses are dropped.
    pub(super) async fn send(&self, records: &[String]) -> Result<u64, SendError> {
        let why = match self.export(records).await {
            Err(SendError::Refused(why)) if records.len() > 1 => why,
            other => return other,
        };
        tracing::warn!(
            records = records.len(),
            reason = %why,
            "the OTLP collector refused a batch; sending its records one at a time"
        );
        let mut dropped = 0;
        for record in records {
            match self.export(std::slice::from_ref(record)).await {
                Ok(rejected) => dropped += rejected,
                Err(SendError::Refused(why)) => {
                    dropped += 1;
                    tracing::error!(
                        sink = "otlp",
                        seq = seq_of(record),
                        reason = %why,
                        "AUDIT EVENT DROPPED: the OTLP collector refused the log record"
                    );
                }
                // The whole batch again later: records already taken arrive twice, with their seq.
                Err(e) => return Err(e),
            }
        }
        Ok(dropped)
    }

    /// One export request for `records`.
    async fn export(&self, records: &[String]) -> Result<u64, SendError> {
        let request = request(records);
        let (body, content_type) = match self.protocol {
            OtlpProtocol::Protobuf => (request.encode_to_vec(), "application/x-protobuf"),
            OtlpProtocol::Json => (
                serde_json::to_vec(&request)
                    .map_err(|e| SendError::Refused(format!("cannot encode OTLP JSON: {e}")))?,
                "application/json",
            ),
        };
        let mut r = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::retry(format!("OTLP export failed: {}", without_url(&e))))?;
        let status = r.status().as_u16();
        if r.status().is_success() {
            let mut answer = Vec::new();
            while let Ok(Some(chunk)) = r.chunk().await {
                if answer.len() + chunk.len() > RESPONSE_MAX {
                    break;
                }
                answer.extend_from_slice(&chunk);
            }
            return Ok(rejected(self.protocol, &answer));
        }
        let after = r
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        Err(classify(status, after))
    }
}

/// The `sidekey.seq` attribute of a spooled record, to name a dropped one.
fn seq_of(record: &str) -> Option<i64> {
    let s = serde_json::from_str::<Spooled>(record).ok()?;
    s.log
        .attributes
        .iter()
        .find_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::IntValue(n) if kv.key == "sidekey.seq" => Some(*n),
            _ => None,
        })
}

/// What an answer other than 2xx means (the status only: a collector's error body is not ours to log).
fn classify(status: u16, after: Option<Duration>) -> SendError {
    let hint = match status {
        300..=399 => return redirected("OTLP export", status),
        400 => {
            return SendError::Refused(
                "OTLP export: HTTP 400, the collector refused the batch as malformed".into(),
            );
        }
        429 | 502 | 503 | 504 => "",
        401 | 403 => " (check the sink's headers: the collector refused the credentials)",
        404 | 405 => " (is endpoint the full logs URL, e.g. http://HOST:4318/v1/logs?)",
        _ => "",
    };
    SendError::Retry {
        reason: format!("OTLP export failed: HTTP {status}{hint}"),
        after,
    }
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), as a wait from `now`.
fn retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or_default())
}

/// The records a partial success rejected, from a 2xx answer's `ExportLogsServiceResponse`.
fn rejected(protocol: OtlpProtocol, answer: &[u8]) -> u64 {
    if answer.is_empty() {
        return 0;
    }
    let response = match protocol {
        OtlpProtocol::Protobuf => ExportLogsServiceResponse::decode(answer).ok(),
        OtlpProtocol::Json => serde_json::from_slice::<ExportLogsServiceResponse>(answer).ok(),
    };
    let Some(partial) = response.and_then(|r| r.partial_success) else {
        return 0;
    };
    let n = u64::try_from(partial.rejected_log_records).unwrap_or(0);
    if n > 0 {
        tracing::error!(
            rejected = n,
            reason = %partial.error_message,
            "AUDIT EVENTS DROPPED: the OTLP collector rejected log records"
        );
    }
    n
}

/// The export request for spooled records, in order: consecutive records of the same agent run share
/// one `ResourceLogs`. A record that does not decode (a damaged spool) is left out, loudly.
fn request(records: &[String]) -> ExportLogsServiceRequest {
    let mut out: Vec<ResourceLogs> = Vec::new();
    for line in records {
        let Ok(s) = serde_json::from_str::<Spooled>(line) else {
            tracing::error!("AUDIT EVENT DROPPED: an OTLP spool record does not decode");
            continue;
        };
        if let Some(last) = out.last_mut()
            && last.resource.as_ref() == Some(&s.resource)
            && let Some(scope) = last.scope_logs.first_mut()
        {
            scope.log_records.push(s.log);
            continue;
        }
        out.push(ResourceLogs {
            resource: Some(s.resource),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    ..InstrumentationScope::default()
                }),
                log_records: vec![s.log],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        });
    }
    ExportLogsServiceRequest { resource_logs: out }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
