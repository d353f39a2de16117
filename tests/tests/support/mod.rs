//! Helpers for the audit e2e tests: a minimal HTTP collector that can be down, and a strict Prometheus
//! text reader (the long-running sidekey is the harness's `sidekey_tests::background`, the TCP proxy its
//! `sidekey_tests::proxy`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A minimal HTTP collector: stores every event of every POSTed JSON array, answers 200. Down until
/// [`Collector::start`].
pub struct Collector {
    port: u16,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    /// Pick a free port, but do not listen yet (the collector is "down").
    pub fn reserve() -> Collector {
        Collector {
            port: sidekey_tests::ports::free_port(),
            events: Arc::default(),
        }
    }

    /// The POST URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    /// Start listening.
    pub fn start(&self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        let events = self.events.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let events = events.clone();
                std::thread::spawn(move || serve(s, &events));
            }
        });
    }

    /// Every event received so far, in arrival order.
    pub fn received(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }
}

fn serve<S: Read + Write>(s: S, events: &Mutex<Vec<Value>>) {
    let mut r = BufReader::new(s);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let batch: Vec<Value> = serde_json::from_slice(&body).unwrap();
        events.lock().unwrap().extend(batch);
        let w = r.get_mut();
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let _ = w.flush();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with `openssl` in `dir`:
/// returns (CA PEM path, server cert PEM, server key PEM).
pub fn tls_files(dir: &Path) -> (std::path::PathBuf, String, String) {
    let sh = |script: &str| {
        let out = Command::new("sh")
            .args(["-ec", script])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
        openssl req -x509 -new -key ca.key -subj /CN=sidekey-test-ca -days 1 -out ca.pem
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
        openssl req -new -key leaf.key -subj /CN=127.0.0.1 -out leaf.csr
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out leaf.pem -extfile ext 2>/dev/null");
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    (dir.join("ca.pem"), read("leaf.pem"), read("leaf.key"))
}

impl Collector {
    /// Start listening with TLS (`cert`/`key` PEM); the URL becomes `https://`.
    pub fn start_tls(&self, cert: &str, key: &str) -> String {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let l = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        let events = self.events.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let events = events.clone();
                let cfg = cfg.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(cfg).unwrap();
                    serve(rustls::StreamOwned::new(conn, s), &events);
                });
            }
        });
        format!("https://127.0.0.1:{}/events", self.port)
    }
}

/// GET `url`: status and body, or `None` when it cannot connect.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let c = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let r = c.get(url).send().ok()?;
    let code = r.status().as_u16();
    Some((code, r.text().ok()?))
}

/// Parse Prometheus/OpenMetrics text strictly: every line is a `# HELP`/`# TYPE`/`# UNIT` comment,
/// `# EOF`, or `name{labels} value`; panics otherwise. Returns (name, value) samples.
pub fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("# HELP ")
            || line.starts_with("# TYPE ")
            || line.starts_with("# UNIT ")
            || line == "# EOF"
        {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line:?}"
            );
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        out.push((name.to_string(), v));
    }
    assert!(text.trim_end().ends_with("# EOF"), "no # EOF");
    out
}
