//! End-to-end tests of per-host mode (issue 15) against a real OpenBao: one sidekey, a `listener "unix"`
//! serving workloads, and callers running as users the test creates. Acceptance 1 (each caller gets its
//! own secrets with its workload's own token; the server's audit log shows two tokens naming their
//! workloads), 2 (the socket part: a caller matching no workload is refused before any backend request)
//! and 4 (the audit caller block, `sidekey report` grouped by workload).

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::users::TestUser;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey, random_hex};
use tempfile::TempDir;

/// Policy `ph-agent`: the agent's token may create the workloads' tokens (from the role, or as its
/// children), and nothing else.
const AGENT_POLICY: &str = r#"
path "auth/token/create/ph-role" { capabilities = ["update"] }
path "auth/token/create" { capabilities = ["update"] }
"#;

/// The server side: two workloads' secrets and policies, the token role, the agent's token.
struct Server {
    fx: Fixture,
    /// `secret/perhost/<workload>` `value`, per workload.
    values: BTreeMap<&'static str, String>,
    agent_token: PathBuf,
}

impl Server {
    fn start() -> Server {
        let fx = Setup::new().audit().start();
        let mut values = BTreeMap::new();
        for w in ["a", "b"] {
            let value = format!("value-{w}-{}", random_hex(6));
            fx.bao.write(
                &format!("secret/data/perhost/{w}"),
                json!({ "data": { "value": value } }),
            );
            // Data and metadata: the cache checks a static secret's version with the caller's token.
            let policy = format!(
                "path \"secret/data/perhost/{w}\" {{ capabilities = [\"read\"] }}\n\
                 path \"secret/metadata/perhost/{w}\" {{ capabilities = [\"read\"] }}"
            );
            fx.bao.write(
                &format!("sys/policies/acl/p{w}"),
                json!({ "policy": policy }),
            );
            values.insert(w, value);
        }
        fx.bao.write(
            "sys/policies/acl/ph-agent",
            json!({ "policy": AGENT_POLICY }),
        );
        // Workload a's tokens: orphans from the role, periodic, limited to its policy.
        fx.bao.write(
            "auth/token/roles/ph-role",
            json!({ "allowed_policies": ["pa"], "orphan": true, "token_period": "1h",
                    "renewable": true }),
        );
        // The agent holds `pb` so that workload b's child token may have it.
        let created = fx.bao.write(
            "auth/token/create",
            json!({ "policies": ["ph-agent", "pb"], "ttl": "1h", "renewable": true }),
        );
        let token = created["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_string();
        let agent_token = fx.write_file("agent-token", &token);
        Server {
            fx,
            values,
            agent_token,
        }
    }

    /// The server's audit entries that are requests (`type: request`).
    fn requests(&self) -> Vec<Value> {
        self.fx
            .bao
            .audit_log_lines()
            .into_iter()
            .filter(|e| e["type"] == "request")
            .collect()
    }

    /// `input` as the server's audit device `a` writes it (HMAC-SHA256 under its salt).
    fn audit_hash(&self, input: &str) -> String {
        let r = self
            .fx
            .bao
            .write("sys/audit-hash/a", json!({ "input": input }));
        r["hash"].as_str().unwrap().to_string()
    }
}

/// `workload "NAME"` for the callers running as `user`, with policy `pNAME` and `more` lines.
fn workload(name: &str, user: &TestUser, more: &str) -> String {
    format!(
        "workload \"{name}\" {{\n  match {{\n    uid = {}\n  }}\n  policies = [\"p{name}\"]\n{more}}}\n",
        user.uid
    )
}

/// Workload `a` (user `a`, token role) as the agents here serve it.
fn workload_a(a: &TestUser) -> String {
    workload("a", a, "  token_role = \"ph-role\"\n")
}

/// `sidekey run` serving workloads `a` (user `a`, token role) and `b` (user `b`, child token) on a
/// unix socket no user is kept from, with `extra` stanzas.
struct Agent {
    process: Background,
    sock: PathBuf,
    out: ShmDir,
    /// The config file, and the stanzas it has besides its workloads.
    cfg: PathBuf,
    head: String,
    _dir: TempDir,
}

impl Agent {
    fn start(server: &Server, a: &TestUser, b: &TestUser, extra: &[String]) -> Agent {
        let workloads = [workload_a(a), workload("b", b, ""), extra.concat()].concat();
        Agent::serving(server, &workloads)
    }

    /// `sidekey run` with `workloads` (and any other stanzas given with them).
    fn serving(server: &Server, workloads: &str) -> Agent {
        // Every user must reach the socket: a directory they may enter.
        let dir = tempfile::Builder::new()
            .prefix("sidekey-perhost-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let sock = dir.path().join("api.sock");
        let out = ShmDir::new();
        let head = [
            hcl::vault(&server.fx.addr()),
            AutoAuth::token_file(&server.agent_token).to_string(),
            hcl::audit(&out.join("audit.log"), &[]),
            hcl::block("listener \"unix\"", &[&hcl::attr_path("address", &sock)]),
        ]
        .concat();
        let cfg = server.fx.write_config(&[head.as_str(), workloads].concat());
        let mut process = Background::start(
            &["run", "-c", cfg.to_str().unwrap()],
            &[],
            server.fx.dir.path(),
        );
        let up = wait_until(Duration::from_secs(10), || sock.exists());
        assert!(
            up && process.running(),
            "the socket never appeared:\n{}",
            process.stderr()
        );
        Agent {
            process,
            sock,
            out,
            cfg,
            head,
            _dir: dir,
        }
    }

    /// Rewrite the config with `workloads` instead, send SIGHUP, and wait for the `config.reload` event
    /// it gives (the `n`th of the run); the event.
    fn reload(&self, workloads: &str, n: usize) -> Value {
        sidekey_tests::replace_file(&self.cfg, &[self.head.as_str(), workloads].concat());
        self.process.signal(libc::SIGHUP);
        let mut reloads = Vec::new();
        let seen = wait_until(Duration::from_secs(10), || {
            reloads = self
                .audit()
                .into_iter()
                .filter(|e| e["event"] == "config.reload")
                .collect();
            reloads.len() >= n
        });
        assert!(seen, "no config.reload:\n{}", self.process.stderr());
        reloads.swap_remove(n - 1)
    }

    fn audit(&self) -> Vec<Value> {
        sidekey_tests::audit::events_so_far(&self.out.join("audit.log"))
    }
}

/// An answer through the socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// `X-Cache`, empty when not sent.
    x_cache: String,
    body: Value,
}

/// `GET /v1/<path>` through `sock` with curl running as `user`, with `token` as `X-Vault-Token`.
fn get_as(user: &TestUser, sock: &Path, path: &str, token: Option<&str>) -> Answer {
    ask_as(user, sock, "GET", &format!("/v1/{path}"), token)
}

/// `<method> <path>` through `sock` with curl running as `user`, with `token` as `X-Vault-Token` (an
/// empty one sent as an empty header).
fn ask_as(user: &TestUser, sock: &Path, method: &str, path: &str, token: Option<&str>) -> Answer {
    let header = match token {
        // curl drops `Name: ` with nothing after it; `Name;` sends it empty.
        Some("") => Some("X-Vault-Token;".to_string()),
        Some(t) => Some(format!("X-Vault-Token: {t}")),
        None => None,
    };
    ask_with(user, sock, method, path, header.as_slice())
}

/// `<method> <path>` through `sock` with curl running as `user`, with `headers` (`Name: value`).
fn ask_with(user: &TestUser, sock: &Path, method: &str, path: &str, headers: &[String]) -> Answer {
    let mut cmd = user.command("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-X",
        method,
        "-w",
        "\n%header{x-cache}\n%{http_code}",
        "--unix-socket",
    ])
    .arg(sock)
    .arg(format!("http://localhost{path}"));
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.rsplitn(3, '\n');
    let (Some(status), Some(x_cache), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!(
            "curl as {}: {text}{}",
            user.name,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    Answer {
        status: status.trim().parse().unwrap_or(0),
        x_cache: x_cache.trim().to_string(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// Acceptances 1, 2 (socket part) and 4 in one agent run: callers as three users created for the test.
#[test]
fn each_caller_gets_its_own_workloads_secrets_and_a_stranger_nothing() {
    let server = Server::start();
    let (a, b, stranger) = (
        TestUser::create("skt-ph-a"),
        TestUser::create("skt-ph-b"),
        TestUser::create("skt-ph-n"),
    );
    let mut agent = Agent::start(&server, &a, &b, &[]);
    let mode = std::fs::metadata(&agent.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "the kernel's word is the gate, not the mode");

    // --- 1. Each caller its own secret; the other's is the server's 403. ---
    for (user, own, other) in [(&a, "a", "b"), (&b, "b", "a")] {
        let mine = get_as(
            user,
            &agent.sock,
            &format!("secret/data/perhost/{own}"),
            None,
        );
        assert_eq!(
            mine.status,
            200,
            "{} reading its own: {:?}\n{}",
            user.name,
            mine.body,
            agent.process.stderr()
        );
        assert_eq!(
            mine.body["data"]["data"]["value"],
            server.values[own].as_str()
        );
        let theirs = get_as(
            user,
            &agent.sock,
            &format!("secret/data/perhost/{other}"),
            None,
        );
        assert_eq!(
            theirs.status, 403,
            "{} reading {other}'s: {:?}",
            user.name, theirs.body
        );
        assert!(
            theirs.body.to_string().contains("permission denied"),
            "the server's refusal, not sidekey's: {:?}",
            theirs.body
        );
    }
    // A second read goes with the same token (no new token per request).
    assert_eq!(
        get_as(&a, &agent.sock, "secret/data/perhost/a", None).status,
        200
    );

    // The server's audit log: requests of workload a and b with two distinct tokens, each naming its
    // workload in its metadata.
    let requests = server.requests();
    let mut accessors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &requests {
        if let Some(w) = e["auth"]["metadata"]["workload"].as_str() {
            let acc = e["auth"]["accessor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            accessors.entry(w.to_string()).or_default().insert(acc);
        }
    }
    assert_eq!(accessors.len(), 2, "{accessors:?}");
    assert_eq!(accessors["a"].len(), 1, "{accessors:?}");
    assert_eq!(accessors["b"].len(), 1, "{accessors:?}");
    assert_ne!(accessors["a"], accessors["b"]);
    let on_server = |w: &str| accessors[w].iter().next().unwrap().clone();

    // --- 2. A caller matching no workload: 403 from sidekey, nothing reaches the server, even with a
    // token of its own. ---
    let asked = format!("secret/data/perhost/stranger-{}", random_hex(4));
    let own_token = server.fx.bao.write(
        "auth/token/create",
        json!({ "policies": ["pa"], "ttl": "10m" }),
    )["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = server.requests().len();
    for token in [None, Some(own_token.as_str())] {
        let refused = get_as(&stranger, &agent.sock, &asked, token);
        assert_eq!(refused.status, 403, "{:?}", refused.body);
        let message = refused.body["errors"][0].as_str().unwrap_or_default();
        assert!(message.contains("matches no workload"), "{message}");
        assert!(
            message.contains(&format!("uid {}", stranger.uid)),
            "{message}"
        );
        assert!(
            !message.contains("cgroup"),
            "nothing about the host: {message}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = server.requests();
    assert_eq!(after.len(), before, "no request reached the server");
    assert!(
        after.iter().all(|e| !e["request"]["path"]
            .as_str()
            .unwrap_or_default()
            .contains("stranger")),
        "the refused path never reached the server"
    );

    // A matched caller's own token passes untouched: user a with a token for pa reads a's secret as
    // that token, not as its workload's.
    let with_own = get_as(&a, &agent.sock, "secret/data/perhost/a", Some(&own_token));
    assert_eq!(with_own.status, 200, "{:?}", with_own.body);
    let last = server
        .requests()
        .into_iter()
        .rev()
        .find(|e| e["request"]["path"] == "secret/data/perhost/a")
        .unwrap();
    assert!(last["auth"]["metadata"]["workload"].is_null(), "{last}");
    // An empty X-Vault-Token is no token: served with the workload's.
    let empty = get_as(&a, &agent.sock, "secret/data/perhost/a", Some(""));
    assert_eq!(empty.status, 200, "{:?}", empty.body);

    // renew-self as a matched caller renews the workload's token, which does not come back to it.
    let renewed = ask_as(&a, &agent.sock, "POST", "/v1/auth/token/renew-self", None);
    assert_eq!(renewed.status, 200, "{:?}", renewed.body);
    let auth = &renewed.body["auth"];
    assert!(auth["lease_duration"].as_u64().is_some(), "{auth}");
    assert!(
        auth.get("client_token").is_none() && auth.get("accessor").is_none(),
        "{auth}"
    );

    // Nor does it come back wrapped: the wrap is refused, the server never asked.
    let wrap = [String::from("X-Vault-Wrap-TTL: 60s")];
    let wrapped = ask_with(&a, &agent.sock, "POST", "/v1/auth/token/renew-self", &wrap);
    assert_eq!(wrapped.status, 400, "{:?}", wrapped.body);
    assert!(
        wrapped.body.get("wrap_info").is_none(),
        "{:?}",
        wrapped.body
    );
    assert!(
        wrapped.body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("X-Vault-Wrap-TTL"),
        "{:?}",
        wrapped.body
    );

    // A matched caller cannot clear what every workload shares.
    let clear = ask_as(&a, &agent.sock, "POST", "/agent/v1/cache-clear", None);
    assert_eq!(clear.status, 403, "{:?}", clear.body);

    // A refused caller's request to the agent API is audited with its path.
    let api = ask_as(
        &stranger,
        &agent.sock,
        "POST",
        "/agent/v1/cache-clear",
        None,
    );
    assert_eq!(api.status, 403, "{:?}", api.body);

    // --- 4. The agent's audit: the caller block on every retrieval, the refusal, the report. ---
    agent.process.stop();
    let events = agent.audit();
    for (user, w) in [(&a, "a"), (&b, "b")] {
        let path = format!("secret/data/perhost/{w}");
        let ev = events
            .iter()
            .find(|e| e["event"] == "proxy.request" && e["secret"]["path"] == path.as_str())
            .unwrap_or_else(|| panic!("no proxy.request for {path}: {events:#?}"));
        let c = &ev["caller"];
        assert_eq!(c["workload"], w, "{ev}");
        assert_eq!(c["uid"], user.uid, "{ev}");
        assert_eq!(c["gid"], user.gid, "{ev}");
        assert!(c["pid"].as_u64().is_some_and(|p| p > 0), "{ev}");
        assert!(
            c["exe"].as_str().is_some_and(|e| e.ends_with("curl")),
            "{ev}"
        );
        // The accessor joins sidekey's event to the server's audit log.
        let accessor = c["token_accessor"].as_str().unwrap();
        assert_eq!(server.audit_hash(accessor), on_server(w), "{ev}");
        // The token's creation is audited with its accessor, naming the workload and the caller that
        // asked first.
        assert!(
            events.iter().any(|e| e["event"] == "auth.login"
                && e["caller"]["workload"] == w
                && e["caller"]["uid"] == user.uid
                && e["identity"]["token_accessor"] == accessor),
            "{events:#?}"
        );
    }
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "caller.refused")
        .collect();
    assert_eq!(refused.len(), 3, "{events:#?}");
    for ev in &refused {
        assert_eq!(ev["outcome"], "failure");
        assert_eq!(ev["caller"]["uid"], stranger.uid);
        assert!(ev["caller"].get("workload").is_none(), "{ev}");
        assert!(
            ev["error"]
                .as_str()
                .unwrap()
                .contains("no workload matches")
        );
    }
    let paths: Vec<&str> = refused
        .iter()
        .map(|e| e["secret"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [asked.as_str(), asked.as_str(), "/agent/v1/cache-clear"]
    );
    // The read with the caller's own token: under its workload, marked, with no workload token.
    let own = events
        .iter()
        .find(|e| e["event"] == "proxy.request" && e["caller"]["own_token"] == true)
        .unwrap_or_else(|| panic!("no proxy.request with the caller's own token: {events:#?}"));
    assert_eq!(own["caller"]["workload"], "a", "{own}");
    assert_eq!(own["secret"]["path"], "secret/data/perhost/a", "{own}");
    assert!(own["caller"].get("token_accessor").is_none(), "{own}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["caller"]["own_token"] == true)
            .count(),
        1,
        "only that one: {events:#?}"
    );
    // Neither the workloads' tokens nor the caller's own is in the audit trail.
    let trail = std::fs::read_to_string(agent.out.join("audit.log")).unwrap();
    assert!(!trail.contains(&own_token));
    for v in server.values.values() {
        assert!(!trail.contains(v.as_str()));
    }
    sidekey_tests::audit::assert_verifies(&agent.out.join("audit.log"));

    let md = Sidekey::new(["report", "--audit"])
        .args([agent.out.join("audit.log")])
        .run();
    assert_eq!(md.code(), 0, "{}", md.stderr);
    let (at_a, at_b) = (
        md.stdout
            .find("## Workload `a`")
            .unwrap_or_else(|| panic!("{}", md.stdout)),
        md.stdout
            .find("## Workload `b`")
            .unwrap_or_else(|| panic!("{}", md.stdout)),
    );
    assert!(
        md.stdout[at_a..at_b].contains("| secret/data/perhost/a |"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout[at_b..].contains("| secret/data/perhost/b |"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("caller.refused"), "{}", md.stdout);
    let csv = Sidekey::new(["report", "--format", "csv", "--audit"])
        .args([agent.out.join("audit.log")])
        .run();
    let row_a = csv
        .stdout
        .lines()
        .find(|l| l.starts_with("secret/data/perhost/a,"))
        .unwrap_or_else(|| panic!("{}", csv.stdout));
    // The workload column, wherever the CSV puts it.
    let header = csv.stdout.lines().next().unwrap_or_default();
    let col = header
        .split(',')
        .position(|h| h == "workload")
        .unwrap_or_else(|| panic!("{header}"));
    assert_eq!(row_a.split(',').nth(col), Some("a"), "{header}\n{row_a}");
}

/// With `cache {}` (static secrets too), entries are per token: a workload's cached secret is served
/// again to it, never to another workload, whose request goes to the server (and is refused there).
#[test]
fn with_a_cache_workloads_never_share_entries() {
    let server = Server::start();
    let (a, b) = (TestUser::create("skt-phc-a"), TestUser::create("skt-phc-b"));
    let cache = hcl::block("cache", &["cache_static_secrets = true"]);
    let agent = Agent::start(&server, &a, &b, &[cache]);
    let first = get_as(&a, &agent.sock, "secret/data/perhost/a", None);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.x_cache, "MISS");
    let again = get_as(&a, &agent.sock, "secret/data/perhost/a", None);
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        again.x_cache, "HIT",
        "the same workload is served from the cache"
    );
    let reads = |server: &Server| {
        server
            .requests()
            .iter()
            .filter(|e| e["request"]["path"] == "secret/data/perhost/a")
            .count()
    };
    let before = reads(&server);
    let other = get_as(&b, &agent.sock, "secret/data/perhost/a", None);
    assert_eq!(other.status, 403, "{:?}", other.body);
    assert!(
        other.body.to_string().contains("permission denied"),
        "{:?}",
        other.body
    );
    assert!(reads(&server) > before, "b's request went to the server");
    let own = get_as(&b, &agent.sock, "secret/data/perhost/b", None);
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(
        own.body["data"]["data"]["value"],
        server.values["b"].as_str()
    );
}

/// The workload's token revoked on the server: the next request is served with a new one. (Its own
/// agent: a policy refusal checks the token, and the next check of that token waits 30 s.)
#[test]
fn a_revoked_workload_token_is_replaced_and_the_request_served() {
    let server = Server::start();
    let a = TestUser::create("skt-phv-a");
    let agent = Agent::serving(&server, &workload_a(&a));
    assert_eq!(
        get_as(&a, &agent.sock, "secret/data/perhost/a", None).status,
        200
    );
    let accessor_of = |events: &[Value]| {
        events
            .iter()
            .rev()
            .find(|e| e["event"] == "proxy.request" && e["caller"]["workload"] == "a")
            .and_then(|e| e["caller"]["token_accessor"].as_str())
            .map(str::to_string)
    };
    let mut revoked = None;
    assert!(wait_until(Duration::from_secs(5), || {
        revoked = accessor_of(&agent.audit());
        revoked.is_some()
    }));
    let revoked = revoked.unwrap();
    server
        .fx
        .bao
        .write("auth/token/revoke-accessor", json!({ "accessor": revoked }));
    let again = get_as(&a, &agent.sock, "secret/data/perhost/a", None);
    assert_eq!(
        again.status,
        200,
        "{:?}\n{}",
        again.body,
        agent.process.stderr()
    );
    assert_eq!(
        again.body["data"]["data"]["value"],
        server.values["a"].as_str()
    );
    let mut replaced = None;
    assert!(wait_until(Duration::from_secs(5), || {
        replaced = accessor_of(&agent.audit()).filter(|a| *a != revoked);
        replaced.is_some()
    }));
}

/// A reload that changes the workloads applies them to the running socket: a workload added by SIGHUP
/// serves its caller without a restart, a removed one's caller is refused from then on, and a workload
/// that cannot be served rejects the reload (the running ones go on). The `config.reload` event names
/// the workloads.
#[test]
fn workloads_changed_by_a_reload_apply_without_a_restart() {
    let server = Server::start();
    let (a, b) = (TestUser::create("skt-phr-a"), TestUser::create("skt-phr-b"));
    let mut agent = Agent::serving(&server, &workload_a(&a));
    let read = |agent: &Agent, user: &TestUser, w: &str| {
        get_as(user, &agent.sock, &format!("secret/data/perhost/{w}"), None)
    };
    let refused = |answer: Answer| {
        assert_eq!(answer.status, 403, "{:?}", answer.body);
        assert!(
            answer.body.to_string().contains("matches no workload"),
            "refused by sidekey: {:?}",
            answer.body
        );
    };
    assert_eq!(read(&agent, &a, "a").status, 200);
    refused(read(&agent, &b, "b"));

    let both = [workload_a(&a), workload("b", &b, "")].concat();
    let e = agent.reload(&both, 1);
    assert_eq!(e["outcome"], "success", "{e}");
    assert_eq!(e["reload"]["added"], json!(["workload \"b\""]), "{e}");
    let served = read(&agent, &b, "b");
    assert_eq!(served.status, 200, "{:?}", served.body);
    assert_eq!(
        served.body["data"]["data"]["value"],
        server.values["b"].as_str()
    );

    let e = agent.reload(&workload("b", &b, ""), 2);
    assert_eq!(e["reload"]["removed"], json!(["workload \"a\""]), "{e}");
    refused(read(&agent, &a, "a"));
    assert_eq!(read(&agent, &b, "b").status, 200);

    let bad = format!(
        "workload \"b\" {{\n  match {{\n    uid = {}\n    cgroup = \"/system.slice/[unclosed\"\n  }}\n  policies = [\"pb\"]\n}}\n",
        b.uid
    );
    let e = agent.reload(&bad, 3);
    assert_eq!(e["outcome"], "failure", "{e}");
    assert!(e["error"].as_str().unwrap().contains("unclosed"), "{e}");
    assert_eq!(
        read(&agent, &b, "b").status,
        200,
        "the running workloads go on"
    );
    assert_eq!(agent.process.stop(), Some(0), "{}", agent.process.stderr());
}

/// A reload that changes how a workload's token is made (its `policies`) retires its token: the next
/// request is served with a new token carrying the new policies, and the old one is revoked on the server;
/// a reload that removes the workload revokes its token too.
#[test]
fn a_reload_retires_the_token_of_a_changed_or_removed_workload() {
    let server = Server::start();
    let (a, b) = (TestUser::create("skt-pht-a"), TestUser::create("skt-pht-b"));
    let with_b = |a_stanza: &str| [a_stanza, workload("b", &b, "").as_str()].concat();
    let agent = Agent::serving(&server, &with_b(&workload_a(&a)));
    let read = |w: &str| get_as(&a, &agent.sock, &format!("secret/data/perhost/{w}"), None);
    // The accessor of the token a's last request was served with, once it is not `old`.
    let served_with = |old: Option<&str>| {
        let mut accessor = None;
        let seen = wait_until(Duration::from_secs(5), || {
            accessor = agent
                .audit()
                .iter()
                .rev()
                .find(|e| e["event"] == "proxy.request" && e["caller"]["workload"] == "a")
                .and_then(|e| e["caller"]["token_accessor"].as_str())
                .filter(|t| Some(*t) != old)
                .map(str::to_string);
            accessor.is_some()
        });
        assert!(seen, "no request served for a:\n{}", agent.process.stderr());
        accessor.unwrap()
    };
    let lookup = |accessor: &str| {
        server.fx.bao.request(
            "POST",
            "auth/token/lookup-accessor",
            Some(server.fx.bao.root_token()),
            Some(&json!({ "accessor": accessor })),
        )
    };
    let revoked =
        |accessor: &str| wait_until(Duration::from_secs(5), || !lookup(accessor).is_success());
    assert_eq!(read("a").status, 200);
    assert_eq!(read("b").status, 403, "a's token has only pa");
    let first = served_with(None);

    // The role may grant pb too, and workload a asks for it.
    server.fx.bao.write(
        "auth/token/roles/ph-role",
        json!({ "allowed_policies": ["pa", "pb"], "orphan": true, "token_period": "1h",
                "renewable": true }),
    );
    let changed = format!(
        "workload \"a\" {{\n  match {{\n    uid = {}\n  }}\n  policies = [\"pa\", \"pb\"]\n  token_role = \"ph-role\"\n}}\n",
        a.uid
    );
    let e = agent.reload(&with_b(&changed), 1);
    assert_eq!(e["reload"]["changed"], json!(["workload \"a\""]), "{e}");
    let served = read("b");
    assert_eq!(served.status, 200, "{:?}", served.body);
    assert_eq!(
        served.body["data"]["data"]["value"],
        server.values["b"].as_str()
    );
    let second = served_with(Some(&first));
    let policies = lookup(&second).body["data"]["policies"].clone();
    assert!(
        policies.as_array().unwrap().contains(&json!("pb")),
        "{policies}"
    );
    assert!(
        revoked(&first),
        "the old token is revoked on the server:\n{}",
        agent.process.stderr()
    );

    let e = agent.reload(&workload("b", &b, ""), 2);
    assert_eq!(e["reload"]["removed"], json!(["workload \"a\""]), "{e}");
    assert!(
        revoked(&second),
        "a removed workload's token is revoked on the server:\n{}",
        agent.process.stderr()
    );
    let own = get_as(&b, &agent.sock, "secret/data/perhost/b", None);
    assert_eq!(own.status, 200, "{:?}", own.body);
    let mut agent = agent;
    assert_eq!(agent.process.stop(), Some(0), "{}", agent.process.stderr());
}

/// A second agent started with the same config does not take over the first one's sockets: it exits 78
/// naming the socket another process listens on, and the first one goes on serving on all of them (the
/// API, the credentials and the admin socket), which it removes when it stops.
#[test]
fn a_second_agent_with_the_same_config_leaves_the_first_ones_sockets() {
    let server = Server::start();
    let a = TestUser::create("skt-ph2-a");
    let socks = tempfile::tempdir().unwrap();
    let (creds, admin) = (
        socks.path().join("creds.sock"),
        socks.path().join("admin.sock"),
    );
    let extra = [
        hcl::block(
            "listener \"credentials\"",
            &[&hcl::attr_path("address", &creds)],
        ),
        hcl::admin_listener(&format!("unix:{}", admin.display())),
    ]
    .concat();
    let mut first = Agent::serving(&server, &[workload_a(&a), extra].concat());
    assert!(
        creds.exists() && admin.exists(),
        "{}",
        first.process.stderr()
    );

    let refused = format!(
        "listener \"admin\" {0}: another process is listening on {0} (is another sidekey running \
         with this config?)",
        admin.display()
    );
    second_agent_exits_78(&server, &first, &refused);

    assert!(first.process.running());
    let read = get_as(&a, &first.sock, "secret/data/perhost/a", None);
    assert_eq!(read.status, 200, "{:?}", read.body);
    let health = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--unix-socket"])
        .arg(&admin)
        .arg("http://localhost/healthz")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&health.stdout), "ok\n");
    assert!(std::os::unix::net::UnixStream::connect(&creds).is_ok());

    assert_eq!(first.process.stop(), Some(0), "{}", first.process.stderr());
    for sock in [&first.sock, &creds, &admin] {
        assert!(!sock.exists(), "{} is removed at stop", sock.display());
    }
}

/// Each kind of socket the second agent meets first is refused alike: with no admin listener, the
/// credentials socket; with neither, the API socket.
#[test]
fn a_second_agent_is_refused_at_each_socket() {
    let server = Server::start();
    let a = TestUser::create("skt-ph3-a");
    let socks = tempfile::tempdir().unwrap();
    let creds = socks.path().join("creds.sock");
    let with_creds = hcl::block(
        "listener \"credentials\"",
        &[&hcl::attr_path("address", &creds)],
    );
    for (extra, taken) in [(with_creds.as_str(), Some(&creds)), ("", None)] {
        let mut first = Agent::serving(&server, &[workload_a(&a).as_str(), extra].concat());
        let taken = taken.unwrap_or(&first.sock).clone();
        let kind = if extra.is_empty() {
            "unix"
        } else {
            "credentials"
        };
        let refused = format!(
            "listener \"{kind}\" ({0}): another process is listening on {0}",
            taken.display()
        );
        second_agent_exits_78(&server, &first, &refused);
        assert!(first.sock.exists() && first.process.running());
        assert_eq!(
            get_as(&a, &first.sock, "secret/data/perhost/a", None).status,
            200
        );
        assert_eq!(first.process.stop(), Some(0), "{}", first.process.stderr());
    }
}

/// Start a second `sidekey run` with `first`'s config: it exits 78 saying `refused`.
fn second_agent_exits_78(server: &Server, first: &Agent, refused: &str) {
    let mut second = Background::start(
        &["run", "-c", first.cfg.to_str().unwrap()],
        &[],
        server.fx.dir.path(),
    );
    let (code, _, stderr) = second.finish(Duration::from_secs(10));
    assert_eq!(code, 78, "{stderr}");
    assert!(stderr.contains(refused), "{stderr}");
}
