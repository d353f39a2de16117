//! Issue 13, acceptance 1: sidekey against a real 3-node OpenBao Raft cluster while the leader is killed
//! twice and a standby is sealed. The agent knows all three addresses and delivers a KV v2 secret, a
//! database credential (a renewable lease) and a PKI certificate; a watcher checks every output every
//! second (the credential logs in to PostgreSQL, the certificate is unexpired, the KV file is right,
//! `/readyz` answers 200). Afterwards sidekey's audit trail must show one login, one database credential,
//! renewals that went on through the elections, and the failover (`backend.node` changing).
//!
//! TTLs are scaled down so that renewals fall inside the run (token 60 s, database lease 30 s, certificate
//! 90 s) and the whole test takes well under two minutes; a cluster runs alone (2 cores).
//!
//! Also here: a KV v2 mount created a moment ago, read through a standby that has not seen it upgraded.

// Test code: a failed expectation is a failed test; wall-clock time is what the test measures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use sidekey_tests::audit::{
    assert_verifies, events_so_far, events_strict, field, now_ms, rfc3339_ms, summary,
};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::setup::PKI_DOMAIN;
use sidekey_tests::{ClusterFixture, Setup, ShmDir, Sidekey, sidekey_bin};

/// Generous: an election takes 3-5 s here, more on a loaded machine.
const ELECTION: Duration = Duration::from_secs(30);
/// Token TTL of the JWT role (max TTL an hour: renewals, never a forced re-login).
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Default TTL of the database role (max TTL an hour: renewals, never a scheduled rotation).
const DB_TTL: Duration = Duration::from_secs(30);
/// TTL of each issued certificate: re-issued on schedule at ~2/3 of it.
const CERT_TTL_S: u64 = 90;
/// How long sidekey runs once its outputs are delivered.
const RUN: Duration = Duration::from_secs(85);
/// How long before a renewal may come the leader is killed, so that the election covers it.
const LEAD_MS: i64 = 700;

const KV_TEMPLATE: &str = r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}:{{ .Data.data.password }}{{ end }}"#;
const DB_TEMPLATE: &str =
    r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .Data.password }}{{ end }}"#;

/// Three `bao server`s on a 2-core machine: one cluster at a time in this binary.
fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next test still gets its turn.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `vault { address = FIRST  addresses = [REST...] }`.
fn vault_block(addrs: &[String]) -> String {
    let others: Vec<String> = addrs[1..].iter().map(|a| hcl::quote(a)).collect();
    hcl::block(
        "vault",
        &[
            &hcl::attr("address", &addrs[0]),
            &format!("addresses = [{}]\n", others.join(", ")),
        ],
    )
}

/// What the watcher saw go wrong, with the time (ms since the epoch) and what.
#[derive(Default)]
struct Watch {
    failures: Mutex<Vec<(i64, String)>>,
    rounds: Mutex<u32>,
    db_users: Mutex<BTreeSet<String>>,
}

impl Watch {
    fn fail(&self, what: String) {
        eprintln!("watch: {what}");
        self.failures.lock().unwrap().push((now_ms(), what));
    }
}

/// The outputs and how to check them.
struct Outputs {
    kv: PathBuf,
    db: PathBuf,
    cert: PathBuf,
    readyz: String,
    kv_expected: String,
}

/// A file's inode: a rename over the destination (every rewrite) changes it.
fn inode(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.ino())
}

/// Whether the first certificate in `pem` is valid now (`openssl x509 -checkend 0`).
fn cert_valid_now(pem: &Path) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-checkend", "0", "-in"])
        .arg(pem)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl x509 -checkend 0: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One round of checks of every output.
fn check_outputs(fx: &ClusterFixture, o: &Outputs, watch: &Watch) {
    match std::fs::read_to_string(&o.kv) {
        Ok(s) if s == o.kv_expected => {}
        Ok(_) => watch.fail("kv file: unexpected content".into()),
        Err(e) => watch.fail(format!("kv file: {e}")),
    }
    match std::fs::read_to_string(&o.db) {
        Ok(s) => match s.split_once(' ') {
            Some((user, pass)) => {
                watch.db_users.lock().unwrap().insert(user.to_owned());
                if !fx.postgres().can_login(user, pass) {
                    watch.fail(format!("database rejects {user}"));
                }
            }
            None => watch.fail("db file: not USER PASSWORD".into()),
        },
        Err(e) => watch.fail(format!("db file: {e}")),
    }
    match std::fs::read_to_string(&o.cert) {
        Ok(s) if s.starts_with("-----BEGIN CERTIFICATE-----") && s.contains("PRIVATE KEY") => {
            if let Err(e) = cert_valid_now(&o.cert) {
                watch.fail(format!("cert: {e}"));
            }
        }
        Ok(_) => watch.fail("cert file: not a certificate and key".into()),
        Err(e) => watch.fail(format!("cert file: {e}")),
    }
    match sidekey_tests::bao::http_client().get(&o.readyz).send() {
        Ok(r) if r.status().as_u16() == 200 => {}
        Ok(r) => watch.fail(format!(
            "/readyz {}: {}",
            r.status(),
            r.text().unwrap_or_default()
        )),
        Err(e) => watch.fail(format!("/readyz: {e}")),
    }
    *watch.rounds.lock().unwrap() += 1;
}

/// Sleep until `t` (no-op when it has passed).
fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

/// A step of the scenario, with the wall clock (ms) it happened at, for the audit checks and the log.
#[derive(Debug, Clone)]
struct Step {
    at_ms: i64,
    what: String,
    node: Option<String>,
}

/// The earliest time (ms since the epoch) at which sidekey may renew its token or its database lease next,
/// from its audit trail so far: renewals come at 2/3 of the TTL, ±10%.
fn earliest_renewal(trail: &Path) -> Option<i64> {
    let events = events_so_far(trail);
    let last = |pred: &dyn Fn(&Value) -> bool| {
        events
            .iter()
            .filter(|e| field(e, "/outcome") == "success" && pred(e))
            .filter_map(|e| rfc3339_ms(field(e, "/time")).map(|t| (t, e)))
            .next_back()
    };
    let token = last(&|e| ["auth.login", "auth.renew"].contains(&field(e, "/event")))
        .map(|(t, _)| t + i64::try_from(TOKEN_TTL.as_millis()).unwrap() * 2 / 3 * 9 / 10);
    let lease = last(&|e| field(e, "/secret/path") == "database/creds/app").map(|(t, e)| {
        let ttl_ms = e["secret"]["lease_duration_s"].as_i64().unwrap_or(0) * 1000;
        t + ttl_ms * 2 / 3 * 9 / 10
    });
    token.into_iter().chain(lease).min()
}

/// Wait until the next renewal (see [`earliest_renewal`]) is [`LEAD_MS`] away (at most 60 s).
fn wait_for_renewal_window(trail: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(due) = earliest_renewal(trail) else {
            panic!("nothing to renew in the audit trail");
        };
        let wait = due - LEAD_MS - now_ms();
        if wait <= 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(u64::try_from(wait.min(250)).unwrap()));
    }
    panic!("no renewal due within 60 s");
}

/// The node sidekey's last backend call went to, from its audit trail.
fn current_node(trail: &Path) -> Option<String> {
    events_so_far(trail)
        .iter()
        .rev()
        .map(|e| field(e, "/backend/node"))
        .find(|n| !n.is_empty())
        .map(str::to_owned)
}

fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| field(e, "/event") == name)
        .collect()
}

#[test]
fn elections_and_a_sealed_standby_cost_no_relogin_no_reissue_and_no_stale_output() {
    let _turn = one_cluster_at_a_time();
    let t0 = Instant::now();
    sidekey_bin();
    let fx = Setup::new()
        .audit()
        .jwt()
        .database()
        .pki()
        .token_ttls(TOKEN_TTL, Duration::from_secs(3600))
        .db_ttls(DB_TTL, Duration::from_secs(3600))
        .pki_max_ttl(Duration::from_secs(3600))
        .start_cluster(3);
    let cluster = &fx.cluster;
    eprintln!("cluster set up in {:.1?}", t0.elapsed());

    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = fx.dir.path().join("audit.log");
    let admin = sidekey_tests::ports::free_port();
    // sidekey starts on a standby (it stays on the node that answers): reads are served there, writes
    // forwarded, and during an election it answers writes with a 307 to the dead leader or a 500.
    let leader = cluster.wait_healthy();
    let mut order: Vec<usize> = cluster.standbys();
    order.insert(1, leader);
    let addrs: Vec<String> = order.iter().map(|&i| cluster.addr(i)).collect();
    let outputs = Outputs {
        kv: out.join("kv"),
        db: out.join("db"),
        cert: out.join("cert.pem"),
        readyz: format!("http://127.0.0.1:{admin}/readyz"),
        kv_expected: format!("app:{}", fx.sentinel),
    };
    let cert_template = format!(
        "{{{{ with pkiCert \"pki/issue/app\" \"common_name=svc.{PKI_DOMAIN}\" \"ttl={CERT_TTL_S}s\" }}}}\
         {{{{ .Data.Cert }}}}{{{{ .Data.Key }}}}{{{{ end }}}}"
    );
    let config = [
        vault_block(&addrs),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::template_config(&["static_secret_render_interval = \"3s\""]),
        hcl::audit(&trail, &[]),
        hcl::admin_listener(&format!("127.0.0.1:{admin}")),
        hcl::template(KV_TEMPLATE, &outputs.kv, &[]),
        hcl::template(DB_TEMPLATE, &outputs.db, &[]),
        hcl::template(&cert_template, &outputs.cert, &[]),
    ]
    .concat();
    let cfg = fx.dir.path().join("agent.hcl");
    std::fs::write(&cfg, &config).unwrap();

    let mut agent = Background::sidekey()
        .clean_env()
        .env("SIDEKEY_LOG", "info,sidekey=debug")
        .args(["run", "-c"])
        .arg(&cfg)
        .logs_in(fx.dir.path())
        .start();
    let ready = wait_until(Duration::from_secs(30), || {
        [&outputs.kv, &outputs.db, &outputs.cert]
            .iter()
            .all(|p| p.exists())
            && sidekey_tests::bao::http_client()
                .get(&outputs.readyz)
                .send()
                .is_ok_and(|r| r.status().as_u16() == 200)
    });
    assert!(ready, "outputs not delivered:\n{}", agent.stderr());
    let start = Instant::now();
    eprintln!("sidekey ready {:.1?} after the test began", t0.elapsed());
    let kv_inode = inode(&outputs.kv);
    let db_inode = inode(&outputs.db);

    let watch = Watch::default();
    let stop = AtomicBool::new(false);
    let mut steps: Vec<Step> = Vec::new();
    let mut step = |what: String, node: Option<usize>| {
        eprintln!("{:>6.1?} {what}", start.elapsed());
        steps.push(Step {
            at_ms: now_ms(),
            what,
            node: node.map(|i| cluster.addr(i)),
        });
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let round = Instant::now();
                check_outputs(&fx, &outputs, &watch);
                sleep_until(round + Duration::from_secs(1));
            }
        });

        // 1. Kill the leader just before the database lease's first renewal: sidekey is on a standby,
        //    which answers that write with a 307 to the dead leader or a 500 until a new leader is elected.
        wait_for_renewal_window(&trail);
        let first = cluster.leader().expect("a leader");
        step(format!("kill leader n{first}"), Some(first));
        cluster.kill(first);
        let second = cluster.wait_for_leader(ELECTION);
        step(format!("n{second} active"), Some(second));

        // 2. The killed node comes back (a standby), so killing the next leader leaves a quorum.
        sleep_until(Instant::now() + Duration::from_secs(3));
        cluster.restart(first);
        cluster.wait_healthy();
        step(format!("n{first} restarted, standby"), Some(first));

        // 3. Kill the new leader just before the next renewal (the token's, ~40 s after login, or the
        //    lease's second).
        wait_for_renewal_window(&trail);
        let leader = cluster.leader().expect("a leader");
        step(format!("kill leader n{leader}"), Some(leader));
        cluster.kill(leader);
        let third = cluster.wait_for_leader(ELECTION);
        step(format!("n{third} active"), Some(third));
        sleep_until(Instant::now() + Duration::from_secs(3));
        cluster.restart(leader);
        cluster.wait_healthy();
        step(format!("n{leader} restarted, standby"), Some(leader));

        // 4. Seal a standby for a while, the one sidekey talks to if it is on one: two of three still
        //    make a quorum.
        let standbys = cluster.standbys();
        let using = current_node(&trail);
        let sealed = standbys
            .iter()
            .copied()
            .find(|&i| Some(cluster.addr(i)) == using)
            .unwrap_or(standbys[0]);
        cluster.seal(sealed);
        step(format!("sealed standby n{sealed}"), Some(sealed));
        sleep_until(Instant::now() + Duration::from_secs(10));
        cluster.unseal(sealed);
        cluster.wait_healthy();
        step(format!("unsealed n{sealed}"), Some(sealed));

        // 5. Run on past the second token renewal and a few lease renewals.
        sleep_until(start + RUN);
        stop.store(true, Ordering::SeqCst);
    });
    let code = agent.stop();
    let stderr = agent.stderr();
    eprintln!("scenario done after {:.1?}", t0.elapsed());
    assert_eq!(code, Some(0), "sidekey did not stop cleanly:\n{stderr}");

    let events = events_strict(&trail);
    let all = summary(&events);
    let ctx = || {
        format!(
            "steps: {steps:#?}\naudit:\n{all}\nsidekey stderr (tail):\n{}",
            tail(&stderr, 150)
        )
    };

    // Every output stayed valid throughout.
    let failures = watch.failures.lock().unwrap().clone();
    let rounds = *watch.rounds.lock().unwrap();
    assert!(rounds >= 60, "the watcher ran only {rounds} rounds");
    assert!(
        failures.is_empty(),
        "outputs went bad: {failures:#?}\n{}",
        ctx()
    );
    assert_eq!(
        watch.db_users.lock().unwrap().len(),
        1,
        "the database credential changed\n{}",
        ctx()
    );
    assert_eq!(
        inode(&outputs.kv),
        kv_inode,
        "the KV file was rewritten\n{}",
        ctx()
    );
    assert_eq!(
        inode(&outputs.db),
        db_inode,
        "the db file was rewritten\n{}",
        ctx()
    );

    // One login, ever.
    let logins = events_named(&events, "auth.login");
    assert_eq!(logins.len(), 1, "re-logins\n{}", ctx());
    assert_eq!(field(logins[0], "/outcome"), "success");
    assert!(
        !stderr.contains("logging in again"),
        "sidekey logged in again\n{}",
        ctx()
    );

    // One database credential, kept by renewals through the elections.
    let db_reads: Vec<&Value> = events_named(&events, "secret.read")
        .into_iter()
        .filter(|e| field(e, "/secret/path") == "database/creds/app")
        .collect();
    assert_eq!(db_reads.len(), 1, "new database credentials\n{}", ctx());
    let renewed = |name: &str, path: &str| {
        events_named(&events, name)
            .into_iter()
            .filter(|e| field(e, "/outcome") == "success" && field(e, "/secret/path") == path)
            .count()
    };
    assert!(
        renewed("secret.renew", "database/creds/app") >= 2,
        "the database lease was not renewed on schedule\n{}",
        ctx()
    );
    assert!(
        renewed("auth.renew", "") >= 1,
        "the token was never renewed\n{}",
        ctx()
    );

    // Certificates only on schedule: at ~2/3 of each one's life, never because of an election.
    let issued = events_named(&events, "secret.write")
        .into_iter()
        .filter(|e| {
            field(e, "/outcome") == "success" && field(e, "/secret/path") == "pki/issue/app"
        })
        .count();
    let ran = start.elapsed().as_secs();
    let scheduled = 1 + ran / (CERT_TTL_S * 2 / 3 * 9 / 10);
    assert!(
        (1..=scheduled as usize).contains(&issued),
        "{issued} certificates issued in {ran} s (at most {scheduled} on schedule)\n{}",
        ctx()
    );

    // The audit shows the failover: the answering node changes, and no node answers while it is down.
    let answered: Vec<(i64, &str)> = events
        .iter()
        .filter(|e| field(e, "/outcome") == "success")
        .filter_map(|e| {
            let node = field(e, "/backend/node");
            (!node.is_empty()).then(|| (rfc3339_ms(field(e, "/time")).unwrap_or(0), node))
        })
        .collect();
    let switches = answered.windows(2).filter(|w| w[0].1 != w[1].1).count();
    let nodes: BTreeSet<&str> = answered.iter().map(|(_, n)| *n).collect();
    eprintln!("answering nodes: {nodes:?}, {switches} switches");
    assert!(
        switches >= 2 && nodes.len() >= 2,
        "no failover in the audit\n{}",
        ctx()
    );
    for (kill, back) in steps
        .iter()
        .filter(|s| s.what.starts_with("kill"))
        .zip(steps.iter().filter(|s| s.what.contains("restarted")))
    {
        let dead = kill.node.as_deref().unwrap();
        // 100 ms of slack: a request answered just before the kill is logged just after it.
        let served = answered
            .iter()
            .filter(|(t, n)| *n == dead && *t > kill.at_ms + 100 && *t < back.at_ms)
            .count();
        assert_eq!(served, 0, "{dead} answered while it was down\n{}", ctx());
    }

    // Secrets never reach the logs or the audit trail.
    assert!(
        !stderr.contains(&fx.sentinel),
        "the KV secret is in sidekey's log"
    );
    assert!(
        !std::fs::read_to_string(&trail)
            .unwrap()
            .contains(&fx.sentinel),
        "the KV secret is in the audit trail"
    );
    assert_verifies(&trail);
    eprintln!(
        "audit:\n{all}\nsidekey warnings:\n{}",
        stderr
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let failed = events
        .iter()
        .filter(|e| field(e, "/outcome") == "failure")
        .count();
    eprintln!(
        "total {:.1?}: {rounds} watch rounds, {} audit events ({failed} failed calls, retried), \
         {issued} certificates",
        t0.elapsed(),
        events.len()
    );
}

/// For ~1 s after a KV v2 mount is created, a standby answers reads there with 400 "Waiting for the
/// primary to upgrade from non-versioned to versioned data" while the active node already serves it.
/// `sidekey run --once`, with that standby as its first address, renders the secret anyway (it fails over
/// to the active node) instead of failing on a "bad request".
#[test]
fn a_kv_v2_mount_created_a_moment_ago_is_read_through_a_standby_that_has_not_caught_up() {
    let _turn = one_cluster_at_a_time();
    sidekey_bin();
    let fx = Setup::new().start_cluster(3);
    let cluster = &fx.cluster;
    let leader = cluster.wait_healthy();
    let standby = cluster.standbys()[0];
    let mut order = vec![standby, leader];
    order.extend(cluster.standbys().into_iter().filter(|&i| i != standby));
    let addrs: Vec<String> = order.iter().map(|&i| cluster.addr(i)).collect();
    let root = cluster.root_token().to_owned();
    let token = fx.dir.path().join("root-token");
    std::fs::write(&token, &root).unwrap();
    let out = ShmDir::new();
    let mut caught = 0;
    for round in 0..3 {
        let mount = format!("fresh{round}");
        cluster.write(
            &format!("sys/mounts/{mount}"),
            serde_json::json!({ "type": "kv", "options": { "version": "2" } }),
        );
        let value = format!("v{round}");
        let written = wait_until(Duration::from_secs(10), || {
            cluster
                .request_to(
                    leader,
                    "POST",
                    &format!("{mount}/data/x"),
                    Some(&root),
                    Some(&serde_json::json!({ "data": { "v": value } })),
                )
                .is_success()
        });
        assert!(written, "the active node never served {mount}/");
        // Whether the standby is still behind right now (if not, this round proves less).
        let probe = cluster.request_to(
            standby,
            "GET",
            &format!("{mount}/data/x"),
            Some(&root),
            None,
        );
        if probe.status == 400 && probe.body.to_string().contains("Waiting for the primary") {
            caught += 1;
        }
        let dest = out.join(&mount);
        let cfg = fx.dir.path().join(format!("{mount}.hcl"));
        let config = [
            vault_block(&addrs),
            hcl::token_file_auto_auth(&token),
            hcl::template(
                &format!(
                    "{{{{ with secret \"{mount}/data/x\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}"
                ),
                &dest,
                &[],
            ),
        ]
        .concat();
        std::fs::write(&cfg, config).unwrap();
        let run = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
        assert_eq!(run.code(), 0, "round {round}: {}", run.show());
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), value);
    }
    assert!(
        caught > 0,
        "the standby was never caught behind a new mount: this test did not test anything"
    );
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
