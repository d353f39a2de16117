use std::time::Duration;

use super::Telemetry;
use crate::audit::{Auditor, EventKind, Outcome, Record, SecretMeta};
use crate::config::AuditConfig;
use crate::lease::Delivery;

fn lease(ttl: u64) -> Record {
    Record::new(EventKind::SecretRead, Outcome::Success).secret(SecretMeta {
        path: "database/creds/app".into(),
        lease_id: "database/creds/app/x".into(),
        lease_duration_s: ttl,
        renewable: true,
        ..SecretMeta::default()
    })
}

#[tokio::test(start_paused = true)]
async fn ready_after_first_delivery_unready_past_a_lease_expiry() {
    let t = std::sync::Arc::new(Telemetry::new(1));
    let a = Auditor::from_config(&AuditConfig::default(), Some(t.clone())).unwrap();
    assert!(t.ready().is_err(), "nothing rendered yet");
    a.record(lease(10));
    t.delivered(&Delivery {
        files: vec![Ok(true)],
        env: None,
        ..Default::default()
    });
    assert_eq!(t.ready(), Ok(vec![]));
    tokio::time::advance(Duration::from_secs(11)).await;
    let why = t.ready().unwrap_err();
    assert!(why.contains("database/creds/app"), "{why}");
    a.record(lease(10));
    assert_eq!(t.ready(), Ok(vec![]));

    a.record(Record::result(EventKind::SecretRenew, Some(&"HTTP 400")));
    let text = t.encode().unwrap();
    assert!(
        text.contains("sidekey_retrievals_total{path=\"database/creds/app\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("sidekey_failures_total{kind=\"secret.renew\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sidekey_lease_expiry_seconds{path=\"database/creds/app\"} 10"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test]
async fn fail_closed_refuses_retrievals_while_the_spool_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = AuditConfig {
        http: Some(crate::config::AuditHttpConfig {
            // Nothing listens on port 9 (discard): the collector stays down.
            url: "http://127.0.0.1:9/".into(),
            ca_cert: None,
            spool_path: dir.path().join("spool"),
            spool_max_bytes: 2000,
            batch_max: 10,
            timeout: Duration::from_secs(1),
            format: crate::audit::Format::default(),
        }),
        fail_closed: true,
        ..AuditConfig::default()
    };
    let t = std::sync::Arc::new(Telemetry::new(0));
    let a = Auditor::from_config(&cfg, Some(t.clone())).unwrap();
    assert!(a.admit("kv/app").is_ok());
    for _ in 0..20 {
        a.record(lease(10));
    }
    let e = a.admit("kv/app").unwrap_err();
    assert!(e.to_string().contains("fail_closed"), "{e}");
    let text = t.encode().unwrap();
    assert!(
        !text.contains("sidekey_audit_dropped_events_total 0"),
        "{text}"
    );
}

/// With several spooled sinks, one full spool is enough to refuse retrievals, even while another sink
/// still takes events; each spool's depth is reported by its sink's name.
#[tokio::test]
async fn fail_closed_holds_while_any_spool_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let spool = |name: &str| dir.path().join(name);
    let cfg = AuditConfig {
        http: Some(crate::config::AuditHttpConfig {
            url: "http://127.0.0.1:9/".into(),
            ca_cert: None,
            spool_path: spool("http"),
            spool_max_bytes: 1 << 20,
            batch_max: 10,
            timeout: Duration::from_secs(1),
            format: crate::audit::Format::Sidekey,
        }),
        syslog: Some(crate::config::AuditSyslogConfig {
            host: "127.0.0.1".into(),
            port: 9,
            transport: crate::config::SyslogTransport::Tcp,
            tls: false,
            ca_cert: None,
            client_cert: None,
            facility: 4,
            format: crate::audit::Format::Sidekey,
            spool_path: spool("syslog"),
            spool_max_bytes: 2000,
            batch_max: 10,
        }),
        fail_closed: true,
        ..AuditConfig::default()
    };
    let t = std::sync::Arc::new(Telemetry::new(0));
    let a = Auditor::from_config(&cfg, Some(t.clone())).unwrap();
    for _ in 0..20 {
        a.record(lease(10));
    }
    assert!(a.admit("kv/app").is_err(), "the syslog spool is full");
    let text = t.encode().unwrap();
    assert!(
        text.contains("sidekey_audit_spool_events{sink=\"http\"} 20"),
        "{text}"
    );
    assert!(
        text.contains("sidekey_audit_spool_events{sink=\"syslog\"}"),
        "{text}"
    );
}

async fn get(sock: &std::path::Path, path: &str) -> String {
    request(sock, "GET", path).await
}

async fn request(sock: &std::path::Path, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn serves_health_readiness_and_metrics_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("admin.sock");
    let t = std::sync::Arc::new(Telemetry::new(1));
    let (bound, file) = super::bind(&crate::config::AdminListener::Unix(sock.clone()))
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let refresh = std::sync::Arc::new(tokio::sync::Notify::new());
    let admin = super::Admin {
        telemetry: t.clone(),
        refresh: refresh.clone(),
    };
    tokio::spawn(super::serve(bound, admin, stop.clone()));
    assert!(get(&sock, "/healthz").await.starts_with("HTTP/1.1 200"));
    let r = get(&sock, "/readyz").await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.contains("1 output(s) not rendered yet"), "{r}");
    t.delivered(&Delivery {
        files: vec![Ok(false)],
        env: None,
        ..Default::default()
    });
    assert!(get(&sock, "/readyz").await.starts_with("HTTP/1.1 200"));
    let m = get(&sock, "/metrics").await;
    assert!(m.contains("# TYPE sidekey_logins counter"), "{m}");
    assert!(get(&sock, "/nope").await.starts_with("HTTP/1.1 404"));
    // A refresh is a POST, handed to the engine (which fetches in its own loop): 202 at once.
    let r = get(&sock, "/agent/v1/refresh").await;
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    let r = request(&sock, "POST", "/agent/v1/refresh").await;
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    tokio::time::timeout(std::time::Duration::from_secs(5), refresh.notified())
        .await
        .expect("the engine is signalled");
    stop.cancel();
    file.unwrap().remove();
    assert!(!sock.exists());
}
