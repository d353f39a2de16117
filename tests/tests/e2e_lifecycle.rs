//! End-to-end tests of sidekey's lifecycle (DESIGN §6, §8, §12): every way a run ends goes through one
//! teardown (leases revoked when asked, audit drained, pid file removed), a hanging `command` neither
//! stalls the other outputs nor the token, and faults that cannot heal (an unusable sink, a missing key)
//! end a run within seconds, naming what failed.
//!
//! TTLs and timeouts are scaled down (tokens of 4-6 s, an 8 s `command_timeout`) so the whole file runs
//! in well under two minutes; "within seconds" means a deadline of at most 10 s.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sidekey_tests::audit::{
    assert_verifies, events_so_far, events_strict, field, now_ms, rfc3339_ms, summary,
};
use sidekey_tests::background::wait_until;
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::jwt::APP_SUBJECT;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey, SidekeyOutput, replace_file, sidekey_bin};

/// Exit code for "an output failed (render, write)".
const EXIT_FAILED: i32 = 1;
/// Exit code for "backend unreachable, login failed, `exit_on_err`".
const EXIT_UNAVAILABLE: i32 = 69;

/// What "within seconds" means in these tests.
const WITHIN_SECONDS: Duration = Duration::from_secs(10);

/// Build sidekey before starting servers (a cold build can take minutes and would eat the test's
/// deadlines), then start and configure the servers.
fn fixture(setup: Setup) -> Fixture {
    sidekey_bin();
    setup.start()
}

/// The lease ids of every database credential sidekey issued, from its `secret.read` events.
fn db_leases(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| field(e, "/event") == "secret.read" && field(e, "/outcome") == "success")
        .filter(|e| field(e, "/secret/path") == "database/creds/app")
        .map(|e| field(e, "/secret/lease_id").to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The `seq` of the first event matching `pred`.
fn seq_of(events: &[Value], pred: impl Fn(&Value) -> bool) -> Option<u64> {
    events
        .iter()
        .find(|e| pred(e))
        .and_then(|e| e["seq"].as_u64())
}

/// Pids of the processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(me) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            // State is the first field after the parenthesised command name.
            st.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Kills, on drop, what is left of the processes a test caused to start (a hanging command that sidekey
/// failed to stop), by pid, so a failed test does not leave minute-long sleeps behind.
struct Leftovers(String);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for pid in processes_with(&self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// GET `url`: status and body, or `None` when nothing answers.
fn http_get(url: &str) -> Option<(u16, String)> {
    let resp = sidekey_tests::bao::http_client().get(url).send().ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().unwrap_or_default()))
}

/// The value of the Prometheus sample `name` whose labels include `label`, if present.
fn metric(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            series
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('{'))
                .is_some_and(|labels| {
                    labels
                        .split(',')
                        .any(|kv| kv.trim_end_matches('}') == label)
                })
        })
        .and_then(|(_, v)| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------------
// A1: fatal exits go through the teardown.
// ---------------------------------------------------------------------------------------------------

/// A1 (run): `exit_on_err` and a login that fails for good after a database credential was delivered.
/// The token (6 s, not extendable) forces a new login within seconds; the JWT file then holds a token of
/// the wrong audience, which the server refuses (400, permanent). sidekey exits by itself with 69 and,
/// on the way out, revokes the lease (`revoke_on_shutdown`), drains the audit trail (the failed login
/// and the revocation in it, chain intact) and removes its pid file.
#[test]
fn exit_on_err_after_a_permanent_login_failure_revokes_audits_and_removes_the_pid_file() {
    let fx = fixture(
        Setup::new()
            .audit()
            .jwt()
            .database()
            .token_ttls(Duration::from_secs(6), Duration::from_secs(6)),
    );
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let pid_file = out.join("sidekey.pid");
    let db = out.join("db");
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app")
                .option("exit_on_err = true")
                .to_string(),
            hcl::audit(&trail, &[]),
            hcl::pid_file(&pid_file),
            hcl::template_config(&["revoke_on_shutdown = true"]),
            hcl::template(
                r#"{{ with secret "database/creds/app" }}{{ .Data.username }} {{ .Data.password }}{{ end }}"#,
                &db,
                &[],
            ),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(
        wait_until(WITHIN_SECONDS, || db.exists()),
        "no database credential delivered:\n{}",
        agent.stderr()
    );
    // From now on every login is refused for good: the server checks `aud` against the role.
    replace_file(
        &jwt.path,
        &fx.jwt()
            .mint_token(APP_SUBJECT, "not-the-audience", Duration::from_secs(600)),
    );
    let replaced = Instant::now();
    let cred = std::fs::read_to_string(&db).unwrap();
    let (user, pass) = cred.split_once(' ').expect("USER PASSWORD in the db file");
    assert!(
        fx.postgres().can_login(user, pass),
        "the delivered credential works while sidekey runs"
    );
    assert_eq!(
        std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("pid file {} while running: {e}", pid_file.display()))
            .trim(),
        agent.pid().to_string(),
        "the pid file names sidekey while it runs"
    );

    let code = agent.wait_timeout(WITHIN_SECONDS);
    let stderr = agent.stderr();
    assert_eq!(
        code,
        Some(EXIT_UNAVAILABLE),
        "sidekey must exit by itself with 69 within {WITHIN_SECONDS:?} of the login becoming impossible \
         (None = still running after {:?}):\n{stderr}",
        replaced.elapsed()
    );

    assert!(
        !pid_file.exists(),
        "the pid file {} is left behind after exit 69",
        pid_file.display()
    );

    let events = events_strict(&trail);
    let trail_summary = summary(&events);
    let leases = db_leases(&events);
    assert!(
        !leases.is_empty(),
        "no secret.read of database/creds/app with a lease_id in the audit file:\n{trail_summary}"
    );
    let failed_login = seq_of(&events, |e| {
        field(e, "/event") == "auth.login" && field(e, "/outcome") == "failure"
    })
    .unwrap_or_else(|| {
        panic!("the failed auth.login is not in the audit file:\n{trail_summary}\n{stderr}")
    });
    for lease in &leases {
        let revoked = seq_of(&events, |e| {
            field(e, "/event") == "secret.revoke"
                && field(e, "/outcome") == "success"
                && field(e, "/secret/lease_id") == lease
        })
        .unwrap_or_else(|| {
            panic!("no successful secret.revoke of {lease} in the audit file:\n{trail_summary}\n{stderr}")
        });
        assert!(
            revoked > failed_login,
            "the revocation of {lease} (seq {revoked}) is the teardown after the failed login (seq \
             {failed_login}):\n{trail_summary}"
        );
    }
    assert_verifies(&trail);

    // The server's side. The leases' parent token dies at its 6 s max TTL and takes them with it, so
    // "the lease is gone" alone proves nothing: the server's audit device must show sidekey's own
    // successful revocation request for each lease (or of its token, which revokes them all).
    let server = fx.bao.audit_log_lines();
    for lease in &leases {
        let hashed = fx.bao.write("sys/audit-hash/a", json!({ "input": lease }));
        let hashed = field(&hashed, "/data/hash").to_owned();
        let revoked_on_server = server.iter().any(|l| {
            let path = field(l, "/request/path");
            field(l, "/type") == "response"
                && field(l, "/error").is_empty()
                && (path == "auth/token/revoke-self"
                    || ((path.starts_with("sys/leases/revoke") || path.starts_with("sys/revoke"))
                        && (path.ends_with(lease.as_str())
                            || field(l, "/request/data/lease_id") == hashed)))
        });
        assert!(
            revoked_on_server,
            "the server's audit log has no successful revocation of {lease} (sys/leases/revoke or \
             auth/token/revoke-self) by sidekey:\n{trail_summary}\n{stderr}"
        );
        assert!(
            wait_until(WITHIN_SECONDS, || !fx.bao.lease_alive(lease)),
            "lease {lease} still known to the server"
        );
    }
    assert!(
        wait_until(WITHIN_SECONDS, || !fx.postgres().can_login(user, pass)),
        "the database role {user} still logs in after the revocation"
    );
}

/// `sidekey exec` with an `env_template "DB_USER"` issuing a database credential, `revoke_on_shutdown`, a
/// pid file and an audit file, and `MISSING=<reference>` in its environment, a `sidekey:` reference that
/// cannot be resolved. The child is never started, sidekey exits 1 naming the variable, and the teardown
/// still runs: every database lease issued is revoked on the server, the audit trail is whole and
/// verifies, the pid file is gone. Returns the audit events for the caller's own checks.
fn exec_with_failing_reference(reference: &str) -> Vec<Value> {
    let fx = fixture(Setup::new().jwt().database());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let pid_file = out.join("sidekey.pid");
    let marker = out.join("child-started");
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::audit(&trail, &[]),
            hcl::pid_file(&pid_file),
            hcl::template_config(&["revoke_on_shutdown = true"]),
            hcl::env_template(
                "DB_USER",
                r#"{{ with secret "database/creds/app" }}{{ .Data.username }}{{ end }}"#,
            ),
        ]
        .concat(),
    );
    let child = format!("echo child-started; touch {}", marker.display());
    let started = Instant::now();
    let r = Sidekey::new(["exec", "-c"])
        .args([&cfg])
        .args(["--", "sh", "-c", child.as_str()])
        .env("MISSING", reference)
        .timeout(Duration::from_secs(30))
        .run();
    let elapsed = started.elapsed();
    assert!(
        !marker.exists() && !r.stdout.contains("child-started"),
        "the child was started:\n{}",
        r.show()
    );
    assert_eq!(r.code(), EXIT_FAILED, "{}", r.show());
    assert!(
        elapsed <= WITHIN_SECONDS,
        "a reference fails at once, not after {elapsed:?}"
    );
    assert!(
        r.stderr.contains("MISSING"),
        "stderr does not name the variable MISSING:\n{}",
        r.show()
    );
    assert!(
        !pid_file.exists(),
        "the pid file {} is left behind",
        pid_file.display()
    );

    let events = events_strict(&trail);
    let trail_summary = summary(&events);
    let leases = db_leases(&events);
    // The scenario needs a credential issued before sidekey gives up; without one there is nothing to
    // revoke and the test would prove nothing.
    assert!(
        !leases.is_empty(),
        "scenario not reached: no secret.read of database/creds/app with a lease_id in the audit \
         file:\n{trail_summary}\n{}",
        r.show()
    );
    for lease in &leases {
        assert!(
            events.iter().any(|e| field(e, "/event") == "secret.revoke"
                && field(e, "/outcome") == "success"
                && field(e, "/secret/lease_id") == lease),
            "no successful secret.revoke of {lease} in the audit file:\n{trail_summary}\n{}",
            r.show()
        );
        // The token lives an hour: a lease gone now was revoked by sidekey.
        assert!(
            !fx.bao.lease_alive(lease),
            "lease {lease} is still live on the server after sidekey exited"
        );
    }
    assert!(
        !events.iter().any(|e| field(e, "/event") == "exec.start"),
        "an exec.start event, but the child must not start:\n{trail_summary}"
    );
    assert_verifies(&trail);
    events
}

/// A1 (exec): `MISSING` refers to a secret that does not exist, next to an `env_template` that issues a
/// database credential. Besides [`exec_with_failing_reference`]'s checks, the failed read is audited.
#[test]
fn exec_with_a_reference_to_a_missing_secret_revokes_the_issued_lease_and_starts_no_child() {
    let events = exec_with_failing_reference("sidekey:secret/data/app/does-not-exist#key");
    assert!(
        events.iter().any(|e| field(e, "/event") == "secret.read"
            && field(e, "/outcome") == "failure"
            && field(e, "/secret/path").contains("app/does-not-exist")),
        "the failed read of the reference is not in the audit file:\n{}",
        summary(&events)
    );
}

/// A1 (exec), with the order fixed: `MISSING` names a field a database credential does not have, so the
/// credential is necessarily issued (by the reference's own read) before the reference fails.
#[test]
fn exec_with_a_reference_to_a_missing_field_of_a_credential_revokes_it_and_starts_no_child() {
    exec_with_failing_reference("sidekey:database/creds/app#nope");
}

// ---------------------------------------------------------------------------------------------------
// A2: a hanging command.
// ---------------------------------------------------------------------------------------------------

/// A2: a template's `command` that sleeps past its `command_timeout` while another output's secret
/// changes. The other output is updated on schedule while the command still hangs, the token is renewed
/// during the hang, the command is killed with everything it started at the timeout (and at shutdown),
/// `/readyz` stays 200 naming the failing template, `sidekey_failures_total{kind="output.command"}`
/// counts it, and the audit trail has an `output.command` failure naming the timeout.
#[test]
fn a_hanging_command_blocks_neither_other_outputs_nor_the_token_and_leaves_no_process() {
    let fx = fixture(
        Setup::new()
            .jwt()
            .token_ttls(Duration::from_secs(4), Duration::from_secs(3600)),
    );
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let trail = out.join("audit.log");
    let admin = sidekey_tests::ports::free_port();
    let hanging = out.join("hanging-cmd.txt");
    let other = out.join("other.txt");
    fx.bao
        .write("secret/data/app/t1", json!({ "data": { "v": "calm" } }));
    fx.bao
        .write("secret/data/app/t2", json!({ "data": { "v": "first" } }));
    // A duration no other process on the machine sleeps for: it finds the command's processes in /proc.
    let n = u32::from_str_radix(&sidekey_tests::random_hex(2), 16).unwrap();
    let marker = format!("61.{n:05}");
    let _leftovers = Leftovers(marker.clone());
    // Hangs (a shell and its `sleep`) only once the file says "hang", so the first delivery is quick.
    let script = format!(
        "if grep -qx hang {}; then sleep {marker}; fi; echo done",
        hanging.display()
    );
    let command_timeout = Duration::from_secs(8);
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::audit(&trail, &[]),
            hcl::admin_listener(&format!("127.0.0.1:{admin}")),
            hcl::template_config(&["static_secret_render_interval = \"1s\""]),
            hcl::template(
                r#"{{ with secret "secret/data/app/t1" }}{{ .Data.data.v }}{{ end }}"#,
                &hanging,
                &[
                    &hcl::command(&["sh", "-c", &script]),
                    &hcl::attr(
                        "command_timeout",
                        &format!("{}s", command_timeout.as_secs()),
                    ),
                ],
            ),
            hcl::template(
                r#"{{ with secret "secret/data/app/t2" }}{{ .Data.data.v }}{{ end }}"#,
                &other,
                &[],
            ),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        wait_until(WITHIN_SECONDS, || read(&hanging) == "calm"
            && read(&other) == "first"),
        "first delivery missing:\n{}",
        agent.stderr()
    );

    // T1 changes: its command runs and hangs.
    fx.bao
        .write("secret/data/app/t1", json!({ "data": { "v": "hang" } }));
    let sleep_marker = format!("sleep\0{marker}");
    assert!(
        wait_until(WITHIN_SECONDS, || !processes_with(&sleep_marker).is_empty()),
        "the command did not start after T1 changed (file: {:?}):\n{}",
        read(&hanging),
        agent.stderr()
    );
    let hang_seen = Instant::now();
    let hang_seen_ms = now_ms();
    // The shell and its sleep: both must be gone after the timeout.
    let first_hang = processes_with(&marker);

    // T2 changes while T1's command hangs: it is delivered on schedule (1 s refresh), not after the
    // command's 8 s timeout.
    fx.bao
        .write("secret/data/app/t2", json!({ "data": { "v": "second" } }));
    let t2_written = Instant::now();
    let updated = wait_until(Duration::from_secs(6), || read(&other) == "second");
    let still_hanging = first_hang.iter().any(|p| alive(*p));
    assert!(
        updated,
        "T2 was not updated within 6 s of its change while T1's command hung (still {:?}):\n{}",
        read(&other),
        agent.stderr()
    );
    assert!(
        still_hanging,
        "T2 was updated only after T1's command had ended ({:?} after the change)",
        t2_written.elapsed()
    );

    // After the timeout, nothing the command started survives.
    let timeout_at = hang_seen + command_timeout;
    std::thread::sleep(timeout_at.saturating_duration_since(Instant::now()));
    let gone = wait_until(WITHIN_SECONDS, || !first_hang.iter().any(|p| alive(*p)));
    assert!(
        gone,
        "processes of the timed-out command still run {:?} after the {command_timeout:?} timeout: {:?}",
        hang_seen.elapsed().saturating_sub(command_timeout),
        first_hang
            .iter()
            .filter(|p| alive(**p))
            .map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect::<Vec<_>>()
    );
    assert!(agent.running(), "sidekey died:\n{}", agent.stderr());

    // The token was renewed during the hang (4 s TTL: about every 2.7 s).
    let window = hang_seen_ms..hang_seen_ms + 7_000;
    let events = events_so_far(&trail);
    let renewed_during_hang = events.iter().any(|e| {
        field(e, "/event") == "auth.renew"
            && field(e, "/outcome") == "success"
            && rfc3339_ms(field(e, "/time")).is_some_and(|t| window.contains(&t))
    });
    assert!(
        renewed_during_hang,
        "no successful auth.renew in the 7 s after the command started hanging:\n{}",
        summary(&events)
    );

    // The audit trail names the failure and why.
    let command_failed = |e: &Value| {
        let err = field(e, "/error").to_lowercase();
        field(e, "/event") == "output.command"
            && field(e, "/outcome") == "failure"
            && err.contains("timeout")
    };
    assert!(
        wait_until(Duration::from_secs(5), || events_so_far(&trail)
            .iter()
            .any(command_failed)),
        "no output.command failure mentioning the timeout in the audit file:\n{}",
        summary(&events_so_far(&trail))
    );

    // Readiness stays 200 and names the failing command's template; a metric counts it.
    let base = format!("http://127.0.0.1:{admin}");
    let (code, body) = http_get(&format!("{base}/readyz")).expect("/readyz answers");
    assert_eq!(code, 200, "/readyz: {body}");
    assert!(
        body.contains("hanging-cmd.txt"),
        "/readyz does not name the failing command's template ({}): {body:?}",
        hanging.display()
    );
    let (code, metrics) = http_get(&format!("{base}/metrics")).expect("/metrics answers");
    assert_eq!(code, 200, "/metrics: {metrics}");
    let failures = metric(
        &metrics,
        "sidekey_failures_total",
        "kind=\"output.command\"",
    );
    assert!(
        failures.is_some_and(|v| v >= 1.0),
        "sidekey_failures_total{{kind=\"output.command\"}} is {failures:?}:\n{metrics}"
    );

    // Stopping sidekey ends the command it may be running again (a failed command is retried).
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert!(
        wait_until(WITHIN_SECONDS, || processes_with(&marker).is_empty()),
        "processes of the command survive sidekey: {:?}",
        processes_with(&marker)
    );
    assert_verifies(&trail);
}

// ---------------------------------------------------------------------------------------------------
// A4: faults that do not heal end a run within seconds.
// ---------------------------------------------------------------------------------------------------

/// `sidekey run --once` with a token sink whose path cannot be written safely: exit 1 within seconds,
/// stderr names the sink path, and nothing is written where the path leads.
fn sink_fault_once(fx: &Fixture, out: &ShmDir, sink: &Path) -> SidekeyOutput {
    let jwt = fx.app_jwt();
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").sink(sink, &[]).to_string(),
            hcl::template(
                r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
                &out.join("kv"),
                &[],
            ),
        ]
        .concat(),
    );
    let r = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .timeout(WITHIN_SECONDS)
        .run();
    assert_eq!(
        r.code(),
        EXIT_FAILED,
        "an unusable sink is a failed output:\n{}",
        r.show()
    );
    assert!(
        r.stderr.contains(&sink.display().to_string()),
        "stderr does not name the sink path {}:\n{}",
        sink.display(),
        r.show()
    );
    r
}

/// A4 (sink): the sink's directory is a symlink to a directory. It is not followed: `--once` fails
/// naming the sink, and the directory it points to holds no token.
#[test]
fn once_with_a_sink_under_a_symlinked_directory_fails_naming_it() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let real = out.join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, out.join("link")).unwrap();
    sink_fault_once(&fx, &out, &out.join("link").join("token"));
    let left: Vec<_> = std::fs::read_dir(&real)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the symlink's target directory {} holds {left:?}",
        real.display()
    );
}

/// A4 (sink): the sink's parent is a regular file: `--once` fails within seconds naming the sink, and
/// the file is untouched.
#[test]
fn once_with_a_sink_whose_parent_is_a_file_fails_naming_it() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let file = out.join("plain");
    std::fs::write(&file, "not a directory").unwrap();
    sink_fault_once(&fx, &out, &file.join("token"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

/// The missing-key setup: `secret/data/app/x` exists without the key `nope`.
fn missing_key_fixture() -> Fixture {
    let fx = fixture(Setup::new().jwt());
    fx.bao
        .write("secret/data/app/x", json!({ "data": { "present": "yes" } }));
    fx
}

/// A template printing the missing key.
const MISSING_KEY: &str = r#"{{ with secret "secret/data/app/x" }}{{ .Data.data.nope }}{{ end }}"#;

/// A config rendering [`MISSING_KEY`] to `dest` with `error_on_missing_key = true`, plus `extra`; the JWT
/// method's `min_backoff`/`max_backoff` are `backoff`, if given.
fn missing_key_config(
    fx: &Fixture,
    dest: &Path,
    backoff: Option<(&str, &str)>,
    extra: &str,
) -> PathBuf {
    let jwt = fx.app_jwt();
    let mut auth = AutoAuth::jwt(&jwt.path, "app");
    if let Some((min, max)) = backoff {
        auth = auth.backoff(min, max);
    }
    fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            auth.to_string(),
            hcl::template(MISSING_KEY, dest, &["error_on_missing_key = true"]),
            extra.to_owned(),
        ]
        .concat(),
    )
}

/// The checks shared by the runs that must fail: exit 1, stderr names the template and the key, the
/// destination is not written.
fn assert_missing_key_failure(r: &SidekeyOutput, names: &str, dest: Option<&Path>) {
    assert_eq!(r.code(), EXIT_FAILED, "{}", r.show());
    assert!(
        r.stderr.contains(names),
        "stderr does not name the template {names}:\n{}",
        r.show()
    );
    assert!(
        r.stderr.contains("nope"),
        "stderr does not name the missing key `nope`:\n{}",
        r.show()
    );
    if let Some(dest) = dest {
        assert!(!dest.exists(), "{} was written", dest.display());
    }
}

/// A4 (missing key, i): `run --once` fails within seconds naming the template and the key.
#[test]
fn missing_key_once_fails_within_seconds_naming_template_and_key() {
    let fx = missing_key_fixture();
    let out = ShmDir::new();
    let dest = out.join("missing-key.txt");
    let cfg = missing_key_config(&fx, &dest, None, "");
    let r = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .timeout(WITHIN_SECONDS)
        .run();
    assert_missing_key_failure(&r, &dest.display().to_string(), Some(&dest));
}

/// A4 (missing key, ii): `run` with `exit_on_retry_failure` gives up within seconds (not after tens of
/// seconds of backoff), naming the template and the key.
#[test]
fn missing_key_run_with_exit_on_retry_failure_ends_within_seconds() {
    let fx = missing_key_fixture();
    let out = ShmDir::new();
    let dest = out.join("missing-key.txt");
    let cfg = missing_key_config(
        &fx,
        &dest,
        None,
        &hcl::template_config(&["exit_on_retry_failure = true"]),
    );
    let r = Sidekey::new(["run", "-c"])
        .args([&cfg])
        .timeout(WITHIN_SECONDS)
        .run();
    assert_missing_key_failure(&r, &dest.display().to_string(), Some(&dest));
}

/// A4 (missing key, iii): `exec` with `exit_on_retry_failure` gives up within seconds before the child
/// starts, naming the variable's template and the key.
#[test]
fn missing_key_exec_with_exit_on_retry_failure_ends_before_the_child_starts() {
    let fx = missing_key_fixture();
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let marker = out.join("child-started");
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::template_config(&["exit_on_retry_failure = true"]),
            hcl::env_template_with("LIFECYCLE_X", MISSING_KEY, &["error_on_missing_key = true"]),
        ]
        .concat(),
    );
    let child = format!("echo child-started; touch {}", marker.display());
    let r = Sidekey::new(["exec", "-c"])
        .args([&cfg])
        .args(["--", "sh", "-c", child.as_str()])
        .timeout(WITHIN_SECONDS)
        .run();
    assert!(
        !marker.exists() && !r.stdout.contains("child-started"),
        "the child was started:\n{}",
        r.show()
    );
    assert_missing_key_failure(&r, "LIFECYCLE_X", None);
}

/// A4 (missing key, iv): without `exit_on_retry_failure`, `run` keeps retrying (with the method's
/// `min_backoff`/`max_backoff`), writes nothing meanwhile, and renders the file within seconds once the
/// key is written.
#[test]
fn missing_key_run_keeps_retrying_and_renders_once_the_key_exists() {
    let fx = missing_key_fixture();
    let out = ShmDir::new();
    let dest = out.join("missing-key.txt");
    let cfg = missing_key_config(&fx, &dest, Some(("1s", "2s")), "");
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let code = agent.wait_timeout(Duration::from_secs(3));
    assert_eq!(
        code,
        None,
        "sidekey must keep retrying, but it exited:\n{}",
        agent.stderr()
    );
    assert!(
        !dest.exists(),
        "{} written with a missing key",
        dest.display()
    );
    fx.bao.write(
        "secret/data/app/x",
        json!({ "data": { "present": "yes", "nope": "found" } }),
    );
    let written = Instant::now();
    assert!(
        wait_until(WITHIN_SECONDS, || std::fs::read_to_string(&dest)
            .is_ok_and(|s| s == "found")),
        "not rendered within {WITHIN_SECONDS:?} of the key being written ({:?} so far):\n{}",
        written.elapsed(),
        agent.stderr()
    );
    assert!(agent.running(), "{}", agent.stderr());
    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
}

#[test]
fn rfc3339_parses_as_sidekey_writes_it() {
    assert_eq!(rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
    assert_eq!(
        rfc3339_ms("2026-11-30T14:30:02.114Z"),
        Some(1_796_049_002_114)
    );
    assert_eq!(rfc3339_ms("2000-03-01T00:00:01Z"), Some(951_868_801_000));
}

/// Pinned: in `exec`, SIGTERM goes to the child once; a child that ignores it gets SIGKILL only once
/// `kill_timeout` has run out (no second stop signal), is not started again even with `restart_on_exit`,
/// and sidekey exits with its status (137) after the teardown.
#[test]
fn exec_forwards_sigterm_once_then_kills_after_kill_timeout_and_does_not_restart() {
    let fx = fixture(Setup::new().jwt());
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let pid_file = out.join("sidekey.pid");
    let starts = out.join("starts");
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::pid_file(&pid_file),
            hcl::exec(&[], &["kill_timeout = \"2s\"", "restart_on_exit = true"]),
            hcl::env_template(
                "LIFECYCLE_USER",
                r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            ),
        ]
        .concat(),
    );
    // The child ignores SIGTERM (and so does the `sleep` it becomes); it counts its starts.
    let child = format!(
        "echo started >> {}; trap '' TERM; exec sleep 61.{}",
        starts.display(),
        std::process::id()
    );
    let mut bg = fx
        .agent()
        .args(["exec", "-c"])
        .arg(&cfg)
        .args(["--", "sh", "-c", &child])
        .start();
    assert!(
        wait_until(WITHIN_SECONDS, || starts.exists()),
        "the child did not start:\n{}",
        bg.stderr()
    );
    let sent = Instant::now();
    bg.signal(libc::SIGTERM);
    let code = bg.wait_timeout(WITHIN_SECONDS);
    let took = sent.elapsed();
    assert_eq!(
        code,
        Some(137),
        "exit status after SIGKILL:\n{}",
        bg.stderr()
    );
    assert!(
        took >= Duration::from_millis(1800),
        "SIGKILL came before kill_timeout ({took:?}):\n{}",
        bg.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&starts).unwrap().lines().count(),
        1,
        "a child asked to stop was started again"
    );
    assert!(!pid_file.exists(), "the pid file is left behind");
}
