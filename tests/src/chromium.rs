//! Headless Chromium (Debian's `chromium`) opening a local page with no network: its screenshot, its
//! DOM after load, and every message its console printed.
//!
//! Console messages come from Chromium's own log (`--enable-logging=stderr --v=0` prints each as a
//! `:CONSOLE` line: script errors, `console.*` calls, and refused loads, which a Content-Security-Policy
//! reports there too). Network is off twice over: background services are disabled, and every host
//! name resolves to nothing through a proxy that does not exist.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bao::which;
use crate::process::{Finished, run_with_timeout};

/// Window size of the screenshot, in CSS pixels.
pub const WINDOW: (u32, u32) = (1400, 1000);

/// What a page did in the browser.
#[derive(Debug)]
pub struct Page {
    /// The document after load, serialized (`--dump-dom`).
    pub dom: String,
    /// The screenshot (PNG).
    pub screenshot: Vec<u8>,
    /// Every console message (script errors, `console.*`, refused loads), one line each.
    pub console: Vec<String>,
    /// Chromium's exit code, stdout and stderr, for failure messages.
    pub run: Finished,
}

/// The Chromium binary: `chromium` (Debian) or `chromium-browser` on `PATH`. Panics, saying how to
/// install it, when there is none: a missing browser fails the test, it never skips it.
pub fn chromium_bin() -> PathBuf {
    which("chromium")
        .or_else(|| which("chromium-browser"))
        .unwrap_or_else(|| {
            panic!(
                "chromium not found on PATH: install it with `apt-get install -y chromium` \
                 (tests/run.sh, run by .ci/run, installs it)"
            )
        })
}

/// Open `file` as a `file://` URL in headless Chromium without network, in a fresh profile; take a
/// screenshot of [`WINDOW`] and the DOM after load. Panics if Chromium fails or writes no screenshot.
pub fn open(file: &Path) -> Page {
    let file = file
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let dir = tempfile::tempdir().expect("temp dir");
    let shot = dir.path().join("screenshot.png");
    let profile = dir.path().join("profile");
    let mut cmd = Command::new(chromium_bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Its caches and certificate store go to the temp dir, not the user's home.
        .env("HOME", dir.path())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", file.display()));
    let run = run_with_timeout(cmd, Duration::from_secs(60));
    assert_eq!(run.code(), 0, "chromium failed:\n{}", run.show());
    let screenshot =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{}", run.show()));
    let console = run
        .stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Page {
        dom: run.stdout.clone(),
        screenshot,
        console,
        run,
    }
}

/// Width and height of a PNG image (its `IHDR` chunk); panics if `png` is not one.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    const MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    assert!(
        png.len() > 24 && png.starts_with(MAGIC) && &png[12..16] == b"IHDR",
        "not a PNG image ({} bytes)",
        png.len()
    );
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}
