//! Self-tests of the Raft cluster harness against real OpenBao nodes: failover, restart, seal, and the
//! fixture setup on a cluster. Without sidekey: if these fail, the agent's failover tests say nothing.
//!
//! A cluster is three `bao server` processes on a 2-core machine: the tests take one lock so that only
//! one cluster runs at a time in this binary.

// A failed expectation is a failed test; wall-clock timings are what these tests measure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::background::wait_until;
use sidekey_tests::setup::{KV_USERNAME, PKI_DOMAIN, str_at};
use sidekey_tests::{Cluster, Reply, Setup};

/// Generous: an election takes 2-5 s here, more on a loaded machine.
const ELECTION: Duration = Duration::from_secs(30);

fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next test still gets its turn.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The value of `secret/data/ha` `v` as node `i` itself reads it.
fn ha_value_on(cluster: &Cluster, i: usize) -> String {
    str_at(&cluster.read_on(i, "secret/data/ha"), "/data/data/v")
}

/// Wait until node `i` serves `v` for `secret/data/ha` (a standby applies the leader's log a moment later).
fn wait_ha_value(cluster: &Cluster, i: usize, v: &str) {
    let ok = wait_until(Duration::from_secs(10), || ha_value_on(cluster, i) == v);
    assert!(
        ok,
        "node {i} still serves {:?}, not {v:?}",
        ha_value_on(cluster, i)
    );
}

#[test]
fn leader_failover_restart_and_standby_seal() {
    let _turn = one_cluster_at_a_time();
    let t0 = Instant::now();
    let cluster = Cluster::start(3);
    eprintln!("started in {:.1?}", t0.elapsed());
    assert_eq!(cluster.addrs().len(), 3);
    cluster.enable_kv2("secret");
    cluster.write("secret/data/ha", json!({ "data": { "v": "1" } }));
    assert_eq!(str_at(&cluster.read("secret/data/ha"), "/data/data/v"), "1");

    let old = cluster.leader().expect("a leader once started");
    let standbys = cluster.standbys();
    assert_eq!(standbys.len(), 2, "{standbys:?}");
    assert!(!standbys.contains(&old));
    // A standby serves the read itself.
    wait_ha_value(&cluster, standbys[0], "1");

    // SIGKILL the leader: another node takes over, and the data is there.
    let t = Instant::now();
    cluster.kill(old);
    assert!(!cluster.is_running(old));
    let new = cluster.wait_for_leader(ELECTION);
    eprintln!(
        "leader {old} killed: node {new} active after {:.1?}",
        t.elapsed()
    );
    assert_ne!(new, old);
    assert_eq!(str_at(&cluster.read("secret/data/ha"), "/data/data/v"), "1");
    cluster.write("secret/data/ha", json!({ "data": { "v": "2" } }));

    // The killed node comes back sealed; unsealed, it is a standby and catches up.
    let t = Instant::now();
    cluster.restart(old);
    assert_eq!(cluster.wait_healthy(), new);
    eprintln!("node {old} restarted and unsealed in {:.1?}", t.elapsed());
    assert_eq!(cluster.health(old), Some(429));
    wait_ha_value(&cluster, old, "2");

    // A sealed standby leaves two voters of three: the cluster still writes.
    let sealed = *cluster
        .standbys()
        .iter()
        .find(|&&i| i != old)
        .expect("another standby");
    cluster.seal(sealed);
    assert_eq!(cluster.health(sealed), Some(503));
    cluster.write("secret/data/ha", json!({ "data": { "v": "3" } }));
    cluster.unseal(sealed);
    cluster.wait_healthy();
    wait_ha_value(&cluster, sealed, "3");

    // SIGTERM the leader: it steps down and exits cleanly, another node takes over.
    let leader = cluster.wait_healthy();
    let t = Instant::now();
    let status = cluster.stop(leader);
    let stopped = t.elapsed();
    let next = cluster.wait_for_leader(ELECTION);
    eprintln!(
        "leader {leader} stopped in {stopped:.1?} ({status:?}): node {next} active after {:.1?}",
        t.elapsed()
    );
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_ne!(next, leader);
    cluster.restart(leader);
    cluster.wait_healthy();
    eprintln!("total {:.1?}", t0.elapsed());
}

/// Retry `f` for up to 10 s until it answers 2xx (a standby may 404 a mount made seconds before).
fn until_ok(what: &str, mut f: impl FnMut() -> Reply) -> Value {
    let mut last = None;
    let ok = wait_until(Duration::from_secs(10), || {
        let reply = f();
        let ok = reply.is_success();
        last = Some(reply);
        ok
    });
    let last = last.expect("called at least once");
    assert!(ok, "{what} -> {} {}", last.status, last.body);
    last.body
}

#[test]
fn setup_all_configures_a_cluster_and_standbys_serve_it() {
    let _turn = one_cluster_at_a_time();
    let t0 = Instant::now();
    let fx = Setup::all().start_cluster(3);
    eprintln!("cluster with everything set up in {:.1?}", t0.elapsed());
    let cluster = &fx.cluster;
    let leader = cluster.wait_healthy();
    let standby = cluster.standbys()[0];

    // A JWT login sent to a standby is forwarded to the active node.
    let jwt = fx.app_jwt();
    let login = until_ok("jwt login on a standby", || {
        cluster.request_to(
            standby,
            "POST",
            "auth/jwt/login",
            None,
            Some(&json!({ "role": "app", "jwt": jwt.token })),
        )
    });
    let token = str_at(&login, "/auth/client_token");

    let kv = until_ok("KV read on a standby", || {
        cluster.request_to(standby, "GET", "secret/data/app/config", Some(&token), None)
    });
    assert_eq!(str_at(&kv, "/data/data/username"), KV_USERNAME);
    assert_eq!(str_at(&kv, "/data/data/password"), fx.sentinel);

    let creds = until_ok("database creds on a standby", || {
        cluster.request_to(standby, "GET", "database/creds/app", Some(&token), None)
    });
    let user = str_at(&creds, "/data/username");
    assert!(
        fx.postgres()
            .can_login(&user, &str_at(&creds, "/data/password")),
        "the database rejects {user}"
    );

    let cert = until_ok("PKI issue on a standby", || {
        cluster.request_to(
            standby,
            "POST",
            "pki/issue/app",
            Some(&token),
            Some(&json!({ "common_name": format!("svc.{PKI_DOMAIN}"), "ttl": "5m" })),
        )
    });
    assert!(str_at(&cert, "/data/certificate").starts_with("-----BEGIN CERTIFICATE-----"));

    let approle = fx.approle();
    let login = until_ok("approle login", || {
        cluster.request(
            "POST",
            "auth/approle/login",
            None,
            Some(&json!({ "role_id": approle.role_id, "secret_id": approle.secret_id })),
        )
    });
    str_at(&login, "/auth/client_token");

    // The audit logs tell which node served what: a standby serves a KV read with a token it knows
    // (the root token) itself; a login sent to it is served by the active node.
    let read = cluster.request_to(
        standby,
        "GET",
        "secret/data/app/config",
        Some(cluster.root_token()),
        None,
    );
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        cluster.served_by(&str_at(&read.body, "/request_id")),
        [standby]
    );
    let login = cluster.request_to(
        standby,
        "POST",
        "auth/jwt/login",
        None,
        Some(&json!({ "role": "app", "jwt": jwt.token })),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(
        cluster.served_by(&str_at(&login.body, "/request_id")),
        [leader]
    );
    eprintln!("total {:.1?}", t0.elapsed());
}
