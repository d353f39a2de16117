//! A rotated audit trail on disk, as a test reads and tampers with it: its files in chain order, its
//! events, a copy of it, and an intruder's rewrite with the chain recomputed.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The trail's files, rotated ones first (oldest first), the file being written last.
pub fn trail_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u128, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            let stamp = name
                .strip_prefix("audit-")?
                .strip_suffix(".log")?
                .parse()
                .ok()?;
            Some((stamp, p))
        })
        .collect();
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(dir.join("audit.log"));
    files
}

/// Every event of the trail in `dir`, oldest first.
pub fn events(dir: &Path) -> Vec<Value> {
    trail_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Copy the trail to a new directory beside it.
pub fn copy_trail(from: &Path, name: &str) -> PathBuf {
    let to = from.parent().unwrap().join(name);
    std::fs::create_dir(&to).unwrap();
    for f in trail_files(from) {
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
    to
}

/// What an intruder does: change the event with `seq` (in whichever file holds it) and recompute every
/// hash from there on with `hash`, carrying the chain across the rotated files.
pub fn rewrite(dir: &Path, seq: u64, hash: &dyn Fn(&str) -> String) {
    let mut carry: Option<(String, String)> = None;
    for f in trail_files(dir) {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let at = line.rfind(",\"hash\":\"").unwrap();
            let (old_hash, mut canonical) = (
                line[at + 9..line.len() - 2].to_string(),
                format!("{}}}", &line[..at]),
            );
            let ev: Value = serde_json::from_str(line).unwrap();
            if ev["seq"] == seq && carry.is_none() {
                canonical =
                    canonical.replacen("\"outcome\":\"success\"", "\"outcome\":\"failure\"", 1);
                assert!(canonical.contains("failure"), "nothing to change in {line}");
            } else if let Some((was, now)) = &carry {
                canonical = canonical.replace(
                    &format!("\"prev_hash\":\"{was}\""),
                    &format!("\"prev_hash\":\"{now}\""),
                );
            } else {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let new_hash = hash(&canonical);
            out.push_str(&format!(
                "{},\"hash\":\"{new_hash}\"}}\n",
                &canonical[..canonical.len() - 1]
            ));
            carry = Some((old_hash, new_hash));
        }
        std::fs::write(&f, out).unwrap();
    }
}
