//! Fleet benchmark (issue 13): N agents against a real 3-node OpenBao Raft cluster, each with its own JWT
//! role and policy, rendering a KV v2 secret and a database credential to tmpfs. Steady state, then the
//! leader is killed (and comes back), then the whole cluster is down for a minute (and comes back), then one
//! recovery minute, then every output is checked. The same for the real `bao agent` on the same templates,
//! as many as asked for. Everything is measured from outside the agents: the server's audit log, `/proc`.
//!
//! Not part of `cargo test`: run `tests/bench.sh fleet [--smoke] [--points 50,100,200] [--bao-max N]
//! [--no-bao] [--no-sidekey]`. Prints one table; docs/ha.md ("Fleet benchmark") says what each column means.

// Benchmark code: a failed expectation is a failed run with its message, wall-clock time is what is
// measured, and the table goes to stdout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types,
    clippy::print_stdout
)]

mod measure;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sidekey_tests::audit::now_ms;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::bao::bao_bin;
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::jwt::AUDIENCE;
use sidekey_tests::memory::rss_kib;
use sidekey_tests::setup::own_policy;
use sidekey_tests::sidekey::release_bin;
use sidekey_tests::{ClusterFixture, Setup, ShmDir};

use measure::{ServerCpu, agent_name, audited_requests, beyond_first, peak};

/// The database role every agent reads (the harness's `app` role); each read is a new PostgreSQL user.
const DB_PATH: &str = "database/creds/app";
const DB_TEMPLATE: &str =
    r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .Data.password }}{{ end }}"#;
/// How long after the last agent's outputs appear before the steady window opens (late first requests).
const SETTLE: Duration = Duration::from_secs(5);
/// How long an election may take.
const ELECTION: Duration = Duration::from_secs(60);

/// The two agents compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Sidekey,
    BaoAgent,
}

/// Command-line options.
#[derive(Debug)]
struct Options {
    smoke: bool,
    points: Vec<usize>,
    bao_max: usize,
    no_bao: bool,
    no_sidekey: bool,
}

/// How long each phase lasts, and the TTLs: a token and a database lease renew at about 2/3 of their TTL,
/// so with 360 s both renew once ~240 s into the steady window, and a third of the TTL (120 s) is left
/// when the cluster goes down for 60 s: nothing needs to expire during the outage.
#[derive(Debug, Clone)]
struct Plan {
    steady: Duration,
    /// Between the leader's kill (and a new leader) and its restart.
    leader_down: Duration,
    outage: Duration,
    recovery: Duration,
    token_ttl: Duration,
    db_ttl: Duration,
    /// Wall time a point may take, setup included.
    cap: Duration,
}

/// One row of the table: what a point measured.
#[derive(Debug)]
struct Row {
    tool: Tool,
    n: usize,
    steady_s: f64,
    per_agent_hour: f64,
    steady_rps: f64,
    peak_1s: usize,
    peak_10s: usize,
    relogins: usize,
    reissued: usize,
    never_logged_in: usize,
    stale: usize,
    rss_avg_mb: f64,
    rss_sum_mb: f64,
    cpu_steady_pct: f64,
    cpu_run_s: f64,
    requests_total: usize,
    wall_s: f64,
}

/// Times (ms since the epoch) that split the run into phases, for the audit log.
#[derive(Debug, Default)]
struct Marks {
    steady_from: i64,
    steady_to: i64,
    restart: i64,
    recovered: i64,
}

/// The agents of one point, stopped (SIGTERM to all, then each reaped) when dropped, also on a panic.
struct Fleet {
    agents: Vec<Background>,
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

// === impl Options ===

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            smoke: false,
            points: vec![50, 100, 200],
            bao_max: 50,
            no_bao: false,
            no_sidekey: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                // `cargo bench` passes `--bench` to a harness-less target.
                "--bench" => {}
                "--smoke" => o.smoke = true,
                "--no-bao" => o.no_bao = true,
                "--no-sidekey" => o.no_sidekey = true,
                "--points" => {
                    let v = args
                        .next()
                        .expect("--points needs a list such as 50,100,200");
                    o.points = v
                        .split(',')
                        .map(|p| p.trim().parse().expect("--points: numbers"))
                        .collect();
                }
                "--bao-max" => {
                    let v = args.next().expect("--bao-max needs a number");
                    o.bao_max = v.parse().expect("--bao-max: a number");
                }
                other => panic!(
                    "unknown option {other:?}: fleet [--smoke] [--points 50,100,200] [--bao-max N] [--no-bao] \
                     [--no-sidekey]"
                ),
            }
        }
        if o.smoke {
            o.points = vec![5];
            o.bao_max = o.bao_max.min(5);
        }
        o
    }
}

// === impl Plan ===

impl Plan {
    fn full() -> Plan {
        Plan {
            steady: Duration::from_secs(270),
            leader_down: Duration::from_secs(10),
            outage: Duration::from_secs(60),
            recovery: Duration::from_secs(60),
            token_ttl: Duration::from_secs(360),
            db_ttl: Duration::from_secs(360),
            cap: Duration::from_secs(600),
        }
    }

    /// About two minutes per tool: renewals at ~30 s, a 5 s outage.
    fn smoke() -> Plan {
        Plan {
            steady: Duration::from_secs(35),
            leader_down: Duration::from_secs(3),
            outage: Duration::from_secs(5),
            recovery: Duration::from_secs(15),
            token_ttl: Duration::from_secs(45),
            db_ttl: Duration::from_secs(45),
            cap: Duration::from_secs(300),
        }
    }

    /// What the phases after the steady one take at most, with the final check: the steady window
    /// shrinks to keep the point under its cap.
    fn after_steady(&self) -> Duration {
        self.leader_down + self.outage + self.recovery + Duration::from_secs(75)
    }
}

// === impl Tool ===

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Sidekey => "sidekey",
            Tool::BaoAgent => "bao agent",
        }
    }
}

// === impl Fleet ===

impl Fleet {
    fn pids(&self) -> Vec<u32> {
        self.agents.iter().map(Background::pid).collect()
    }

    /// (average, sum) resident memory of the agents still running, MB.
    fn rss_mb(&self) -> (f64, f64) {
        let kb: Vec<u64> = self.pids().into_iter().filter_map(rss_kib).collect();
        let sum = kb.iter().sum::<u64>() as f64 / 1024.0;
        (sum / kb.len().max(1) as f64, sum)
    }

    /// The distinct WARN/ERROR lines of the agents' logs (time stamps cut off), with how many agents
    /// logged each, busiest first, at most 15.
    fn warnings(&self) -> String {
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        for a in &self.agents {
            let mut seen = std::collections::BTreeSet::new();
            for l in a.stderr().lines().chain(a.stdout().lines()) {
                let Some(at) = ["WARN", "ERROR", "[WARN]", "[ERROR]"]
                    .iter()
                    .filter_map(|w| l.find(w))
                    .min()
                else {
                    continue;
                };
                let msg: String = l[at..].chars().take(200).collect();
                if seen.insert(msg.clone()) {
                    *by.entry(msg).or_default() += 1;
                }
            }
        }
        let mut v: Vec<_> = by.into_iter().collect();
        v.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
        v.iter()
            .take(15)
            .map(|(m, c)| format!("  {c} agents: {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn stop(&mut self) {
        for a in &mut self.agents {
            if a.running() {
                a.signal(libc::SIGTERM);
            }
        }
        for a in &mut self.agents {
            a.stop();
        }
    }
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

// === the benchmark ===

/// The soft limit on open files: each agent holds connections to the nodes, each node one per agent.
fn check_fd_limit(n: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft {
        assert!(
            soft >= 8 * n + 256,
            "open-file limit {soft} is too low for {n} agents: raise it (ulimit -n {})",
            8 * n + 256
        );
    }
}

/// A 3-node cluster with a file audit device, JWT auth and the database engine, TTLs from `plan`. A node
/// that fails to join (seen once: "invalid key size 0" on its unseal, with another helper's processes
/// taking ports) fails the harness with a panic: start afresh, up to three times.
fn start_cluster(plan: &Plan) -> ClusterFixture {
    let start = || {
        Setup::new()
            .audit()
            .jwt()
            .database()
            .token_ttls(plan.token_ttl, Duration::from_secs(24 * 3600))
            .db_ttls(plan.db_ttl, Duration::from_secs(24 * 3600))
            .start_cluster(3)
    };
    for attempt in 1..3 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(start)) {
            Ok(fx) => return fx,
            Err(_) => eprintln!("cluster start failed (attempt {attempt}); starting a new one"),
        }
    }
    start()
}

/// Policies, JWT roles and KV secrets for `n` agents, four writers at a time; each agent's KV value.
fn provision(fx: &ClusterFixture, n: usize, plan: &Plan) -> Vec<String> {
    let cluster = &fx.cluster;
    // Logins name their role in clear in the audit log, so each request is told to its agent.
    cluster.write(
        "sys/auth/jwt/tune",
        json!({ "audit_non_hmac_request_keys": ["role"] }),
    );
    let values: Vec<String> = (0..n)
        .map(|i| format!("{}-{}", agent_name(i), sidekey_tests::random_hex(8)))
        .collect();
    std::thread::scope(|s| {
        for w in 0..4 {
            let values = &values;
            s.spawn(move || {
                for i in (w..n).step_by(4) {
                    let name = agent_name(i);
                    let policy = own_policy(&format!("secret/data/fleet/{name}"), DB_PATH);
                    cluster.write(
                        &format!("sys/policies/acl/{name}"),
                        json!({ "policy": policy }),
                    );
                    cluster.write(
                        &format!("auth/jwt/role/{name}"),
                        json!({
                            "role_type": "jwt",
                            "bound_audiences": [AUDIENCE],
                            "bound_subject": subject(&name),
                            "user_claim": "sub",
                            "token_policies": [name],
                            "token_ttl": format!("{}s", plan.token_ttl.as_secs()),
                            "token_max_ttl": "24h",
                        }),
                    );
                    cluster.write(
                        &format!("secret/data/fleet/{name}"),
                        json!({ "data": { "v": values[i] } }),
                    );
                }
            });
        }
    });
    values
}

fn subject(name: &str) -> String {
    format!("system:serviceaccount:fleet:{name}")
}

/// Agent `i`'s config: JWT auto-auth as its role (the JWT file kept for re-logins), its KV secret and a
/// database credential rendered to `out`. sidekey gets all three addresses, starting at node `i % 3`;
/// `bao agent` takes one, node `i % 3`.
fn agent_config(tool: Tool, i: usize, jwt: &Path, addrs: &[String], out: &ShmDir) -> String {
    let name = agent_name(i);
    let first = i % addrs.len();
    let vault = match tool {
        Tool::Sidekey => {
            let rest: Vec<String> = (1..addrs.len())
                .map(|k| hcl::quote(&addrs[(first + k) % addrs.len()]))
                .collect();
            hcl::block(
                "vault",
                &[
                    &hcl::attr("address", &addrs[first]),
                    &format!("addresses = [{}]\n", rest.join(", ")),
                ],
            )
        }
        Tool::BaoAgent => hcl::vault(&addrs[first]),
    };
    let kv = format!(
        r#"{{{{ with secret "secret/data/fleet/{name}" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}"#
    );
    [
        vault,
        AutoAuth::jwt(jwt, &name)
            .config("remove_jwt_after_reading = false")
            .to_string(),
        hcl::template(&kv, &out.join(&format!("{name}.kv")), &[]),
        hcl::template(DB_TEMPLATE, &out.join(&format!("{name}.db")), &[]),
    ]
    .concat()
}

fn start_agent(tool: Tool, config: &Path, logs: &Path) -> Background {
    match tool {
        Tool::Sidekey => Background::command(release_bin())
            .clean_env()
            .args(["run", "-c"])
            .arg(config),
        Tool::BaoAgent => Background::command(bao_bin())
            .clean_env()
            .arg("agent")
            .arg(format!("-config={}", config.display())),
    }
    .logs_in(logs)
    .start()
}

/// Whether agent `i`'s outputs are right: the KV file holds its value and the database credential logs in.
fn output_valid(fx: &ClusterFixture, out: &ShmDir, i: usize, value: &str) -> bool {
    let name = agent_name(i);
    let kv_ok = std::fs::read_to_string(out.join(&format!("{name}.kv"))).is_ok_and(|s| s == value);
    kv_ok
        && std::fs::read_to_string(out.join(&format!("{name}.db"))).is_ok_and(|s| {
            s.split_once(' ')
                .is_some_and(|(user, pass)| fx.postgres().can_login(user, pass))
        })
}

/// Run one point: a fresh cluster, `n` agents of `tool`, the phases, the measurements.
fn run_point(tool: Tool, n: usize, plan: &Plan) -> Row {
    let t0 = Instant::now();
    let log = |what: &str| eprintln!("[{} N={n} {:>6.1?}] {what}", tool.label(), t0.elapsed());
    check_fd_limit(n);
    let fx = start_cluster(plan);
    let cluster = &fx.cluster;
    let values = provision(&fx, n, plan);
    log("cluster up and provisioned");

    let out = ShmDir::new();
    let addrs = cluster.addrs();
    let mut fleet = Fleet { agents: Vec::new() };
    for i in 0..n {
        let jwt = fx.jwt().mint_jwt(
            &subject(&agent_name(i)),
            AUDIENCE,
            Duration::from_secs(4 * 3600),
        );
        let cfg = fx.dir.path().join(format!("{}.hcl", agent_name(i)));
        std::fs::write(&cfg, agent_config(tool, i, &jwt.path, &addrs, &out)).unwrap();
        fleet.agents.push(start_agent(tool, &cfg, fx.dir.path()));
    }
    let ready = wait_until(Duration::from_secs(180), || {
        (0..n).all(|i| {
            let name = agent_name(i);
            std::fs::read_to_string(out.join(&format!("{name}.kv"))).is_ok_and(|s| s == values[i])
                && out.join(&format!("{name}.db")).exists()
        })
    });
    if !ready {
        let late = (0..n)
            .find(|&i| !out.join(&format!("{}.db", agent_name(i))).exists())
            .unwrap_or(0);
        panic!(
            "{} agents did not all render within 180 s; agent {late}'s log:\n{}",
            tool.label(),
            fleet.agents[late].stderr()
        );
    }
    log("every agent rendered its outputs");

    let cpu = ServerCpu::default();
    let stop = AtomicBool::new(false);
    let mut marks = Marks::default();
    let mut rss = (0.0, 0.0);
    let mut cpu_steady = (0.0, 0.0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                cpu.sample(cluster);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        // Stops the sampler however this closure ends, or a panic here would wait for it forever.
        let _stop = StopOnDrop(&stop);
        let steady_from = Instant::now() + SETTLE;
        std::thread::sleep(SETTLE);
        cpu.sample(cluster);
        let cpu_start = cpu.seconds();
        marks.steady_from = now_ms();
        let by_cap = (t0 + plan.cap).checked_sub(plan.after_steady());
        let steady_to = by_cap.map_or(steady_from, |c| c.min(steady_from + plan.steady));
        std::thread::sleep(steady_to.saturating_duration_since(Instant::now()));
        cpu.sample(cluster);
        cpu_steady = (cpu_start, cpu.seconds());
        marks.steady_to = now_ms();
        rss = fleet.rss_mb();
        log("steady window over: killing the leader");

        let leader = cluster.wait_for_leader(ELECTION);
        cpu.sample(cluster);
        cluster.kill(leader);
        let next = cluster.wait_for_leader(ELECTION);
        log(&format!("n{next} active; n{leader} restarts soon"));
        std::thread::sleep(plan.leader_down);
        cluster.restart(leader);
        cluster.wait_healthy();
        log("cluster whole again: stopping every node");

        cpu.sample(cluster);
        std::thread::scope(|s2| {
            for i in 0..cluster.len() {
                s2.spawn(move || cluster.stop(i));
            }
        });
        std::thread::sleep(plan.outage);
        log("outage over: restarting every node");
        marks.restart = now_ms();
        std::thread::scope(|s2| {
            for i in 0..cluster.len() {
                s2.spawn(move || cluster.restart(i));
            }
        });
        cluster.wait_for_leader(ELECTION);
        marks.recovered = now_ms();
        log("cluster back: recovery window");
        std::thread::sleep(plan.recovery);
        cpu.sample(cluster);
    });
    let cpu_end = cpu.seconds();
    let (rss_avg, rss_sum) = {
        let late = fleet.rss_mb();
        if late.1 > rss.1 { late } else { rss }
    };

    // Check every output, four at a time (each database check is a psql login).
    let stale = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..4 {
            let (fx, out, values, stale) = (&fx, &out, &values, &stale);
            s.spawn(move || {
                for i in (w..n).step_by(4) {
                    if !output_valid(fx, out, i, &values[i]) {
                        stale.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let stale = stale.into_inner();
    fleet.stop();
    log(&format!(
        "agents' warnings and errors:\n{}",
        fleet.warnings()
    ));
    log(&format!(
        "outputs checked ({stale} stale); reading the audit logs"
    ));

    if let Some(keep) = std::env::var_os("FLEET_KEEP") {
        // Debugging aid: the nodes' audit logs and the agents' configs and logs, per point.
        let to = Path::new(&keep).join(format!("{}-{n}", tool.label().replace(' ', "-")));
        std::fs::create_dir_all(&to).unwrap();
        for i in 0..cluster.len() {
            let from = cluster.dir().join(format!("n{i}")).join("audit.log");
            let _ = std::fs::copy(from, to.join(format!("n{i}-audit.log")));
        }
        for e in std::fs::read_dir(fx.dir.path()).unwrap().flatten() {
            let _ = std::fs::copy(e.path(), to.join(e.file_name()));
        }
    }
    let reqs = audited_requests(cluster);
    let fleet_reqs: Vec<_> = reqs.iter().filter(|r| r.agent.is_some()).collect();
    let steady_n = fleet_reqs
        .iter()
        .filter(|r| (marks.steady_from..marks.steady_to).contains(&r.at_ms))
        .count();
    let steady_s = (marks.steady_to - marks.steady_from) as f64 / 1000.0;
    let recovery_to = marks.recovered + i64::try_from(plan.recovery.as_millis()).unwrap();
    let recovery_times: Vec<i64> = fleet_reqs
        .iter()
        .map(|r| r.at_ms)
        .filter(|&t| t >= marks.restart && t < recovery_to)
        .collect();
    for (phase, from, to) in [
        ("steady", marks.steady_from, marks.steady_to),
        ("leader kill", marks.steady_to, marks.restart),
        ("recovery", marks.restart, recovery_to),
    ] {
        log(&format!(
            "{phase}: {}",
            path_counts(fleet_reqs.iter().filter(|r| (from..to).contains(&r.at_ms)))
        ));
    }
    log(&format!("failed requests:\n{}", error_counts(&fleet_reqs)));
    let (relogins, never) = beyond_first(&reqs, n, "auth/jwt/login");
    let (reissued, _) = beyond_first(&reqs, n, DB_PATH);
    Row {
        tool,
        n,
        steady_s,
        per_agent_hour: steady_n as f64 / n as f64 / (steady_s / 3600.0),
        steady_rps: steady_n as f64 / steady_s,
        peak_1s: peak(&recovery_times, 1000),
        peak_10s: peak(&recovery_times, 10_000),
        relogins,
        reissued,
        never_logged_in: never,
        stale,
        rss_avg_mb: rss_avg,
        rss_sum_mb: rss_sum,
        cpu_steady_pct: (cpu_steady.1 - cpu_steady.0) / steady_s * 100.0,
        cpu_run_s: cpu_end - cpu_steady.0,
        requests_total: fleet_reqs.len(),
        wall_s: t0.elapsed().as_secs_f64(),
    }
}

/// "path ×count (failed)" for each path the requests went to, busiest first.
fn path_counts<'a>(reqs: impl Iterator<Item = &'a &'a measure::Request>) -> String {
    let mut by: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for r in reqs {
        // Each agent reads its own KV secret: one line for all of them.
        let path = if r.path.starts_with("secret/data/fleet/") {
            "secret/data/fleet/agent-*"
        } else {
            r.path.as_str()
        };
        let e = by.entry(path).or_default();
        e.0 += 1;
        e.1 += usize::from(!r.ok);
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|(_, (c, _))| std::cmp::Reverse(*c));
    v.iter()
        .map(|(p, (c, f))| format!("{p} ×{c} ({f} failed)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each distinct error the server logged for the fleet's failed requests, with how many.
fn error_counts(reqs: &[&measure::Request]) -> String {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for r in reqs.iter().filter(|r| !r.ok) {
        let e = r
            .error
            .clone()
            .unwrap_or_else(|| "(no response logged)".to_owned());
        *by.entry(format!("{}: {e}", r.path)).or_default() += 1;
    }
    by.iter()
        .map(|(e, c)| format!("  {c} × {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `x ÷ y`, or `-` when there is no steady rate to divide by.
fn ratio(x: f64, y: f64) -> String {
    if y > 0.0 {
        format!("{:.1}", x / y)
    } else {
        "-".to_owned()
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "\n| tool | N | req/agent-h | peak 1 s ÷ steady | peak 10 s ÷ steady | re-logins | re-issued leases \
         | stale outputs | RSS avg MB | RSS sum MB | server CPU steady % | server CPU s (run) | requests | wall s |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let never = if r.never_logged_in > 0 {
            format!(" ({} never logged in)", r.never_logged_in)
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {:.1} | {} ({} req/s) | {} ({} req/10 s) | {}{never} | {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {} | {:.0} |",
            r.tool.label(),
            r.n,
            r.per_agent_hour,
            ratio(r.peak_1s as f64, r.steady_rps),
            r.peak_1s,
            ratio(r.peak_10s as f64, r.steady_rps * 10.0),
            r.peak_10s,
            r.relogins,
            r.reissued,
            r.stale,
            r.rss_avg_mb,
            r.rss_sum_mb,
            r.cpu_steady_pct,
            r.cpu_run_s,
            r.requests_total,
            r.wall_s,
        );
    }
    if let Some(r) = rows.first() {
        println!(
            "\nsteady window {:.0} s per point; hourly rates extrapolated from it.",
            r.steady_s
        );
    }
}

fn main() {
    let opts = Options::parse();
    let plan = if opts.smoke {
        Plan::smoke()
    } else {
        Plan::full()
    };
    eprintln!("fleet benchmark: {opts:?}, {plan:?}");
    release_bin();
    let mut rows = Vec::new();
    for &n in &opts.points {
        if !opts.no_sidekey {
            rows.push(run_point(Tool::Sidekey, n, &plan));
            print_table(&rows);
        }
        if !opts.no_bao && n <= opts.bao_max {
            rows.push(run_point(Tool::BaoAgent, n, &plan));
            print_table(&rows);
        }
    }
    // One cluster at a time, so the order above is the order of the runs; the table sorts them by tool.
    rows.sort_by_key(|r| (r.tool == Tool::BaoAgent, r.n));
    println!("\n=== fleet benchmark ===");
    print_table(&rows);
}
