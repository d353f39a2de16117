use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use secrecy::SecretString;

use super::records::string;
use super::*;
use crate::audit::event::Outcome;
use crate::audit::sender::tests::event;

fn attrs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(n)) => format!("int:{n}"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn get<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

#[test]
fn a_log_record_carries_time_severity_body_and_key_fields() {
    let ev = event(Outcome::Success);
    let r = log_record(&ev, "the line", 7);
    assert_eq!(r.time_unix_nano, 1_796_049_002_114_000_000);
    assert_eq!(r.observed_time_unix_nano, 7);
    assert_eq!(r.severity_number, SeverityNumber::Info as i32);
    assert_eq!(r.severity_text, "INFO");
    assert_eq!(r.event_name, "secret.read");
    assert_eq!(r.body, Some(string("the line")));
    let a = attrs(&r.attributes);
    assert_eq!(get(&a, "event.name"), Some("secret.read"));
    assert_eq!(get(&a, "sidekey.seq"), Some("int:12"));
    assert_eq!(get(&a, "sidekey.agent_id"), Some("6f1c0d5e9a2b4c7d"));
    assert_eq!(get(&a, "sidekey.outcome"), Some("success"));
    assert_eq!(get(&a, "sidekey.path"), Some(r#"secret/data/a"b]c\d"#));
    assert_eq!(get(&a, "sidekey.lease_id"), Some("database/creds/app/XyZ"));
    assert_eq!(get(&a, "sidekey.accessor"), Some("hT0bYl0m2kQm"));

    let failed = log_record(&event(Outcome::Failure), "x", 7);
    assert_eq!(failed.severity_number, SeverityNumber::Warn as i32);
    assert_eq!(failed.severity_text, "WARN");
}

#[test]
fn the_resource_follows_the_semantic_conventions_and_the_environment_adds_to_it() {
    let ev = event(Outcome::Success);
    let a = attrs(&resource(&ev, &[]).attributes);
    assert_eq!(get(&a, "service.name"), Some("sidekey"));
    assert_eq!(get(&a, "service.instance.id"), Some("6f1c0d5e9a2b4c7d"));
    assert_eq!(get(&a, "service.version"), Some("0.1.0"));
    assert_eq!(get(&a, "host.name"), Some("web-7d9f"));
    assert_eq!(get(&a, "process.pid"), Some("int:4242"));

    let env = env_resource(
        Some("k8s.pod.name=app-7d9f, k8s.namespace.name=pay%20ments,service.instance.id=forged"),
        Some("payments-agent"),
    );
    let a = attrs(&resource(&ev, &env).attributes);
    assert_eq!(get(&a, "service.name"), Some("payments-agent"));
    assert_eq!(get(&a, "k8s.pod.name"), Some("app-7d9f"));
    assert_eq!(get(&a, "k8s.namespace.name"), Some("pay ments"));
    // The de-duplication key cannot be replaced from the environment.
    assert_eq!(get(&a, "service.instance.id"), Some("6f1c0d5e9a2b4c7d"));
    assert_eq!(
        a.iter().filter(|(k, _)| k == "service.instance.id").count(),
        1
    );
}

#[test]
fn otel_resource_attributes_is_read_as_the_sdks_read_it() {
    assert_eq!(
        env_resource(Some("service.name=a,x=1"), None),
        [
            ("service.name".into(), "a".into()),
            ("x".into(), "1".into())
        ]
    );
    assert_eq!(
        env_resource(Some("service.name=a"), Some("b")),
        [("service.name".to_string(), "b".to_string())]
    );
    // Malformed: ignored whole.
    assert!(env_resource(Some("x=1,oops"), None).is_empty());
    assert!(env_resource(None, Some(" ")).is_empty());
}

fn config(endpoint: &str) -> AuditOtlpConfig {
    AuditOtlpConfig {
        endpoint: endpoint.into(),
        protocol: OtlpProtocol::Protobuf,
        format: crate::audit::Format::Sidekey,
        headers: Vec::new(),
        ca_cert: None,
        timeout: Duration::from_secs(1),
        spool_path: "unused".into(),
        spool_max_bytes: 1,
        batch_max: 1,
        resource: Vec::new(),
    }
}

fn spool_lines(agent_ids: &[&str]) -> Vec<String> {
    let export = Export::new(&config("http://127.0.0.1:1/v1/logs")).unwrap();
    agent_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut ev = event(Outcome::Success);
            ev.agent.id = (*id).into();
            ev.seq = i as u64 + 1;
            let line = export.encode(&ev, br#"{"event":"secret.read","n":"a\nb"}"#);
            let line = String::from_utf8(line).unwrap();
            assert!(!line.contains('\n'));
            line
        })
        .collect()
}

#[test]
fn a_request_groups_records_by_the_agent_run_that_wrote_them() {
    let mut lines = spool_lines(&["run-1", "run-1", "run-2"]);
    lines.insert(1, "damaged".into());
    let req = request(&lines);
    assert_eq!(req.resource_logs.len(), 2);
    let first = &req.resource_logs[0];
    let a = attrs(&first.resource.as_ref().unwrap().attributes);
    assert_eq!(get(&a, "service.instance.id"), Some("run-1"));
    assert_eq!(first.scope_logs[0].scope.as_ref().unwrap().name, SCOPE);
    assert_eq!(first.scope_logs[0].log_records.len(), 2);
    assert_eq!(
        first.scope_logs[0].log_records[0].body,
        Some(string(r#"{"event":"secret.read","n":"a\nb"}"#))
    );
    assert_eq!(req.resource_logs[1].scope_logs[0].log_records.len(), 1);
}

#[test]
fn both_encodings_carry_the_same_request() {
    let req = request(&spool_lines(&["run-1", "run-2"]));
    let proto = req.encode_to_vec();
    assert_eq!(
        ExportLogsServiceRequest::decode(proto.as_slice()).unwrap(),
        req
    );
    let json = serde_json::to_string(&req).unwrap();
    // OTLP's JSON mapping: camelCase keys, 64-bit integers as strings.
    assert!(json.contains(r#""resourceLogs":["#), "{json}");
    assert!(
        json.contains(r#""timeUnixNano":"1796049002114000000""#),
        "{json}"
    );
    assert!(json.contains(r#""intValue":"1""#), "{json}");
    assert!(json.contains(r#""severityNumber":9"#), "{json}");
    let back: ExportLogsServiceRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, req);
}

#[test]
fn answers_are_classified_as_the_otlp_specification_says() {
    assert!(matches!(classify(400, None), SendError::Refused(_)));
    for status in [429, 502, 503, 504, 500, 401, 404] {
        assert!(
            matches!(classify(status, None), SendError::Retry { .. }),
            "{status}"
        );
    }
    let busy = classify(503, Some(Duration::from_secs(7)));
    assert!(
        matches!(&busy, SendError::Retry { after: Some(a), .. } if *a == Duration::from_secs(7)),
        "{busy:?}"
    );
    assert_eq!(busy.to_string(), "OTLP export failed: HTTP 503");
    let missing = classify(404, None).to_string();
    assert!(missing.contains("/v1/logs"), "{missing}");
}

#[test]
fn retry_after_takes_seconds_or_an_http_date() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(retry_after("soon", now), None);
}

#[test]
fn a_partial_success_is_counted_as_rejected() {
    let answer = ExportLogsServiceResponse {
        partial_success: Some(
            opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into(),
            },
        ),
    };
    assert_eq!(rejected(OtlpProtocol::Protobuf, &answer.encode_to_vec()), 3);
    let json = serde_json::to_vec(&answer).unwrap();
    assert_eq!(rejected(OtlpProtocol::Json, &json), 3);
    assert_eq!(rejected(OtlpProtocol::Json, b""), 0);
    assert_eq!(rejected(OtlpProtocol::Protobuf, b"\xff\xff"), 0);
}

#[tokio::test]
async fn a_redirect_is_retried_and_not_followed_with_the_headers() {
    let (url, moved) = crate::audit::http::tests::redirecting().await;
    let mut cfg = config(&url);
    cfg.headers = vec![("x-api-key".into(), SecretString::from("k-123"))];
    let export = Export::new(&cfg).unwrap();
    let err = export.send(&spool_lines(&["run-1"])).await.unwrap_err();
    assert!(matches!(err, SendError::Retry { .. }), "{err:?}");
    assert!(err.to_string().contains("HTTP 302"), "{err}");
    assert_eq!(moved.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(matches!(classify(301, None), SendError::Retry { .. }));
}

#[tokio::test]
async fn a_refused_batch_is_sent_again_record_by_record_and_only_the_bad_one_dropped() {
    let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = taken.clone();
    let url = crate::audit::http::tests::serve(move |_, body| {
        let req = ExportLogsServiceRequest::decode(body).unwrap();
        let seqs: Vec<String> = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| {
                get(&attrs(&l.attributes), "sidekey.seq")
                    .unwrap()
                    .to_string()
            })
            .collect();
        if seqs.len() > 1 || seqs == ["int:2"] {
            return crate::audit::http::tests::status(400);
        }
        seen.lock().unwrap().extend(seqs);
        crate::audit::http::tests::status(200)
    })
    .await;
    let export = Export::new(&config(&url)).unwrap();
    let dropped = export
        .send(&spool_lines(&["run-1", "run-1", "run-1"]))
        .await
        .unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(*taken.lock().unwrap(), ["int:1", "int:3"]);
    // A batch of one refused is refused: nothing to split.
    let one = export.send(&spool_lines(&["run-1", "run-1"])[1..]).await;
    assert!(matches!(one, Err(SendError::Refused(_))), "{one:?}");
}
