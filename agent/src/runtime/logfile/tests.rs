use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::*;
use crate::config::{KeepRotated, Rotation};

fn config(
    dir: &std::path::Path,
    name: &str,
    bytes: Option<u64>,
    keep: KeepRotated,
) -> LogFileConfig {
    LogFileConfig {
        dir: dir.to_path_buf(),
        name: name.into(),
        rotation: Rotation {
            bytes,
            duration: Duration::from_secs(3600),
            keep,
        },
    }
}

/// The directory's file names, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// The rotated files (`stem-<digits>ext`) in `dir`, oldest first.
fn rotated(dir: &std::path::Path, stem: &str, ext: &str) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| {
            n.strip_prefix(&format!("{stem}-"))
                .and_then(|r| r.strip_suffix(ext))
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

#[test]
fn a_file_that_reached_its_size_is_renamed_before_the_next_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogFile::open(&config(dir.path(), "agent.log", Some(10), KeepRotated::All)).unwrap();
    log.write_line(b"first line, past the limit\n").unwrap();
    assert!(
        rotated(dir.path(), "agent", ".log").is_empty(),
        "a line is never split"
    );
    log.write_line(b"second\n").unwrap();
    log.write_line(b"third line, past it again\n").unwrap();
    log.write_line(b"fourth\n").unwrap();
    let old = rotated(dir.path(), "agent", ".log");
    assert_eq!(old.len(), 2, "{:?}", names(dir.path()));
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    assert_eq!(read(&old[0]), "first line, past the limit\n");
    assert_eq!(read(&old[1]), "second\nthird line, past it again\n");
    assert_eq!(read("agent.log"), "fourth\n");
    let mode = std::fs::metadata(dir.path().join("agent.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn only_the_newest_rotated_files_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unrelated-notes.log"), "x").unwrap();
    let log = LogFile::open(&config(
        dir.path(),
        "agent.log",
        Some(1),
        KeepRotated::Newest(2),
    ))
    .unwrap();
    for i in 0..6 {
        log.write_line(format!("line {i}\n").as_bytes()).unwrap();
    }
    let old = rotated(dir.path(), "agent", ".log");
    assert_eq!(old.len(), 2, "{:?}", names(dir.path()));
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    assert_eq!(read(&old[0]), "line 3\n");
    assert_eq!(read(&old[1]), "line 4\n");
    assert_eq!(read("agent.log"), "line 5\n");
    assert!(dir.path().join("unrelated-notes.log").exists());
}

#[test]
fn a_negative_count_keeps_no_rotated_file_and_a_name_without_extension_gets_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = LogFile::open(&config(dir.path(), "agent", Some(1), KeepRotated::None)).unwrap();
    log.write_line(b"a\n").unwrap();
    log.write_line(b"b\n").unwrap();
    assert_eq!(names(dir.path()), ["agent"]);
    let log = LogFile::open(&config(dir.path(), "agent", Some(1), KeepRotated::All)).unwrap();
    log.write_line(b"c\n").unwrap();
    log.write_line(b"d\n").unwrap();
    assert_eq!(
        rotated(dir.path(), "agent", ".log").len(),
        1,
        "{:?}",
        names(dir.path())
    );
}

#[test]
fn opening_appends_and_prunes_what_an_earlier_run_left() {
    let dir = tempfile::tempdir().unwrap();
    for stamp in ["100", "200", "300"] {
        std::fs::write(dir.path().join(format!("agent-{stamp}.log")), stamp).unwrap();
    }
    std::fs::write(dir.path().join("agent.log"), "before\n").unwrap();
    let log = LogFile::open(&config(
        dir.path(),
        "agent.log",
        Some(1000),
        KeepRotated::Newest(1),
    ))
    .unwrap();
    assert_eq!(rotated(dir.path(), "agent", ".log"), ["agent-300.log"]);
    log.write_line(b"after\n").unwrap();
    let text = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
    assert_eq!(text, "before\nafter\n");
}

#[test]
fn an_old_file_is_rotated_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), "agent.log", None, KeepRotated::All);
    cfg.rotation.duration = Duration::from_millis(50);
    let log = LogFile::open(&cfg).unwrap();
    log.write_line(b"one\n").unwrap();
    std::thread::sleep(Duration::from_millis(80));
    log.write_line(b"two\n").unwrap();
    assert_eq!(rotated(dir.path(), "agent", ".log").len(), 1);
}
