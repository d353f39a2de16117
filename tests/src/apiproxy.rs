//! An agent serving Vault's API on a loopback listener — sidekey, `bao proxy` or `bao agent` started on the
//! same config — and requests sent through it as an application's Vault SDK sends them. Used by the
//! differential tests and the proxy benchmark.

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;

use crate::background::{Background, wait_until};
use crate::bao::{bao_bin, http_client};
use crate::hcl::{self, AutoAuth};
use crate::{Fixture, ShmDir};

/// The config the differential tests and the benchmark give every program: JWT auto-auth (role `app`,
/// with a token sink in `out`), the token added to requests that carry none, a cache, and a TCP listener on
/// `port`.
pub fn caching_proxy_config(fx: &Fixture, port: u16, out: &ShmDir) -> String {
    let jwt = fx.app_jwt();
    [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app")
            .config("remove_jwt_after_reading = false")
            .sink(&out.join("token"), &[])
            .to_string(),
        hcl::block("api_proxy", &["use_auto_auth_token = true"]),
        hcl::block("cache", &[]),
        hcl::block(
            "listener \"tcp\"",
            &[
                &hcl::attr("address", &format!("127.0.0.1:{port}")),
                "tls_disable = true",
            ],
        ),
    ]
    .concat()
}

/// Which program serves the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `sidekey run -c FILE`.
    Sidekey,
    /// `bao proxy -config=FILE`.
    BaoProxy,
    /// `bao agent -config=FILE`.
    BaoAgent,
}

impl Server {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Server::Sidekey => "sidekey",
            Server::BaoProxy => "bao proxy",
            Server::BaoAgent => "bao agent",
        }
    }
}

/// One answer through the listener.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `X-Cache`, if the agent set it.
    pub x_cache: Option<String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// A running agent with a listener on `base`.
#[derive(Debug)]
pub struct Listening {
    /// The process.
    pub process: Background,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    http: Client,
}

impl Listening {
    /// Start `server` (sidekey: `$SIDEKEY_BIN` if set) on `config` in `cwd` with `env` (for the bao programs, the only variables besides `PATH`
    /// and `HOME`) and wait up to 30 s until `http://127.0.0.1:PORT/v1/sys/health` answers through it.
    pub fn start(
        server: Server,
        config: &Path,
        cwd: &Path,
        port: u16,
        env: &[(&str, &str)],
    ) -> Listening {
        let process = match server {
            // The benchmark runs the release build (`SIDEKEY_BIN`); the tests the workspace's debug one.
            Server::Sidekey => std::env::var_os("SIDEKEY_BIN")
                .map_or_else(Background::sidekey, Background::command)
                .args(["run", "-c"])
                .arg(config)
                .envs(env.iter().copied())
                .logs_in(cwd)
                .start(),
            Server::BaoProxy | Server::BaoAgent => {
                let sub = if server == Server::BaoProxy {
                    "proxy"
                } else {
                    "agent"
                };
                Background::command(bao_bin())
                    .arg(sub)
                    .arg(format!("-config={}", config.display()))
                    .clean_env()
                    .env("HOME", cwd)
                    .envs(env.iter().copied())
                    .logs_in(cwd)
                    .start()
            }
        };
        let mut up = Listening {
            process,
            base: format!("http://127.0.0.1:{port}"),
            http: http_client(),
        };
        let answered = wait_until(Duration::from_secs(30), || {
            up.http
                .get(format!("{}/v1/sys/health", up.base))
                .send()
                .is_ok()
        });
        assert!(
            answered && up.process.running(),
            "{} never answered on {}:\n{}",
            server.name(),
            up.base,
            up.process.stderr()
        );
        up
    }

    /// `method` `path` (from the root: `/v1/...` or `/agent/v1/...`) with `token` as `X-Vault-Token`
    /// (none: the agent's auto-auth token, if it adds one) and a JSON `body`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Vault-Request", "true");
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{path} through {}: {e}", self.base));
        let status = resp.status().as_u16();
        let x_cache = resp
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().unwrap_or_default();
        Answer {
            status,
            x_cache,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Wait up to 30 s until the agent has logged in: a request without a token gets the agent's
    /// (`auth/token/lookup-self` answers 200). Before that, `bao proxy` forwards requests without one.
    pub fn wait_authenticated(&mut self) {
        let ok = wait_until(Duration::from_secs(30), || {
            self.send("GET", "/v1/auth/token/lookup-self", None, None)
                .status
                == 200
        });
        assert!(
            ok,
            "never logged in through {}:\n{}",
            self.base,
            self.process.stderr()
        );
    }

    /// Stop the agent (SIGTERM, then SIGKILL after 10 s).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// `v` with every string and number replaced by its type (`"<string>"`, `"<number>"`), so two answers
/// that carry different secrets, ids and times compare equal when their shape is the same. Booleans and
/// nulls stay: `renewable: true` against `false` is a real difference.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String("<string>".into()),
        Value::Number(_) => Value::String("<number>".into()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        other => other.clone(),
    }
}
