//! Budgets from the developers' guide, measured against the real OpenBao agent on the same work: raw
//! backend round trips, `sidekey run --once` of KV + database + PKI, `sidekey exec` start → child running,
//! steady RSS, release binary size. Run with `tests/bench.sh` (release build); ignored in the normal suite
//! because timings belong in benchmarks, not assertions.

// Benchmark code: wall-clock time is the thing measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types,
    clippy::print_stdout
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sidekey_tests::bao::{bao_bin, http_client};
use sidekey_tests::{Fixture, Setup, ShmDir};

const RUNS: usize = 15;

fn sidekey_release() -> PathBuf {
    let p = std::env::var_os("SIDEKEY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sidekey"));
    assert!(
        p.exists(),
        "{} missing: run tests/bench.sh (it builds the release binary)",
        p.display()
    );
    p
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Vault Agent HCL both agents accept: JWT auto-auth, and templates for KV, a DB credential and a cert.
fn agent_hcl(fx: &Fixture, jwt: &Path, out: &ShmDir, extra: &str) -> String {
    format!(
        r#"
vault {{
  address = "{addr}"
}}
auto_auth {{
  method "jwt" {{
    config = {{
      path = "{jwt}"
      role = "app"
      remove_jwt_after_reading = false
    }}
  }}
}}
template {{
  destination = "{kv}"
  contents = "{{{{ with secret \"secret/data/app/config\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}"
}}
template {{
  destination = "{db}"
  contents = "{{{{ with secret \"database/creds/app\" }}}}{{{{ .Data.username }}}}:{{{{ .Data.password }}}}{{{{ end }}}}"
}}
template {{
  destination = "{crt}"
  contents = "{{{{ with secret \"pki/issue/app\" \"common_name=web.example.test\" }}}}{{{{ .Data.certificate }}}}{{{{ end }}}}"
}}
{extra}
"#,
        addr = fx.addr(),
        jwt = jwt.display(),
        kv = out.join("kv").display(),
        db = out.join("db").display(),
        crt = out.join("crt").display(),
    )
}

fn time_cmd(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let d = t.elapsed();
    assert!(st.success(), "{cmd:?} failed");
    d
}

/// Time from spawning `cmd` to its child writing the current time into `stamp` (ns since the epoch).
fn time_to_child(mut cmd: Command, stamp: &Path) -> Duration {
    let _ = std::fs::remove_file(stamp);
    let start_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ns = loop {
        if let Ok(s) = std::fs::read_to_string(stamp)
            && let Ok(ns) = s.trim().parse::<u128>()
        {
            break ns;
        }
        assert!(Instant::now() < deadline, "child never ran");
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.wait();
    Duration::from_nanos((ns - start_epoch.as_nanos()) as u64)
}

#[test]
#[ignore = "benchmark: run tests/bench.sh"]
fn budgets_against_bao_agent() {
    let fx = Setup::new().jwt().database().pki().start();
    let jwt = fx.app_jwt();
    let out = ShmDir::new();
    let sidekey = sidekey_release();

    // Raw round trips with one keep-alive client.
    let c = http_client();
    let login = || {
        let r: serde_json::Value = c
            .post(format!("{}/v1/auth/jwt/login", fx.addr()))
            .json(&json!({"role": "app", "jwt": jwt.token}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["auth"]["client_token"].as_str().unwrap().to_string()
    };
    let token = login();
    let raw = |method: &str, path: &str, body: Option<serde_json::Value>| {
        let mut v = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let mut rq = c
                .request(method.parse().unwrap(), format!("{}/v1/{path}", fx.addr()))
                .header("X-Vault-Token", &token);
            if let Some(b) = &body {
                rq = rq.json(b);
            }
            assert!(rq.send().unwrap().status().is_success());
            v.push(t.elapsed());
        }
        median(v)
    };
    let mut lv = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        login();
        lv.push(t.elapsed());
    }
    println!("raw JWT login        {}", ms(median(lv)));
    println!(
        "raw KV read          {}",
        ms(raw("GET", "secret/data/app/config", None))
    );
    println!(
        "raw DB creds         {}",
        ms(raw("GET", "database/creds/app", None))
    );
    println!(
        "raw PKI issue        {}",
        ms(raw(
            "PUT",
            "pki/issue/app",
            Some(json!({"common_name": "web.example.test"}))
        ))
    );

    // One-shot render of KV + DB + cert.
    let cfg = fx.write_file("bench.hcl", &agent_hcl(&fx, &jwt.path, &out, ""));
    let once = median(
        (0..RUNS)
            .map(|_| {
                let mut c = Command::new(&sidekey);
                c.args(["run", "--once", "-c", cfg.to_str().unwrap()]);
                time_cmd(c)
            })
            .collect(),
    );
    println!("sidekey run --once   {}", ms(once));
    let bao_cfg = fx.write_file(
        "bench-bao.hcl",
        &agent_hcl(&fx, &jwt.path, &out, "exit_after_auth = true"),
    );
    let bao_once = median(
        (0..3)
            .map(|_| {
                let mut c = Command::new(bao_bin());
                c.args(["agent", &format!("-config={}", bao_cfg.display())]);
                time_cmd(c)
            })
            .collect(),
    );
    println!("bao agent one-shot   {}", ms(bao_once));

    // exec: start → child running.
    let stamp = out.join("stamp");
    let child = format!("date +%s%N > {}", stamp.display());
    let exec_cfg = fx.write_file(
        "bench-exec.hcl",
        &agent_hcl(&fx, &jwt.path, &out, "env_template \"DB\" {\n  contents = \"{{ with secret \\\"secret/data/app/config\\\" }}{{ .Data.data.password }}{{ end }}\"\n}"),
    );
    let exec = median(
        (0..RUNS)
            .map(|_| {
                let mut c = Command::new(&sidekey);
                c.args([
                    "exec",
                    "-c",
                    exec_cfg.to_str().unwrap(),
                    "--",
                    "sh",
                    "-c",
                    &child,
                ]);
                time_to_child(c, &stamp)
            })
            .collect(),
    );
    println!("sidekey exec start   {}", ms(exec));
    let bao_exec_cfg = fx.write_file(
        "bench-bao-exec.hcl",
        &agent_hcl(&fx, &jwt.path, &out, &format!(
            "env_template \"DB\" {{\n  contents = \"{{{{ with secret \\\"secret/data/app/config\\\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}\"\n}}\nexec {{\n  command = [\"sh\", \"-c\", \"{child}\"]\n  restart_on_secret_changes = \"never\"\n}}",
        )),
    );
    let bao_exec = time_to_child(
        {
            let mut c = Command::new(bao_bin());
            c.args(["agent", &format!("-config={}", bao_exec_cfg.display())]);
            c
        },
        &stamp,
    );
    println!("bao agent exec start {}", ms(bao_exec));

    // Steady RSS of a running agent.
    let mut run = Command::new(&sidekey)
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let status = std::fs::read_to_string(format!("/proc/{}/status", run.id())).unwrap();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("VmRSS: ?")
        .to_string();
    let _ = run.kill();
    let _ = run.wait();
    println!("sidekey run steady   {rss}");
    let size = std::fs::metadata(&sidekey).unwrap().len();
    println!("release binary       {:.1} MiB", size as f64 / 1048576.0);
}
