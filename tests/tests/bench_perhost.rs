//! The per-host memory benchmark (issue 15): one sidekey serving N workloads (100 by default) on a unix
//! listener, each workload matched by its systemd unit (`w<N>.service`), with its own policy and its own
//! token from a token role, and `cache {}` holding and renewing each workload's database lease — against
//! the RSS of 3 sidecar sidekeys, each doing one workload's work the ordinary way (a template with the KV
//! secret and a database credential). Every workload is called once for real: a short-lived `curl` moved
//! into a cgroup `system.slice/w<N>.service` reads its KV secret and a database credential through the
//! socket. Prints the per-host RSS, the sidecars' RSS, their ratio and the RSS per workload — as VmRSS
//! (what acceptance 5 counts), RssAnon (what each process allocated) and Pss (the sidecars' shared binary
//! pages counted once) — and fails unless the per-host agent's VmRSS stays under the 3 sidecars'.
//!
//! Run with `tests/bench.sh perhost` (release build); `tests/bench.sh perhost --smoke` (or
//! `SIDEKEY_BENCH_WORKLOADS=10`) runs it with 10 workloads. Ignored in the normal suite.

// Benchmark code: wall-clock time is the thing measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types,
    clippy::print_stdout
)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::cgroup::Cgroup;
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::jwt::AUDIENCE;
use sidekey_tests::memory::{Rss, steady_rss};
use sidekey_tests::process::run_with_timeout;
use sidekey_tests::setup::own_policy;
use sidekey_tests::sidekey::release_bin;
use sidekey_tests::{Fixture, Setup, ShmDir, random_hex};

/// Workloads served by the per-host agent unless `SIDEKEY_BENCH_WORKLOADS` says otherwise.
const WORKLOADS: usize = 100;
/// Sidecars the per-host agent must stay under (acceptance 5).
const SIDECARS: usize = 3;
/// Callers running at once.
const CALLERS_AT_ONCE: usize = 4;
/// How long an agent is left alone after its work before its memory is read.
const SETTLE: Duration = Duration::from_secs(3);
/// Readings per memory figure (their median), and the time between them.
const SAMPLES: usize = 5;
const SAMPLE_EVERY: Duration = Duration::from_millis(300);
/// The token role every workload's token is created from.
const TOKEN_ROLE: &str = "per-host";
/// The JWT subject (and role) the per-host agent logs in as.
const AGENT_SUBJECT: &str = "system:serviceaccount:kube-system:sidekey-per-host";
const AGENT_ROLE: &str = "per-host-agent";
/// The per-host agent's own policy: create workload tokens from the role, keep its own token.
const AGENT_POLICY: &str = r#"
path "auth/token/create/per-host" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
"#;
/// The parent of the workloads' cgroups.
const SLICE: &str = "system.slice";

/// `$SIDEKEY_BENCH_WORKLOADS`, else [`WORKLOADS`].
fn workload_count() -> usize {
    std::env::var("SIDEKEY_BENCH_WORKLOADS").map_or(WORKLOADS, |v| {
        v.parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("SIDEKEY_BENCH_WORKLOADS={v}: not a positive number"))
    })
}

/// Each workload's policy and KV secret, the agent's policy, and the token role allowing the workloads'
/// policies (orphan, periodic tokens, as the issue describes).
fn configure_workloads(fx: &Fixture, names: &[String]) {
    for w in names {
        fx.bao.write(
            &format!("sys/policies/acl/{w}"),
            json!({ "policy": own_policy(&format!("secret/data/{w}/*"), &format!("database/creds/{w}")) }),
        );
        fx.bao.write(
            &format!("secret/data/{w}/config"),
            json!({ "data": { "password": random_hex(8) } }),
        );
    }
    fx.bao.write(
        &format!("sys/policies/acl/{AGENT_ROLE}"),
        json!({ "policy": AGENT_POLICY }),
    );
    fx.bao.write(
        &format!("auth/token/roles/{TOKEN_ROLE}"),
        json!({ "allowed_policies": names, "orphan": true, "token_period": "1h" }),
    );
}

/// JWT auto-auth as `role` with the JWT in `jwt` and a token sink at `sink` (the sign the agent is
/// logged in), as both kinds of agent here have it.
fn auto_auth(jwt: &Path, role: &str, sink: &Path) -> String {
    AutoAuth::jwt(jwt, role)
        .config("remove_jwt_after_reading = false")
        .sink(sink, &[])
        .to_string()
}

/// The per-host agent: the API on `sock`, a cache, and one workload per name, matched by its unit.
fn per_host_config(fx: &Fixture, out: &ShmDir, sock: &Path, names: &[String]) -> String {
    let jwt = fx.mint_jwt(AGENT_SUBJECT, AUDIENCE, Duration::from_secs(3600));
    let mut parts = vec![
        hcl::vault(&fx.addr()),
        auto_auth(&jwt.path, AGENT_ROLE, &out.join("token")),
        hcl::block("cache", &[]),
        hcl::unix_listener(sock),
    ];
    let role = hcl::attr("token_role", TOKEN_ROLE);
    for w in names {
        let unit = hcl::attr("unit", &format!("{w}.service"));
        parts.push(hcl::workload(w, &[&unit], &[w], &[&role]));
    }
    parts.concat()
}

/// One sidecar: one workload's work, a KV secret and a database credential rendered into `out`.
fn sidecar_config(fx: &Fixture, out: &Path) -> String {
    [
        hcl::vault(&fx.addr()),
        auto_auth(&fx.app_jwt().path, "app", &out.join("token")),
        hcl::template(
            r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#,
            &out.join("kv"),
            &[],
        ),
        hcl::template(
            r#"{{ with secret "database/creds/app" }}{{ .Data.username }}:{{ .Data.password }}{{ end }}"#,
            &out.join("db"),
            &[],
        ),
    ]
    .concat()
}

/// The release sidekey running `config`, logging into the fixture's dir; waits up to 30 s until
/// `ready` exists.
fn start_agent(fx: &Fixture, config: &Path, ready: &[&Path]) -> Background {
    let mut agent = Background::command(release_bin())
        .args(["run", "-c"])
        .arg(config)
        .clean_env()
        .logs_in(fx.dir.path())
        .start();
    let up = wait_until(Duration::from_secs(30), || ready.iter().all(|p| p.exists()));
    assert!(
        up && agent.running(),
        "sidekey never made {ready:?}:\n{}",
        agent.stderr()
    );
    agent
}

/// Workload `w`'s caller: `curl`, moved into `system.slice/w.service` before it starts, reads the KV
/// secret and a database credential through `sock`; both must answer 200. What went wrong otherwise.
fn call(sock: &Path, w: &str) -> Result<(), String> {
    let unit = Cgroup::create(&format!("{SLICE}/{w}.service"));
    let kv = format!("http://localhost/v1/secret/data/{w}/config");
    let db = format!("http://localhost/v1/database/creds/{w}");
    let sock = sock.to_str().expect("a UTF-8 socket path");
    let curl = unit.command(
        "curl",
        &[
            "-sS",
            "--unix-socket",
            sock,
            "-H",
            "X-Vault-Request: true",
            "-w",
            "%{http_code}\n",
            "-o",
            "/dev/null",
            &kv,
            "-o",
            "/dev/null",
            &db,
        ],
    );
    let done = run_with_timeout(curl, Duration::from_secs(30));
    let codes: Vec<&str> = done.stdout.lines().collect();
    if done.status.success() && codes == ["200", "200"] {
        Ok(())
    } else {
        Err(format!("{w}: {}", done.show()))
    }
}

/// Every workload's caller, [`CALLERS_AT_ONCE`] at a time; the failures.
fn call_all(sock: &Path, names: &[String]) -> Vec<String> {
    // Held while the callers' cgroups come and go beside each other.
    let _slice = Cgroup::create(SLICE);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..CALLERS_AT_ONCE)
            .map(|t| {
                s.spawn(move || {
                    names
                        .iter()
                        .skip(t)
                        .step_by(CALLERS_AT_ONCE)
                        .filter_map(|w| call(sock, w).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

/// `agent`'s memory once it has settled.
fn settled_rss(agent: &mut Background) -> Rss {
    std::thread::sleep(SETTLE);
    assert!(agent.running(), "sidekey exited:\n{}", agent.stderr());
    steady_rss(agent.pid(), SAMPLES, SAMPLE_EVERY).expect("the agent's /proc/PID/status")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// One of the figures of an [`Rss`].
type Measure = fn(Rss) -> u64;

/// The result: the per-host agent's memory (`host`) beside the sidecars' summed (`side`), in each of
/// the three measures, and what it comes to per workload.
fn print_table(n: usize, host: Rss, side: Rss, served_in: Duration) {
    // Each measure, and whether a share of the sidecars' sum stands for one of them: not for Pss, where
    // one sidecar's share of the binary's pages depends on how many run.
    let measures: [(Measure, bool); 3] =
        [(|r| r.total, true), (|r| r.anon, true), (|r| r.pss, false)];
    let cells = |f: &dyn Fn(Measure) -> String| measures.map(|(m, _)| f(m));
    let shares = |f: &dyn Fn(Measure) -> String| {
        measures.map(|(m, share)| if share { f(m) } else { "-".to_owned() })
    };
    let one = |kib: u64| kib / SIDECARS as u64;
    let rows = [
        ("one per-host sidekey".to_owned(), cells(&|m| mib(m(host)))),
        (
            format!("{SIDECARS} sidecar sidekeys (sum)"),
            cells(&|m| mib(m(side))),
        ),
        (
            "  one sidecar (mean)".to_owned(),
            shares(&|m| mib(one(m(side)))),
        ),
        (
            format!("per-host / {SIDECARS} sidecars"),
            cells(&|m| format!("{:.2}", m(host) as f64 / m(side) as f64)),
        ),
        (
            format!("per workload (per-host / {n})"),
            cells(&|m| format!("{:.0} KiB", m(host) as f64 / n as f64)),
        ),
        // What each workload beyond the first costs: the per-host agent less one sidecar (one
        // workload's worth), over the other workloads.
        (
            format!("each workload beyond the first (/ {})", n.max(2) - 1),
            shares(&|m| {
                let extra = m(host).saturating_sub(one(m(side)));
                format!("{:.0} KiB", extra as f64 / (n.max(2) - 1) as f64)
            }),
        ),
    ];
    println!(
        "\n{:<46} {:>10} {:>10} {:>10}",
        format!("Per-host memory: {n} workloads (KV + a DB lease each)"),
        "VmRSS",
        "RssAnon",
        "Pss"
    );
    println!("{}", "-".repeat(79));
    for (metric, [total, anon, pss]) in rows {
        println!("{metric:<46} {total:>10} {anon:>10} {pss:>10}");
    }
    println!(
        "({n} callers served in {:.1} s, {CALLERS_AT_ONCE} at a time; memory read {}s after the work, median of {SAMPLES})",
        served_in.as_secs_f64(),
        SETTLE.as_secs()
    );
}

#[test]
#[ignore = "benchmark: run with tests/bench.sh perhost"]
fn per_host_against_sidecars() {
    let n = workload_count();
    let names: Vec<String> = (1..=n).map(|i| format!("w{i}")).collect();
    let fx = Setup::new()
        .jwt_role(AGENT_ROLE, AGENT_SUBJECT, AGENT_ROLE)
        .database_roles(&names)
        .start();
    configure_workloads(&fx, &names);

    let out = ShmDir::new();
    let sock = out.join("api.sock");
    let token = out.join("token");
    let cfg = fx.write_config(&per_host_config(&fx, &out, &sock, &names));
    let mut per_host = start_agent(&fx, &cfg, &[&sock, &token]);
    let start = Instant::now();
    let failed = call_all(&sock, &names);
    let served_in = start.elapsed();
    assert!(
        failed.is_empty(),
        "{} of {n} callers failed; the first:\n{}\nsidekey said:\n{}",
        failed.len(),
        failed[0],
        per_host.stderr()
    );
    let host = settled_rss(&mut per_host);
    per_host.stop();

    let dirs: Vec<ShmDir> = (0..SIDECARS).map(|_| ShmDir::new()).collect();
    let mut sidecars: Vec<Background> = dirs
        .iter()
        .map(|d| {
            let cfg = fx.write_config(&sidecar_config(&fx, d.path()));
            start_agent(&fx, &cfg, &[&d.join("kv"), &d.join("db")])
        })
        .collect();
    let side: Rss = sidecars.iter_mut().map(settled_rss).sum();
    for s in &mut sidecars {
        s.stop();
    }

    print_table(n, host, side, served_in);
    assert!(
        host.total < side.total,
        "the per-host sidekey ({}) is not under {SIDECARS} sidecars ({})",
        mib(host.total),
        mib(side.total)
    );
}
