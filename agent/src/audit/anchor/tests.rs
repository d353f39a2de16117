use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::audit::chain::{Hasher, split_line};
use crate::audit::tools::trail_files;
use crate::audit::{Auditor, EventKind, Format, Outcome, Record};
use crate::config::{AuditConfig, KeepRotated, Rotation};

/// A trail being written, and the anchors written of it so far.
struct Trail {
    path: PathBuf,
    auditor: Auditor,
    history: AnchorHistory,
    _dir: tempfile::TempDir,
}

impl Trail {
    fn new(key: Option<&str>, rotation: Option<Rotation>) -> Self {
        Self::with_format(key, rotation, Format::Sidekey)
    }

    fn with_format(key: Option<&str>, rotation: Option<Rotation>, file_format: Format) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let hmac_key_file = key.map(|k| {
            let p = dir.path().join("key");
            std::fs::write(&p, k).unwrap();
            p
        });
        let cfg = AuditConfig {
            file: Some(path.clone()),
            file_rotation: rotation,
            file_format,
            hmac_key_file,
            ..AuditConfig::default()
        };
        Self {
            auditor: Auditor::from_config(&cfg, None).unwrap(),
            path,
            history: AnchorHistory::default(),
            _dir: dir,
        }
    }

    fn events(&self, n: usize) {
        for _ in 0..n {
            self.auditor
                .record(Record::new(EventKind::SecretRead, Outcome::Success));
        }
        self.auditor.flush();
    }

    /// Anchor the head as the next version.
    fn anchor(&mut self) {
        let head = self.auditor.file_head().unwrap();
        let version = self.history.versions.len() as u64 + 1;
        self.history.versions.push(AnchorVersion {
            version,
            created_time: format!("T{version}"),
            state: VersionState::Anchor(Anchor::from(&head)),
        });
    }

    fn check(&self, hasher: &Hasher, allow_continuation: bool) -> Checked {
        let files = trail_files(std::slice::from_ref(&self.path));
        check(&self.history, &files, hasher, allow_continuation)
    }
}

/// What an intruder does: edit line `at` (0-based) of `path` and recompute the chain from there with
/// `hasher`, so the file verifies on its own.
fn rewrite(path: &Path, at: usize, hasher: &Hasher, edit: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut prev: Option<(String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let (mut canonical, old) = split_line(line).unwrap();
        let old = old.to_string();
        if i == at {
            canonical = edit(&canonical);
        }
        if let Some((was, now)) = &prev {
            canonical = canonical.replace(
                &format!("\"prev_hash\":\"{was}\""),
                &format!("\"prev_hash\":\"{now}\""),
            );
        }
        if i < at {
            out.push(line.to_string());
            continue;
        }
        let hash = hasher.hash(canonical.as_bytes());
        out.push(format!(
            "{},\"hash\":\"{hash}\"}}",
            &canonical[..canonical.len() - 1]
        ));
        prev = Some((old, hash));
    }
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}

fn anchored_trail(key: Option<&str>) -> Trail {
    let mut t = Trail::new(key, None);
    for _ in 0..3 {
        t.events(2);
        t.anchor();
    }
    t
}

#[test]
fn an_intact_trail_agrees_with_every_anchor() {
    let t = anchored_trail(None);
    let c = t.check(&Hasher::sha256(), false);
    assert!(c.ok(), "{c:?}");
    assert_eq!(c.agreeing, 3);
    let (newest, place) = c.last_good.unwrap();
    assert_eq!((newest.version, newest.seq), (3, 6));
    assert!(place.ends_with("audit.log line 6"), "{place}");
}

/// Acceptance 4, without the key: the intruder recomputes a plain SHA-256 chain.
#[test]
fn a_rewritten_event_with_a_recomputed_chain_is_found_between_two_anchors() {
    let t = anchored_trail(None);
    let h = Hasher::sha256();
    rewrite(&t.path, 2, &h, |c| c.replace("secret.read", "secret.renew"));
    let c = t.check(&h, false);
    assert!(c.chain.is_ok(), "the recomputed chain verifies on its own");
    let d = c.disagreement.unwrap();
    assert_eq!(d.after.as_ref().map(|a| a.version), Some(1));
    assert_eq!(d.at.as_ref().map(|a| a.version), Some(2));
    let text = d.to_string();
    assert!(
        text.starts_with("between anchor v1 at T1 (seq 2 of agent "),
        "{text}"
    );
    assert!(
        text.contains("and anchor v2 at T2 (seq 4 of agent "),
        "{text}"
    );
    assert!(
        text.contains("audit.log line 4 (seq 4) has hash "),
        "{text}"
    );
    assert!(text.contains("an event after "), "{text}");
    assert!(text.contains("audit.log line 2 was rewritten"), "{text}");
}

/// Acceptance 4, with the key: an intruder who holds the HMAC key recomputes a chain that verifies.
#[test]
fn a_chain_recomputed_with_the_hmac_key_still_disagrees_with_the_anchors() {
    let t = anchored_trail(Some("k3y"));
    let key = t.path.with_file_name("key");
    let h = Hasher::from_key_file(&key).unwrap();
    rewrite(&t.path, 4, &h, |c| c.replace("secret.read", "secret.write"));
    let c = t.check(&h, false);
    assert!(c.chain.is_ok());
    let d = c.disagreement.unwrap();
    assert_eq!(
        (d.after.map(|a| a.version), d.at.map(|a| a.version)),
        (Some(2), Some(3))
    );
}

#[test]
fn an_edit_without_recomputing_is_named_by_its_line() {
    let t = anchored_trail(None);
    let text = std::fs::read_to_string(&t.path).unwrap();
    std::fs::write(&t.path, text.replacen("secret.read", "secret.renew", 3)).unwrap();
    let d = t.check(&Hasher::sha256(), false).disagreement.unwrap();
    assert_eq!(d.after, None);
    assert!(
        d.to_string()
            .contains("audit.log: line 1: content does not match"),
        "{d}"
    );
}

#[test]
fn events_removed_from_the_end_are_named() {
    let t = anchored_trail(None);
    let text = std::fs::read_to_string(&t.path).unwrap();
    let kept: Vec<&str> = text.lines().take(5).collect();
    std::fs::write(&t.path, kept.join("\n") + "\n").unwrap();
    let c = t.check(&Hasher::sha256(), false);
    assert!(c.chain.is_ok());
    let d = c.disagreement.unwrap().to_string();
    assert!(d.starts_with("between anchor v2"), "{d}");
    assert!(d.contains("the trail has no event seq 6 of agent"), "{d}");
    assert!(d.contains("it ends at "), "{d}");
    assert!(d.contains("audit.log line 5 (seq 5 of agent"), "{d}");
}

#[test]
fn a_break_after_the_newest_anchor_is_not_anchored_yet_but_still_fails() {
    let t = anchored_trail(None);
    t.events(2);
    let text = std::fs::read_to_string(&t.path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(6);
    std::fs::write(&t.path, lines.join("\n") + "\n").unwrap();
    let d = t
        .check(&Hasher::sha256(), false)
        .disagreement
        .unwrap()
        .to_string();
    assert!(d.starts_with("after anchor v3 at T3"), "{d}");
    assert!(d.contains("not anchored yet: "), "{d}");
    assert!(d.contains("line 7: prev_hash"), "{d}");
}

#[test]
fn a_deleted_or_destroyed_anchor_fails_the_check() {
    let mut t = anchored_trail(None);
    t.history.versions[0].state = VersionState::Deleted("2026-12-01T10:00:00Z".into());
    t.history.versions[1].state = VersionState::Destroyed;
    let c = t.check(&Hasher::sha256(), false);
    assert!(!c.ok());
    assert_eq!(c.problems.len(), 2, "{:?}", c.problems);
    assert!(
        c.problems[0].starts_with("anchor v1 was deleted on the server at 2026-12-01T10:00:00Z")
    );
    assert!(c.problems[1].starts_with("anchor v2 was destroyed"));
    assert_eq!(c.agreeing, 1);
}

#[test]
fn anchors_of_rotated_files_removed_by_max_files_are_skipped_once_a_later_one_agrees() {
    for format in [Format::Sidekey, Format::Ocsf, Format::Ecs] {
        pruned_files_are_skipped(format);
    }
}

/// A trail in `format` rotated at every event, of which the newest two files are kept.
fn pruned_files_are_skipped(format: Format) {
    let rotation = Rotation {
        bytes: Some(1),
        duration: Duration::from_secs(3600),
        keep: KeepRotated::Newest(2),
    };
    let mut t = Trail::with_format(None, Some(rotation), format);
    t.events(3);
    t.anchor();
    std::thread::sleep(Duration::from_millis(5));
    t.events(4);
    t.anchor();
    let h = Hasher::sha256();
    assert!(
        std::fs::read_to_string(&t.path)
            .unwrap()
            .contains(match format {
                Format::Sidekey => "\"v\":1",
                Format::Ocsf => "\"class_uid\"",
                Format::Ecs => "\"ecs\"",
            }),
        "{format:?}"
    );
    let c = t.check(&h, true);
    assert!(c.ok(), "{format:?}: {c:?}");
    assert_eq!(c.agreeing, 1);
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("anchors v1 to v1 name events older than the oldest file")),
        "{format:?}: {:?}",
        c.notes
    );
    // Without a later anchor that agrees, nothing vouches for what is left.
    t.history.versions.pop();
    let d = t.check(&h, true).disagreement.unwrap().to_string();
    assert!(
        d.contains("no anchor names an event of the trail"),
        "{format:?}: {d}"
    );
}

/// Versions pushed out by `max_versions` after the trail began fail the check; older ones are a note.
#[test]
fn anchors_removed_by_max_versions_fail_the_check_when_they_may_have_covered_the_trail() {
    let mut t = anchored_trail(None);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&t.path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let first = first["time"].as_str().unwrap().to_string();
    // Versions 1 and 2 removed: the oldest kept is v3.
    t.history.oldest_version = 3;
    t.history.versions.drain(..2);
    for v in &mut t.history.versions {
        v.version += 2;
    }
    t.history.versions[0].created_time = "2999-01-01T00:00:00.123456789Z".into();
    let c = t.check(&Hasher::sha256(), false);
    assert!(!c.ok(), "{c:?}");
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    let p = &c.problems[0];
    assert!(
        p.starts_with("anchor versions 1 to 2 were removed by the secret's max_versions and may have covered this trail"),
        "{p}"
    );
    assert!(
        p.contains(&format!("the trail's first event at {first}")),
        "{p}"
    );
    // The oldest kept written before the trail began: so were the removed ones.
    t.history.versions[0].created_time = "2000-01-01T00:00:00.5Z".into();
    let c = t.check(&Hasher::sha256(), false);
    assert!(c.ok(), "{c:?}");
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("anchor versions 1 to 2 were removed")
                && n.contains("all written before the trail's first event")),
        "{:?}",
        c.notes
    );
}

/// The head an anchor records is on disk: the file sink was fsync'd before it was read.
#[test]
fn the_head_anchored_is_made_durable_first() {
    let t = Trail::new(None, None);
    t.auditor
        .record(Record::new(EventKind::SecretRead, Outcome::Success));
    let dirty = |a: &Auditor| {
        a.inner
            .lock()
            .unwrap()
            .sinks
            .iter()
            .any(|s| matches!(s.out, crate::audit::Out::File { dirty: true, .. }))
    };
    assert!(dirty(&t.auditor), "written, not yet fsync'd");
    assert_eq!(t.auditor.file_head().unwrap().seq, 1);
    assert!(!dirty(&t.auditor), "fsync'd before the head was read");
}

#[test]
fn kv_paths_from_the_logical_or_the_api_path() {
    for p in [
        "secret/sidekey/anchors/web-1",
        "secret/data/sidekey/anchors/web-1",
    ] {
        assert_eq!(
            kv2_paths(p, "secret/"),
            KvPaths {
                data: "secret/data/sidekey/anchors/web-1".into(),
                metadata: "secret/metadata/sidekey/anchors/web-1".into(),
            }
        );
    }
    assert_eq!(kv2_paths("team/kv/a", "team/kv/").data, "team/kv/data/a");
}
