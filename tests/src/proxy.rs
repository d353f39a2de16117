//! A loopback TCP proxy in front of the backend, to cut it off and count what crosses it.
//!
//! While "down", connections are accepted and closed at once (the client sees a reset, as with a
//! network cut), and counted, so a test can bound how many attempts sidekey makes during an outage.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A running proxy. Dropping it stops accepting (open connections end when either side closes).
pub struct TcpProxy {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    down: AtomicBool,
    stop: AtomicBool,
    open: AtomicUsize,
    max_open: AtomicUsize,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    live: Mutex<Vec<TcpStream>>,
}

impl TcpProxy {
    /// Listen on a free loopback port and forward to `127.0.0.1:target_port`.
    pub fn start(target_port: u16) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                if s.down.load(Ordering::SeqCst) {
                    s.refused.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let now = s.open.fetch_add(1, Ordering::SeqCst) + 1;
                s.max_open.fetch_max(now, Ordering::SeqCst);
                if let (Ok(c), Ok(u)) = (client.try_clone(), upstream.try_clone()) {
                    s.live.lock().unwrap().extend([c, u]);
                }
                pipe(client, upstream, s.clone());
            }
        });
        TcpProxy { port, shared }
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cut the backend off: close every open connection and refuse new ones until [`TcpProxy::up`].
    pub fn down(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        for c in self.shared.live.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Let connections through again.
    pub fn up(&self) {
        self.shared.down.store(false, Ordering::SeqCst);
    }

    /// Connection attempts refused while down.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn max_open(&self) -> usize {
        self.shared.max_open.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.down();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(client: TcpStream, upstream: TcpStream, s: Arc<Shared>) {
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let remaining = Arc::new(AtomicUsize::new(2));
    for (mut from, mut to) in [(client, u2), (upstream, c2)] {
        let s = s.clone();
        let remaining = remaining.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            if remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                s.open.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }
}
