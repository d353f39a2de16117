//! Comparing a trail with its anchors. The trail (rotated files oldest first, then the file being
//! written) is verified as one chain; every anchor, in version order, must name an event of the trail
//! (by `agent_id` + `seq`) whose `hash` is the anchored one, before any break of the chain. The first
//! anchor that does not is reported with the one before it: the stretch of the trail between the two is
//! where it was changed. A chain recomputed after an edit verifies on its own, with or without the HMAC
//! key; it cannot reproduce the hashes the server kept.
//!
//! Versions removed by `max_versions` are a problem when they may have covered the trail, a note when
//! they were all written before it began.
//!
//! Anchors older than the oldest file, when that file continues an earlier chain (its predecessors were
//! removed by `log_rotate_max_files`), are noted and skipped, as long as a later anchor agrees.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use super::{Anchor, AnchorHistory, VersionState};
use crate::audit::chain::{self, GENESIS, Hasher, InFile, Verified};
use crate::audit::format;

/// Where an event is in a set of files: the file's index and its 1-based line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    file: usize,
    line: usize,
}

/// An anchor as a finding names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRef {
    /// The KV version.
    pub version: u64,
    /// When the server wrote it.
    pub created_time: String,
    /// The anchored event's `seq`.
    pub seq: u64,
    /// The anchored event's `agent.id`.
    pub agent_id: String,
}

impl fmt::Display for AnchorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "anchor v{} at {} (seq {} of agent {})",
            self.version, self.created_time, self.seq, self.agent_id
        )
    }
}

/// The first stretch of the trail, between two anchors, in which the trail and the anchors disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The last anchor that agrees (none: the very first one checked does not).
    pub after: Option<AnchorRef>,
    /// The first anchor that does not (none: the chain breaks after the last anchor).
    pub at: Option<AnchorRef>,
    /// What is wrong, naming the file and line.
    pub what: String,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.after, &self.at) {
            (Some(a), Some(b)) => write!(f, "between {a} and {b}: {}", self.what),
            (None, Some(b)) => write!(f, "up to {b}, the first anchor: {}", self.what),
            (Some(a), None) => write!(f, "after {a}, not anchored yet: {}", self.what),
            (None, None) => f.write_str(&self.what),
        }
    }
}

/// What [`check`] found.
#[derive(Debug)]
pub struct Checked {
    /// The chain over the files: intact, or its first break.
    pub chain: Result<Verified, InFile>,
    /// How many anchors agree with the trail.
    pub agreeing: usize,
    /// The newest anchor that agrees, and where its event is (`FILE line N`).
    pub last_good: Option<(AnchorRef, String)>,
    /// The first interval in which trail and anchors disagree.
    pub disagreement: Option<Disagreement>,
    /// Versions of the anchor secret that were deleted or destroyed on the server, or removed by
    /// `max_versions` after the trail began.
    pub problems: Vec<String>,
    /// What was not checked, and why.
    pub notes: Vec<String>,
}

impl Checked {
    /// Whether the trail and the anchors agree (and no anchor was deleted).
    pub fn ok(&self) -> bool {
        self.disagreement.is_none() && self.problems.is_empty()
    }
}

/// What the trail says about the events anchors name.
#[derive(Default)]
struct Seen {
    /// Per anchor (same order): where its event is, and that event's hash.
    found: Vec<Option<(Place, String)>>,
    /// The first event's time, and whether it continues an earlier chain.
    first: Option<(String, bool)>,
    /// The last event verified: where, and its `seq` and agent.
    last: Option<(Place, u64, String)>,
}

/// Compare the trail in `files` (verified with `hasher`; see [`chain::verify_files`] for
/// `allow_continuation`) with the anchors of `history`. See the module doc.
pub fn check(
    history: &AnchorHistory,
    files: &[PathBuf],
    hasher: &Hasher,
    allow_continuation: bool,
) -> Checked {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut anchors: Vec<(AnchorRef, &Anchor)> = Vec::new();
    for v in &history.versions {
        match &v.state {
            VersionState::Anchor(a) => anchors.push((
                AnchorRef {
                    version: v.version,
                    created_time: v.created_time.clone(),
                    seq: a.seq,
                    agent_id: a.agent_id.clone(),
                },
                a,
            )),
            VersionState::Deleted(t) => problems.push(format!(
                "anchor v{} was deleted on the server{}: the policy of the agent's token must not allow delete",
                v.version,
                if t.is_empty() { String::new() } else { format!(" at {t}") }
            )),
            VersionState::Destroyed => problems.push(format!(
                "anchor v{} was destroyed on the server: the policy of the agent's token must not allow destroy",
                v.version
            )),
            VersionState::Foreign => notes.push(format!(
                "version v{} of the anchor secret is not an anchor; skipped",
                v.version
            )),
        }
    }
    let (chain, seen) = read_trail(&anchors, files, hasher, allow_continuation);
    match pruned(history, seen.first.as_ref().map(|(t, _)| t.as_str())) {
        Some(Ok(note)) => notes.push(note),
        Some(Err(problem)) => problems.push(problem),
        None => {}
    }
    let (agreeing, last_good, disagreement) = walk(&anchors, &seen, &chain, files, &mut notes);
    let last_good = last_good.map(|i| {
        let place = seen.found[i].as_ref().map(|(p, _)| name(files, *p));
        (anchors[i].0.clone(), place.unwrap_or_default())
    });
    Checked {
        chain,
        agreeing,
        last_good,
        disagreement,
        problems,
        notes,
    }
}

/// Versions removed by the secret's `max_versions`, as a note (`Ok`) when they were all written before
/// the trail's first event (`first_time`), else as a problem (`Err`): they may have covered this trail,
/// and a token that can add versions can push anchors out that way. The server keeps no time of a
/// removed version; each was written before the oldest version kept, so that one's `created_time` is
/// the bound.
fn pruned(history: &AnchorHistory, first_time: Option<&str>) -> Option<Result<String, String>> {
    let removed = history.oldest_version.checked_sub(1).filter(|n| *n > 0)?;
    let kept = history.versions.iter().min_by_key(|v| v.version);
    let before_trail = match (kept, first_time.and_then(rfc3339)) {
        (None, _) | (_, None) => false,
        (Some(k), Some(first)) => rfc3339(&k.created_time).is_some_and(|t| t <= first),
    };
    Some(if before_trail {
        Ok(format!(
            "anchor versions 1 to {removed} were removed by the secret's max_versions, all written before the trail's first event: the trail they covered is not checked"
        ))
    } else {
        let since = kept.map_or_else(
            || "no version is kept".to_string(),
            |k| {
                format!(
                    "the oldest kept, v{}, was written at {}",
                    k.version, k.created_time
                )
            },
        );
        Err(format!(
            "anchor versions 1 to {removed} were removed by the secret's max_versions and may have covered this trail ({since}, the trail's first event at {}): anchors can be pushed out this way; give the anchor path a larger max_versions (see \"Anchors\" in docs/audit-events.md)",
            first_time.unwrap_or("(none)")
        ))
    })
}

/// An RFC 3339 time (the server's `created_time` has nanoseconds, an event's `time` milliseconds).
fn rfc3339(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
}

/// Verify the trail, noting where the anchored events are.
fn read_trail(
    anchors: &[(AnchorRef, &Anchor)],
    files: &[PathBuf],
    hasher: &Hasher,
    allow_continuation: bool,
) -> (Result<Verified, InFile>, Seen) {
    let mut wanted: HashMap<(String, u64), Vec<usize>> = HashMap::new();
    for (i, (_, a)) in anchors.iter().enumerate() {
        wanted
            .entry((a.agent_id.clone(), a.seq))
            .or_default()
            .push(i);
    }
    let mut seen = Seen {
        found: vec![None; anchors.len()],
        ..Seen::default()
    };
    let chain = chain::verify_files(
        files,
        hasher,
        allow_continuation,
        &mut |file, line, text| {
            let Ok(ev) = serde_json::from_str::<Value>(text) else {
                return;
            };
            let Some(c) = format::chain_of(&ev) else {
                return;
            };
            let (agent, seq) = (c.agent_id.to_string(), c.seq);
            let place = Place { file, line };
            if seen.first.is_none() {
                let continues = c.prev_hash != GENESIS;
                // OCSF keeps `time` as epoch milliseconds, ECS as `@timestamp`: read it as sidekey's.
                let time = format::to_sidekey(ev)
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                seen.first = Some((time, continues));
            }
            let hash = chain::split_line(text).map(|(_, h)| h.to_string());
            if let (Some(idx), Some(hash)) = (wanted.get(&(agent.clone(), seq)), hash) {
                for i in idx {
                    seen.found[*i] = Some((place, hash.clone()));
                }
            }
            seen.last = Some((place, seq, agent));
        },
    );
    (chain, seen)
}

/// Go through the anchors in version order until one disagrees: how many agree, the newest that does,
/// and the disagreement.
fn walk(
    anchors: &[(AnchorRef, &Anchor)],
    seen: &Seen,
    chain: &Result<Verified, InFile>,
    files: &[PathBuf],
    notes: &mut Vec<String>,
) -> (usize, Option<usize>, Option<Disagreement>) {
    let broken = chain.as_ref().err();
    let (first_time, continues) = seen
        .first
        .clone()
        .map_or((String::new(), false), |(t, c)| (t, c));
    let mut agreeing = 0;
    let mut last_good: Option<usize> = None;
    let mut before_trail: Vec<usize> = Vec::new();
    let after = |last_good: Option<usize>| last_good.map(|i| anchors[i].0.clone());
    for (i, (r, a)) in anchors.iter().enumerate() {
        let what = match &seen.found[i] {
            Some((_, hash)) if *hash == a.hash => {
                if let (Some(f), Some(l)) = (before_trail.first(), before_trail.last()) {
                    notes.push(format!(
                        "anchors v{} to v{} name events older than the oldest file (rotated files removed by log_rotate_max_files); not checked",
                        anchors[*f].0.version, anchors[*l].0.version
                    ));
                    before_trail.clear();
                }
                agreeing += 1;
                last_good = Some(i);
                continue;
            }
            Some((place, hash)) => {
                let from = last_good
                    .and_then(|g| seen.found[g].as_ref())
                    .map(|(p, _)| format!("after {}", name(files, *p)))
                    .unwrap_or_else(|| "at or before it".into());
                format!(
                    "{} (seq {}) has hash {}, the anchor {}: an event {from} was rewritten (or one added or removed) and the chain recomputed",
                    name(files, *place),
                    a.seq,
                    short(hash),
                    short(&a.hash)
                )
            }
            None if last_good.is_none() && continues && a.time < first_time => {
                before_trail.push(i);
                continue;
            }
            None => match broken {
                Some(e) => e.to_string(),
                None => missing(a, seen, files),
            },
        };
        return (
            agreeing,
            last_good,
            Some(Disagreement {
                after: after(last_good),
                at: Some(r.clone()),
                what,
            }),
        );
    }
    if let Some(&first) = before_trail.first() {
        let what = format!(
            "no anchor names an event of the trail: the oldest file starts at {}, after every anchor",
            first_time
        );
        return (
            agreeing,
            last_good,
            Some(Disagreement {
                after: None,
                at: Some(anchors[first].0.clone()),
                what,
            }),
        );
    }
    let disagreement = broken.map(|e| Disagreement {
        after: after(last_good),
        at: None,
        what: e.to_string(),
    });
    (agreeing, last_good, disagreement)
}

/// Why an anchored event is not in an intact trail.
fn missing(a: &Anchor, seen: &Seen, files: &[PathBuf]) -> String {
    let ends = match &seen.last {
        Some((p, seq, agent)) => format!(
            "it ends at {} (seq {seq} of agent {agent})",
            name(files, *p)
        ),
        None => "it has no events".into(),
    };
    format!(
        "the trail has no event seq {} of agent {} (host {}); {ends}: events were removed from its end, or the anchor path is shared with another host",
        a.seq, a.agent_id, a.host
    )
}

/// `FILE line N`.
fn name(files: &[PathBuf], p: Place) -> String {
    let file = files
        .get(p.file)
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    format!("{file} line {}", p.line)
}

/// The first 16 hex digits of a hash, enough to tell two apart in a message.
fn short(hash: &str) -> String {
    format!("{}…", hash.get(..16).unwrap_or(hash))
}
