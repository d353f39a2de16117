//! Report v2 on fixture trails written line by line (times chosen, chain computed as the auditor does):
//! rotation compliance and overdue stretches, access tables, failures, gaps over a rotated set, and
//! what the formats make of hostile strings.

use serde_json::json;

use super::super::*;
use super::fixture::{Fixture, T0, find, identity, secret};

#[test]
fn overdue_rotations_are_flagged_between_rotations_and_at_the_end_of_the_window() {
    let db = "database/creds/app";
    let mut f = Fixture::new("run-1");
    f.add(0, "secret.read", true, secret(db, "db/l1", None, 60))
        .add(20, "secret.renew", true, secret(db, "db/l1", None, 60))
        .add(50, "secret.read", true, secret(db, "db/l2", None, 60))
        // Read again from the cache's lease: the same credential.
        .add(55, "secret.read", true, secret(db, "db/l2", None, 60))
        // 150 s without a rotation: overdue (period 60 s).
        .add(200, "secret.read", true, secret(db, "db/l3", None, 60))
        .add(205, "secret.renew", false, secret(db, "db/l3", None, 60))
        .add(
            0,
            "secret.read",
            true,
            secret("secret/data/kv", "", Some(3), 3600),
        )
        .add(
            100,
            "secret.read",
            true,
            secret("secret/data/kv", "", Some(3), 3600),
        )
        .add(
            260,
            "secret.read",
            true,
            secret("secret/data/kv", "", Some(4), 3600),
        )
        // The window ends 100 s after db's last rotation: overdue again, still open.
        .add(
            300,
            "auth.renew",
            true,
            json!({"identity": identity("acc-1")}),
        );
    let r = f.report();
    assert!(r.chain_gaps.is_empty(), "{:?}", r.chain_gaps);
    let l = find(&r, db);
    assert_eq!(
        (l.retrievals, l.rotations, l.renewals, l.failures),
        (4, 2, 1, 1)
    );
    assert_eq!(l.rotation_period_s, Some(60));
    assert!(l.rotation_overdue);
    let stretches: Vec<(u64, bool)> = l.overdue.iter().map(|o| (o.seconds, o.open)).collect();
    assert_eq!(stretches, [(150, false), (100, true)]);
    assert_eq!(l.overdue[0].from, rfc3339_ms((T0 + 50) * 1000));
    assert_eq!(l.overdue[0].to, rfc3339_ms((T0 + 200) * 1000));
    assert_eq!(l.last_rotation, rfc3339_ms((T0 + 200) * 1000));
    let kinds: Vec<&str> = l.timeline.iter().map(|m| m.kind.label()).collect();
    assert_eq!(
        kinds,
        ["issuance", "renewal", "rotation", "rotation", "failure"]
    );
    let kv = find(&r, "secret/data/kv");
    assert_eq!((kv.rotations, kv.rotation_overdue), (1, false));

    // A window ending 10 s after the last rotation: only the stretch between rotations is overdue.
    let window = Window {
        from_ms: None,
        to_ms: Some((T0 + 210) * 1000),
    };
    let r = build_set(
        vec![TrailFile {
            name: "a.log".into(),
            text: f.text(),
        }],
        &Hasher::sha256(),
        window,
    );
    let l = find(&r, db);
    assert_eq!(l.overdue.len(), 1, "{:?}", l.overdue);
    assert!(!l.overdue[0].open);
    assert_eq!(r.to, rfc3339_ms((T0 + 210) * 1000));
    assert_eq!(find(&r, "secret/data/kv").rotations, 0, "after the window");

    // Each format says so.
    let md = r.to_markdown();
    assert!(md.contains("## Rotation compliance"), "{md}");
    assert!(md.contains("| **database/creds/app** | 60 | 2 |"), "{md}");
    assert!(md.contains("1 overdue: database/creds/app"), "{md}");
    let csv = r.to_csv();
    assert!(csv.lines().nth(1).unwrap().contains(",true,"), "{csv}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["secrets"][0]["overdue"][0]["seconds"], 150);
    let html = r.to_html();
    assert_eq!(html.matches("class=\"overdue\"").count(), 1, "{html}");
}

#[test]
fn a_certificate_serial_from_the_output_tells_rotations_apart() {
    let pki = "pki/issue/app";
    let issue = || json!({"secret": {"path": pki, "lease_id": "", "lease_duration_s": 0, "renewable": false}});
    let wrote = |serial: &str| {
        json!({"output": {"kind": "file", "destination": "/run/cert.pem",
            "secrets": [{"path": pki, "serial": serial}, {"path": "secret/data/kv", "version": 7}]}})
    };
    let mut f = Fixture::new("run-1");
    f.add(0, "secret.write", true, issue())
        .add(1, "output.write", true, wrote("aa:01"))
        // The same file written again (another secret in it changed): the same certificate.
        .add(5, "output.write", true, wrote("aa:01"))
        .add(10, "secret.write", true, issue())
        .add(11, "output.write", true, wrote("bb:02"));
    let r = f.report();
    let l = find(&r, pki);
    assert_eq!((l.retrievals, l.rotations), (2, 1));
    // A secret named only by an output is listed, with its credential.
    let kv = find(&r, "secret/data/kv");
    assert_eq!((kv.retrievals, kv.rotations), (0, 0));
    assert_eq!(kv.last_rotation, rfc3339_ms((T0 + 1) * 1000));

    // An output-only trail (a restart re-delivering a new certificate): each new serial is a rotation.
    let mut f = Fixture::new("run-1");
    f.add(0, "output.write", true, wrote("aa:01"))
        .add(5, "output.write", true, wrote("aa:01"))
        .add(9, "output.write", true, wrote("cc:03"));
    assert_eq!(find(&f.report(), pki).rotations, 1);
}

#[test]
fn access_is_tabled_by_identity_workload_and_caller() {
    let mut f = Fixture::new("run-1");
    let read = |accessor: &str| {
        json!({"identity": identity(accessor),
            "secret": {"path": "secret/data/a", "lease_id": "", "lease_duration_s": 0, "renewable": false}})
    };
    let caller = json!({"pid": 7, "uid": 1000, "exe": "/usr/bin/app", "unit": "app.service",
        "workload": "a", "token_accessor": "acc-a"});
    f.add(0, "secret.read", true, read("acc-1"))
        .add(1, "secret.read", true, read("acc-1"))
        .add(2, "secret.read", true, read("acc-2"))
        .add(3, "proxy.request", true, json!({
            "secret": {"path": "secret/data/a", "lease_id": "", "lease_duration_s": 0, "renewable": false},
            "proxy": {"method": "GET", "status": 200, "cache": "hit"}, "caller": caller}))
        .add(4, "caller.refused", false, json!({
            "proxy": {"method": "GET", "status": 403, "cache": "miss"},
            "caller": {"pid": 9, "uid": 2000, "exe": "/usr/bin/curl"},
            "error": "no workload matches the caller"}))
        .add(5, "credential.serve", true, json!({
            "caller": {"unit": "db.service", "workload": "a"},
            "credential": {"unit": "db.service", "id": "password"}}));
    let r = f.report();
    let ids: Vec<(&str, u64)> = r
        .identities
        .iter()
        .map(|i| (i.token_accessor.as_str(), i.access.retrievals))
        .collect();
    assert_eq!(ids, [("acc-1", 2), ("acc-2", 1)]);
    assert_eq!(r.workloads.len(), 1);
    let a = &r.workloads[0];
    assert_eq!((a.workload.as_str(), a.access.retrievals), ("a", 2));
    assert_eq!(
        a.access.paths.iter().collect::<Vec<_>>(),
        ["credential db.service/password", "secret/data/a"]
    );
    let callers: Vec<(&str, &str, Option<u32>, u64, u64)> = r
        .callers
        .iter()
        .map(|c| {
            (
                c.unit.as_str(),
                c.exe.as_str(),
                c.uid,
                c.access.retrievals,
                c.access.failures,
            )
        })
        .collect();
    assert_eq!(
        callers,
        [
            ("", "/usr/bin/curl", Some(2000), 0, 1),
            ("app.service", "/usr/bin/app", Some(1000), 1, 0),
            ("db.service", "", None, 1, 0),
        ]
    );
    let csv = r.to_csv_table(Some("callers")).unwrap();
    assert!(
        csv.starts_with("unit,container,pod,exe,uid,address,workloads,retrievals,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(r.to_csv_table(Some("nope")).is_none());
    let md = r.to_markdown();
    for h in [
        "## Access by identity",
        "## Access by workload",
        "## Access by caller",
    ] {
        assert!(md.contains(h), "{md}");
    }
}

#[test]
fn failures_are_grouped_by_kind_and_path() {
    let mut f = Fixture::new("run-1");
    let failed = |path: &str, error: &str| {
        json!({"secret": {"path": path, "lease_id": "", "lease_duration_s": 0, "renewable": false},
            "error": error})
    };
    f.add(
        0,
        "secret.read",
        false,
        failed("secret/data/x", "HTTP 403: permission denied"),
    )
    .add(
        9,
        "secret.read",
        false,
        failed("secret/data/x", "HTTP 503: sealed"),
    )
    .add(
        10,
        "secret.renew",
        false,
        failed("secret/data/x", "lease not found"),
    )
    .add(
        12,
        "output.write",
        false,
        json!({"output": {"kind": "file", "destination": "/run/x"},
            "error": "disk full"}),
    );
    let r = f.report();
    let groups: Vec<(&str, &str, u64, &str)> = r
        .failure_summary
        .iter()
        .map(|g| {
            (
                g.event.as_str(),
                g.subject.as_str(),
                g.count,
                g.last_error.as_str(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("output.write", "/run/x", 1, "disk full"),
            ("secret.read", "secret/data/x", 2, "HTTP 503: sealed"),
            ("secret.renew", "secret/data/x", 1, "lease not found"),
        ]
    );
    let read = &r.failure_summary[1];
    assert_eq!(read.first, rfc3339_ms(T0 * 1000));
    assert_eq!(read.last, rfc3339_ms((T0 + 9) * 1000));
    assert_eq!(r.failures.len(), 4);
}

#[test]
fn a_rotated_set_is_read_in_chain_order_with_its_gaps_and_restarts() {
    let read = || json!({"secret": {"path": "secret/data/a", "lease_id": "", "lease_duration_s": 0, "renewable": false}});
    let mut f = Fixture::new("run-1");
    for i in 0..4 {
        f.add(i, "secret.read", true, read());
    }
    // The agent was down for 60 s; the new run continues the chain.
    f.restart("run-2");
    for i in 64..68 {
        f.add(i, "secret.read", true, read());
    }
    let (old, new) = f.lines.split_at(5);
    let file = |name: &str, lines: &[String]| TrailFile {
        name: name.into(),
        text: lines.join("\n") + "\n",
    };
    // Given newest first (as `audit.log*` globs sort): read oldest first.
    let set = vec![file("audit.log", new), file("audit.log.1", old)];
    let r = build_set(set, &Hasher::sha256(), Window::default());
    assert_eq!(r.files, ["audit.log.1", "audit.log"]);
    assert!(r.chain_gaps.is_empty(), "{:?}", r.chain_gaps);
    assert!(!r.continues_earlier_file);
    assert_eq!(r.events, 8);
    assert_eq!(r.restarts.len(), 1);
    let restart = &r.restarts[0];
    assert_eq!(
        (
            restart.agent.as_str(),
            restart.previous_agent.as_str(),
            restart.down_s
        ),
        ("run-2", "run-1", Some(61))
    );

    // The old file's last line deleted: the new file does not continue it.
    let set = vec![file("audit.log.1", &old[..4]), file("audit.log", new)];
    let r = build_set(set, &Hasher::sha256(), Window::default());
    let gaps: Vec<(&str, usize, &str)> = r
        .chain_gaps
        .iter()
        .map(|g| (g.file.as_str(), g.line, g.kind))
        .collect();
    assert_eq!(gaps, [("audit.log", 1, "file")], "{:?}", r.chain_gaps);
    assert!(
        r.chain_gaps[0]
            .detail
            .contains("audit.log.1 (its last line 4)")
    );

    // A line edited, and one deleted; only the newer file read: it continues one not read.
    let mut edited: Vec<String> = f.lines[2..].to_vec();
    edited[1] = edited[1].replace("secret/data/a", "secret/data/b");
    edited.remove(3);
    let r = build_set(
        vec![file("audit.log", &edited)],
        &Hasher::sha256(),
        Window::default(),
    );
    assert!(r.continues_earlier_file);
    let kinds: Vec<(usize, &str)> = r.chain_gaps.iter().map(|g| (g.line, g.kind)).collect();
    assert_eq!(kinds, [(2, "edited"), (4, "missing")]);
    let md = r.to_markdown();
    assert!(
        md.contains("continues the chain of an earlier file"),
        "{md}"
    );
}
