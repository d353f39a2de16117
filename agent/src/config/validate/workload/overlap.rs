//! Whether two workloads' matches may both accept one caller (`sidekey check` warns: such a caller is
//! refused at run time). Decided from the config alone, so "may": two matches are disjoint only when a key
//! both give tells them apart for every caller; otherwise (and whenever the analysis is unsure) they
//! overlap. A warning too many is a nuisance; one too few would hide a caller refused at run time.

use nix::unistd::{Group, User};

use crate::config::types::CallerMatch;
use crate::workload::cgroup::placement;
use crate::workload::select::cgroup_glob;

/// The characters that make a glob's text not literal. Escapes, classes and alternates count too: the
/// text beside them is not compared character by character, so the analysis stays on the safe side.
const META: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

/// The pairs `(i, j)`, `i < j`, of `matches` that some caller may satisfy both.
pub(crate) fn overlapping(matches: &[&CallerMatch]) -> Vec<(usize, usize)> {
    // Each name is looked up once, not once per pair: a host may have a hundred workloads.
    let resolved: Vec<Resolved<'_>> = matches
        .iter()
        .map(|m| Resolved {
            m,
            uid: m.user.as_deref().and_then(uid_of),
            gid: m.group.as_deref().and_then(gid_of),
            cgroup_unit: m.cgroup.as_deref().and_then(unit_of_glob),
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in resolved.iter().enumerate() {
        for (j, b) in resolved.iter().enumerate().skip(i + 1) {
            if !disjoint(a, b) {
                pairs.push((i, j));
            }
        }
    }
    pairs
}

/// A match with what can be derived from it: its `user` and `group` names resolved on this host
/// (`None`: not given, or unknown here), and the unit its `cgroup` glob fixes.
struct Resolved<'a> {
    m: &'a CallerMatch,
    uid: Option<u32>,
    gid: Option<u32>,
    cgroup_unit: Option<String>,
}

/// Some key given in both differs: uid, gid, user, group, unit, exe and sha256 by value; `user` against
/// `uid` (and `group` against `gid`) once the name resolves; `unit` against the unit a cgroup glob fixes;
/// cgroup globs by the paths they can match.
fn disjoint(ra: &Resolved<'_>, rb: &Resolved<'_>) -> bool {
    let (a, b) = (ra.m, rb.m);
    differ(&a.uid, &b.uid)
        || differ(&a.gid, &b.gid)
        || differ(&a.user, &b.user)
        || differ(&a.group, &b.group)
        || differ(&a.unit, &b.unit)
        || differ(&a.exe, &b.exe)
        || differ(&a.sha256, &b.sha256)
        || differ(&ra.uid, &b.uid)
        || differ(&a.uid, &rb.uid)
        || differ(&ra.gid, &b.gid)
        || differ(&a.gid, &rb.gid)
        || differ(&ra.cgroup_unit, &b.unit)
        || differ(&a.unit, &rb.cgroup_unit)
        || match (&a.cgroup, &b.cgroup) {
            (Some(x), Some(y)) => globs_disjoint(x, y),
            _ => false,
        }
}

/// Both are given and not equal.
fn differ<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// The unit every path `glob` matches is in: its last segment, when that is literal text naming a
/// systemd unit (the innermost unit of the path, as the caller's `unit` is read).
fn unit_of_glob(glob: &str) -> Option<String> {
    let last = glob.rsplit('/').next()?;
    if last.contains(META) {
        return None;
    }
    placement(last).unit
}

/// Two cgroup globs no path can match both (the leading `/` is optional in both): a literal one the
/// other does not match; literal beginnings or endings that contradict; or, segment by segment, two
/// segments at the same place that contradict.
fn globs_disjoint(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('/'), b.trim_start_matches('/'));
    misses(a, b) || misses(b, a) || texts_disjoint(a, b) || segments_disjoint(a, b)
}

/// `path` is literal (one cgroup path) and the glob `other` does not match it.
fn misses(path: &str, other: &str) -> bool {
    !path.contains(META) && cgroup_glob(other).is_ok_and(|g| !g.is_match(path))
}

/// No text can both begin with `a`'s literal beginning and `b`'s (neither is a prefix of the other), or
/// both end with their literal endings.
fn texts_disjoint(a: &str, b: &str) -> bool {
    let (pa, pb) = (literal_prefix(a), literal_prefix(b));
    let (sa, sb) = (literal_suffix(a), literal_suffix(b));
    (!pa.starts_with(pb) && !pb.starts_with(pa)) || (!sa.ends_with(sb) && !sb.ends_with(sa))
}

/// The text every match of `glob` begins with: what precedes its first wildcard.
fn literal_prefix(glob: &str) -> &str {
    glob.find(META).map_or(glob, |i| &glob[..i])
}

/// The text every match of `glob` ends with: what follows its last wildcard. After `**/` the `/` is
/// left out, since `**/` also matches no directory at all (`**/a` matches `a`).
fn literal_suffix(glob: &str) -> &str {
    match glob.rfind(META) {
        None => glob,
        Some(i) if glob[..=i].ends_with("**") => glob[i + 1..].trim_start_matches('/'),
        Some(i) => &glob[i + 1..],
    }
}

/// Globs of `*`, `?` and `**` only, compared segment by segment: `*` and `?` never cross a `/`, so
/// without `**` a glob matches paths of exactly its number of segments, and before the first `**`
/// (after the last) the segments of both globs face the same segment of the path.
fn segments_disjoint(a: &str, b: &str) -> bool {
    let (Some(sa), Some(sb)) = (segments(a), segments(b)) else {
        return false;
    };
    let deep = |s: &[&str]| s.contains(&"**");
    if !deep(&sa) && !deep(&sb) && sa.len() != sb.len() {
        return true;
    }
    let shallow = |(x, y): &(&&str, &&str)| **x != "**" && **y != "**";
    let front = sa.iter().zip(&sb).take_while(shallow);
    let back = sa.iter().rev().zip(sb.iter().rev()).take_while(shallow);
    front.chain(back).any(|(x, y)| texts_disjoint(x, y))
}

/// The segments of `glob` when it has no class, alternate or escape, and `**` only as a whole segment.
fn segments(glob: &str) -> Option<Vec<&str>> {
    if glob.contains(['[', ']', '{', '}', '\\']) {
        return None;
    }
    let segments: Vec<&str> = glob.split('/').collect();
    segments
        .iter()
        .all(|s| *s == "**" || !s.contains("**"))
        .then_some(segments)
}

/// The uid of user `name` on this host, if it has one now.
fn uid_of(name: &str) -> Option<u32> {
    User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
}

/// The gid of group `name` on this host, if it has one now.
fn gid_of(name: &str) -> Option<u32> {
    Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

#[cfg(test)]
mod tests;
