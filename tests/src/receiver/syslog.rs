//! An RFC 5424 syslog receiver over TLS (RFC 5425): octet-counted frames (`LEN SP MSG`, RFC 6587
//! §3.4.1) read strictly, each message parsed by an independent RFC 5424 parser.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use syslog_rfc5424::SyslogMessage;
use tokio::io::AsyncReadExt;
use tokio_rustls::TlsAcceptor;

use super::{Loopback, tls};

/// The syslog receiver: what it got, and every framing or parse error it saw.
pub struct SyslogReceiver {
    server: Loopback,
    acceptor: TlsAcceptor,
    ca: PathBuf,
    got: Arc<Mutex<Vec<SyslogMessage>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl SyslogReceiver {
    /// A receiver on a free port with a fresh CA in `dir` (not listening yet).
    pub fn new(dir: &Path) -> SyslogReceiver {
        let (ca, config) = tls(dir);
        SyslogReceiver {
            server: Loopback::new(),
            acceptor: TlsAcceptor::from(config),
            ca,
            got: Arc::default(),
            errors: Arc::default(),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// The CA (PEM) the receiver's certificate chains to.
    pub fn ca_cert(&self) -> &Path {
        &self.ca
    }

    /// Listen.
    pub fn start(&mut self) {
        let (acceptor, got, errors) =
            (self.acceptor.clone(), self.got.clone(), self.errors.clone());
        self.server.start(move |conn| {
            let (acceptor, got, errors) = (acceptor.clone(), got.clone(), errors.clone());
            async move {
                let Ok(mut s) = acceptor.accept(conn).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 16 * 1024];
                loop {
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    loop {
                        match take_frame(&mut buf) {
                            Ok(None) => break,
                            Ok(Some(text)) => match syslog_rfc5424::parse_message(&text) {
                                Ok(m) => got.lock().unwrap().push(m),
                                Err(e) => errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("not RFC 5424 ({e}): {text:?}")),
                            },
                            Err(e) => {
                                errors.lock().unwrap().push(e);
                                return;
                            }
                        }
                    }
                }
            }
        });
    }

    /// Close the listener and every connection (an outage).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<SyslogMessage> {
        self.got.lock().unwrap().clone()
    }

    /// Framing and parse errors seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// The next whole octet-counted frame of `buf`, removed from it; `None` until one is complete.
fn take_frame(buf: &mut Vec<u8>) -> Result<Option<String>, String> {
    let Some(sp) = buf.iter().position(|b| *b == b' ') else {
        if buf.len() > 10 || buf.iter().any(|b| !b.is_ascii_digit()) {
            return Err(format!(
                "no MSG-LEN prefix: {:?}",
                String::from_utf8_lossy(buf)
            ));
        }
        return Ok(None);
    };
    let digits = &buf[..sp];
    // MSG-LEN = NONZERO-DIGIT *DIGIT
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!("bad MSG-LEN {:?}", String::from_utf8_lossy(digits)));
    }
    let len: usize = std::str::from_utf8(digits).unwrap().parse().unwrap();
    if buf.len() < sp + 1 + len {
        return Ok(None);
    }
    let msg = buf[sp + 1..sp + 1 + len].to_vec();
    buf.drain(..sp + 1 + len);
    String::from_utf8(msg)
        .map(Some)
        .map_err(|e| format!("MSG not UTF-8: {e}"))
}
