use super::*;
use crate::audit::{
    Auditor, CallerMeta, EventKind, Identity, Outcome, ProxyMeta, Record, SecretMeta,
};
use crate::config::{AuditConfig, Metadata};

fn read(path: &str, lease: &str, ttl: u64) -> Record {
    Record::new(EventKind::SecretRead, Outcome::Success)
        .identity(Some(Identity {
            method: "jwt".into(),
            mount: "auth/jwt".into(),
            role: "app".into(),
            subject: "sa:app".into(),
            token_accessor: "acc".into(),
        }))
        .secret(SecretMeta {
            path: path.into(),
            lease_id: lease.into(),
            lease_duration_s: ttl,
            renewable: true,
            ..SecretMeta::default()
        })
}

#[test]
fn rotations_renewals_failures_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let mut cfg = AuditConfig {
        file: Some(path.clone()),
        ..AuditConfig::default()
    };
    cfg.secrets.insert(
        "database/creds/app".into(),
        Metadata {
            owner: Some("dba".into()),
            rotation_period: Some(std::time::Duration::from_secs(3600)),
            ..Metadata::default()
        },
    );
    let a = Auditor::from_config(&cfg, None).unwrap();
    a.record(read("database/creds/app", "l1", 60));
    a.record(read("database/creds/app", "l1", 60).event_kind(EventKind::SecretRenew));
    a.record(read("database/creds/app", "l2", 60));
    a.record(read("database/creds/app", "l3", 60));
    a.record(read("kv/app", "", 0));
    a.record(read("kv/app", "", 0));
    a.record(Record::result(
        EventKind::SecretRead,
        Some(&"HTTP 403: permission denied"),
    ));
    a.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    let r = build(text.lines(), &Hasher::sha256());
    assert_eq!(r.events, 7);
    assert!(r.chain_gaps.is_empty(), "{:?}", r.chain_gaps);
    let db = &r.secrets[0];
    assert_eq!(db.path, "database/creds/app");
    assert_eq!(db.retrievals, 3);
    assert_eq!(db.rotations, 2);
    assert_eq!(db.renewals, 1);
    assert_eq!(db.owner, "dba");
    assert_eq!(db.rotation_period_s, Some(3600));
    assert!(!db.rotation_overdue);
    assert!(db.consumers.contains("sa:app"));
    assert!(db.methods.contains("jwt/app"));
    let kv = &r.secrets[1];
    assert_eq!((kv.retrievals, kv.rotations), (2, 0));
    assert_eq!(r.failures.len(), 1);
    assert!(
        r.to_csv()
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("database/creds/app,")
    );
    assert!(r.to_markdown().contains("Intact"));

    // A removed line shows up as a chain gap.
    let cut: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l)
        .collect();
    let r = build(cut.into_iter(), &Hasher::sha256());
    assert_eq!(r.chain_gaps.len(), 1, "{:?}", r.chain_gaps);
}

/// An auditor writing a file in a temp dir (kept while the dir lives), and the file.
fn trail() -> (tempfile::TempDir, std::path::PathBuf, Auditor) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    let cfg = AuditConfig {
        file: Some(path.clone()),
        ..AuditConfig::default()
    };
    let a = Auditor::from_config(&cfg, None).unwrap();
    (dir, path, a)
}

/// The report of what `a` wrote to `path`.
fn report_of(a: &Auditor, path: &std::path::Path) -> Report {
    a.flush();
    let text = std::fs::read_to_string(path).unwrap();
    build(text.lines(), &Hasher::sha256())
}

/// A `proxy.request` answering `caller` with `secret` (lease `lease`), from the cache or not.
fn proxied(secret: &str, lease: &str, caller: CallerMeta, cache: &'static str) -> Record {
    Record::new(EventKind::ProxyRequest, Outcome::Success)
        .secret(SecretMeta {
            path: secret.into(),
            lease_id: lease.into(),
            ..SecretMeta::default()
        })
        .proxied(
            ProxyMeta {
                method: "GET".into(),
                status: 200,
                cache,
            },
            caller,
        )
}

#[test]
fn proxied_retrievals_count_with_their_callers() {
    let (_dir, path, a) = trail();
    let proxied = |caller, cache| proxied("database/creds/app", "l1", caller, cache);
    let tcp = |port: u16| CallerMeta {
        address: Some(format!("127.0.0.1:{port}")),
        ..CallerMeta::default()
    };
    a.record(proxied(tcp(40001), "miss"));
    a.record(proxied(tcp(40002), "hit"));
    a.record(proxied(
        CallerMeta {
            pid: Some(42),
            uid: Some(1000),
            gid: Some(1000),
            ..CallerMeta::default()
        },
        "hit",
    ));
    let r = report_of(&a, &path);
    let db = &r.secrets[0];
    assert_eq!(db.retrievals, 3);
    let consumers: Vec<&str> = db.consumers.iter().map(String::as_str).collect();
    assert_eq!(
        consumers,
        ["proxy caller 127.0.0.1", "proxy caller uid 1000"]
    );
}

#[test]
fn retrievals_are_grouped_by_workload_with_their_renewals() {
    let (_dir, path, a) = trail();
    let caller = |workload: Option<&str>, uid: u32| CallerMeta {
        pid: Some(7),
        uid: Some(uid),
        gid: Some(uid),
        workload: workload.map(str::to_string),
        token_accessor: workload.map(|w| format!("acc-{w}")),
        ..CallerMeta::default()
    };
    let proxied = |secret, lease, caller| proxied(secret, lease, caller, "miss");
    a.record(proxied("secret/data/a", "", caller(Some("a"), 2001)));
    a.record(proxied("secret/data/a", "", caller(Some("a"), 2001)));
    a.record(proxied(
        "database/creds/app",
        "db/1",
        caller(Some("b"), 2002),
    ));
    // The engine's renewal of b's lease names no caller: it counts with b.
    a.record(read("database/creds/app", "db/1", 60).event_kind(EventKind::SecretRenew));
    // The agent's own retrieval of the same path stays where it was.
    a.record(read("database/creds/app", "db/2", 60));
    let mut refused = proxied("secret/data/a", "", caller(None, 2003));
    refused.event = EventKind::CallerRefused;
    refused.outcome = Outcome::Failure;
    refused.error = Some("no workload matches the caller".into());
    a.record(refused);
    let r = report_of(&a, &path);
    let lines: Vec<(&str, &str, u64, u64)> = r
        .secrets
        .iter()
        .map(|l| {
            (
                l.workload.as_str(),
                l.path.as_str(),
                l.retrievals,
                l.renewals,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("", "database/creds/app", 1, 0),
            ("a", "secret/data/a", 2, 0),
            ("b", "database/creds/app", 1, 1),
        ]
    );
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].event, "caller.refused");
    let csv = r.to_csv();
    let column = csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "workload")
        .unwrap();
    let row: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert_eq!((row[0], row[column]), ("secret/data/a", "a"), "{csv}");
    let md = r.to_markdown();
    let (inv, a_at, b_at) = (
        md.find("## Inventory").unwrap(),
        md.find("## Workload `a`").unwrap(),
        md.find("## Workload `b`").unwrap(),
    );
    assert!(inv < a_at && a_at < b_at, "{md}");
    assert!(md[a_at..b_at].contains("| secret/data/a |"), "{md}");
    assert!(md[b_at..].contains("| database/creds/app |"), "{md}");
}

#[test]
fn a_callers_own_token_is_marked_under_its_workload() {
    let (_dir, path, a) = trail();
    let caller = |own_token: bool| CallerMeta {
        pid: Some(7),
        uid: Some(2001),
        workload: Some("a".into()),
        token_accessor: (!own_token).then(|| "acc-a".into()),
        own_token,
        ..CallerMeta::default()
    };
    a.record(proxied("secret/data/a", "", caller(false), "miss"));
    a.record(proxied("secret/data/a", "", caller(true), "miss"));
    let r = report_of(&a, &path);
    assert_eq!(r.secrets.len(), 1);
    assert_eq!(r.secrets[0].workload, "a");
    assert_eq!(r.secrets[0].retrievals, 2);
    assert_eq!(
        r.secrets[0].consumers.iter().collect::<Vec<_>>(),
        ["proxy caller uid 2001", "proxy caller uid 2001 (own token)"]
    );
}

#[test]
fn ocsf_and_ecs_trails_report_as_the_sidekey_one() {
    let report = |format: crate::audit::Format| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut cfg = AuditConfig {
            file: Some(path.clone()),
            file_format: format,
            ..AuditConfig::default()
        };
        cfg.metadata.owner = Some("dba".into());
        let a = Auditor::from_config(&cfg, None).unwrap();
        a.record(read("database/creds/app", "l1", 60));
        a.record(read("database/creds/app", "l1", 60).event_kind(EventKind::SecretRenew));
        a.record(read("database/creds/app", "l2", 60));
        a.record(Record::result(
            EventKind::SecretRead,
            Some(&"HTTP 403: denied"),
        ));
        a.flush();
        let r = build(
            std::fs::read_to_string(&path).unwrap().lines(),
            &Hasher::sha256(),
        );
        let lines: Vec<_> = r
            .secrets
            .iter()
            .map(|s| {
                let who = (s.consumers.clone(), s.methods.clone(), s.owner.clone());
                (s.path.clone(), s.retrievals, s.rotations, s.renewals, who)
            })
            .collect();
        let failures: Vec<_> = r.failures.iter().map(|f| f.error.clone()).collect();
        (r.events, r.chain_gaps, failures, lines)
    };
    let sidekey = report(crate::audit::Format::Sidekey);
    assert_eq!(sidekey.3[0].1, 2);
    assert_eq!(report(crate::audit::Format::Ocsf), sidekey);
    assert_eq!(report(crate::audit::Format::Ecs), sidekey);
}
mod fixture;
mod formats;
mod trail;

#[test]
fn redelivered_lines_are_counted_once() {
    let (_dir, path, a) = trail();
    a.record(read("kv/app", "", 0));
    a.record(read("kv/app", "", 0));
    a.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    let l: Vec<&str> = text.lines().collect();
    let copy = [l[0], l[0], l[1], l[0], l[1]];
    let r = build(copy.into_iter(), &Hasher::sha256());
    assert_eq!((r.events, r.duplicates), (2, 3));
    assert!(r.chain_gaps.is_empty(), "{:?}", r.chain_gaps);
    assert_eq!(r.secrets[0].retrievals, 2);
    assert!(
        r.to_markdown()
            .contains("Redelivered lines left out: 3 (same agent.id, seq and bytes)")
    );
}
