//! Issue 17, acceptance 1 for the transports: the `syslog` sink (RFC 5424 over TLS, octet-counted) and
//! the `otlp` sink (OTLP/HTTP logs, protobuf and JSON) deliver every event of the trail to a real
//! receiver on loopback, across a receiver outage and an agent restart in the middle of it: nothing is
//! lost, and a duplicate is only ever the same event again (same `agent.id` + `seq`, same bytes).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sidekey_tests::receiver::otlp::OtlpReceiver;
use sidekey_tests::receiver::scenario::{
    Receiver, assert_every_event_once_or_duplicated, config, event_of, outage_and_restart, trail,
};
use sidekey_tests::receiver::syslog::SyslogReceiver;
use sidekey_tests::{Setup, ShmDir, Sidekey, hcl};
use syslog_rfc5424::message::ProcId;

// === syslog ===

struct Syslog(SyslogReceiver);

impl Receiver for Syslog {
    fn up(&mut self, up: bool) {
        if up { self.0.start() } else { self.0.stop() }
    }

    fn received(&self) -> Vec<(String, u64, String)> {
        self.0
            .messages()
            .into_iter()
            .map(|m| {
                let sd = |k: &str| {
                    m.sd.find_tuple("sidekey@32473", k)
                        .cloned()
                        .unwrap_or_default()
                };
                (sd("agent_id"), sd("seq").parse().unwrap_or(0), m.msg)
            })
            .collect()
    }
}

/// Acceptance 1 (syslog): RFC 5424 over TLS with the sink's CA; outage and restart lose nothing; each
/// message's header and structured data agree with its event.
#[test]
fn syslog_over_tls_delivers_every_event_across_an_outage_and_a_restart() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    let mut rx = Syslog(SyslogReceiver::new(fx.dir.path()));
    let sink = hcl::block(
        "syslog",
        &[
            &hcl::attr("address", &rx.0.address()),
            &hcl::attr_path("ca_cert", rx.0.ca_cert()),
            &hcl::attr_path("spool_path", &fx.dir.path().join("syslog.spool")),
            "batch_max = 3",
            "format = \"ocsf\"",
        ],
    );
    let cfg = config(&fx, &out, &sink);
    let (trail_path, logs) = outage_and_restart(&fx, &cfg, &[], &mut rx);
    assert!(rx.0.errors().is_empty(), "{:?}", rx.0.errors());
    assert_every_event_once_or_duplicated(&fx, &trail_path, &rx, &logs);
    for m in rx.0.messages() {
        let sd = |k: &str| m.sd.find_tuple("sidekey@32473", k).cloned();
        let ev = event_of(
            &trail_path,
            &sd("agent_id").unwrap(),
            sd("seq").unwrap().parse().unwrap(),
        );
        // MSG is the event in the sink's format: OCSF.
        let ocsf: Value = serde_json::from_str(&m.msg).unwrap();
        assert!(ocsf["class_uid"].as_u64().is_some(), "{}", m.msg);
        assert_eq!(m.appname.as_deref(), Some("sidekey"));
        assert_eq!(m.msgid.as_deref(), ev["event"].as_str());
        assert_eq!(sd("event").as_deref(), ev["event"].as_str());
        assert_eq!(sd("outcome").as_deref(), ev["outcome"].as_str());
        assert_eq!(
            m.hostname.as_deref(),
            ev.pointer("/agent/host").and_then(Value::as_str)
        );
        let pid = ev.pointer("/agent/pid").and_then(Value::as_i64).unwrap();
        assert_eq!(m.procid, Some(ProcId::PID(i32::try_from(pid).unwrap())));
        // facility AUTH (4), severity informational (6) for a success, warning (4) for a failure.
        assert_eq!(m.facility as i32, 4);
        let severity = if ev["outcome"] == "success" { 6 } else { 4 };
        assert_eq!(m.severity as i32, severity, "{}", m.msg);
        if let Some(path) = ev.pointer("/secret/path").and_then(Value::as_str) {
            assert_eq!(sd("path").as_deref(), Some(path));
        }
    }
}

// === OTLP ===

struct Otlp(OtlpReceiver);

impl Receiver for Otlp {
    fn up(&mut self, up: bool) {
        if up { self.0.start() } else { self.0.stop() }
    }

    fn received(&self) -> Vec<(String, u64, String)> {
        self.0
            .records()
            .into_iter()
            .map(|r| {
                (
                    r.attr("sidekey.agent_id").unwrap_or_default(),
                    r.attr("sidekey.seq")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    r.body().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// Every record's resource names the agent run that wrote its event, by the semantic conventions.
fn assert_records_name_their_agent(rx: &OtlpReceiver, trail_path: &Path, content_type: &str) {
    let records = rx.records();
    assert!(!records.is_empty());
    for r in records {
        assert_eq!(r.content_type, content_type);
        let ev = event_of(
            trail_path,
            &r.attr("sidekey.agent_id").unwrap(),
            r.attr("sidekey.seq").unwrap().parse().unwrap(),
        );
        let id = ev.pointer("/agent/id").and_then(Value::as_str);
        assert_eq!(r.resource_attr("service.instance.id"), id);
        assert_eq!(r.resource_attr("service.name"), Some("sidekey"));
        assert_eq!(
            r.resource_attr("host.name"),
            ev.pointer("/agent/host").and_then(Value::as_str)
        );
        assert_eq!(
            r.resource_attr("service.version"),
            ev.pointer("/agent/version").and_then(Value::as_str)
        );
        assert_eq!(r.resource_attr("deployment.environment.name"), Some("test"));
        assert_eq!(r.attr("event.name").as_deref(), ev["event"].as_str());
        assert_eq!(r.log.event_name, ev["event"].as_str().unwrap());
        let severity = if ev["outcome"] == "success" { 9 } else { 13 };
        assert_eq!(r.log.severity_number, severity);
        assert!(
            r.log.time_unix_nano > 0
                && r.log.observed_time_unix_nano >= r.log.time_unix_nano - 1_000_000_000
        );
    }
}

/// Acceptance 1 (OTLP, protobuf): outage and restart lose nothing; records spooled by the first run
/// still name the first run.
#[test]
fn otlp_protobuf_delivers_every_event_across_an_outage_and_a_restart() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    let mut rx = Otlp(OtlpReceiver::new());
    let sink = hcl::block(
        "otlp",
        &[
            &hcl::attr("endpoint", &rx.0.endpoint()),
            &hcl::attr_path("spool_path", &fx.dir.path().join("otlp.spool")),
            "batch_max = 3",
            "format = \"ecs\"",
        ],
    );
    let cfg = config(&fx, &out, &sink);
    // The environment adds to the resource, as OpenTelemetry SDKs read it.
    let env = [(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=test",
    )];
    let (trail_path, logs) = outage_and_restart(&fx, &cfg, &env, &mut rx);
    assert!(rx.0.errors().is_empty(), "{:?}", rx.0.errors());
    assert_every_event_once_or_duplicated(&fx, &trail_path, &rx, &logs);
    assert_records_name_their_agent(&rx.0, &trail_path, "application/x-protobuf");
    // The body is the event in the sink's format: ECS.
    for r in rx.0.records() {
        let ecs: Value = serde_json::from_str(r.body().unwrap()).unwrap();
        assert!(ecs["@timestamp"].is_string(), "{ecs}");
    }
}

/// OTLP/JSON with `run --once`: a collector answering 503 with `Retry-After` is waited for, then every
/// event arrives before sidekey exits; a 400 drops that batch, loudly and counted.
#[test]
fn otlp_json_honours_retry_after_and_drops_a_refused_batch() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    let mut rx = OtlpReceiver::new();
    rx.start();
    rx.fail_next(503, Some("1"), 2);
    let sink = hcl::block(
        "otlp",
        &[
            &hcl::attr("endpoint", &rx.endpoint()),
            "protocol = \"http/json\"",
            &hcl::attr_path("spool_path", &fx.dir.path().join("otlp.spool")),
        ],
    );
    let cfg = config(&fx, &out, &sink);
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Sidekey::new(["run", "--once", "-c"])
            .args([&cfg])
            .env("BAO_TOKEN", fx.bao.root_token());
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.run()
    };
    let started = std::time::Instant::now();
    let r = run(&[(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=test",
    )]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two 503s with Retry-After: 1 should hold delivery back ~2 s"
    );
    assert!(r.stderr.contains("HTTP 503"), "{}", r.stderr);
    let trail_path = fx.dir.path().join("audit.log");
    let first_run = trail(&trail_path);
    let received: BTreeSet<(String, u64)> = rx
        .records()
        .iter()
        .map(|r| {
            (
                r.attr("sidekey.agent_id").unwrap(),
                r.attr("sidekey.seq").unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        received,
        first_run.keys().cloned().collect::<BTreeSet<_>>(),
        "{}",
        r.stderr
    );
    assert_records_name_their_agent(&rx, &trail_path, "application/json");
    // The body is the event's line in sidekey's schema, as the trail has it.
    for r in rx.records() {
        let ev: Value = serde_json::from_str(r.body().unwrap()).unwrap();
        assert!(
            ev["prev_hash"].is_string() && ev["hash"].is_string(),
            "{ev}"
        );
    }

    // A batch the collector refuses as malformed is dropped, not retried forever: sidekey exits at
    // once, and the refused events never arrive.
    rx.fail_next(400, None, 1);
    let received_before = rx.records().len();
    let r = run(&[]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("AUDIT EVENTS DROPPED"), "{}", r.stderr);
    let second_run = trail(&trail_path).len() - first_run.len();
    assert!(second_run > 0);
    assert!(
        rx.records().len() - received_before < second_run,
        "the refused batch arrived after all:\n{}",
        r.stderr
    );
}
