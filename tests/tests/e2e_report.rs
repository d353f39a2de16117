//! Issue 17's evidence report v2, end to end: a real trail (OpenBao and PostgreSQL; KV, database and
//! PKI secrets with scaled-down TTLs so there are issuances, renewals and rotations; a KV secret rotated
//! by hand less often than its `rotation_period`; an agent restart) reported in every format, read as a
//! rotated set and in a window; and the HTML page opened by headless Chromium with no network
//! (acceptance 5): a screenshot, no console message, the timeline there, a `<script>` from the trail inert.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_tests::audit::{assert_verifies, events_strict, field, summary};
use sidekey_tests::background::Background;
use sidekey_tests::chromium::{self, WINDOW, png_size};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// A KV path (under the `app` policy's `secret/data/app/*`) that is markup: the page must show it as text.
const HOSTILE: &str = "secret/app/<script>console.error('xss')</script>";

/// KV (rotation_period 4 s: overdue, it is rotated by hand once), database (4 s leases renewed up to
/// 8 s, then a new one; rotation_period 60 s: compliant), PKI (6 s certificates) and the hostile path.
fn config(fx: &Fixture, out: &ShmDir, trail: &Path) -> PathBuf {
    let jwt = fx.app_jwt();
    let hostile =
        format!(r#"{{{{ with secret "{HOSTILE}" }}}}{{{{ .Data.data.x }}}}{{{{ end }}}}"#);
    let templates = [
        (r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#, "kv"),
        (r#"{{ with secret "database/creds/app" }}{{ .Data.username }}{{ end }}"#, "db"),
        (
            r#"{{ with secret "pki/issue/app" "common_name=svc.example.test" "ttl=6s" }}{{ .Data.serial_number }}{{ end }}"#,
            "pki",
        ),
        (&hostile, "hostile"),
    ]
    .map(|(contents, name)| hcl::template(contents, &out.join(name), &[]));
    let period = |path: &str, period: &str| {
        hcl::block(
            &format!("secret {}", hcl::quote(path)),
            &[&hcl::attr("rotation_period", period)],
        )
    };
    let audit = hcl::audit(
        trail,
        &[
            &period("database/creds/app", "60s"),
            &period("secret/app/config", "4s"),
        ],
    );
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&jwt.path, "app").to_string(),
        hcl::template_config(&["static_secret_render_interval = \"1s\""]),
        templates.concat(),
        audit,
    ]
    .concat();
    fx.write_file("agent.hcl", &text)
}

fn run_agent(cfg: &Path) -> Background {
    Background::sidekey()
        .args(["run", "-c"])
        .arg(cfg)
        .clean_env()
        .start()
}

/// `sidekey report ARGS` must exit 0; its stdout.
fn report(args: &[&str], files: &[&Path]) -> String {
    let r = Sidekey::new(["report"])
        .args(args)
        .args(["--audit"])
        .args(files)
        .run();
    assert_eq!(r.code(), 0, "{}", r.show());
    r.stdout
}

fn json_report(args: &[&str], files: &[&Path]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend(args);
    serde_json::from_str(&report(&all, files)).unwrap()
}

fn secret<'r>(rep: &'r Value, path: &str) -> &'r Value {
    rep["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in the report: {rep:#}"))
}

fn kinds(line: &Value) -> Vec<&str> {
    line["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect()
}

#[test]
fn report_of_a_real_trail_renders_in_every_format_and_opens_offline_in_chromium() {
    let fx = Setup::new()
        .jwt()
        .database()
        .pki()
        .db_ttls(Duration::from_secs(4), Duration::from_secs(8))
        .pki_max_ttl(Duration::from_secs(60))
        .start();
    fx.bao.write(
        &HOSTILE.replacen("secret/", "secret/data/", 1),
        json!({ "data": { "x": "1" } }),
    );
    let out = ShmDir::new();
    let trail = fx.dir.path().join("audit.log");
    let cfg = config(&fx, &out, &trail);

    // Run 1: 16 s, the KV secret rotated by hand at 6 s. Then 2 s down, and run 2 for 4 s.
    let mut agent = run_agent(&cfg);
    std::thread::sleep(Duration::from_secs(6));
    fx.bao.write(
        "secret/data/app/config",
        json!({ "data": { "password": "rotated" } }),
    );
    std::thread::sleep(Duration::from_secs(10));
    agent.stop();
    let first_run = events_strict(&trail).len();
    std::thread::sleep(Duration::from_secs(2));
    let mut agent = run_agent(&cfg);
    std::thread::sleep(Duration::from_secs(4));
    agent.stop();
    let events = events_strict(&trail);
    assert_verifies(&trail);
    let show = || format!("stderr:\n{}\ntrail:\n{}", agent.stderr(), summary(&events));

    // --- JSON: rotation compliance, access, chain ---
    let rep = json_report(&[], &[&trail]);
    assert_eq!(rep["events"].as_u64(), Some(events.len() as u64));
    assert!(rep["chain_gaps"].as_array().unwrap().is_empty(), "{rep:#}");
    assert_eq!(rep["restarts"].as_array().unwrap().len(), 1, "{}", show());
    let db = secret(&rep, "database/creds/app");
    assert!(db["renewals"].as_u64().unwrap() >= 1, "{db:#}\n{}", show());
    assert!(db["rotations"].as_u64().unwrap() >= 2, "{db:#}\n{}", show());
    assert_eq!(db["rotation_period_s"], 60);
    assert_eq!(db["rotation_overdue"], false, "{db:#}");
    let db_kinds = kinds(db);
    for k in ["issue", "renewal", "rotation"] {
        assert!(
            db_kinds.contains(&k),
            "no {k} for the database: {db_kinds:?}"
        );
    }
    let kv = secret(&rep, "secret/data/app/config");
    assert_eq!(kv["rotations"], 1, "{kv:#}\n{}", show());
    assert_eq!(kv["rotation_period_s"], 4);
    assert_eq!(kv["rotation_overdue"], true, "{kv:#}");
    let kv_overdue = kv["overdue"].as_array().unwrap();
    assert!(
        kv_overdue.iter().any(|o| o["open"] == true),
        "the KV secret was not rotated again before the end: {kv:#}"
    );
    let pki = secret(&rep, "pki/issue/app");
    // A write (PKI issue) names its engine too, from a mount lookup made alongside it.
    assert_eq!(pki["mount_type"], "pki", "{pki:#}");
    assert_eq!(kv["mount_type"], "kv", "{kv:#}");
    assert!(
        pki["rotations"].as_u64().unwrap() >= 1,
        "{pki:#}\n{}",
        show()
    );
    secret(&rep, &HOSTILE.replacen("secret/", "secret/data/", 1));
    // The counts are the trail's: a credential per new lease, KV version or PKI issue, whatever the
    // outputs that received them say (`output.secrets` names the same ones again).
    let issued = |path: &str, key: &str| {
        let mut seen: Vec<String> = Vec::new();
        for e in events.iter().filter(|e| {
            field(e, "/secret/path") == path
                && field(e, "/outcome") == "success"
                && ["secret.read", "secret.write"].contains(&field(e, "/event"))
        }) {
            let id = if key == "issue" {
                e["seq"].to_string() + field(e, "/agent/id")
            } else {
                e["secret"][key].to_string()
            };
            if seen.last() != Some(&id) {
                seen.push(id);
            }
        }
        seen.len() as u64
    };
    for (line, path, key) in [
        (db, "database/creds/app", "lease_id"),
        (kv, "secret/data/app/config", "version"),
        (pki, "pki/issue/app", "issue"),
    ] {
        assert_eq!(
            line["rotations"].as_u64().unwrap() + 1,
            issued(path, key),
            "{path}: {line:#}\n{}",
            show()
        );
    }
    let ids = rep["identities"].as_array().unwrap();
    assert!(
        ids.iter()
            .all(|i| i["subject"] == sidekey_tests::jwt::APP_SUBJECT && i["role"] == "app"),
        "{ids:#?}"
    );
    // A login per run: two token accessors.
    assert_eq!(ids.len(), 2, "{ids:#?}");

    // --- Markdown and CSV say the same ---
    let md = report(&[], &[&trail]);
    assert!(md.contains("## Rotation compliance"), "{md}");
    assert!(
        md.contains("| **secret/data/app/config** | 4 | 1 |"),
        "{md}"
    );
    assert!(md.contains("### Agent restarts (1)"), "{md}");
    let csv = report(&["--format", "csv"], &[&trail]);
    assert!(csv.starts_with("path,"), "{csv}");
    let ids_csv = report(&["--format", "csv", "--table", "identities"], &[&trail]);
    assert_eq!(ids_csv.lines().count(), 3, "{ids_csv}");

    // --- The same trail as a rotated set, given newest first; and a window ending before run 2 ---
    let text = std::fs::read_to_string(&trail).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (old, new) = lines.split_at(first_run);
    let (old_path, new_path) = (
        fx.dir.path().join("audit.log.1"),
        fx.dir.path().join("audit.new.log"),
    );
    std::fs::write(&old_path, old.join("\n") + "\n").unwrap();
    std::fs::write(&new_path, new.join("\n") + "\n").unwrap();
    let set = json_report(&[], &[&new_path, &old_path]);
    assert_eq!(
        set["files"],
        json!([
            old_path.display().to_string(),
            new_path.display().to_string()
        ])
    );
    assert_eq!(set["events"], rep["events"]);
    assert!(set["chain_gaps"].as_array().unwrap().is_empty(), "{set:#}");
    // The active file alone takes in the files sidekey rotated it to, as `audit verify` does; without
    // them the Findings say the report starts mid-chain.
    let rot = fx.dir.path().join("rot");
    std::fs::create_dir(&rot).unwrap();
    let (rotated, active) = (
        rot.join("audit-1796683853727854067.log"),
        rot.join("audit.log"),
    );
    std::fs::copy(&old_path, &rotated).unwrap();
    std::fs::copy(&new_path, &active).unwrap();
    let set = json_report(&[], &[&active]);
    assert_eq!(
        set["files"],
        json!([rotated.display().to_string(), active.display().to_string()])
    );
    assert_eq!(set["events"], rep["events"]);
    assert_eq!(set["continues_earlier_file"], json!(false), "{set:#}");
    std::fs::remove_file(&rotated).unwrap();
    let part = report(&[], &[&active]);
    assert!(
        part.contains("Chain: intact, starting mid-chain: the first file continues an earlier file not read here"),
        "{part}"
    );
    let end_of_run_1 = field(&events[first_run - 1], "/time");
    let windowed = json_report(&["--to", end_of_run_1], &[&trail]);
    assert_eq!(windowed["events"].as_u64(), Some(first_run as u64));
    assert!(windowed["restarts"].as_array().unwrap().is_empty());

    // --- HTML in Chromium, no network ---
    let html_path = fx.dir.path().join("report.html");
    let html = report(&["--format", "html"], &[&trail]);
    std::fs::write(&html_path, &html).unwrap();
    let page = chromium::open(&html_path);
    assert!(
        page.console.is_empty(),
        "console messages: {:#?}\n{}",
        page.console,
        page.run.show()
    );
    assert!(page.screenshot.len() > 10_000, "a blank screenshot?");
    assert_eq!(png_size(&page.screenshot), WINDOW);
    let dom = &page.dom;
    assert!(dom.contains("<svg id=\"timeline\""), "no timeline:\n{dom}");
    for class in [
        "mark issuance",
        "mark rotation",
        "mark renewal",
        "overdue",
        "unrecorded",
        "legend",
    ] {
        assert!(
            dom.contains(&format!("class=\"{class}\"")),
            "no {class} in:\n{dom}"
        );
    }
    assert!(
        !dom.contains("<script"),
        "a script element in the page:\n{dom}"
    );
    assert!(dom.contains("&lt;script&gt;console.error('xss')&lt;/script&gt;"));
}

/// The harness catches what it must: a page with a script error and a refused load prints console
/// messages (so an empty list above means none happened).
#[test]
fn chromium_reports_console_messages_of_a_faulty_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("faulty.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'\"></head><body><img src=\"http://example.test/x.png\">\
         <p>text</p></body></html>",
    )
    .unwrap();
    let p = chromium::open(&page);
    assert!(
        p.console.iter().any(|l| l.contains("example.test")),
        "the refused image load was not reported: {:#?}\n{}",
        p.console,
        p.run.show()
    );
    let bad = dir.path().join("error.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>",
    )
    .unwrap();
    let p = chromium::open(&bad);
    assert!(
        p.console.iter().any(|l| l.contains("no_such_function")),
        "the script error was not reported: {:#?}",
        p.console
    );
}

/// A window or a table the command cannot take is a usage error (64) naming what it takes.
#[test]
fn a_bad_window_or_table_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("audit.log");
    std::fs::write(&trail, "").unwrap();
    for (args, says) in [
        (&["--from", "yesterday"][..], "RFC 3339"),
        (&["--format", "csv", "--table", "nope"][..], "identities"),
    ] {
        let r = Sidekey::new(["report"])
            .args(args)
            .args(["--audit"])
            .args([&trail])
            .run();
        assert_eq!(r.code(), 64, "{args:?}: {}", r.show());
        assert!(r.stderr.contains(says), "{args:?}: {}", r.show());
    }
    let empty = report(&["--to", "2026-03-31", "--format", "html"], &[&trail]);
    assert!(
        empty.contains("No secret was retrieved in the window."),
        "{empty}"
    );
}
