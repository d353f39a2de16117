//! Whether two workloads' matches may both accept one caller (`sidekey check` warns: such a caller is
//! refused at run time). Decided from the config alone, so "may": two matches are disjoint only when a key
//! both give tells them apart for every caller; otherwise they overlap.

use nix::unistd::{Group, User};

use crate::config::types::CallerMatch;

/// The pairs `(i, j)`, `i < j`, of `matches` that some caller may satisfy both.
pub(crate) fn overlapping(matches: &[&CallerMatch]) -> Vec<(usize, usize)> {
    // Each name is looked up once, not once per pair: a host may have a hundred workloads.
    let resolved: Vec<Resolved<'_>> = matches
        .iter()
        .map(|m| Resolved {
            m,
            uid: m.user.as_deref().and_then(uid_of),
            gid: m.group.as_deref().and_then(gid_of),
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

/// A match with its `user` and `group` names resolved on this host (`None`: not given, or unknown here).
struct Resolved<'a> {
    m: &'a CallerMatch,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Some key given in both differs: uid, gid, user, group, unit, exe and sha256 by value; `user` against
/// `uid` (and `group` against `gid`) once the name resolves; cgroup globs by their literal prefixes.
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
        || match (&a.cgroup, &b.cgroup) {
            (Some(x), Some(y)) => globs_disjoint(x, y),
            _ => false,
        }
}

/// Both are given and not equal.
fn differ<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// Two cgroup globs no path can match both: their literal prefixes (before the first wildcard) are not
/// a prefix of one another.
fn globs_disjoint(a: &str, b: &str) -> bool {
    let (a, b) = (literal_prefix(a), literal_prefix(b));
    !a.starts_with(b) && !b.starts_with(a)
}

/// The part of a glob before its first wildcard (`*`, `?` or a `[` class).
fn literal_prefix(glob: &str) -> &str {
    glob.find(['*', '?', '[']).map_or(glob, |i| &glob[..i])
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
mod tests {
    use super::*;

    #[test]
    fn cgroup_globs_are_disjoint_when_no_literal_prefix_contains_the_other() {
        let disjoint = |a, b| globs_disjoint(a, b);
        assert!(disjoint(
            "/system.slice/app-a.service",
            "/system.slice/app-b.service"
        ));
        assert!(disjoint("/kubepods/**", "/system.slice/*.service"));
        assert!(!disjoint("/system.slice/*", "/system.slice/app-a.service"));
        assert!(!disjoint(
            "/kubepods/**/cri-containerd-*.scope",
            "/kubepods/besteffort/**"
        ));
        assert!(!disjoint("**", "/system.slice/app-a.service"));
    }
}
