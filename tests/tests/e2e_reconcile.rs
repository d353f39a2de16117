//! Issue 17, acceptance 3, end to end against a real OpenBao with a file audit device (and PostgreSQL):
//! sidekey renders KV, database credentials and a PKI certificate, renews, checks its leases, wraps its
//! token for a sink and revokes at shutdown; `sidekey audit reconcile` then finds every server entry for
//! sidekey's token in the agent's trail, and names the one whose agent line was deleted. Once with the
//! server's default HMAC'ed accessors, once with `hmac_accessor = false`.
//!
//! Time is scaled down with short TTLs: every kind of request happens within ~10 s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sidekey_tests::audit::{events_so_far, events_strict};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey, SidekeyOutput};

/// KV, database and PKI outputs plus one the policy denies, JWT auto-auth with a wrapped token sink,
/// a lease check every 2 s, revocation at shutdown, the trail in `trail` (and in OCSF on stdout).
fn config(fx: &Fixture, out: &ShmDir, trail: &Path) -> PathBuf {
    let jwt = fx.app_jwt();
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app")
            .sink_with(&fx.dir.path().join("token"), &[], &["wrap_ttl = \"5m\""])
            .to_string(),
        hcl::template_config(&[
            "static_secret_render_interval = \"3s\"",
            "revoke_on_shutdown = true",
        ]),
        hcl::attr("lease_check_interval", "2s"),
        hcl::kv_and_db_templates(out.path()),
        hcl::template(
            r#"{{ with secret "pki/issue/app" "common_name=svc.example.test" "ttl=6s" }}{{ .Data.serial_number }}{{ end }}"#,
            &out.join("pki"),
            &[],
        ),
        // Refused by the policy: errors, which carry no request_id.
        hcl::template(
            r#"{{ with secret "secret/forbidden" }}{{ .Data.data.x }}{{ end }}"#,
            &out.join("denied"),
            &[],
        ),
        // The same events in OCSF on stdout: reconcile reads any of the agent's formats.
        hcl::audit(trail, &[&hcl::block("stdout", &[&hcl::attr("format", "ocsf")])]),
    ]
    .concat();
    fx.write_file("agent.hcl", &text)
}

fn fixture(setup: Setup) -> Fixture {
    setup
        .jwt()
        .database()
        .pki()
        .token_ttls(Duration::from_secs(6), Duration::from_secs(60))
        .db_ttls(Duration::from_secs(6), Duration::from_secs(9))
        .pki_max_ttl(Duration::from_secs(60))
        .start()
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

/// Run the agent until its trail shows every kind of request (renewals of token and lease, a
/// re-issued certificate, lease checks, a wrapped sink, a refused read), then stop it (revoking).
/// Returns the trail's events and the agent's stdout (the OCSF copy).
fn run_until_everything_happened(fx: &Fixture, trail: &Path) -> (Vec<Value>, String) {
    let out = ShmDir::new();
    let cfg = config(fx, &out, trail);
    let mut agent = Background::sidekey()
        .args(["run", "-c"])
        .arg(&cfg)
        .clean_env()
        .start();
    let wanted = |evs: &[Value]| {
        let has = |f: &dyn Fn(&Value) -> bool| evs.iter().any(f);
        has(&|e| s(e, "/event") == "auth.renew")
            && has(&|e| s(e, "/event") == "secret.renew")
            && evs
                .iter()
                .filter(|e| s(e, "/event") == "secret.write")
                .count()
                >= 2
            && has(&|e| s(e, "/backend/purpose") == "lease_lookup")
            && has(&|e| s(e, "/backend/purpose") == "wrap")
            && has(&|e| s(e, "/event") == "secret.read" && s(e, "/outcome") == "failure")
    };
    let done = wait_until(Duration::from_secs(10), || wanted(&events_so_far(trail)));
    agent.stop();
    let evs = events_strict(trail);
    assert!(
        done,
        "not every kind of request in 10 s; stderr:\n{}\nevents: {evs:#?}",
        agent.stderr()
    );
    (evs, agent.stdout())
}

fn reconcile(trail: &Path, server: &Path, format: &str) -> SidekeyOutput {
    Sidekey::new(["audit", "reconcile", "--format", format, "--agent"])
        .args([trail])
        .args([Path::new("--server"), server])
        .run()
}

/// Every event a backend request caused names the server's request_id, except the answers that carry
/// none (errors, 204s, wrapped answers); the internal requests are `backend.request` events with their
/// purpose.
fn check_events(evs: &[Value]) {
    for e in evs {
        let event = s(e, "/event");
        if e.get("backend").is_none() || event == "backend.failover" {
            continue;
        }
        // A revocation is answered with 204 and no body; a wrapped answer's request_id is empty.
        let no_id = event == "secret.revoke"
            || ["token_revoke", "wrap"].contains(&s(e, "/backend/purpose"));
        if s(e, "/outcome") == "success" && !no_id {
            assert!(
                !s(e, "/backend/request_id").is_empty(),
                "no request_id: {e}"
            );
        }
        if event != "auth.login" {
            assert!(
                !s(e, "/identity/token_accessor").is_empty(),
                "no accessor: {e}"
            );
        }
    }
    let purposes: HashSet<&str> = evs.iter().map(|e| s(e, "/backend/purpose")).collect();
    for p in [
        "mount_lookup",
        "lookup_self",
        "lease_lookup",
        "wrap",
        "token_revoke",
    ] {
        assert!(
            purposes.contains(p),
            "no backend.request for {p}: {purposes:?}"
        );
    }
}

/// The full trail reconciles to 100%; without the line of one database read, that read is reported.
fn check_reconcile(fx: &Fixture, trail: &Path, evs: &[Value]) -> Value {
    let server = fx.bao.audit_log_path().unwrap();
    let r = reconcile(trail, server, "json");
    let report: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    assert_eq!(
        r.code(),
        0,
        "{report:#}\n{}",
        reconcile(trail, server, "text").stdout
    );
    assert_eq!(report["matched_percent"], 100.0, "{report:#}");
    assert!(
        report["sidekey_entries"].as_u64().unwrap() >= 15,
        "{report:#}"
    );
    assert!(
        report["matched_by_path_and_time"].as_u64().unwrap() >= 2,
        "revocations and refusals match by path and time: {report:#}"
    );
    let login = evs
        .iter()
        .find(|e| s(e, "/event") == "auth.login" && s(e, "/outcome") == "success")
        .unwrap();
    let accessor = s(login, "/identity/token_accessor");
    assert!(
        report["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| s(t, "/agent") == accessor),
        "{report:#}"
    );
    let text = reconcile(trail, server, "text");
    assert!(text.stdout.contains(": 100.0%"), "{}", text.stdout);

    let lines: Vec<String> = std::fs::read_to_string(trail)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let gone = lines
        .iter()
        .position(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            s(&e, "/event") == "secret.read"
                && s(&e, "/secret/path") == "database/creds/app"
                && !s(&e, "/backend/request_id").is_empty()
        })
        .unwrap();
    let gone_id = s(
        &serde_json::from_str(&lines[gone]).unwrap(),
        "/backend/request_id",
    )
    .to_string();
    let cut = fx.dir.path().join("cut.log");
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != gone)
        .map(|(_, l)| l.as_str())
        .collect();
    std::fs::write(&cut, kept.join("\n") + "\n").unwrap();
    let r = reconcile(&cut, server, "json");
    assert_eq!(r.code(), 1, "{}\n{}", r.stdout, r.stderr);
    let cut_report: Value = serde_json::from_str(&r.stdout).unwrap();
    let missing = cut_report["server_only"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{cut_report:#}");
    assert_eq!(missing[0]["path"], "database/creds/app");
    assert_eq!(missing[0]["token"], accessor);
    assert_eq!(missing[0]["items"][0]["request_id"], gone_id.as_str());
    assert!(cut_report["matched_percent"].as_f64().unwrap() < 100.0);
    let text = reconcile(&cut, server, "text");
    assert!(
        text.stdout
            .contains(&format!("token {accessor}, database/creds/app: 1"))
            && text.stdout.contains(&gone_id),
        "{}",
        text.stdout
    );
    report
}

/// Acceptance 3 with `setup`'s audit device: the run reconciles to 100%, one line less is reported;
/// returns the full run's report.
fn reconciles_fully(setup: Setup) -> Value {
    let fx = fixture(setup);
    let trail = fx.dir.path().join("audit.log");
    let (evs, ocsf) = run_until_everything_happened(&fx, &trail);
    check_events(&evs);
    let ocsf_trail = fx.dir.path().join("ocsf.log");
    std::fs::write(&ocsf_trail, &ocsf).unwrap();
    let server = fx.bao.audit_log_path().unwrap();
    let r = reconcile(&ocsf_trail, server, "text");
    assert_eq!(r.code(), 0, "the OCSF copy: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(": 100.0%"), "{}", r.stdout);
    check_rotated(&fx, &trail, server);
    check_reconcile(&fx, &trail, &evs)
}

/// The trail cut in two as rotation does: the file names its rotated file beside it, which is read
/// first; given alone without it, the first half's requests are what the server saw and it did not.
fn check_rotated(fx: &Fixture, trail: &Path, server: &Path) {
    let dir = fx.dir.path().join("rotated");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(trail).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (old, new) = lines.split_at(lines.len() / 2);
    let rotated = dir.join("audit-1764513002114093825.log");
    let current = dir.join("audit.log");
    std::fs::write(&rotated, old.join("\n") + "\n").unwrap();
    std::fs::write(&current, new.join("\n") + "\n").unwrap();
    let r = reconcile(&current, server, "text");
    assert_eq!(r.code(), 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(": 100.0%"), "{}", r.stdout);
    assert!(
        r.stdout.contains("(and 1 rotated file before it)"),
        "{}",
        r.stdout
    );
    std::fs::remove_file(&rotated).unwrap();
    let r = reconcile(&current, server, "text");
    assert_eq!(r.code(), 1, "{}{}", r.stdout, r.stderr);
}

/// The server's tokens as the report names them: (server's accessor, agent's).
fn token_pairs(report: &Value) -> Vec<(String, String)> {
    report["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (s(t, "/server").to_string(), s(t, "/agent").to_string()))
        .collect()
}

#[test]
fn every_server_entry_for_sidekeys_token_is_in_the_trail_with_hmaced_accessors() {
    let report = reconciles_fully(Setup::new().audit());
    // The server's accessors are HMAC'ed: the request_id matches told which is which.
    let pairs = token_pairs(&report);
    assert!(
        pairs
            .iter()
            .all(|(server, _)| server.starts_with("hmac-sha256:")),
        "{report:#}"
    );
}

#[test]
fn every_server_entry_for_sidekeys_token_is_in_the_trail_with_plain_accessors() {
    let report = reconciles_fully(Setup::new().audit_plain_accessor());
    let pairs = token_pairs(&report);
    assert!(
        pairs.iter().any(|(server, agent)| server == agent),
        "{report:#}"
    );
}

#[test]
fn unreadable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("empty.log");
    std::fs::write(&good, "").unwrap();
    let bad = dir.path().join("bad.log");
    std::fs::write(&bad, "{\"v\":1}\nnot json\n").unwrap();
    let r = reconcile(&dir.path().join("missing.log"), &good, "text");
    assert_eq!(r.code(), 2, "{}", r.stderr);
    let r = reconcile(&bad, &good, "text");
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    let r = reconcile(&good, &good, "text");
    assert_eq!(r.code(), 0, "nothing on either side: {}", r.stdout);
}
