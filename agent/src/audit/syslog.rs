//! The `syslog` sink's transport: each event is one RFC 5424 message, sent over TCP with TLS (RFC 5425,
//! the default), plain TCP, or UDP (RFC 5426, lossy).
//!
//! A message is `<PRI>1 TIMESTAMP HOSTNAME sidekey PROCID MSGID [sidekey@32473 ...] MSG`: severity
//! informational (warning for a failure), the event's own time, host and pid, the event name as MSGID,
//! the key fields as structured data (escaped per RFC 5424 §6.3.3), and the event line (in the sink's
//! format) as MSG, without a BOM, as syslog senders commonly write JSON. On a stream every message is
//! octet-counted (`LEN SP MSG`, RFC 6587 §3.4.1), so a newline never splits one.
//!
//! Syslog has no acknowledgement. To keep "at least once" over a stream, a batch stays in the spool
//! until the connection has stayed open for [`SETTLE`] after the batch was written: a receiver that
//! goes away (or resets the connection) in that moment gets the whole batch again on the next
//! connection. A receiver that takes the bytes and then loses them cannot be noticed: that is the
//! protocol's limit.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

use super::event::{Event, Outcome};
use super::sender::{Key, SendError, SetupError, key_fields};
use crate::backend::tls::{TlsSettings, client_config};
use crate::config::{AuditSyslogConfig, SyslogTransport};

/// How long a connection must stay open after a batch before the batch counts as delivered.
const SETTLE: Duration = Duration::from_millis(100);

/// The longest a connection (and its TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest writing one batch may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The structured data element's SD-ID: `sidekey` at the enterprise number RFC 5612 reserves for
/// documentation (sidekey has none of its own); SIEM parsers key on it.
const SD_ID: &str = "sidekey@32473";

/// APP-NAME.
const APP_NAME: &str = "sidekey";

/// Severity `informational` (RFC 5424 §6.2.1).
const INFO: u8 = 6;

/// Severity `warning`.
const WARNING: u8 = 4;

/// A byte stream to the receiver: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open connection to the receiver.
enum Conn {
    /// TCP or TLS.
    Stream(Box<dyn Stream>),
    /// A connected UDP socket.
    Udp(UdpSocket),
}

/// Sends RFC 5424 messages to one receiver, keeping its connection between batches.
pub(super) struct Syslog {
    host: String,
    port: u16,
    udp: bool,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    facility: u8,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl Syslog {
    /// The transport for `cfg`.
    ///
    /// # Errors
    /// [`SetupError`] for an unusable CA file or client certificate, or a host that cannot be a TLS server name.
    pub(super) fn new(cfg: &AuditSyslogConfig) -> Result<Self, SetupError> {
        let err = |reason| SetupError {
            sink: "syslog",
            reason,
        };
        let tls = if cfg.tls {
            let config = client_config(&TlsSettings {
                ca_cert: cfg.ca_cert.as_deref(),
                client_cert: cfg
                    .client_cert
                    .as_ref()
                    .map(|(c, k)| (c.as_path(), k.as_path())),
                ..TlsSettings::default()
            })
            .map_err(|e| err(e.to_string()))?;
            let name = ServerName::try_from(cfg.host.clone())
                .map_err(|_| err(format!("{:?} is not a TLS server name", cfg.host)))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Self {
            host: cfg.host.clone(),
            port: cfg.port,
            udp: cfg.transport == SyslogTransport::Udp,
            tls,
            facility: cfg.facility,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// The spool record: the RFC 5424 message, unframed.
    pub(super) fn encode(&self, ev: &Event, line: &[u8]) -> Vec<u8> {
        message(self.facility, ev, &String::from_utf8_lossy(line)).into_bytes()
    }

    /// Send the messages of one batch, in order; `Ok` with how many were dropped as too large for a UDP
    /// datagram (over a stream, none).
    pub(super) async fn send(&self, messages: &[String]) -> Result<u64, SendError> {
        let mut conn = self.conn.lock().await;
        if let Some(Conn::Stream(s)) = conn.as_mut()
            && !still_open(s)
        {
            *conn = None;
        }
        let open = match conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let sent = match open {
            Conn::Udp(sock) => send_datagrams(&sock, messages)
                .await
                .map(|dropped| (Conn::Udp(sock), dropped)),
            Conn::Stream(mut s) => write_frames(&mut s, messages)
                .await
                .map(|()| (Conn::Stream(s), 0)),
        };
        // A failed connection is dropped: the next try opens a new one.
        let (open, dropped) = sent?;
        *conn = Some(open);
        Ok(dropped)
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let target = format!("{}:{}", self.host, self.port);
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            SendError::retry(format!("syslog receiver {target}: {what}: {e}"))
        };
        if self.udp {
            let addr = tokio::net::lookup_host((self.host.as_str(), self.port))
                .await
                .map_err(|e| fail("cannot resolve", &e))?
                .next()
                .ok_or_else(|| fail("cannot resolve", &"no address"))?;
            let local = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(local)
                .await
                .map_err(|e| fail("cannot open a UDP socket", &e))?;
            sock.connect(addr)
                .await
                .map_err(|e| fail("cannot connect", &e))?;
            return Ok(Conn::Udp(sock));
        }
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| fail("cannot connect", &"timed out"))?
        .map_err(|e| fail("cannot connect", &e))?;
        let _ = tcp.set_nodelay(true);
        let Some((connector, name)) = &self.tls else {
            return Ok(Conn::Stream(Box::new(tcp)));
        };
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), tcp))
            .await
            .map_err(|_| fail("TLS handshake", &"timed out"))?
            .map_err(|e| fail("TLS handshake", &e))?;
        Ok(Conn::Stream(Box::new(tls)))
    }
}

/// Whether a stream the receiver may have closed while idle is still open: a syslog receiver never
/// sends, so anything readable is an end of stream or an error (or, harmlessly, bytes to ignore).
fn still_open(s: &mut Box<dyn Stream>) -> bool {
    let mut buf = [0u8; 256];
    !matches!(s.read(&mut buf).now_or_never(), Some(Ok(0) | Err(_)))
}

/// Write every message octet-counted, then wait [`SETTLE`] for the receiver to hang up.
async fn write_frames(s: &mut Box<dyn Stream>, messages: &[String]) -> Result<(), SendError> {
    let mut buf = Vec::with_capacity(messages.iter().map(|m| m.len() + 8).sum());
    for m in messages {
        frame(&mut buf, m);
    }
    let write = async {
        s.write_all(&buf).await?;
        s.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(SendError::retry(format!("syslog write failed: {e}"))),
        Err(_) => return Err(SendError::retry("syslog write timed out")),
    }
    let mut back = [0u8; 256];
    match tokio::time::timeout(SETTLE, s.read(&mut back)).await {
        Err(_) | Ok(Ok(1..)) => Ok(()),
        Ok(Ok(0)) => Err(SendError::retry(
            "the syslog receiver closed the connection just after a batch; sending it again",
        )),
        Ok(Err(e)) => Err(SendError::retry(format!(
            "the syslog connection failed just after a batch ({e}); sending it again"
        ))),
    }
}

/// One datagram per message (RFC 5426): no framing, no acknowledgement. A message too large for a
/// datagram is dropped alone, loudly (its `seq`, never its content), and the others still go: sending
/// it again cannot help. `Ok` with how many were dropped.
async fn send_datagrams(sock: &UdpSocket, messages: &[String]) -> Result<u64, SendError> {
    let mut dropped = 0;
    for m in messages {
        if let Err(e) = sock.send(m.as_bytes()).await {
            if e.raw_os_error() != Some(libc::EMSGSIZE) {
                return Err(SendError::retry(format!("syslog UDP send failed: {e}")));
            }
            dropped += 1;
            tracing::error!(
                sink = "syslog",
                seq = seq_of(m),
                bytes = m.len(),
                "AUDIT EVENT DROPPED: the syslog message does not fit in a UDP datagram; use transport = \"tcp\""
            );
        }
    }
    Ok(dropped)
}

/// The `seq` of a message from its structured data (`seq="N"`, written by [`message`]).
fn seq_of(msg: &str) -> Option<u64> {
    let sd = msg.split_once(&format!("[{SD_ID} "))?.1;
    let value = sd.split_once(" seq=\"")?.1.split_once('"')?.0;
    value.parse().ok()
}

/// Append `msg` octet-counted (RFC 6587 §3.4.1): its length in bytes, a space, the message.
fn frame(buf: &mut Vec<u8>, msg: &str) {
    buf.extend_from_slice(msg.len().to_string().as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(msg.as_bytes());
}

/// The RFC 5424 message for `ev` with `msg` (the event line) as MSG.
fn message(facility: u8, ev: &Event, msg: &str) -> String {
    let severity = match ev.outcome {
        Outcome::Success => INFO,
        Outcome::Failure => WARNING,
    };
    let pri = u16::from(facility) * 8 + u16::from(severity);
    let keys = key_fields(ev);
    let msgid = keys
        .iter()
        .find_map(|(k, v)| match (k, v) {
            (&"event", Key::Str(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or_default();
    let mut sd = format!("[{SD_ID}");
    for (k, v) in &keys {
        let value = match v {
            Key::Str(s) => param_value(s),
            Key::Int(n) => n.to_string(),
        };
        sd.push_str(&format!(" {k}=\"{value}\""));
    }
    sd.push(']');
    format!(
        "<{pri}>1 {} {} {APP_NAME} {} {} {sd} {msg}",
        header_field(&ev.time, 128),
        header_field(&ev.agent.host, 255),
        ev.agent.pid,
        header_field(msgid, 32),
    )
}

/// A header field: printable US-ASCII only (RFC 5424 §6), at most `max` characters, `-` (NILVALUE) when
/// nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .filter(|c| matches!(c, '!'..='~'))
        .take(max)
        .collect();
    if out.is_empty() { "-".into() } else { out }
}

/// A PARAM-VALUE escaped per RFC 5424 §6.3.3 (`"`, `\` and `]` get a backslash). A control character
/// (a newline would split the spool's line) becomes U+FFFD.
fn param_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
