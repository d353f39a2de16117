//! Budgets from the developers' guide, measured against the real OpenBao agent on the same work and against
//! the raw backend round trips of the same run: `run --once` of KV + database + PKI, exec start → child
//! running (an `env_template` from KV), steady RSS, release binary size. Run with `tests/bench.sh` (release
//! build); ignored in the normal suite because timings belong in benchmarks, not assertions. The machine is
//! shared, so absolute times are noisy: sidekey's runs are interleaved with the raw round trips, every
//! figure is a median, and each budget is relative to the round trips of this run. Prints one table and
//! fails when a budget is missed.

// Benchmark code: wall-clock time is the thing measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types,
    clippy::print_stdout
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::bao::{bao_bin, http_client};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::memory::steady_rss;
use sidekey_tests::sidekey::release_bin;
use sidekey_tests::{Fixture, Setup, ShmDir};

/// Samples per sidekey figure and per raw round trip.
const RUNS: usize = 21;
/// Samples of `bao agent` one-shot (it takes ~0.1–1 s each).
const BAO_ONCE_RUNS: usize = 5;
/// Samples of `bao agent` exec (it waits ~2 s before starting its child).
const BAO_EXEC_RUNS: usize = 3;
/// One-shot budget: this much over login + the slowest of the three (independent) secrets.
const ONCE_SLACK: Duration = Duration::from_millis(5);
/// Exec budget: this much over login + the KV read.
const EXEC_SLACK: Duration = Duration::from_millis(10);
/// Release binary budget.
const MAX_BINARY: u64 = 12 * 1024 * 1024;
/// bao agent's steady RSS in the guide, used only if it cannot be measured here.
const BAO_RSS_FALLBACK_KB: u64 = 76 * 1024;

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The KV secret's `password`.
const KV_PASSWORD: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;

/// Vault Agent HCL both agents accept: JWT auto-auth plus `body` (templates, exec).
fn agent_hcl(fx: &Fixture, jwt: &Path, body: &str) -> String {
    [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(jwt, "app")
            .config("remove_jwt_after_reading = false")
            .to_string(),
        body.to_owned(),
    ]
    .concat()
}

/// Templates for a KV secret, a database credential and a certificate, written under `out`.
fn file_templates(out: &ShmDir) -> String {
    [
        hcl::template(KV_PASSWORD, &out.join("kv"), &[]),
        hcl::template(
            r#"{{ with secret "database/creds/app" }}{{ .Data.username }}:{{ .Data.password }}{{ end }}"#,
            &out.join("db"),
            &[],
        ),
        hcl::template(
            r#"{{ with secret "pki/issue/app" "common_name=web.example.test" }}{{ .Data.certificate }}{{ end }}"#,
            &out.join("crt"),
            &[],
        ),
    ]
    .concat()
}

/// An env var from KV and a child that writes the time it ran (ns since the epoch) to `stamp`. Vault Agent
/// refuses `template` blocks next to `env_template`, so the exec work is the env var alone, for both.
fn exec_stanzas(stamp: &Path) -> String {
    hcl::env_template("DB_PASSWORD", KV_PASSWORD)
        + &hcl::exec(
            &["sh", "-c", &child_script(stamp)],
            &["restart_on_secret_changes = \"never\""],
        )
}

/// The exec child's script: write the time it ran to `stamp`.
fn child_script(stamp: &Path) -> String {
    format!("date +%s%N > {}", stamp.display())
}

/// Run `cmd` to completion; its duration. The outputs in `out` are removed first and must exist after.
fn time_once(mut cmd: Command, out: &ShmDir) -> Duration {
    for f in ["kv", "db", "crt"] {
        let _ = std::fs::remove_file(out.join(f));
    }
    let t = Instant::now();
    let o = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let d = t.elapsed();
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in ["kv", "db", "crt"] {
        assert!(out.join(f).exists(), "{cmd:?} did not write {f}");
    }
    d
}

/// Time from spawning `cmd` to its child writing the current time into `stamp`; panics with the agent's
/// output if the child did not run within 30 s.
fn time_to_child(mut cmd: Command, stamp: &Path) -> Duration {
    let _ = std::fs::remove_file(stamp);
    let log_path = stamp.with_extension("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let start_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // Both agents log to stdout or stderr depending on the case: keep both.
    let mut child = cmd
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ns = loop {
        if let Ok(s) = std::fs::read_to_string(stamp)
            && let Ok(ns) = s.trim().parse::<u128>()
        {
            break Some(ns);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    // An agent may keep running after its child exits: stop it either way.
    let _ = child.kill();
    let _ = child.wait();
    let Some(ns) = ns else {
        panic!(
            "{cmd:?}: no child within 30 s; it said:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    };
    Duration::from_nanos((ns - start_epoch.as_nanos()) as u64)
}

/// Steady resident set (kB) of the process `cmd` starts: the median of samples taken after it has
/// settled.
fn steady_rss_kb(mut cmd: Command) -> Option<u64> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let rss = steady_rss(child.id(), 5, Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    rss.map(|r| r.total)
}

/// One row of the result table.
struct Row {
    metric: &'static str,
    sidekey: String,
    bao: String,
    basis: String,
    budget: String,
    pass: Option<bool>,
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<28} {:>12} {:>12} {:>34} {:>14}  result",
        "metric", "sidekey", "bao agent", "baselines (this run)", "budget"
    );
    println!("{}", "-".repeat(112));
    for r in rows {
        let result = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "",
        };
        println!(
            "{:<28} {:>12} {:>12} {:>34} {:>14}  {result}",
            r.metric, r.sidekey, r.bao, r.basis, r.budget
        );
    }
}

#[test]
#[ignore = "benchmark: run tests/bench.sh"]
fn budgets_against_bao_agent() {
    let fx = Setup::new().jwt().database().pki().start();
    let jwt = fx.app_jwt();
    let out = ShmDir::new();
    let sidekey = release_bin();
    let bao = bao_bin();
    let stamp = out.join("stamp");

    let once_cfg = fx.write_file(
        "bench-once.hcl",
        &agent_hcl(&fx, &jwt.path, &file_templates(&out)),
    );
    let bao_once_cfg = fx.write_file(
        "bench-once-bao.hcl",
        &agent_hcl(
            &fx,
            &jwt.path,
            &format!("{}\nexit_after_auth = true\n", file_templates(&out)),
        ),
    );
    let exec_cfg = fx.write_file(
        "bench-exec.hcl",
        &agent_hcl(&fx, &jwt.path, &exec_stanzas(&stamp)),
    );
    let sidekey_once = || {
        let mut c = Command::new(&sidekey);
        c.args(["run", "--once", "-c", once_cfg.to_str().unwrap()]);
        c
    };
    let sidekey_exec = || {
        let mut c = Command::new(&sidekey);
        c.args(["exec", "-c", exec_cfg.to_str().unwrap()]);
        c
    };
    let bao_agent = |cfg: &Path| {
        let mut c = Command::new(&bao);
        c.args(["agent", &format!("-config={}", cfg.display())]);
        c
    };

    // Raw round trips with one keep-alive client.
    let c = http_client();
    let login = || {
        let r: Value = c
            .post(format!("{}/v1/auth/jwt/login", fx.addr()))
            .json(&json!({"role": "app", "jwt": jwt.token}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["auth"]["client_token"].as_str().unwrap().to_string()
    };
    let token = login();
    let raw = |method: &str, path: &str, body: Option<Value>| {
        let t = Instant::now();
        let mut rq = c
            .request(method.parse().unwrap(), format!("{}/v1/{path}", fx.addr()))
            .header("X-Vault-Token", &token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        assert!(rq.send().unwrap().status().is_success());
        t.elapsed()
    };

    // Warm up the server (first database user, first certificate) and the page cache.
    time_once(sidekey_once(), &out);
    time_to_child(sidekey_exec(), &stamp);

    // Interleaved, so load from other work on the machine hits raw and sidekey figures alike.
    let (mut r_login, mut r_kv, mut r_db, mut r_pki) = (vec![], vec![], vec![], vec![]);
    let mut r_all = vec![];
    let (mut once, mut exec, mut floor, mut check) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let t = Instant::now();
        login();
        r_login.push(t.elapsed());
        r_kv.push(raw("GET", "secret/data/app/config", None));
        r_db.push(raw("GET", "database/creds/app", None));
        r_pki.push(raw(
            "PUT",
            "pki/issue/app",
            Some(json!({"common_name": "web.example.test"})),
        ));
        // What a client that does nothing but the three calls at once gets from this server and machine.
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| raw("GET", "secret/data/app/config", None));
            s.spawn(|| raw("GET", "database/creds/app", None));
            s.spawn(|| {
                raw(
                    "PUT",
                    "pki/issue/app",
                    Some(json!({"common_name": "web.example.test"})),
                )
            });
        });
        r_all.push(t.elapsed());
        once.push(time_once(sidekey_once(), &out));
        // Process start, config and template parsing: the part of one-shot without the network.
        let t = Instant::now();
        let st = Command::new(&sidekey)
            .args(["check", "-c", once_cfg.to_str().unwrap()])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        check.push(t.elapsed());
        exec.push(time_to_child(sidekey_exec(), &stamp));
        // The child alone, started directly: the part of exec start no agent can save.
        let mut sh = Command::new("sh");
        sh.args(["-c", &child_script(&stamp)]);
        floor.push(time_to_child(sh, &stamp));
    }
    let (login_t, kv_t, db_t, pki_t) = (
        median(&r_login),
        median(&r_kv),
        median(&r_db),
        median(&r_pki),
    );
    let once_t = median(&once);
    let exec_t = median(&exec);

    let bao_once: Vec<_> = (0..BAO_ONCE_RUNS)
        .map(|_| time_once(bao_agent(&bao_once_cfg), &out))
        .collect();
    let bao_exec: Vec<_> = (0..BAO_EXEC_RUNS)
        .map(|_| time_to_child(bao_agent(&exec_cfg), &stamp))
        .collect();

    // Steady RSS of both agents keeping the one-shot work fresh.
    let rss = steady_rss_kb({
        let mut c = Command::new(&sidekey);
        c.args(["run", "-c", once_cfg.to_str().unwrap()]);
        c
    });
    let bao_rss = steady_rss_kb(bao_agent(&once_cfg));
    let size = std::fs::metadata(&sidekey).unwrap().len();
    let bao_size = std::fs::metadata(&bao).map(|m| m.len()).ok();

    let slowest = db_t.max(kv_t).max(pki_t);
    let once_budget = login_t + slowest + ONCE_SLACK;
    let exec_budget = login_t + kv_t + EXEC_SLACK;
    let bao_rss_kb = bao_rss.unwrap_or(BAO_RSS_FALLBACK_KB);
    let rss_budget = bao_rss_kb / 10;
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
    let raw_row = |metric, d: Duration| Row {
        metric,
        sidekey: String::new(),
        bao: String::new(),
        basis: ms(d),
        budget: String::new(),
        pass: None,
    };
    let rows = vec![
        raw_row("raw JWT login", login_t),
        raw_row("raw KV read", kv_t),
        raw_row("raw DB creds", db_t),
        raw_row("raw PKI issue", pki_t),
        raw_row("raw KV ‖ DB ‖ PKI at once", median(&r_all)),
        raw_row("exec child alone (no agent)", median(&floor)),
        Row {
            metric: "start + parse (check)",
            sidekey: ms(median(&check)),
            bao: String::new(),
            basis: String::new(),
            budget: String::new(),
            pass: None,
        },
        Row {
            metric: "one-shot KV+DB+PKI",
            sidekey: ms(once_t),
            bao: ms(median(&bao_once)),
            basis: format!("login+max(KV,DB,PKI) {}", ms(login_t + slowest)),
            budget: format!("≤ {}", ms(once_budget)),
            pass: Some(once_t <= once_budget),
        },
        Row {
            metric: "exec start → child running",
            sidekey: ms(exec_t),
            bao: ms(median(&bao_exec)),
            basis: format!("login+KV {}", ms(login_t + kv_t)),
            budget: format!("≤ {}", ms(exec_budget)),
            pass: Some(exec_t <= exec_budget),
        },
        Row {
            metric: "steady RSS",
            sidekey: rss.map_or("?".into(), mb),
            bao: bao_rss.map_or(format!("? ({} assumed)", mb(bao_rss_kb)), mb),
            basis: String::new(),
            budget: format!("≤ {}", mb(rss_budget)),
            pass: Some(rss.is_some_and(|r| r <= rss_budget)),
        },
        Row {
            metric: "release binary",
            sidekey: mib(size),
            bao: bao_size.map_or("?".into(), mib),
            basis: String::new(),
            budget: format!("≤ {}", mib(MAX_BINARY)),
            pass: Some(size <= MAX_BINARY),
        },
    ];
    print_table(&rows);
    println!(
        "\nmedians of {RUNS} sidekey runs (min {} one-shot, {} exec), {BAO_ONCE_RUNS} bao one-shot, \
         {BAO_EXEC_RUNS} bao exec runs",
        ms(*once.iter().min().unwrap()),
        ms(*exec.iter().min().unwrap()),
    );
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.pass == Some(false))
        .map(|r| r.metric)
        .collect();
    assert!(failed.is_empty(), "budgets missed: {failed:?}");
}
