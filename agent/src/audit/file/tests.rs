use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::chain::{Hasher, verify_files};
use crate::audit::tools::trail_files;
use crate::audit::{Auditor, EventKind, Outcome, Record};
use crate::config::{AuditConfig, KeepRotated, Rotation};

fn auditor(path: &Path, bytes: Option<u64>, keep: KeepRotated) -> Auditor {
    let cfg = AuditConfig {
        file: Some(path.to_path_buf()),
        file_rotation: Some(Rotation {
            bytes,
            duration: Duration::from_secs(3600),
            keep,
        }),
        ..AuditConfig::default()
    };
    Auditor::from_config(&cfg, None).unwrap()
}

fn record(a: &Auditor, n: usize) {
    for _ in 0..n {
        a.record(Record::new(EventKind::AuthLogin, Outcome::Success));
    }
    a.flush();
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn verify(files: &[PathBuf], allow_continuation: bool) -> Result<usize, String> {
    verify_files(
        files,
        &Hasher::sha256(),
        allow_continuation,
        &mut |_, _, _| {},
    )
    .map(|v| v.events)
    .map_err(|e| e.to_string())
}

#[test]
fn a_full_file_is_rotated_as_vault_names_it_and_the_chain_runs_across_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let a = auditor(&path, Some(1), KeepRotated::All);
    record(&a, 5);
    let set = trail_files(std::slice::from_ref(&path));
    let n = names(&set);
    assert_eq!(n.len(), 5, "{n:?}");
    assert_eq!(n[4], "audit.log");
    for rotated in &n[..4] {
        let stamp = rotated
            .strip_prefix("audit-")
            .and_then(|r| r.strip_suffix(".log"))
            .unwrap();
        assert!(stamp.len() >= 19 && stamp.bytes().all(|b| b.is_ascii_digit()));
    }
    assert_eq!(verify(&set, false), Ok(5));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&set[0]).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The active file alone continues a chain it does not hold.
    assert!(verify(std::slice::from_ref(&path), false).is_err());
    assert_eq!(verify(std::slice::from_ref(&path), true), Ok(1));
    let head = a.file_head().unwrap();
    assert_eq!((head.seq, head.sink), (5, "file"));
}

#[test]
fn only_the_newest_rotated_files_are_kept_and_the_rest_verifies_as_a_continuation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let a = auditor(&path, Some(1), KeepRotated::Newest(2));
    record(&a, 6);
    let set = trail_files(std::slice::from_ref(&path));
    assert_eq!(set.len(), 3, "{:?}", names(&set));
    let e = verify(&set, false).unwrap_err();
    assert!(e.contains("line 1: prev_hash"), "{e}");
    assert_eq!(verify(&set, true), Ok(3));
}

#[test]
fn a_restart_continues_the_chain_of_the_newest_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    record(&auditor(&path, Some(1), KeepRotated::All), 3);
    // Stopped right after a rotation renamed the file: the new one is not there yet.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::rename(&path, dir.path().join(format!("audit-{now}.log"))).unwrap();
    record(&auditor(&path, Some(1), KeepRotated::All), 2);
    let set = trail_files(std::slice::from_ref(&path));
    assert_eq!(verify(&set, false), Ok(5));
}

#[test]
fn a_break_at_the_top_of_a_file_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    record(&auditor(&path, Some(1), KeepRotated::All), 4);
    let set = trail_files(std::slice::from_ref(&path));
    std::fs::remove_file(&set[1]).unwrap();
    let set = trail_files(std::slice::from_ref(&path));
    let e = verify(&set, false).unwrap_err();
    let second = set[1].display().to_string();
    assert!(
        e.starts_with(&format!(
            "{second}: line 1: prev_hash does not match the last line of the file before"
        )),
        "{e}"
    );
}

#[test]
fn sighup_reopen_still_works_beside_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let a = auditor(&path, Some(1 << 20), KeepRotated::All);
    record(&a, 2);
    let moved = dir.path().join("audit.log.1");
    std::fs::rename(&path, &moved).unwrap();
    a.reopen();
    record(&a, 2);
    assert_eq!(verify(&[moved, path], false), Ok(4));
}

/// A line of `n` filler bytes ending in `hash`.
fn long_line(n: usize, hash: &str) -> String {
    format!("{{\"x\":\"{}\",\"hash\":\"{hash}\"}}", "a".repeat(n))
}

#[test]
fn a_restart_finds_the_last_hash_behind_a_long_event_and_a_cut_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (h1, h2) = ("1".repeat(64), "2".repeat(64));
    // The last whole event is 20 KiB, and a crash cut the next write short after 10 KiB.
    let cut = &long_line(12_000, &"3".repeat(64))[..10_000];
    let text = format!("{}\n{}\n{cut}", long_line(10, &h1), long_line(20_000, &h2));
    std::fs::write(&path, text).unwrap();
    assert_eq!(super::last_hash(&path), Some(h2.clone()));
    // A whole event without its newline counts.
    std::fs::write(
        &path,
        format!("{}\n{}", long_line(10, &h1), long_line(9_000, &h2)),
    )
    .unwrap();
    assert_eq!(super::last_hash(&path), Some(h2));
    // A file whose last line is no event has no hash (and says so in the log); an empty one neither.
    std::fs::write(&path, format!("{}\nnot an event\n", long_line(10, &h1))).unwrap();
    assert_eq!(super::last_hash(&path), None);
    std::fs::write(&path, "").unwrap();
    assert_eq!(super::last_hash(&path), None);
}
