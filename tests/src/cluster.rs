//! A real OpenBao Raft cluster on loopback: `n` `bao server` processes, each with its own config file,
//! data directory and log, initialised with one unseal key and unsealed, every node a voter.
//!
//! The harness knows the pid of every node it started and signals only those (`kill`, `stop`, and
//! `Drop`, which also runs when a test panics). Everything lives in one temp dir removed on drop; each
//! node's log is kept there across restarts so a failure message can show it.
//!
//! ```no_run
//! use sidekey_tests::Cluster;
//! let cluster = Cluster::start(3);
//! let old = cluster.leader().unwrap();
//! cluster.kill(old);
//! let new = cluster.wait_for_leader(std::time::Duration::from_secs(30));
//! assert_ne!(old, new);
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::Method;
use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::bao::{Api, Reply, bao_bin};
use crate::jwt::{APP_SUBJECT, AUDIENCE, JwtIssuer, MintedJwt};
use crate::ports;
use crate::postgres::Postgres;
use crate::setup::{AppRoleCreds, str_at};

/// How long a node may take to answer HTTP after it is started.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the harness waits for the cluster to agree (voters, a leader, unsealed standbys).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Cluster::request`] keeps retrying while the cluster has no usable leader.
const LEADERLESS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Lines of each node's log shown in a failure message.
const LOG_TAIL: usize = 40;

/// A running Raft cluster. Dropping it kills every node still running (SIGKILL to the pids it
/// started) and removes the data.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    root_token: String,
    unseal_key: String,
    client: Client,
    dir: TempDir,
}

/// One node: its ports and files, and its process behind a lock (so that a test may kill a node from
/// one thread while another sends requests).
#[derive(Debug)]
struct Node {
    id: String,
    api_port: u16,
    dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    proc: Mutex<Proc>,
}

/// What changes while a node is started, killed, sealed.
#[derive(Debug, Default)]
struct Proc {
    child: Option<Child>,
    /// Sealed by [`Cluster::seal`] (not yet unsealed): [`Cluster::wait_healthy`] does not wait for it.
    sealed: bool,
    /// How many times it was started (numbers the markers in its log).
    starts: u32,
}

/// A [`Cluster`] configured by [`crate::Setup::start_cluster`], with what the setup made. Fields drop
/// in order: the cluster first, then PostgreSQL.
#[derive(Debug)]
pub struct ClusterFixture {
    /// The cluster.
    pub cluster: Cluster,
    /// The database behind `database/`, if [`crate::Setup::database`] was asked for.
    pub postgres: Option<Postgres>,
    /// The value of `secret/app/config` `password`.
    pub sentinel: String,
    /// JWT minting, if [`crate::Setup::jwt`] was asked for.
    pub jwt: Option<JwtIssuer>,
    /// AppRole credentials, if [`crate::Setup::approle`] was asked for.
    pub approle: Option<AppRoleCreds>,
    /// Scratch directory for token files, configs and keys.
    pub dir: TempDir,
}

/// Whether an answer means "this node cannot serve that now, ask again or elsewhere" (no leader, a
/// standby pointing at a dead leader, sealed, behind the index asked for) rather than the server's
/// real answer.
fn leaderless(reply: &Reply) -> bool {
    let text = reply.body.to_string();
    match reply.status {
        307 | 429 | 502 | 503 => true,
        500 => [
            "not active",
            "active cluster node not found",
            "forwarding",
            "sealed",
        ]
        .iter()
        .any(|s| text.contains(s)),
        _ => false,
    }
}

fn client() -> Client {
    // See `bao::http_client`: reqwest needs a process-wide rustls provider even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .no_proxy()
        // A standby's 307 to the (maybe dead) leader is an answer the tests want to see, not follow.
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

// === impl Node ===

impl Node {
    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    fn proc(&self) -> MutexGuard<'_, Proc> {
        // A test that panicked while holding the lock left the state as consistent as any other.
        self.proc.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start `bao server` on this node's config, its output appended to the node's log, in its own
    /// process group so that a signal the terminal sends the tests does not reach it first.
    fn spawn(&self) -> Result<(), String> {
        let mut proc = self.proc();
        assert!(proc.child.is_none(), "node {} is already running", self.id);
        proc.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("open {}: {e}", self.log.display()))?;
        let _ = writeln!(log, "=== sidekey-tests: start #{} ===", proc.starts);
        let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = Command::new(bao_bin());
        cmd.arg("server")
            .arg(format!("-config={}", self.config.display()))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            // The audit device's relative file_path lands here: one audit log per node.
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        proc.child = Some(child);
        proc.sealed = false;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL);
        lines[from..].join("\n")
    }
}

// === impl Proc ===

impl Proc {
    /// The exit status, if the process has exited (it stays unreaped: its pid stays ours).
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn pid(&self) -> Option<Pid> {
        let child = self.child.as_ref()?;
        i32::try_from(child.id()).ok().map(Pid::from_raw)
    }
}

// === impl Cluster ===

impl Cluster {
    /// Start an `n`-node cluster, initialise it (one key share), unseal every node, and wait until every
    /// node is a voter and a leader is active.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_inner(n, false)
    }

    /// Like [`Cluster::start`], with a file audit device `a` on every node writing to that node's own
    /// `audit.log` (see [`Cluster::audit_log_lines`]).
    pub fn start_with_audit(n: usize) -> Cluster {
        Cluster::start_inner(n, true)
    }

    fn start_inner(n: usize, audit: bool) -> Cluster {
        assert!(n >= 1, "a cluster needs at least one node");
        let mut last = String::new();
        // Another process may take a port between our check and bao's bind: retry a few times.
        for _ in 0..3 {
            match Cluster::try_start(n, audit) {
                Ok(cluster) => return cluster,
                Err(e) => last = e,
            }
        }
        panic!("OpenBao cluster did not start: {last}");
    }

    fn try_start(n: usize, audit: bool) -> Result<Cluster, String> {
        let t0 = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("sidekey-cluster-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        // Each node needs two ports: the API and, next to it, the cluster (Raft, forwarding) listener.
        let ports: Vec<u16> = (0..n).map(|_| ports::free_ports(2)).collect();
        let mut nodes = Vec::with_capacity(n);
        for (i, &api_port) in ports.iter().enumerate() {
            let id = format!("n{i}");
            let node_dir = dir.path().join(&id);
            std::fs::create_dir(&node_dir).map_err(|e| format!("mkdir: {e}"))?;
            let config = dir.path().join(format!("{id}.hcl"));
            std::fs::write(&config, node_config(&id, &node_dir, api_port, audit))
                .map_err(|e| format!("write {}: {e}", config.display()))?;
            nodes.push(Node {
                log: dir.path().join(format!("{id}.log")),
                id,
                api_port,
                dir: node_dir,
                config,
                proc: Mutex::default(),
            });
        }
        // From here on a panic or an early return drops the cluster, which kills what was started.
        let mut cluster = Cluster {
            nodes,
            root_token: String::new(),
            unseal_key: String::new(),
            client: client(),
            dir,
        };
        for node in &cluster.nodes {
            node.spawn()?;
        }
        for i in 0..n {
            cluster.wait_listening(i)?;
        }
        let t_listen = t0.elapsed();

        let init = cluster.request_to(
            0,
            "PUT",
            "sys/init",
            None,
            Some(&json!({ "secret_shares": 1, "secret_threshold": 1 })),
        );
        if !init.is_success() {
            return Err(format!(
                "sys/init -> {}: {}\n{}",
                init.status,
                init.body,
                cluster.logs()
            ));
        }
        cluster.unseal_key = str_at(&init.body, "/keys_base64/0");
        cluster.root_token = str_at(&init.body, "/root_token");
        cluster.unseal(0);
        cluster.wait_for_leader(SETTLE_TIMEOUT);
        let t_first = t0.elapsed();

        // Autopilot keeps a joined node a non-voter for `server_stabilization_time` (10 s by default)
        // and nobody is elected if the leader dies before the promotion: 1 s is the API's smallest value
        // (whole seconds). Set before any node joins, so it applies to all of them. (Autopilot stays on,
        // as in production: BAO_RAFT_AUTOPILOT_DISABLE would make joined nodes voters at once, ~2.5 s
        // sooner, but is not how a real cluster runs.)
        cluster.write(
            "sys/storage/raft/autopilot/configuration",
            json!({ "server_stabilization_time": "1s" }),
        );
        for i in 1..n {
            cluster.join(i, 0);
            cluster.unseal(i);
        }
        let t_unsealed = t0.elapsed();
        cluster.wait_for_voters(n);
        let t_voters = t0.elapsed();
        cluster.wait_healthy();
        eprintln!(
            "cluster: {n} nodes listening after {t_listen:.1?}, first active {t_first:.1?}, all unsealed \
             {t_unsealed:.1?}, all voters {t_voters:.1?}, healthy {:.1?}",
            t0.elapsed()
        );
        Ok(cluster)
    }

    /// Wait until node `i` answers HTTP; an error (with its log) if it exits first.
    fn wait_listening(&self, i: usize) -> Result<(), String> {
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if let Some(status) = self.nodes[i].proc().exited() {
                return Err(format!("node {i} exited with {status}:\n{}", self.log(i)));
            }
            if self
                .try_request_to(i, "GET", "sys/health", None, None)
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {i} not listening after {LISTEN_TIMEOUT:?}:\n{}",
                    self.log(i)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Have the sealed, uninitialised node `i` join node `leader`'s cluster (`sys/storage/raft/join`,
    /// which fetches the leader's challenge; the unseal that follows answers it), retrying while the
    /// leader cannot answer yet.
    fn join(&self, i: usize, leader: usize) {
        let body = json!({ "leader_api_addr": self.addr(leader) });
        let mut last = String::new();
        let ok = poll(SETTLE_TIMEOUT, || {
            match self.try_request_to(i, "POST", "sys/storage/raft/join", None, Some(&body)) {
                Ok(r) if r.body["joined"].as_bool() == Some(true) => true,
                Ok(r) => {
                    last = format!("{} {}", r.status, r.body);
                    false
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        if !ok {
            panic!(
                "node {i} did not join node {leader} in {SETTLE_TIMEOUT:?}: {last}\n{}",
                self.logs()
            );
        }
    }

    /// Wait until `sys/storage/raft/configuration` lists `n` voters.
    fn wait_for_voters(&self, n: usize) {
        let mut last = Value::Null;
        let ok = poll(SETTLE_TIMEOUT, || {
            let reply = self.request(
                "GET",
                "sys/storage/raft/configuration",
                Some(&self.root_token),
                None,
            );
            let voters = reply
                .body
                .pointer("/data/config/servers")
                .and_then(Value::as_array)
                .map_or(0, |s| {
                    s.iter()
                        .filter(|s| s["voter"].as_bool() == Some(true))
                        .count()
                });
            last = reply.body;
            voters == n
        });
        if !ok {
            panic!(
                "raft configuration does not list {n} voters after {SETTLE_TIMEOUT:?}: {last}\n{}",
                self.logs()
            );
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never: [`Cluster::start`] needs one).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's API address, `http://127.0.0.1:PORT`, by index.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(Node::addr).collect()
    }

    /// Node `i`'s API address.
    pub fn addr(&self, i: usize) -> String {
        self.nodes[i].addr()
    }

    /// Node `i`'s Raft `node_id` (`n0`, `n1`, ...).
    pub fn node_id(&self, i: usize) -> String {
        self.nodes[i].id.clone()
    }

    /// The root token from `sys/init`.
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// The single unseal key (base64).
    pub fn unseal_key(&self) -> &str {
        &self.unseal_key
    }

    /// The cluster's temp directory (configs `nI.hcl`, logs `nI.log`, data dirs `nI/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether node `i`'s process is running (started and not killed, stopped, or exited).
    pub fn is_running(&self, i: usize) -> bool {
        let mut proc = self.nodes[i].proc();
        proc.child.is_some() && proc.exited().is_none()
    }

    /// The pid of node `i`'s process, while it has one.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].proc().child.as_ref().map(Child::id)
    }

    /// Node `i`'s log (all its starts, each after a `=== sidekey-tests: start #N ===` line).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// The last lines of every node's log, for a failure message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ({}) ---\n{}", n.id, n.addr(), n.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The index of the active node: the one whose `sys/leader` says `is_self`. `None` while there is
    /// none (an election, or no quorum).
    pub fn leader(&self) -> Option<usize> {
        (0..self.len()).filter(|&i| self.is_running(i)).find(|&i| {
            self.try_request_to(i, "GET", "sys/leader", None, None)
                .is_ok_and(|r| r.body["is_self"].as_bool() == Some(true))
        })
    }

    /// Indexes of the running, unsealed nodes that are not the active node.
    pub fn standbys(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.is_running(i) && self.health(i) == Some(429))
            .collect()
    }

    /// Node `i`'s `sys/health` status (200 active, 429 standby, 501 not initialised, 503 sealed), or
    /// `None` if it does not answer.
    pub fn health(&self, i: usize) -> Option<u16> {
        self.try_request_to(i, "GET", "sys/health", None, None)
            .ok()
            .map(|r| r.status)
    }

    /// Wait up to `timeout` for an active node (`sys/leader` `is_self` and `sys/health` 200); its index.
    /// Panics, showing the logs, if there is none by then.
    pub fn wait_for_leader(&self, timeout: Duration) -> usize {
        let mut found = None;
        let ok = poll(timeout, || {
            found = self.leader().filter(|&i| self.health(i) == Some(200));
            found.is_some()
        });
        match found {
            Some(i) if ok => i,
            _ => panic!("no active node after {timeout:?}\n{}", self.logs()),
        }
    }

    /// Wait until the cluster is settled: every running node not sealed by [`Cluster::seal`] is unsealed,
    /// one of them is active, and every standby names it in `sys/leader`. Returns the leader's index.
    pub fn wait_healthy(&self) -> usize {
        let mut leader = None;
        let ok = poll(SETTLE_TIMEOUT, || {
            leader = self.settled();
            leader.is_some()
        });
        match leader {
            Some(i) if ok => i,
            _ => panic!(
                "cluster not healthy after {SETTLE_TIMEOUT:?}\n{}",
                self.logs()
            ),
        }
    }

    fn settled(&self) -> Option<usize> {
        let leader = self.leader()?;
        let leader_addr = self.addr(leader);
        let expected: Vec<usize> = (0..self.len())
            .filter(|&i| self.is_running(i) && !self.nodes[i].proc().sealed)
            .collect();
        expected
            .iter()
            .all(|&i| {
                if i == leader {
                    return self.health(i) == Some(200);
                }
                self.health(i) == Some(429)
                    && self
                        .try_request_to(i, "GET", "sys/leader", None, None)
                        .is_ok_and(|r| r.body["leader_address"].as_str() == Some(&leader_addr))
            })
            .then_some(leader)
    }

    /// SIGKILL node `i` (by the pid the harness started) and reap it. Its data stays for
    /// [`Cluster::restart`].
    pub fn kill(&self, i: usize) {
        let Some(mut child) = self.nodes[i].proc().child.take() else {
            panic!("kill: node {i} is not running");
        };
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM node `i`, wait up to 15 s for it to exit (an active node steps down first), else SIGKILL.
    /// Its exit status, or `None` if it had to be killed.
    pub fn stop(&self, i: usize) -> Option<ExitStatus> {
        let mut proc = self.nodes[i].proc();
        let pid = proc
            .pid()
            .unwrap_or_else(|| panic!("stop: node {i} is not running"));
        // The child is not reaped yet, so the pid is still this node's.
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        let status = loop {
            if let Some(status) = proc.exited() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut child = proc.child.take().expect("checked above");
        if status.is_none() {
            let _ = child.kill();
        }
        let _ = child.wait();
        status
    }

    /// Start node `i` again on the same config, ports and data (after [`Cluster::kill`] or
    /// [`Cluster::stop`]), unseal it, and wait until it answers as unsealed (standby or active).
    pub fn restart(&self, i: usize) {
        self.nodes[i]
            .spawn()
            .unwrap_or_else(|e| panic!("restart node {i}: {e}"));
        if let Err(e) = self.wait_listening(i) {
            panic!("restart node {i}: {e}");
        }
        self.unseal(i);
    }

    /// Seal node `i` (`sys/seal` on that node with the root token; works on a standby too) and wait until
    /// it reports sealed.
    pub fn seal(&self, i: usize) {
        let reply = self.request_to(i, "PUT", "sys/seal", Some(&self.root_token), None);
        if !reply.is_success() {
            panic!("seal node {i} -> {}: {}", reply.status, reply.body);
        }
        self.nodes[i].proc().sealed = true;
        let ok = poll(SETTLE_TIMEOUT, || {
            self.try_request_to(i, "GET", "sys/seal-status", None, None)
                .is_ok_and(|r| r.body["sealed"].as_bool() == Some(true))
        });
        if !ok {
            panic!(
                "node {i} not sealed after {SETTLE_TIMEOUT:?}\n{}",
                self.log(i)
            );
        }
    }

    /// Unseal node `i` with the key and wait until it answers as unsealed (`sys/health` 200 or 429).
    pub fn unseal(&self, i: usize) {
        let body = json!({ "key": self.unseal_key });
        let mut last = String::new();
        // A joining node answers the leader's challenge during the unseal; until that completes it may
        // answer sealed or with an error: send the key again.
        let ok = poll(SETTLE_TIMEOUT, || {
            match self.try_request_to(i, "PUT", "sys/unseal", None, Some(&body)) {
                Ok(r) if r.body["sealed"].as_bool() == Some(false) => {
                    matches!(self.health(i), Some(200 | 429))
                }
                Ok(r) => {
                    last = format!("{} {}", r.status, r.body);
                    false
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        if !ok {
            panic!(
                "node {i} not unsealed after {SETTLE_TIMEOUT:?} (last answer: {last})\n{}",
                self.logs()
            );
        }
        self.nodes[i].proc().sealed = false;
    }

    /// Send `method` to node `i`'s `/v1/<path>`; `Err` (the transport error) if it does not answer.
    /// Redirects are not followed.
    pub fn try_request_to(
        &self,
        i: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let method = Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("bad HTTP method {method:?}: {e}"));
        let url = format!("{}/v1/{}", self.addr(i), path.trim_start_matches('/'));
        let mut req = self.client.request(method.clone(), &url);
        if let Some(token) = token {
            req = req.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .map_err(|e| format!("{method} {url}: reading body: {e}"))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply { status, body })
    }

    /// Like [`Cluster::try_request_to`], panicking if node `i` does not answer.
    pub fn request_to(
        &self,
        i: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.try_request_to(i, method, path, token, body)
            .unwrap_or_else(|e| panic!("node {i}: {e}"))
    }

    /// Send a request to the cluster: to the active node, and while there is none (an election, a node
    /// that does not answer, a standby's 307/429/5xx "no active node") again for up to 30 s, so that
    /// writes land on the node that has the newest mounts. The first real answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut last = String::from("no node answered");
        let mut reply = None;
        let ok = poll(LEADERLESS_TIMEOUT, || {
            let Some(i) = self.leader() else {
                last = "no active node".to_owned();
                return false;
            };
            match self.try_request_to(i, method, path, token, body) {
                Ok(r) if leaderless(&r) => {
                    last = format!("node {i}: {} {}", r.status, r.body);
                    false
                }
                Ok(r) => {
                    reply = Some(r);
                    true
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        match reply {
            Some(r) if ok => r,
            _ => panic!(
                "{method} {path}: no answer from an active node in {LEADERLESS_TIMEOUT:?} (last: {last})\n{}",
                self.logs()
            ),
        }
    }

    /// POST `body` to `path` on the active node with the root token; panics unless 2xx. The body.
    pub fn write(&self, path: &str, body: Value) -> Value {
        let reply = self.request("POST", path, Some(&self.root_token), Some(&body));
        if !reply.is_success() {
            panic!("write {path} -> {}: {}", reply.status, reply.body);
        }
        reply.body
    }

    /// GET `path` on the active node with the root token; panics unless 2xx. The body.
    pub fn read(&self, path: &str) -> Value {
        let reply = self.request("GET", path, Some(&self.root_token), None);
        if !reply.is_success() {
            panic!("read {path} -> {}: {}", reply.status, reply.body);
        }
        reply.body
    }

    /// GET `path` on node `i` itself with the root token, retried for up to 10 s until 2xx (a standby
    /// applies the leader's log a moment later, and may 404 a mount it has not seen yet). The body.
    pub fn read_on(&self, i: usize, path: &str) -> Value {
        let mut last = String::new();
        let mut body = None;
        let ok = poll(Duration::from_secs(10), || {
            match self.try_request_to(i, "GET", path, Some(&self.root_token), None) {
                Ok(r) if r.is_success() => {
                    body = Some(r.body);
                    true
                }
                Ok(r) => {
                    last = format!("{} {}", r.status, r.body);
                    false
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        match body {
            Some(b) if ok => b,
            _ => panic!("read {path} on node {i}: {last}"),
        }
    }

    /// Mount KV version 2 at `path` (a real server, unlike `-dev`, has no `secret/`) and wait until every
    /// unsealed node serves it: a new v2 mount answers 400 "upgrading" for a moment, on a standby ("waiting
    /// for the primary to upgrade") for longer.
    pub fn enable_kv2(&self, path: &str) {
        let t0 = Instant::now();
        self.write(
            &format!("sys/mounts/{path}"),
            json!({ "type": "kv", "options": { "version": "2" } }),
        );
        let config = format!("{path}/config");
        for i in 0..self.len() {
            if !self.is_running(i) || self.nodes[i].proc().sealed {
                continue;
            }
            let mut last = String::new();
            let ok = poll(SETTLE_TIMEOUT, || {
                match self.try_request_to(i, "GET", &config, Some(&self.root_token), None) {
                    Ok(r) if r.is_success() => true,
                    Ok(r) => {
                        last = format!("{} {}", r.status, r.body);
                        false
                    }
                    Err(e) => {
                        last = e;
                        false
                    }
                }
            });
            if !ok {
                panic!(
                    "KV v2 at {path}/ not served by node {i} after {SETTLE_TIMEOUT:?}: {last}\n{}",
                    self.logs()
                );
            }
        }
        eprintln!(
            "cluster: KV v2 at {path}/ served by every node after {:.1?}",
            t0.elapsed()
        );
    }

    /// Node `i`'s audit device entries (needs [`Cluster::start_with_audit`]), one JSON value per line:
    /// what that node itself served or forwarded.
    pub fn audit_log_lines(&self, i: usize) -> Vec<Value> {
        let path = self.nodes[i].dir.join("audit.log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The nodes whose audit log has a successful response to request `request_id` (the `request_id`
    /// of an answer): the node that served it. A standby that forwards a write also logs its own failed
    /// attempt ("cannot write to readonly storage"), which does not count.
    pub fn served_by(&self, request_id: &str) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| {
                self.audit_log_lines(i).iter().any(|e| {
                    e["type"] == "response"
                        && e.pointer("/request/id").and_then(Value::as_str) == Some(request_id)
                        && e.get("error").is_none_or(Value::is_null)
                })
            })
            .collect()
    }
}

impl Api for Cluster {
    fn addr(&self) -> String {
        self.leader().map_or_else(|| self.addr(0), |i| self.addr(i))
    }

    fn write(&self, path: &str, body: Value) -> Value {
        Cluster::write(self, path, body)
    }

    fn read(&self, path: &str) -> Value {
        Cluster::read(self, path)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            if let Some(mut child) = node.proc().child.take() {
                // SIGKILL to the pid we started; not yet reaped, so it cannot be someone else's.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

// === impl ClusterFixture ===

impl ClusterFixture {
    /// The JWT issuer; panics if the fixture was built without [`crate::Setup::jwt`].
    pub fn jwt(&self) -> &JwtIssuer {
        self.jwt
            .as_ref()
            .expect("fixture built without Setup::jwt()")
    }

    /// The PostgreSQL cluster; panics if the fixture was built without [`crate::Setup::database`].
    pub fn postgres(&self) -> &Postgres {
        self.postgres
            .as_ref()
            .expect("fixture built without Setup::database()")
    }

    /// The AppRole credentials; panics if the fixture was built without [`crate::Setup::approle`].
    pub fn approle(&self) -> &AppRoleCreds {
        self.approle
            .as_ref()
            .expect("fixture built without Setup::approle()")
    }

    /// A JWT the `app` role accepts, valid 10 minutes, in a file.
    pub fn app_jwt(&self) -> MintedJwt {
        self.jwt()
            .mint_jwt(APP_SUBJECT, AUDIENCE, Duration::from_secs(600))
    }
}

/// A node's server config: Raft storage, a plain-http loopback listener with the cluster listener on
/// the next port, and (with `audit`) a file audit device.
///
/// No `retry_join`: its loop sleeps 2 s between attempts, and an attempt racing the explicit join of
/// [`Cluster::join`] once left a node's unseal hanging ("waiting for raft retry join process to
/// complete"). A restarted node needs no join: its Raft data names its peers.
fn node_config(id: &str, dir: &Path, api_port: u16, audit: bool) -> String {
    let cluster_port = api_port + 1;
    // performance_multiplier = 1: Raft timeouts of 1 s instead of 5 s, so elections take seconds.
    // Autopilot's loops (default: reconcile 10 s, update 2 s) promote joined nodes to voters; faster
    // loops make the cluster ready sooner. (`disable_mlock` is not set: OpenBao 2.x warns it is unknown.)
    let mut hcl = format!(
        r#"storage "raft" {{
  path = "{path}"
  node_id = "{id}"
  performance_multiplier = 1
  autopilot_reconcile_interval = "300ms"
  autopilot_update_interval = "100ms"
}}

listener "tcp" {{
  address = "127.0.0.1:{api_port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}

api_addr = "http://127.0.0.1:{api_port}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
"#,
        path = dir.display(),
    );
    if audit {
        // Declarative audit options must be identical on every node: a relative path, resolved against
        // each node's own working directory, gives each node its own file.
        hcl.push_str(
            "\naudit \"file\" \"a\" {\n  options {\n    file_path = \"audit.log\"\n  }\n}\n",
        );
    }
    hcl
}

/// Call `f` every 50 ms until it returns true or `timeout` passes; whether it did.
fn poll(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
