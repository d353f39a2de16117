use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use syslog_rfc5424::{SyslogFacility, SyslogSeverity, parse_message};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::audit::sender::tests::event;

fn config(port: u16, transport: SyslogTransport) -> AuditSyslogConfig {
    AuditSyslogConfig {
        host: "127.0.0.1".into(),
        port,
        transport,
        tls: false,
        ca_cert: None,
        client_cert: None,
        facility: 10,
        format: crate::audit::Format::Sidekey,
        spool_path: "unused".into(),
        spool_max_bytes: 1,
        batch_max: 1,
    }
}

fn syslog(port: u16, transport: SyslogTransport) -> Syslog {
    Syslog::new(&config(port, transport)).unwrap()
}

#[test]
fn frames_are_octet_counted() {
    let mut buf = Vec::new();
    frame(&mut buf, "<86>1 - - - - - - é");
    frame(&mut buf, "x");
    assert_eq!(buf, "20 <86>1 - - - - - - é1 x".as_bytes());
}

#[test]
fn param_values_are_escaped_and_control_characters_replaced() {
    assert_eq!(param_value(r#"a"b\c]d[e"#), r#"a\"b\\c\]d[e"#);
    assert_eq!(
        param_value("line\nbreak\u{7f}"),
        "line\u{FFFD}break\u{FFFD}"
    );
    assert_eq!(param_value("é ü"), "é ü");
}

#[test]
fn header_fields_are_printable_ascii_or_nil() {
    assert_eq!(header_field("web 7d9f", 255), "web7d9f");
    assert_eq!(header_field("", 255), "-");
    assert_eq!(header_field("ééé", 255), "-");
    assert_eq!(header_field("abcdef", 3), "abc");
}

#[test]
fn a_message_parses_as_rfc5424_with_the_key_fields_and_the_line() {
    let ev = event(Outcome::Success);
    let line = serde_json::to_string(&ev).unwrap();
    let text = message(10, &ev, &line);
    assert!(
        text.starts_with("<86>1 2026-11-30T14:30:02.114Z web-7d9f sidekey 4242 secret.read [sidekey@32473 event=\"secret.read\" outcome=\"success\" seq=\"12\" agent_id=\"6f1c0d5e9a2b4c7d\" path=\"secret/data/a\\\"b\\]c\\\\d\""),
        "{text}"
    );
    let m = parse_message(&text).unwrap();
    assert_eq!(m.facility, SyslogFacility::LOG_AUTHPRIV);
    assert_eq!(m.severity, SyslogSeverity::SEV_INFO);
    assert_eq!(m.hostname.as_deref(), Some("web-7d9f"));
    assert_eq!(m.appname.as_deref(), Some("sidekey"));
    assert_eq!(m.msgid.as_deref(), Some("secret.read"));
    assert_eq!(m.msg, line);
    let sd = |k: &str| m.sd.find_tuple("sidekey@32473", k).map(String::as_str);
    assert_eq!(sd("path"), Some(r#"secret/data/a"b]c\d"#));
    assert_eq!(sd("seq"), Some("12"));
    assert_eq!(sd("lease_id"), Some("database/creds/app/XyZ"));
    assert_eq!(sd("accessor"), Some("hT0bYl0m2kQm"));
    assert_eq!(sd("subject"), Some("system:serviceaccount:default:app"));

    let failed = message(4, &event(Outcome::Failure), &line);
    let m = parse_message(&failed).unwrap();
    assert_eq!(m.severity, SyslogSeverity::SEV_WARNING);
    assert_eq!(m.facility, SyslogFacility::LOG_AUTH);
}

/// Read octet-counted frames until `n` arrived.
async fn frames(s: &mut (impl AsyncRead + Unpin), n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        let mut chunk = [0u8; 4096];
        let k = s.read(&mut chunk).await.unwrap();
        assert!(k > 0, "closed after {out:?}");
        buf.extend_from_slice(&chunk[..k]);
        while let Some(sp) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().unwrap();
            if buf.len() < sp + 1 + len {
                break;
            }
            out.push(String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap());
            buf.drain(..sp + 1 + len);
        }
    }
    out
}

#[tokio::test]
async fn a_receiver_that_hangs_up_gets_the_batch_again_on_a_new_connection() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let s = syslog(port, SyslogTransport::Tcp);
    let batch = vec!["one".to_string(), "two two".to_string()];
    let (sent, accepted) = tokio::join!(s.send(&batch), async {
        let (mut c, _) = l.accept().await.unwrap();
        let got = frames(&mut c, 2).await;
        (c, got)
    });
    sent.unwrap();
    let (first, got) = accepted;
    assert_eq!(got, batch);
    // Same connection for the next batch.
    let (sent, got) = tokio::join!(s.send(&batch[..1]), async {
        let mut c = first;
        let got = frames(&mut c, 1).await;
        (c, got)
    });
    sent.unwrap();
    let (first, got) = got;
    assert_eq!(got, ["one"]);
    // The receiver goes away having read only part of a batch: the batch is not delivered...
    let (sent, ()) = tokio::join!(s.send(&batch), async {
        let mut c = first;
        let mut part = [0u8; 4];
        c.read_exact(&mut part).await.unwrap();
    });
    assert!(
        sent.is_err(),
        "a batch the receiver dropped counted as delivered"
    );
    // ...and goes out whole on a new connection.
    let (sent, (_c, got)) = tokio::join!(s.send(&batch), async {
        let (mut c, _) = l.accept().await.unwrap();
        let got = frames(&mut c, 2).await;
        (c, got)
    });
    sent.unwrap();
    assert_eq!(got, batch);
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_before_sending() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = syslog(l.local_addr().unwrap().port(), SyslogTransport::Tcp);
    let (a, b) = (["a".to_string()], ["b".to_string()]);
    let (sent, c) = tokio::join!(s.send(&a), async {
        let (mut c, _) = l.accept().await.unwrap();
        frames(&mut c, 1).await;
        c
    });
    sent.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (sent, (_c, got)) = tokio::join!(s.send(&b), async {
        let (mut c, _) = l.accept().await.unwrap();
        let got = frames(&mut c, 1).await;
        (c, got)
    });
    sent.unwrap();
    assert_eq!(got, ["b"]);
}

#[tokio::test]
async fn udp_sends_one_datagram_per_message_unframed() {
    let r = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let s = syslog(r.local_addr().unwrap().port(), SyslogTransport::Udp);
    let dropped = s
        .send(&["<86>1 a".to_string(), "<86>1 b".to_string()])
        .await
        .unwrap();
    assert_eq!(dropped, 0);
    let mut buf = [0u8; 64];
    let n = r.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"<86>1 a");
    let n = r.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"<86>1 b");
}

#[tokio::test]
async fn a_message_too_large_for_a_datagram_is_dropped_alone() {
    let r = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let s = syslog(r.local_addr().unwrap().port(), SyslogTransport::Udp);
    let mut big = event(Outcome::Success);
    big.seq = 77;
    let big = message(10, &big, &"x".repeat(70_000));
    assert_eq!(seq_of(&big), Some(77));
    let batch = ["<86>1 a".to_string(), big, "<86>1 b".to_string()];
    assert_eq!(s.send(&batch).await.unwrap(), 1);
    let mut buf = [0u8; 64];
    let n = r.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"<86>1 a");
    let n = r.recv(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"<86>1 b");
}

/// A receiver's TLS config for `127.0.0.1` that requires a client certificate from the same test CA;
/// writes `ca.pem`, `client.pem` and `client-key.pem` into `dir`.
fn mutual_tls(dir: &std::path::Path) -> Arc<ServerConfig> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["sidekey".to_string()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client.signed_by(&client_key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("client-key.pem"), client_key.serialize_pem()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der().to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    Arc::new(config)
}

#[tokio::test]
async fn tls_presents_the_client_certificate_a_receiver_requires() {
    let dir = tempfile::tempdir().unwrap();
    let acceptor = TlsAcceptor::from(mutual_tls(dir.path()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = config(l.local_addr().unwrap().port(), SyslogTransport::Tcp);
    cfg.tls = true;
    cfg.ca_cert = Some(dir.path().join("ca.pem"));
    cfg.client_cert = Some((
        dir.path().join("client.pem"),
        dir.path().join("client-key.pem"),
    ));
    let batch = vec!["one".to_string(), "two".to_string()];
    let s = Syslog::new(&cfg).unwrap();
    let (sent, (_t, got)) = tokio::join!(s.send(&batch), async {
        let (c, _) = l.accept().await.unwrap();
        let mut t = acceptor.accept(c).await.unwrap();
        let got = frames(&mut t, 2).await;
        (t, got)
    });
    sent.unwrap();
    assert_eq!(got, batch);
    // Without it the receiver refuses the connection, and the batch does not count as delivered.
    cfg.client_cert = None;
    let s = Syslog::new(&cfg).unwrap();
    let (sent, accepted) = tokio::join!(s.send(&batch), async {
        let (c, _) = l.accept().await.unwrap();
        acceptor.accept(c).await.is_ok()
    });
    assert!(!accepted);
    assert!(sent.is_err(), "delivered without a client certificate");
}
