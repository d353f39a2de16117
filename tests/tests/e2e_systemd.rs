//! End-to-end tests of sidekey under a service manager and of reloads (DESIGN §12): the systemd notify
//! protocol as a unix datagram socket the test owns (`READY=1` only once every output exists,
//! `RELOADING=1` + `MONOTONIC_USEC` then `READY=1` around a SIGHUP, `STOPPING=1`, `WATCHDOG=1` at half of
//! `WATCHDOG_USEC`, and none of `NOTIFY_SOCKET`/`WATCHDOG_*` reaching a child); reloads against the real
//! OpenBao and PostgreSQL (only what changed is touched, a database lease is kept, a broken config is
//! refused and the old one runs on, template sources and ConfigMap `..data` swaps are picked up without a
//! signal, SIGHUPs at any moment are harmless); and a `token_file` that appears late or is replaced.
//!
//! "Within seconds" is a deadline of at most 10 s; the whole file runs in well under two minutes.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::audit::{assert_verifies, events_so_far, field, now_ms, rfc3339_ms, summary};
use sidekey_tests::background::{Background, Builder, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::notify::NotifySocket;
use sidekey_tests::{Fixture, Setup, ShmDir, replace_file, sidekey_bin};

/// What "within seconds" means in these tests.
const WITHIN_SECONDS: Duration = Duration::from_secs(10);

/// The KV template most tests render: `app`.
const KV_USERNAME: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#;

/// `v` of `secret/app/t`, a KV secret the test itself changes.
const KV_T: &str = r#"{{ with secret "secret/data/app/t" }}{{ .Data.data.v }}{{ end }}"#;

/// The database credential with its lease: `LEASE_ID USERNAME`.
const DB_LEASE_USER: &str =
    r#"{{ with secret "database/creds/app" }}{{ .LeaseID }} {{ .Data.username }}{{ end }}"#;

/// KV secrets re-read every second (so a change reaches the outputs within seconds): a
/// `template_config` option.
const FAST_KV: &str = "static_secret_render_interval = \"1s\"";

/// Build sidekey before starting servers (a cold build would eat the deadlines), then start them.
fn fixture(setup: Setup) -> Fixture {
    sidekey_bin();
    setup.start()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Whether `pid` catches SIGHUP (its handler is installed: a SIGHUP no longer kills it).
fn catches_hup(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & 1 != 0)
}

/// Wait until sidekey handles SIGHUP (sent before that, the default action would kill it).
fn wait_hup_handler(agent: &Background) {
    assert!(
        wait_until(WITHIN_SECONDS, || catches_hup(agent.pid())),
        "sidekey (pid {}) never installed a SIGHUP handler:\n{}",
        agent.pid(),
        agent.stderr()
    );
}

/// Inode and modification time: a file rewritten (even with the same bytes) changes one of them.
fn file_id(path: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    (m.ino(), m.mtime(), m.mtime_nsec())
}

// ---------------------------------------------------------------------------------------------------
// The audit trail.
// ---------------------------------------------------------------------------------------------------

/// The `config.reload` events.
fn reloads(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| field(e, "/event") == "config.reload")
        .collect()
}

/// A `reload` member list (`added`, `changed`, `removed`) of a `config.reload` event.
fn reload_list(e: &Value, which: &str) -> Vec<String> {
    e.pointer(&format!("/reload/{which}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Every retrieval of `database/creds/app` (success or not): each one is a new credential asked for.
fn db_retrievals(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| matches!(field(e, "/event"), "secret.read" | "secret.write"))
        .filter(|e| field(e, "/secret/path") == "database/creds/app")
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// The service manager's side: a notify socket the test owns.
// ---------------------------------------------------------------------------------------------------

/// `sidekey run -c CFG` against the fixture with `sock` as its `NOTIFY_SOCKET`; add variables, then `start`.
fn run_notifying(fx: &Fixture, cfg: &Path, sock: &NotifySocket) -> Builder {
    fx.agent()
        .args(["run", "-c"])
        .arg(cfg)
        .env("NOTIFY_SOCKET", sock.path())
}

/// CLOCK_BOOTTIME in µs (from /proc/uptime): never behind CLOCK_MONOTONIC.
fn boottime_usec() -> u64 {
    let up = read(Path::new("/proc/uptime"));
    let secs: f64 = up
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap();
    // Whole microseconds of a few days of uptime: exact enough in f64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let us = (secs * 1e6) as u64;
    us
}

/// Lines of `KEY=value` in an `env` dump that name the service manager's variables.
fn notify_vars_in(env_dump: &str) -> Vec<String> {
    env_dump
        .lines()
        .filter(|l| {
            l.starts_with("NOTIFY_SOCKET=")
                || l.starts_with("WATCHDOG_USEC=")
                || l.starts_with("WATCHDOG_PID=")
        })
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// 1. systemd notify.
// ---------------------------------------------------------------------------------------------------

/// `READY=1` only once every destination exists (one secret appears 2 s after start), with a `STATUS=`;
/// SIGHUP gives `RELOADING=1` with a `MONOTONIC_USEC` that is the monotonic clock, then `READY=1`;
/// SIGTERM gives `STOPPING=1`. No status line carries a secret value.
#[test]
fn ready_only_after_every_destination_then_reloading_ready_and_stopping() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let a = out.join("a.txt");
    let b = out.join("late.txt");
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app")
                .backoff("1s", "1s")
                .to_string(),
            hcl::template(KV_USERNAME, &a, &[]),
            hcl::template(
                r#"{{ with secret "secret/data/app/late" }}{{ .Data.data.v }}{{ end }}"#,
                &b,
                &[],
            ),
        ]
        .concat(),
    );
    let sock = NotifySocket::bind(&[a.clone(), b.clone()]);
    let mut agent = run_notifying(&fx, &cfg, &sock).start();

    std::thread::sleep(Duration::from_secs(2));
    assert!(agent.running(), "sidekey exited:\n{}", agent.stderr());
    let early = sock.notes();
    assert!(
        !early.iter().any(|n| n.has("READY=1")),
        "READY=1 before secret/app/late exists:\n{}",
        sock.describe()
    );
    fx.bao.write(
        "secret/data/app/late",
        json!({ "data": { "v": "late-value" } }),
    );
    let written = Instant::now();

    let ready = sock
        .wait_for(0, WITHIN_SECONDS, |n| n.has("READY=1"))
        .unwrap_or_else(|| {
            panic!(
                "no READY=1 within {WITHIN_SECONDS:?} of the late secret being written:\n{}\n{}",
                sock.describe(),
                agent.stderr()
            )
        });
    let notes = sock.notes();
    let r = &notes[ready];
    assert!(
        r.at >= written,
        "READY=1 arrived before the late secret was written:\n{}",
        sock.describe()
    );
    assert_eq!(
        r.existing,
        vec![true, true],
        "READY=1 arrived while a destination ({}, {}) did not exist:\n{}",
        a.display(),
        b.display(),
        sock.describe()
    );
    assert!(
        r.value("STATUS").is_some(),
        "READY=1 without STATUS=: {:?}",
        r.text
    );
    assert_eq!(read(&a), "app");
    assert_eq!(read(&b), "late-value");

    // A reload (same config): RELOADING=1 + MONOTONIC_USEC, then READY=1 again. Twice, to compare the
    // clock with the arrival times.
    let mut monotonic = Vec::new();
    let mut from = notes.len();
    for round in 1..=2 {
        agent.signal(libc::SIGHUP);
        let reloading = sock
            .wait_for(from, WITHIN_SECONDS, |n| n.has("RELOADING=1"))
            .unwrap_or_else(|| {
                panic!(
                    "no RELOADING=1 within {WITHIN_SECONDS:?} of SIGHUP #{round}:\n{}\n{}",
                    sock.describe(),
                    agent.stderr()
                )
            });
        let ready = sock
            .wait_for(reloading + 1, WITHIN_SECONDS, |n| n.has("READY=1"))
            .unwrap_or_else(|| {
                panic!(
                    "no READY=1 after RELOADING=1 (SIGHUP #{round}):\n{}\n{}",
                    sock.describe(),
                    agent.stderr()
                )
            });
        let notes = sock.notes();
        let n = &notes[reloading];
        let usec: u64 = n
            .value("MONOTONIC_USEC")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!("RELOADING=1 without a numeric MONOTONIC_USEC: {:?}", n.text)
            });
        assert!(
            n.value("STATUS").is_some(),
            "RELOADING=1 without STATUS=: {:?}",
            n.text
        );
        assert!(
            notes[ready].value("STATUS").is_some(),
            "READY=1 after a reload without STATUS=: {:?}",
            notes[ready].text
        );
        assert!(
            usec <= boottime_usec() + 1_000_000,
            "MONOTONIC_USEC={usec} is ahead of the boot-time clock ({} µs): not CLOCK_MONOTONIC",
            boottime_usec()
        );
        monotonic.push((usec, n.at));
        from = ready + 1;
        std::thread::sleep(Duration::from_millis(700));
    }
    let clock = i128::from(monotonic[1].0) - i128::from(monotonic[0].0);
    let seen = i128::try_from(monotonic[1].1.duration_since(monotonic[0].1).as_micros()).unwrap();
    assert!(
        (clock - seen).abs() < 300_000,
        "MONOTONIC_USEC advanced {clock} µs between two reloads that arrived {seen} µs apart"
    );
    assert_eq!(read(&a), "app", "a reload changed an output");
    assert_eq!(read(&b), "late-value", "a reload changed an output");

    let before_stop = sock.notes().len();
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    let stopping = sock.wait_for(before_stop, Duration::from_secs(2), |n| n.has("STOPPING=1"));
    assert!(
        stopping.is_some(),
        "no STOPPING=1 after SIGTERM:\n{}",
        sock.describe()
    );
    let notes = sock.notes();
    if let Some(i) = stopping {
        assert!(
            notes[i].value("STATUS").is_some(),
            "STOPPING=1 without STATUS=: {:?}",
            notes[i].text
        );
    }
    let leaked: Vec<_> = notes
        .iter()
        .filter(|n| n.text.contains(&fx.sentinel) || n.text.contains("late-value"))
        .collect();
    assert!(
        leaked.is_empty(),
        "a notification carries a secret value: {leaked:?}"
    );
}

/// With `WATCHDOG_USEC=1000000` (and no `WATCHDOG_PID`), `WATCHDOG=1` arrives about every 0.5 s, never
/// a full interval apart; with `WATCHDOG_PID` naming another process, none arrives.
#[test]
fn watchdog_pings_at_half_of_watchdog_usec_and_only_for_its_own_pid() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let a = out.join("a.txt");
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::template(KV_USERNAME, &a, &[]),
        ]
        .concat(),
    );

    let sock = NotifySocket::bind(&[]);
    let mut agent = run_notifying(&fx, &cfg, &sock)
        .env("WATCHDOG_USEC", "1000000")
        .start();
    assert!(
        sock.wait_for(0, WITHIN_SECONDS, |n| n.has("READY=1"))
            .is_some(),
        "no READY=1:\n{}\n{}",
        sock.describe(),
        agent.stderr()
    );
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let t1 = Instant::now();
    let pings: Vec<Instant> = sock
        .notes()
        .iter()
        .filter(|n| n.has("WATCHDOG=1"))
        .map(|n| n.at)
        .collect();
    let in_window = pings.iter().filter(|t| **t >= t0 && **t <= t1).count();
    assert!(
        (4..=9).contains(&in_window),
        "{in_window} WATCHDOG=1 in 3 s with WATCHDOG_USEC=1000000 (expected ~6, every 0.5 s):\n{}",
        sock.describe()
    );
    let max_gap = pings
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default();
    assert!(
        max_gap < Duration::from_millis(900),
        "WATCHDOG=1 pings {max_gap:?} apart (the service manager kills at 1 s):\n{}",
        sock.describe()
    );
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());

    // WATCHDOG_PID names another process: the watchdog is not sidekey's to feed.
    let other = NotifySocket::bind(&[]);
    let mut agent = run_notifying(&fx, &cfg, &other)
        .env("WATCHDOG_USEC", "1000000")
        .env("WATCHDOG_PID", "1")
        .start();
    assert!(
        other
            .wait_for(0, WITHIN_SECONDS, |n| n.has("READY=1"))
            .is_some(),
        "no READY=1:\n{}\n{}",
        other.describe(),
        agent.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !other.notes().iter().any(|n| n.has("WATCHDOG=1")),
        "WATCHDOG=1 sent although WATCHDOG_PID names another process:\n{}",
        other.describe()
    );
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
}

/// `sidekey exec -c CFG -- sh -c 'env > FILE'` started by a shell that sets `WATCHDOG_PID` to sidekey's
/// own pid (as systemd does): sidekey reports READY=1 (the template file delivered first) and feeds the
/// watchdog, but neither the child nor a template `command` sees `NOTIFY_SOCKET` or `WATCHDOG_*`.
#[test]
fn exec_child_and_template_commands_never_see_notify_socket_or_watchdog() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let t = out.join("t.txt");
    let child_env = out.join("child.env");
    let cmd_env = out.join("command.env");
    let cmd_script = format!("env > {}.tmp && mv {0}.tmp {0}", cmd_env.display());
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::template(
                KV_USERNAME,
                &t,
                &[&hcl::command(&["sh", "-c", &cmd_script])],
            ),
            hcl::env_template("SK_USER", KV_USERNAME),
        ]
        .concat(),
    );
    let sock = NotifySocket::bind(std::slice::from_ref(&t));
    let child = format!(
        "env > {}.tmp && mv {0}.tmp {0}; exec sleep 60",
        child_env.display()
    );
    let mut agent = Background::command("/bin/sh")
        .args([
            "-c",
            "WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\"",
        ])
        .arg(sidekey_bin())
        .args(["exec", "-c"])
        .arg(&cfg)
        .args(["--", "sh", "-c", &child])
        .clean_env()
        .env("BAO_ADDR", fx.addr())
        .env("NOTIFY_SOCKET", sock.path())
        .env("WATCHDOG_USEC", "1000000")
        .logs_in(fx.dir.path())
        .start();
    assert!(
        wait_until(WITHIN_SECONDS, || child_env.exists() && cmd_env.exists()),
        "the child ({}) or the template command ({}) did not dump its env:\n{}",
        child_env.exists(),
        cmd_env.exists(),
        agent.stderr()
    );
    let ready = sock.wait_for(0, Duration::from_secs(3), |n| n.has("READY=1"));
    std::thread::sleep(Duration::from_secs(2));
    let child_dump = read(&child_env);
    let cmd_dump = read(&cmd_env);
    let pings = sock.notes().iter().filter(|n| n.has("WATCHDOG=1")).count();
    assert!(
        child_dump.lines().any(|l| l == "SK_USER=app"),
        "not the child's env (no SK_USER=app):\n{child_dump}"
    );
    assert_eq!(
        notify_vars_in(&child_dump),
        Vec::<String>::new(),
        "the exec child's environment has the service manager's variables"
    );
    assert_eq!(
        notify_vars_in(&cmd_dump),
        Vec::<String>::new(),
        "the template command's environment has the service manager's variables"
    );
    let ready = ready.unwrap_or_else(|| {
        panic!(
            "no READY=1 once the child started:\n{}\n{}",
            sock.describe(),
            agent.stderr()
        )
    });
    assert_eq!(
        sock.notes()[ready].existing,
        vec![true],
        "READY=1 before the template file existed:\n{}",
        sock.describe()
    );
    assert!(
        pings >= 2,
        "{pings} WATCHDOG=1 in the exec flow with WATCHDOG_PID = sidekey's pid (expected ~2 a second):\n{}",
        sock.describe()
    );
    agent.stop();
}

/// `exec { notify = "child" }`: the child gets `NOTIFY_SOCKET` (not `WATCHDOG_*`) and its own `READY=1`
/// reaches the service manager; sidekey sends status lines but never a `READY=1` of its own.
#[test]
fn exec_notify_child_hands_the_socket_over_and_sidekey_sends_no_ready() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let child_env = out.join("child.env");
    let script = fx.write_file(
        "notify-child.sh",
        "env > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"\n\
         python3 - <<'EOF'\n\
         import os, socket\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.sendto(b\"READY=1\\nSTATUS=child ready\\n\", os.environ[\"NOTIFY_SOCKET\"])\n\
         EOF\n\
         exec sleep 60\n",
    );
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::env_template("SK_USER", KV_USERNAME),
            hcl::exec(
                &["sh", script.to_str().unwrap(), child_env.to_str().unwrap()],
                &["notify = \"child\""],
            ),
        ]
        .concat(),
    );
    let sock = NotifySocket::bind(&[]);
    let mut agent = run_notifying(&fx, &cfg, &sock)
        .env("WATCHDOG_USEC", "1000000")
        .start();
    assert!(
        wait_until(WITHIN_SECONDS, || child_env.exists()),
        "the child did not start:\n{}",
        agent.stderr()
    );
    let childs_ready = sock.wait_for(0, Duration::from_secs(5), |n| {
        n.has("READY=1") && n.value("STATUS") == Some("child ready")
    });
    std::thread::sleep(Duration::from_secs(2));
    let dump = read(&child_env);
    let notes = sock.notes();
    assert!(
        dump.lines()
            .any(|l| l == format!("NOTIFY_SOCKET={}", sock.path())),
        "the child has no NOTIFY_SOCKET={}:\n{dump}",
        sock.path()
    );
    let watchdog: Vec<_> = notify_vars_in(&dump)
        .into_iter()
        .filter(|l| l.starts_with("WATCHDOG_"))
        .collect();
    assert!(
        watchdog.is_empty(),
        "the child got sidekey's watchdog: {watchdog:?}"
    );
    assert!(
        childs_ready.is_some(),
        "the child's own READY=1 did not arrive:\n{}\n{}",
        sock.describe(),
        agent.stderr()
    );
    let own_ready: Vec<_> = notes
        .iter()
        .filter(|n| n.has("READY=1") && n.value("STATUS") != Some("child ready"))
        .collect();
    assert!(
        own_ready.is_empty(),
        "sidekey sent READY=1 itself with notify = \"child\":\n{}",
        sock.describe()
    );
    assert!(
        notes
            .iter()
            .any(|n| n.value("STATUS").is_some() && n.value("STATUS") != Some("child ready")),
        "sidekey sent no STATUS= line at all:\n{}",
        sock.describe()
    );
    assert!(
        notes.iter().any(|n| n.has("WATCHDOG=1")),
        "sidekey stopped feeding the watchdog with notify = \"child\":\n{}",
        sock.describe()
    );
    agent.stop();
}

// ---------------------------------------------------------------------------------------------------
// 2. Reload against the real OpenBao and PostgreSQL.
// ---------------------------------------------------------------------------------------------------

/// The database leases the server holds under `database/creds/app` (root `LIST sys/leases/lookup`).
fn server_db_leases(fx: &Fixture) -> Vec<String> {
    let r = fx.bao.request(
        "LIST",
        "sys/leases/lookup/database/creds/app",
        Some(fx.bao.root_token()),
        None,
    );
    if r.status == 404 {
        return Vec::new();
    }
    assert!(r.is_success(), "LIST leases: {} {}", r.status, r.body);
    r.body
        .pointer("/data/keys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|k| format!("database/creds/app/{k}"))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait for the `n`-th (1-based) `config.reload` event; returns it.
fn wait_reload_event(trail: &Path, n: usize, agent: &Background) -> Value {
    let mut found = None;
    wait_until(WITHIN_SECONDS, || {
        found = reloads(&events_so_far(trail))
            .get(n - 1)
            .map(|e| (*e).clone());
        found.is_some()
    });
    found.unwrap_or_else(|| {
        panic!(
            "no config.reload event #{n} within {WITHIN_SECONDS:?}:\n{}\n{}",
            summary(&events_so_far(trail)),
            agent.stderr()
        )
    })
}

/// Change one template's text and SIGHUP: only that file is rewritten (the others keep inode and mtime),
/// it is rendered from the database credential already held (same lease, same user), no second
/// credential is asked for (audit) or exists (server), and the reload is audited as `changed` = [it].
#[test]
fn reload_rewrites_only_the_changed_template_and_keeps_the_database_lease() {
    let fx = fixture(Setup::new().jwt().database());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let db = out.join("db.txt");
    let kv = out.join("kv.txt");
    let plain = out.join("plain.txt");
    let config = |db_text: &str| {
        [
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::audit(&trail, &[]),
            hcl::template_config(&[FAST_KV]),
            hcl::template(db_text, &db, &[]),
            hcl::template(KV_USERNAME, &kv, &[]),
            hcl::template("no secrets here", &plain, &[]),
        ]
        .concat()
    };
    let cfg = fx.write_config(&config(DB_LEASE_USER));
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || db.exists()
            && kv.exists()
            && plain.exists()),
        "not every output delivered:\n{}",
        agent.stderr()
    );
    let first = read(&db);
    let (lease, user) = first
        .split_once(' ')
        .unwrap_or_else(|| panic!("`LEASE USER` expected in {}: {first:?}", db.display()));
    let (lease, user) = (lease.to_owned(), user.to_owned());
    assert!(
        lease.starts_with("database/creds/app/"),
        "lease id {lease:?}"
    );
    let kv_id = file_id(&kv);
    let plain_id = file_id(&plain);
    let db_id = file_id(&db);

    replace_file(&cfg, &config(&format!("db: {DB_LEASE_USER}")));
    agent.signal(libc::SIGHUP);
    let expected = format!("db: {lease} {user}");
    assert!(
        wait_until(WITHIN_SECONDS, || read(&db) == expected),
        "{} is {:?} after the reload, expected {expected:?} (same lease, same user):\n{}\n{}",
        db.display(),
        read(&db),
        summary(&events_so_far(&trail)),
        agent.stderr()
    );
    let ev = wait_reload_event(&trail, 1, &agent);
    // Give a stray rewrite or re-issue time to show up.
    std::thread::sleep(Duration::from_millis(2500));

    assert_ne!(
        file_id(&db),
        db_id,
        "the changed template's file was not rewritten"
    );
    assert_eq!(
        file_id(&kv),
        kv_id,
        "{} was rewritten by a reload that did not change it",
        kv.display()
    );
    assert_eq!(
        file_id(&plain),
        plain_id,
        "{} was rewritten by a reload that did not change it",
        plain.display()
    );
    assert_eq!(field(&ev, "/outcome"), "success", "{ev}");
    assert_eq!(
        (
            reload_list(&ev, "added"),
            reload_list(&ev, "changed"),
            reload_list(&ev, "removed")
        ),
        (vec![], vec![db.display().to_string()], vec![]),
        "config.reload lists: {ev}"
    );
    let events = events_so_far(&trail);
    let asked = db_retrievals(&events);
    assert_eq!(
        asked.len(),
        1,
        "database/creds/app retrieved {} times (a reload must not ask for a new credential):\n{}",
        asked.len(),
        summary(&events)
    );
    assert!(
        fx.bao.lease_alive(&lease),
        "the original lease {lease} is gone on the server"
    );
    assert_eq!(
        server_db_leases(&fx),
        vec![lease.clone()],
        "the server's database leases"
    );
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert_verifies(&trail);
}

/// A template added by a reload is rendered (the others untouched); one removed stops being refreshed
/// (its file stays, as without `remove_on_exit`), while the others still follow a KV change.
#[test]
fn reload_renders_an_added_template_and_stops_a_removed_one() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let a = out.join("a.txt");
    let b = out.join("b.txt");
    let c = out.join("c.txt");
    let head = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::audit(&trail, &[]),
        hcl::template_config(&[FAST_KV]),
    ]
    .concat();
    let ta = hcl::template(&format!("a:{KV_USERNAME}"), &a, &[]);
    let tb = hcl::template(&format!("b:{KV_USERNAME}"), &b, &[]);
    let tc = hcl::template(&format!("c:{KV_USERNAME}"), &c, &[]);
    let cfg = fx.write_config(&format!("{head}{ta}{tb}"));
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "a:app"
            && read(&b) == "b:app"),
        "not delivered:\n{}",
        agent.stderr()
    );
    let (a_id, b_id) = (file_id(&a), file_id(&b));

    replace_file(&cfg, &format!("{head}{ta}{tb}{tc}"));
    agent.signal(libc::SIGHUP);
    assert!(
        wait_until(WITHIN_SECONDS, || read(&c) == "c:app"),
        "the added template was not rendered ({:?}):\n{}\n{}",
        read(&c),
        summary(&events_so_far(&trail)),
        agent.stderr()
    );
    let ev = wait_reload_event(&trail, 1, &agent);
    assert_eq!(field(&ev, "/outcome"), "success", "{ev}");
    assert_eq!(
        reload_list(&ev, "added"),
        vec![c.display().to_string()],
        "{ev}"
    );
    assert!(
        reload_list(&ev, "changed").is_empty() && reload_list(&ev, "removed").is_empty(),
        "{ev}"
    );
    assert_eq!(file_id(&a), a_id, "a was rewritten by adding c");
    assert_eq!(file_id(&b), b_id, "b was rewritten by adding c");

    replace_file(&cfg, &format!("{head}{ta}{tc}"));
    agent.signal(libc::SIGHUP);
    let ev = wait_reload_event(&trail, 2, &agent);
    assert_eq!(field(&ev, "/outcome"), "success", "{ev}");
    assert_eq!(
        reload_list(&ev, "removed"),
        vec![b.display().to_string()],
        "{ev}"
    );
    fx.bao.write(
        "secret/data/app/config",
        json!({ "data": { "username": "renamed", "password": fx.sentinel } }),
    );
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "a:renamed"
            && read(&c) == "c:renamed"),
        "the remaining templates did not follow the KV change (a {:?}, c {:?}):\n{}",
        read(&a),
        read(&c),
        agent.stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(read(&b), "b:app", "the removed template is still rendered");
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert_verifies(&trail);
}

/// The 1-based line number the next line appended to `text` will have.
fn next_line(text: &str) -> usize {
    text.lines().count() + 1
}

/// A `config.reload` failure whose `error` names the config file and `:LINE`.
fn assert_rejected_naming(ev: &Value, cfg: &Path, line: usize) {
    assert_eq!(field(ev, "/outcome"), "failure", "{ev}");
    let err = field(ev, "/error");
    let name = cfg.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(name.as_ref()),
        "the reload error does not name the file {name}: {err:?}"
    );
    assert!(
        err.contains(&format!(":{line}")) || err.contains(&format!("line {line}")),
        "the reload error does not name line {line}: {err:?}"
    );
}

/// A config that does not load is refused at SIGHUP (an unknown key, then a syntax error): the audit's
/// `config.reload` failure names file:line, sidekey stays up, and the old config's outputs keep
/// following KV changes; a good config afterwards applies.
#[test]
fn reload_of_a_broken_config_is_rejected_naming_file_and_line_and_the_old_one_runs_on() {
    let fx = fixture(Setup::new().jwt());
    fx.bao
        .write("secret/data/app/t", json!({ "data": { "v": "one" } }));
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let a = out.join("a.txt");
    let tpl = KV_T;
    let good = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::audit(&trail, &[]),
        hcl::template_config(&[FAST_KV]),
        hcl::template(tpl, &a, &[]),
    ]
    .concat();
    let cfg = fx.write_config(&good);
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "one"),
        "not delivered:\n{}",
        agent.stderr()
    );

    // An unknown key on a known line. The broken configs stay raw text appended to the good one: what
    // is tested is the line a bad line is reported on, and no builder writes bad HCL.
    let line = next_line(&good);
    replace_file(&cfg, &format!("{good}no_such_setting = true\n"));
    agent.signal(libc::SIGHUP);
    let ev = wait_reload_event(&trail, 1, &agent);
    assert_rejected_naming(&ev, &cfg, line);
    assert!(
        agent.running(),
        "sidekey died of a bad reload:\n{}",
        agent.stderr()
    );
    fx.bao
        .write("secret/data/app/t", json!({ "data": { "v": "two" } }));
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "two"),
        "the old config stopped refreshing after a rejected reload ({:?}):\n{}",
        read(&a),
        agent.stderr()
    );

    // A syntax error on a known line.
    let line = next_line(&good);
    replace_file(&cfg, &format!("{good}this is not hcl\n"));
    agent.signal(libc::SIGHUP);
    let ev = wait_reload_event(&trail, 2, &agent);
    assert_rejected_naming(&ev, &cfg, line);
    assert!(
        agent.running(),
        "sidekey died of a bad reload:\n{}",
        agent.stderr()
    );
    fx.bao
        .write("secret/data/app/t", json!({ "data": { "v": "three" } }));
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "three"),
        "the old config stopped refreshing after a rejected reload ({:?}):\n{}",
        read(&a),
        agent.stderr()
    );

    // A good config again applies.
    replace_file(
        &cfg,
        &good.replace(&hcl::quote(tpl), &hcl::quote(&format!("fixed:{tpl}"))),
    );
    agent.signal(libc::SIGHUP);
    let ev = wait_reload_event(&trail, 3, &agent);
    assert_eq!(field(&ev, "/outcome"), "success", "{ev}");
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "fixed:three"),
        "the good config did not apply ({:?}):\n{}",
        read(&a),
        agent.stderr()
    );
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert_verifies(&trail);
}

/// How long a watched file change may take to reach the output (debounce ~0.5 s, "within ~1-2 s").
const WATCH_DEADLINE: Duration = Duration::from_secs(3);

/// A template `source` file edited on disk — in place, then replaced by rename as editors do — is
/// picked up within seconds without any signal.
#[test]
fn template_source_changes_are_picked_up_without_a_signal() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let dest = out.join("src.txt");
    let source = fx.write_file("app.ctmpl", &format!("user={KV_USERNAME}"));
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::template_file(&source, &dest, &[]),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || read(&dest) == "user=app"),
        "not delivered ({:?}):\n{}",
        read(&dest),
        agent.stderr()
    );
    // Past the debounce window of the first render.
    std::thread::sleep(Duration::from_secs(1));

    std::fs::write(&source, format!("login={KV_USERNAME}")).unwrap();
    let edited = Instant::now();
    let in_place = wait_until(WATCH_DEADLINE, || read(&dest) == "login=app");
    let in_place_took = edited.elapsed();
    // Keep going to learn whether it comes late or never.
    let late = in_place || wait_until(Duration::from_secs(5), || read(&dest) == "login=app");
    assert!(
        in_place,
        "an in-place edit of the template source was not picked up within {WATCH_DEADLINE:?} \
         (after {:?}: {}; file {:?}):\n{}",
        edited.elapsed(),
        if late { "came late" } else { "never" },
        read(&dest),
        agent.stderr()
    );
    eprintln!("in-place edit picked up after {in_place_took:?}");

    std::thread::sleep(Duration::from_secs(1));
    replace_file(&source, &format!("name={KV_USERNAME}"));
    let replaced = Instant::now();
    assert!(
        wait_until(WATCH_DEADLINE, || read(&dest) == "name=app"),
        "a template source replaced by rename was not picked up within {WATCH_DEADLINE:?} ({:?}):\n{}",
        read(&dest),
        agent.stderr()
    );
    eprintln!("replaced source picked up after {:?}", replaced.elapsed());
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
}

/// A Kubernetes ConfigMap volume: `agent.hcl -> ..data/agent.hcl`, `..data -> ..TIMESTAMP`. The
/// kubelet's atomic update (new timestamped dir, new `..data` symlink renamed over the old one, old dir
/// removed) is a reload without any signal: a changed template re-renders and an added one renders.
#[test]
fn configmap_data_swap_is_picked_up_without_a_signal() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let a = out.join("a.txt");
    let b = out.join("b.txt");
    let head = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::audit(&trail, &[]),
    ]
    .concat();
    let v1 = head.clone() + &hcl::template(&format!("v1:{KV_USERNAME}"), &a, &[]);
    let v2 = head
        + &hcl::template(&format!("v2:{KV_USERNAME}"), &a, &[])
        + &hcl::template(&format!("b:{KV_USERNAME}"), &b, &[]);
    let cm = fx.dir.path().join("configmap");
    std::fs::create_dir(&cm).unwrap();
    let first = "..2026_12_07_02_00_00.000000001";
    std::fs::create_dir(cm.join(first)).unwrap();
    std::fs::write(cm.join(first).join("agent.hcl"), &v1).unwrap();
    std::os::unix::fs::symlink(first, cm.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/agent.hcl", cm.join("agent.hcl")).unwrap();

    let mut agent = fx.agent().args(["run", "-c"]).arg(&cm).start();
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "v1:app"),
        "not delivered from the ConfigMap directory ({:?}):\n{}",
        read(&a),
        agent.stderr()
    );
    std::thread::sleep(Duration::from_secs(1));

    // The kubelet's AtomicWriter.
    let second = "..2026_12_07_02_01_00.000000002";
    std::fs::create_dir(cm.join(second)).unwrap();
    std::fs::write(cm.join(second).join("agent.hcl"), &v2).unwrap();
    std::os::unix::fs::symlink(second, cm.join("..data_tmp")).unwrap();
    std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
    std::fs::remove_dir_all(cm.join(first)).unwrap();
    let swapped = Instant::now();

    let picked = wait_until(Duration::from_secs(5), || {
        read(&a) == "v2:app" && read(&b) == "b:app"
    });
    assert!(
        picked,
        "the ..data swap was not picked up within 5 s (a {:?}, b {:?}, {:?} after the swap):\n{}\n{}",
        read(&a),
        read(&b),
        swapped.elapsed(),
        summary(&events_so_far(&trail)),
        agent.stderr()
    );
    eprintln!("..data swap picked up after {:?}", swapped.elapsed());
    let events = events_so_far(&trail);
    let reload = reloads(&events);
    assert!(
        reload.iter().any(|e| field(e, "/outcome") == "success"),
        "no successful config.reload audited for the swap:\n{}",
        summary(&events)
    );
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
}

/// A small deterministic generator (xorshift64*), seeded per run; the seed is in every failure message.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = u64::from_str_radix(&sidekey_tests::random_hex(8), 16).unwrap() | 1;
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

/// `n` SIGHUPs at random intervals of up to 60 ms; returns `n`.
fn burst(agent: &Background, rng: &mut Rng, n: u64) -> u64 {
    for _ in 0..n {
        agent.signal(libc::SIGHUP);
        std::thread::sleep(rng.millis(60));
    }
    n
}

/// Counts of `start`/`end` lines in the command log.
fn command_runs(log: &Path) -> (usize, usize) {
    let text = read(log);
    (
        text.lines().filter(|l| *l == "start").count(),
        text.lines().filter(|l| *l == "end").count(),
    )
}

/// SIGHUPs whenever they come — in bursts at random short intervals, before the first login (the JWT
/// file appears later), while a template `command` runs, and between config changes (a database
/// template's text, a KV template's text, a template added and removed) — leave sidekey alive, every
/// destination present with the last config's content, exactly one database lease issued in all (audit
/// and server), no reload refused, and an audit chain that verifies.
#[test]
fn reload_signals_at_any_moment_leave_the_agent_alive_and_outputs_intact() {
    let fx = fixture(Setup::new().jwt().database());
    let out = ShmDir::new();
    let trail = out.join("audit.log");
    let db = out.join("db.txt");
    let kv = out.join("kv.txt");
    let extra = out.join("extra.txt");
    let log = out.join("command.log");
    let jwt_path = fx.dir.path().join("late.jwt");
    let cmd = format!("echo start >> {0}; sleep 1; echo end >> {0}", log.display());
    let mut rng = Rng::new();
    let seed = rng.0;
    let config = |db_prefix: &str, kv_prefix: &str, with_extra: bool| {
        let mut t = [
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt_path, "app")
                .backoff("1s", "1s")
                .to_string(),
            hcl::audit(&trail, &[]),
            hcl::template(&format!("{db_prefix}{DB_LEASE_USER}"), &db, &[]),
            hcl::template(
                &format!("{kv_prefix}{KV_USERNAME}"),
                &kv,
                &[&hcl::command(&["sh", "-c", &cmd])],
            ),
        ]
        .concat();
        if with_extra {
            t.push_str(&hcl::template("extra", &extra, &[]));
        }
        t
    };
    let cfg = fx.write_config(&config("", "", false));
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let mut hups = 0;

    // Before the first login: there is no JWT yet.
    wait_hup_handler(&agent);
    for _ in 0..3 {
        let n = 1 + rng.below(4);
        hups += burst(&agent, &mut rng, n);
        std::thread::sleep(rng.millis(400));
    }
    assert!(
        agent.running(),
        "sidekey died of SIGHUPs before its first login (seed {seed}):\n{}",
        agent.stderr()
    );
    replace_file(&jwt_path, &fx.app_jwt().token);
    assert!(
        wait_until(WITHIN_SECONDS, || db.exists() && kv.exists()),
        "not delivered after the JWT appeared (seed {seed}):\n{}",
        agent.stderr()
    );
    let lease = read(&db)
        .split_once(' ')
        .map(|(l, _)| l.to_owned())
        .unwrap_or_default();

    // While the template command runs: a KV template change re-renders and runs it (1 s).
    let (starts, _) = command_runs(&log);
    replace_file(&cfg, &config("", "cmd:", false));
    hups += burst(&agent, &mut rng, 1);
    assert!(
        wait_until(WITHIN_SECONDS, || command_runs(&log).0 > starts),
        "the command did not run after its template changed (seed {seed}):\n{}",
        agent.stderr()
    );
    let (s1, e1) = command_runs(&log);
    assert!(s1 > e1, "the command is not running");
    let n = 3 + rng.below(4);
    hups += burst(&agent, &mut rng, n);

    // Config changes interleaved with bursts.
    let prefixes = ["", "a:", "b:"];
    let mut last = ("", "cmd:", false);
    for _ in 0..5 {
        last = (
            prefixes[usize::try_from(rng.below(3)).unwrap()],
            ["", "x:", "y:"][usize::try_from(rng.below(3)).unwrap()],
            rng.below(2) == 0,
        );
        replace_file(&cfg, &config(last.0, last.1, last.2));
        let n = 1 + rng.below(5);
        hups += burst(&agent, &mut rng, n);
        std::thread::sleep(rng.millis(300));
    }
    while hups < 30 {
        hups += burst(&agent, &mut rng, 1);
    }
    // The last word: one more reload of the final config, then let it settle.
    let final_cfg = config("final:", last.1, last.2);
    replace_file(&cfg, &final_cfg);
    hups += burst(&agent, &mut rng, 1);
    let expected_db = format!("final:{lease} ");
    assert!(
        wait_until(WITHIN_SECONDS, || read(&db).starts_with(&expected_db)
            && read(&kv) == format!("{}app", last.1)
            && (!last.2 || read(&extra) == "extra")),
        "outputs after {hups} SIGHUPs (seed {seed}): db {:?} (expected {expected_db:?}...), kv {:?} \
         (expected {:?}), extra {:?} (expected: {}):\n{}\n{}",
        read(&db),
        read(&kv),
        format!("{}app", last.1),
        read(&extra),
        last.2,
        summary(&events_so_far(&trail)),
        agent.stderr()
    );
    // Let the last command finish and any stray work show.
    assert!(
        wait_until(WITHIN_SECONDS, || {
            let (s, e) = command_runs(&log);
            s == e
        }),
        "the template command never finished (seed {seed})"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        agent.running(),
        "sidekey died after {hups} SIGHUPs (seed {seed}):\n{}",
        agent.stderr()
    );

    let events = events_so_far(&trail);
    let asked = db_retrievals(&events);
    assert_eq!(
        asked.len(),
        1,
        "database/creds/app retrieved {} times over {hups} reloads (seed {seed}):\n{}",
        asked.len(),
        summary(&events)
    );
    assert_eq!(
        server_db_leases(&fx),
        vec![lease.clone()],
        "the server's database leases (seed {seed})"
    );
    let refused: Vec<_> = reloads(&events)
        .into_iter()
        .filter(|e| field(e, "/outcome") != "success")
        .collect();
    assert!(
        refused.is_empty(),
        "reloads of valid configs were refused (seed {seed}): {refused:?}"
    );
    assert!(
        !reloads(&events).is_empty(),
        "no config.reload audited for {hups} SIGHUPs (seed {seed})"
    );
    eprintln!(
        "{hups} SIGHUPs, {} config.reload events, seed {seed}",
        reloads(&events).len()
    );
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert_verifies(&trail);
}

/// `sidekey run` with an `exec` stanza (Vault Agent's supervisor mode): SIGHUP reloads the config (a
/// template's changed text is rendered) and is not forwarded to the child.
#[test]
fn run_with_an_exec_stanza_reloads_on_sighup_without_forwarding_it() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let a = out.join("a.txt");
    let started = out.join("started");
    let hup_log = out.join("child-got-hup");
    let script = fx.write_file(
        "hup-child.sh",
        &format!(
            "trap 'echo hup >> {}' HUP\necho started >> {}\nwhile :; do sleep 0.2; done\n",
            hup_log.display(),
            started.display()
        ),
    );
    let config = |prefix: &str| {
        [
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::audit(&trail, &[]),
            hcl::template(&format!("{prefix}{KV_USERNAME}"), &a, &[]),
            hcl::exec(&["sh", script.to_str().unwrap()], &[]),
        ]
        .concat()
    };
    let cfg = fx.write_config(&config("v1:"));
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || started.exists() && read(&a) == "v1:app"),
        "the child did not start or the file was not delivered:\n{}",
        agent.stderr()
    );
    replace_file(&cfg, &config("v2:"));
    agent.signal(libc::SIGHUP);
    let reloaded = wait_until(WITHIN_SECONDS, || read(&a) == "v2:app");
    std::thread::sleep(Duration::from_millis(500));
    let forwarded = hup_log.exists();
    let alive = agent.running();
    assert!(alive, "sidekey died of SIGHUP:\n{}", agent.stderr());
    assert!(
        !forwarded,
        "SIGHUP was forwarded to the child of `sidekey run` (it reloads the config there)"
    );
    assert!(
        reloaded,
        "SIGHUP did not reload the config of `sidekey run` with an exec stanza ({} is {:?}):\n{}\n{}",
        a.display(),
        read(&a),
        summary(&events_so_far(&trail)),
        agent.stderr()
    );
    agent.stop();
}

// ---------------------------------------------------------------------------------------------------
// 3. token_file.
// ---------------------------------------------------------------------------------------------------

/// A token file that appears 5 s after start (backoff 4 s, so retrying alone would come ~3 s late) is
/// used within a second: the successful `auth.login` is at most 1 s after the file was written.
#[test]
fn token_file_written_after_start_logs_in_within_a_second() {
    let fx = fixture(Setup::new());
    let out = ShmDir::new();
    let trail = out.join("audit.log");
    let a = out.join("a.txt");
    let token_path = fx.dir.path().join("agent.token");
    let (token, accessor) = fx.app_token();
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::token_file(&token_path)
                .backoff("4s", "4s")
                .to_string(),
            hcl::audit(&trail, &[]),
            hcl::template(KV_USERNAME, &a, &[]),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        agent.running(),
        "sidekey exited without its token file:\n{}",
        agent.stderr()
    );
    assert!(!a.exists(), "rendered without a token");
    replace_file(&token_path, &token);
    let written_ms = now_ms();
    let written = Instant::now();
    let login_ok = |e: &&Value| {
        field(e, "/event") == "auth.login"
            && field(e, "/outcome") == "success"
            && field(e, "/identity/token_accessor") == accessor
    };
    let mut login_ms = None;
    wait_until(Duration::from_secs(6), || {
        login_ms = events_so_far(&trail)
            .iter()
            .find(login_ok)
            .and_then(|e| rfc3339_ms(field(e, "/time")));
        login_ms.is_some()
    });
    let rendered = wait_until(Duration::from_secs(3), || read(&a) == "app");
    let login_ms = login_ms.unwrap_or_else(|| {
        panic!(
            "no successful auth.login with the token file's accessor within {:?} of it appearing:\n{}\n{}",
            written.elapsed(),
            summary(&events_so_far(&trail)),
            agent.stderr()
        )
    });
    let delay = login_ms - written_ms;
    assert!(
        delay <= 1000,
        "logged in {delay} ms after the token file appeared (at most 1000 ms):\n{}",
        summary(&events_so_far(&trail))
    );
    eprintln!("token file used {delay} ms after it appeared");
    assert!(
        rendered,
        "not rendered after the login:\n{}",
        agent.stderr()
    );
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
}

/// A replaced token file is used at once: the new token's accessor shows up in the audit trail within
/// seconds without any failure; once the old token is revoked on the server, outputs keep following KV
/// changes with no failed request in between.
#[test]
fn replaced_token_file_is_used_at_once() {
    let fx = fixture(Setup::new());
    fx.bao
        .write("secret/data/app/t", json!({ "data": { "v": "one" } }));
    let out = ShmDir::new();
    let trail = out.join("audit.log");
    let a = out.join("a.txt");
    let token_path = fx.dir.path().join("agent.token");
    let (t1, a1) = fx.app_token();
    let (t2, a2) = fx.app_token();
    replace_file(&token_path, &t1);
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::token_file(&token_path).to_string(),
            hcl::audit(&trail, &[]),
            hcl::template_config(&[FAST_KV]),
            hcl::template(KV_T, &a, &[]),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || read(&a) == "one"),
        "not delivered:\n{}",
        agent.stderr()
    );
    assert!(
        events_so_far(&trail)
            .iter()
            .any(|e| field(e, "/identity/token_accessor") == a1),
        "the first token's accessor is not in the audit trail:\n{}",
        summary(&events_so_far(&trail))
    );

    replace_file(&token_path, &t2);
    let replaced_ms = now_ms();
    let replaced = Instant::now();
    let uses_new = wait_until(Duration::from_secs(3), || {
        events_so_far(&trail)
            .iter()
            .any(|e| field(e, "/identity/token_accessor") == a2)
    });
    let noticed_after = replaced.elapsed();

    // The old token dies on the server; the next refreshes must not need it.
    fx.bao.write("auth/token/revoke", json!({ "token": t1 }));
    let revoked_ms = now_ms();
    fx.bao
        .write("secret/data/app/t", json!({ "data": { "v": "two" } }));
    let refreshed = wait_until(Duration::from_secs(5), || read(&a) == "two");
    let events = events_so_far(&trail);
    let failures_after: Vec<&Value> = events
        .iter()
        .filter(|e| field(e, "/outcome") == "failure")
        .filter(|e| rfc3339_ms(field(e, "/time")).is_some_and(|t| t >= replaced_ms))
        .collect();
    let old_used_after_revoke: Vec<&Value> = events
        .iter()
        .filter(|e| field(e, "/identity/token_accessor") == a1)
        .filter(|e| rfc3339_ms(field(e, "/time")).is_some_and(|t| t > revoked_ms))
        .collect();

    assert!(
        uses_new,
        "the replaced token file's token (accessor {a2}) is not used within 3 s ({noticed_after:?}):\n{}\n{}",
        summary(&events),
        agent.stderr()
    );
    eprintln!("replaced token used after {noticed_after:?}");
    assert!(
        refreshed,
        "outputs stopped following KV after the old token was revoked ({:?}):\n{}\n{}",
        read(&a),
        summary(&events),
        agent.stderr()
    );
    assert!(
        failures_after.is_empty(),
        "failures after the token file was replaced:\n{}",
        summary(&events)
    );
    assert!(
        old_used_after_revoke.is_empty(),
        "the old token was still used after it was revoked:\n{}",
        summary(&events)
    );
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert_verifies(&trail);
}

/// A reload while the first login still fails (a wrong address, fixed in the config and signalled) is
/// applied at once, and the service reports no RELOADING=1 and no READY=1 before the first full delivery.
#[test]
fn a_reload_during_the_first_login_is_applied_and_ready_waits_for_the_delivery() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let a = out.join("a.txt");
    let config = |addr: &str| {
        [
            hcl::vault(addr),
            AutoAuth::jwt(&jwt.path, "app")
                .backoff("30s", "30s")
                .to_string(),
            hcl::template(KV_USERNAME, &a, &[]),
        ]
        .concat()
    };
    let dead = format!("http://127.0.0.1:{}", sidekey_tests::ports::free_port());
    let cfg = fx.write_config(&config(&dead));
    let sock = NotifySocket::bind(std::slice::from_ref(&a));
    // No BAO_ADDR: the config's address is the one that counts.
    let mut agent = Background::sidekey()
        .clean_env()
        .args(["run", "-c"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", sock.path())
        .logs_in(out.path())
        .start();
    wait_hup_handler(&agent);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&cfg, config(&fx.addr())).unwrap();
    agent.signal(libc::SIGHUP);
    assert!(
        wait_until(WITHIN_SECONDS, || a.exists()),
        "the fixed address was not used (the login backoff is 30 s):\n{}",
        agent.stderr()
    );
    let ready = sock
        .wait_for(0, WITHIN_SECONDS, |n| n.has("READY=1"))
        .unwrap_or_else(|| panic!("no READY=1:\n{}", sock.describe()));
    let notes = sock.notes();
    assert!(
        notes[ready].existing.iter().all(|e| *e),
        "READY=1 before the file existed:\n{}",
        sock.describe()
    );
    assert!(
        !notes[..ready]
            .iter()
            .any(|n| n.has("RELOADING=1") || n.has("READY=1")),
        "RELOADING=1 or READY=1 before the first delivery:\n{}",
        sock.describe()
    );
    agent.stop();
}

/// A token file whose directory does not exist at start (a volume mounted later): created with its
/// directories 2 s after start, it is used within seconds, not at the next step of a 30 s backoff.
#[test]
fn token_file_in_a_directory_created_after_start_is_used_within_seconds() {
    let fx = fixture(Setup::new());
    let out = ShmDir::new();
    let a = out.join("a.txt");
    let dir = fx.dir.path().join("later/creds");
    let token_path = dir.join("agent.token");
    let (token, _) = fx.app_token();
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::token_file(&token_path)
                .backoff("30s", "30s")
                .to_string(),
            hcl::template(KV_USERNAME, &a, &[]),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    std::thread::sleep(Duration::from_secs(2));
    assert!(agent.running(), "sidekey exited:\n{}", agent.stderr());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&token_path, &token).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || read(&a) == "app"),
        "the token file in a new directory was not used within 5 s (the backoff is 30 s):\n{}",
        agent.stderr()
    );
    agent.stop();
}
