use std::path::Path;

use super::*;
use crate::audit::{Auditor, EventKind, Format, Outcome, Record};
use crate::config::AuditConfig;

fn trail(dir: &Path, hmac: Option<&Path>) -> std::path::PathBuf {
    trail_in(dir, hmac, Format::Sidekey)
}

/// Four events of one agent run appended to `dir/audit.log` in `format`.
fn trail_in(dir: &Path, hmac: Option<&Path>, format: Format) -> std::path::PathBuf {
    let path = dir.join("audit.log");
    let cfg = AuditConfig {
        file: Some(path.clone()),
        file_format: format,
        hmac_key_file: hmac.map(Path::to_path_buf),
        ..AuditConfig::default()
    };
    let a = Auditor::from_config(&cfg, None).unwrap();
    for _ in 0..4 {
        a.record(Record::new(EventKind::AuthLogin, Outcome::Success));
    }
    a.flush();
    path
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write(p: &Path, l: &[String]) {
    std::fs::write(p, l.join("\n") + "\n").unwrap();
}

#[test]
fn intact_trail_verifies_and_restart_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let p = trail(dir.path(), None);
    trail(dir.path(), None);
    let v = verify_file(&p, &Hasher::sha256(), false).unwrap();
    assert_eq!(v.events, 8);
}

#[test]
fn edit_delete_swap_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = trail(dir.path(), None);
    let orig = lines(&p);
    let h = Hasher::sha256();

    let mut l = orig.clone();
    l[1] = l[1].replace("auth.login", "auth.renew");
    write(&p, &l);
    let e = verify_file(&p, &h, false).unwrap_err().to_string();
    assert!(e.starts_with("line 2: content does not match"), "{e}");

    let mut l = orig.clone();
    l.remove(1);
    write(&p, &l);
    let e = verify_file(&p, &h, false).unwrap_err().to_string();
    assert!(
        e.starts_with("line 2: prev_hash does not match line 1"),
        "{e}"
    );

    let mut l = orig.clone();
    l.swap(1, 2);
    write(&p, &l);
    let e = verify_file(&p, &h, false).unwrap_err().to_string();
    assert!(e.starts_with("line 2: prev_hash"), "{e}");

    let mut l = orig;
    l.remove(0);
    write(&p, &l);
    let e = verify_file(&p, &h, false).unwrap_err().to_string();
    assert!(e.starts_with("line 1: prev_hash"), "{e}");
    assert!(verify_file(&p, &h, true).is_ok());
}

#[test]
fn hmac_chain_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k3y\n").unwrap();
    let p = trail(dir.path(), Some(&key));
    assert!(verify_file(&p, &Hasher::from_key_file(&key).unwrap(), false).is_ok());
    let e = verify_file(&p, &Hasher::sha256(), false).unwrap_err();
    assert!(e.to_string().starts_with("line 1: content does not match"));
}

#[test]
fn rotation_by_rename_and_reopen_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let cfg = AuditConfig {
        file: Some(path.clone()),
        ..AuditConfig::default()
    };
    let a = Auditor::from_config(&cfg, None).unwrap();
    a.record(Record::new(EventKind::AuthLogin, Outcome::Success));
    let old = dir.path().join("audit.log.1");
    std::fs::rename(&path, &old).unwrap();
    a.reopen();
    a.record(Record::new(EventKind::AuthRenew, Outcome::Success));
    a.flush();
    let h = Hasher::sha256();
    let first = verify_file(&old, &h, false).unwrap();
    let e = verify_file(&path, &h, false).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "line 1: prev_hash is not 64 zeros: the file continues a chain whose start is not here"
        ) && e.ends_with("give --allow-continuation to accept that"),
        "{e}"
    );
    let second = verify_file(&path, &h, true).unwrap();
    assert_eq!(second.continues_from, Some(first.last_hash));
}

#[test]
fn each_format_chains_and_a_restart_continues_whatever_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k3y\n").unwrap();
    let h = Hasher::from_key_file(&key).unwrap();
    // The format may change between runs: the chain goes on from the last line, whatever it was.
    trail_in(dir.path(), Some(&key), Format::Ocsf);
    trail_in(dir.path(), Some(&key), Format::Ecs);
    let p = trail_in(dir.path(), Some(&key), Format::Sidekey);
    let v = verify_file(&p, &h, false).unwrap();
    assert_eq!(v.events, 12);

    let orig = lines(&p);
    for (i, edit) in [
        (1, ("\"seq\":2", "\"seq\":3")),
        (5, ("auth.login", "auth.renew")),
    ] {
        let mut l = orig.clone();
        assert!(l[i].contains(edit.0), "{}", l[i]);
        l[i] = l[i].replacen(edit.0, edit.1, 1);
        write(&p, &l);
        let e = verify_file(&p, &h, false).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("line {}: content does not match", i + 1)),
            "{e}"
        );
    }
    let mut l = orig;
    l.remove(6);
    write(&p, &l);
    let e = verify_file(&p, &h, false).unwrap_err().to_string();
    assert!(
        e.starts_with("line 7: prev_hash does not match line 6"),
        "{e}"
    );
}

#[tokio::test]
async fn two_sinks_keep_two_chains_in_two_formats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let spool = dir.path().join("spool");
    let cfg = AuditConfig {
        file: Some(path.clone()),
        file_format: Format::Ocsf,
        http: Some(crate::config::AuditHttpConfig {
            // Nothing listens on port 9 (discard): the events stay in the spool, as written.
            url: "http://127.0.0.1:9/".into(),
            ca_cert: None,
            spool_path: spool.clone(),
            spool_max_bytes: 1 << 20,
            batch_max: 10,
            timeout: std::time::Duration::from_secs(1),
            format: Format::Ecs,
        }),
        ..AuditConfig::default()
    };
    let a = Auditor::from_config(&cfg, None).unwrap();
    for _ in 0..3 {
        a.record(Record::new(EventKind::AuthLogin, Outcome::Success));
    }
    a.flush();
    let h = Hasher::sha256();
    assert_eq!(verify_file(&path, &h, false).unwrap().events, 3);
    assert_eq!(verify_file(&spool, &h, false).unwrap().events, 3);
    let file: serde_json::Value = serde_json::from_str(&lines(&path)[0]).unwrap();
    let sent: serde_json::Value = serde_json::from_str(&lines(&spool)[0]).unwrap();
    assert_eq!(file["unmapped"]["prev_hash"], GENESIS);
    assert_eq!(sent["sidekey"]["prev_hash"], GENESIS);
    assert_eq!(file["unmapped"]["seq"], sent["sidekey"]["seq"]);
}

#[test]
fn per_run_takes_a_collector_copy_of_several_runs_with_redeliveries() {
    let dir = tempfile::tempdir().unwrap();
    let h = Hasher::sha256();
    // Two runs, each starting from 64 zeros as a non-file sink does; run 1's line 2 delivered twice.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let (run1, run2) = (lines(&trail(&a, None)), lines(&trail(&b, None)));
    let copy = dir.path().join("collector.log");
    let mut l = vec![run1[0].clone(), run1[1].clone(), run1[1].clone()];
    l.extend(run2[..2].iter().cloned());
    l.extend(run1[2..].iter().cloned());
    l.extend(run2[2..].iter().cloned());
    write(&copy, &l);
    let set = [copy.clone()];
    assert!(verify_files(&set, &h, false, &mut |_, _, _| {}).is_err());
    let v = verify_runs(&set, &h, false).unwrap();
    assert_eq!(
        v,
        RunsVerified {
            events: 8,
            runs: 2,
            duplicates: 1,
            continued: 0
        }
    );

    // A run's event missing, or the same seq again with other bytes (sealed anew), is a break.
    let mut gap = l.clone();
    gap.remove(5);
    write(&copy, &gap);
    let e = verify_runs(&set, &h, false).unwrap_err().to_string();
    assert!(e.contains("line 6: seq 4 does not follow seq 2"), "{e}");
    let mut conflict = l.clone();
    let (canonical, _) = split_line(&run1[1]).unwrap();
    let (resealed, _) = seal(canonical.replace("auth.login", "auth.renew").as_bytes(), &h);
    conflict[2] = String::from_utf8(resealed).unwrap();
    write(&copy, &conflict);
    let e = verify_runs(&set, &h, false).unwrap_err().to_string();
    assert!(e.contains("line 3: seq 2 of agent run "), "{e}");
    assert!(
        e.ends_with("was seen before with other content: one of them was edited"),
        "{e}"
    );

    // A copy that starts mid-run needs --allow-continuation.
    write(&copy, &l[1..]);
    let e = verify_runs(&set, &h, false).unwrap_err().to_string();
    assert!(e.contains("line 1: prev_hash is not 64 zeros"), "{e}");
    assert_eq!(verify_runs(&set, &h, true).unwrap().continued, 1);
}
