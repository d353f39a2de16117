//! What goes into an OTLP log record: the resource of an agent run (with what the environment adds),
//! the log record of an event, and its attribute values.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::audit::event::{Event, Outcome};
use crate::audit::sender::{Key, key_fields};

/// The resource of the agent run that wrote `ev`: sidekey's attributes, then the environment's
/// (`service.name` from the environment replaces `sidekey`; the others cannot be replaced).
pub(super) fn resource(ev: &Event, extra: &[(String, String)]) -> Resource {
    let service = extra
        .iter()
        .find(|(k, _)| k == "service.name")
        .map_or("sidekey", |(_, v)| v.as_str());
    let mut attributes = vec![
        attr("service.name", string(service)),
        attr("service.instance.id", string(&ev.agent.id)),
        attr("service.version", string(ev.agent.version)),
        attr("host.name", string(&ev.agent.host)),
        attr("process.pid", int(u64::from(ev.agent.pid))),
    ];
    for (k, v) in extra {
        if !attributes.iter().any(|a| a.key == *k) {
            attributes.push(attr(k, string(v)));
        }
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// The log record for `ev` with `body` (the event line), observed at `observed` (Unix nanoseconds).
pub(super) fn log_record(ev: &Event, body: &str, observed: u64) -> LogRecord {
    let (severity, text) = match ev.outcome {
        Outcome::Success => (SeverityNumber::Info, "INFO"),
        Outcome::Failure => (SeverityNumber::Warn, "WARN"),
    };
    let time =
        time::OffsetDateTime::parse(&ev.time, &time::format_description::well_known::Rfc3339)
            .map_or(observed, |t| {
                u64::try_from(t.unix_timestamp_nanos()).unwrap_or(observed)
            });
    let mut event_name = String::new();
    let attributes = key_fields(ev)
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                Key::Str(s) => {
                    if k == "event" {
                        event_name.clone_from(&s);
                    }
                    string(&s)
                }
                Key::Int(n) => int(n),
            };
            match k {
                "event" => attr("event.name", value),
                k => attr(&format!("sidekey.{k}"), value),
            }
        })
        .collect();
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        severity_number: severity as i32,
        severity_text: text.into(),
        body: Some(string(body)),
        attributes,
        event_name,
        ..LogRecord::default()
    }
}

fn attr(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..KeyValue::default()
    }
}

pub(super) fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.into())),
    }
}

fn int(n: u64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(
            i64::try_from(n).unwrap_or(i64::MAX),
        )),
    }
}

/// The resource attributes the environment gives, as OpenTelemetry SDKs read them:
/// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`, values percent-encoded) and `OTEL_SERVICE_NAME` (which
/// wins over a `service.name` there). A malformed `OTEL_RESOURCE_ATTRIBUTES` is ignored whole, with a
/// warning, as the specification asks.
pub fn env_resource(attributes: Option<&str>, service_name: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(list) = attributes.filter(|l| !l.trim().is_empty()) {
        let parsed: Option<Vec<(String, String)>> = list
            .split(',')
            .map(|pair| {
                let (k, v) = pair.split_once('=')?;
                let k = k.trim();
                let v = percent_encoding::percent_decode_str(v.trim())
                    .decode_utf8()
                    .ok()?;
                (!k.is_empty()).then(|| (k.to_string(), v.into_owned()))
            })
            .collect();
        match parsed {
            Some(pairs) => {
                for (k, v) in pairs {
                    out.retain(|(old, _)| *old != k);
                    out.push((k, v));
                }
            }
            None => tracing::warn!(
                "OTEL_RESOURCE_ATTRIBUTES is not key=value,... (values percent-encoded); ignored"
            ),
        }
    }
    if let Some(name) = service_name.map(str::trim).filter(|n| !n.is_empty()) {
        out.retain(|(k, _)| k != "service.name");
        out.push(("service.name".into(), name.into()));
    }
    out
}
