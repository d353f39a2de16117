//! A unix datagram socket standing in for systemd's `NOTIFY_SOCKET`: a thread collects each datagram
//! sidekey sends (`READY=1`, `STATUS=...`, `WATCHDOG=1`, ...), with when it came.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::background::wait_until;

/// One datagram: when it arrived, its text, and which watched paths existed when it arrived.
#[derive(Clone, Debug)]
pub struct Note {
    /// When it arrived.
    pub at: Instant,
    /// Its text.
    pub text: String,
    /// Whether each watched path existed when it arrived.
    pub existing: Vec<bool>,
}

impl Note {
    /// Whether one of its lines is exactly `line` (`READY=1`).
    pub fn has(&self, line: &str) -> bool {
        self.text.lines().any(|l| l == line)
    }

    /// The value of `KEY=` in it.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// A unix datagram socket standing in for systemd's `NOTIFY_SOCKET`; a thread collects what arrives.
pub struct NotifySocket {
    path: PathBuf,
    /// When it was bound (what [`NotifySocket::describe`] counts from).
    pub start: Instant,
    notes: Arc<Mutex<Vec<Note>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: TempDir,
}

impl NotifySocket {
    /// Bind a fresh socket (short path under /tmp); at each datagram, record which of `watch` exist.
    pub fn bind(watch: &[PathBuf]) -> NotifySocket {
        let dir = tempfile::Builder::new()
            .prefix("sk-notify-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let watch = watch.to_vec();
        let thread = {
            let (notes, stop) = (notes.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    match sock.recv(&mut buf) {
                        Ok(n) => {
                            let at = Instant::now();
                            let existing = watch.iter().map(|p| p.exists()).collect();
                            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                            notes.lock().unwrap().push(Note { at, text, existing });
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                }
            })
        };
        NotifySocket {
            path,
            start: Instant::now(),
            notes,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Its path, for `NOTIFY_SOCKET`.
    pub fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Every datagram so far, in arrival order.
    pub fn notes(&self) -> Vec<Note> {
        self.notes.lock().unwrap().clone()
    }

    /// The index of the first note at or after `from` matching `pred`, waiting up to `timeout`.
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        pred: impl Fn(&Note) -> bool,
    ) -> Option<usize> {
        let mut found = None;
        wait_until(timeout, || {
            found = self
                .notes()
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, n)| pred(n))
                .map(|(i, _)| i);
            found.is_some()
        });
        found
    }

    /// Everything received, one datagram a line, for failure messages.
    pub fn describe(&self) -> String {
        self.notes()
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    "#{i} +{:.3}s {:?} existing={:?}",
                    n.at.duration_since(self.start).as_secs_f64(),
                    n.text.trim_end().replace('\n', " | "),
                    n.existing
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
