use super::*;

/// Whether the matches `a` and `b` may take one caller.
fn overlap(a: &CallerMatch, b: &CallerMatch) -> bool {
    overlapping(&[a, b]) == [(0, 1)]
}

fn cgroup(glob: &str) -> CallerMatch {
    CallerMatch {
        cgroup: Some(glob.into()),
        ..CallerMatch::default()
    }
}

fn unit(name: &str) -> CallerMatch {
    CallerMatch {
        unit: Some(name.into()),
        ..CallerMatch::default()
    }
}

#[test]
fn cgroup_globs_no_path_matches_both_are_disjoint() {
    for (a, b) in [
        ("/system.slice/app-a.service", "/system.slice/app-b.service"),
        ("/kubepods/**", "/system.slice/*.service"),
        // Different endings, whatever the beginnings.
        ("**/app-a.service", "**/app-b.service"),
        ("/system.slice/*.service", "/system.slice/*.scope"),
        // A literal path the other glob does not match.
        ("/system.slice/app-a.service", "/system.slice/*.scope"),
        ("system.slice/app-a.service", "/kubepods/**"),
        // Segment by segment: two pods' slices, their UIDs written whole.
        (
            "**/kubepods*pod5b3c1f0e_8d2a.slice/*.scope",
            "**/kubepods*pod7a1e0c2b_44d1.slice/*.scope",
        ),
        ("/kubepods/*/pod1/*", "/kubepods/*/pod2/*"),
        // Without `**`, the number of segments differs.
        ("/a/*", "/a/*/*"),
    ] {
        assert!(globs_disjoint(a, b), "{a} {b}");
        assert!(globs_disjoint(b, a), "{b} {a}");
    }
}

#[test]
fn cgroup_globs_some_path_may_match_both_overlap() {
    for (a, b) in [
        ("/system.slice/*", "/system.slice/app-a.service"),
        (
            "/kubepods/**/cri-containerd-*.scope",
            "/kubepods/besteffort/**",
        ),
        ("**", "/system.slice/app-a.service"),
        // The leading `/` is optional: the same glob.
        ("system.slice/app-a.service", "/system.slice/app-a.service"),
        // `**/` also matches no directory.
        ("**/app-a.service", "app-a.service"),
        ("/a/**/b.service", "/a/b.service"),
        // `kubepods-pod1-pod2.slice` matches both: a pod UID cut short by `*` does not tell pods apart.
        ("**/kubepods*pod1*.slice/*", "**/kubepods*pod2*.slice/*"),
        // Classes, alternates and escapes are not analysed: unsure is overlap.
        ("/system.slice/[ab].service", "/system.slice/[cd].service"),
        ("/system.slice/{a,b}.service", "/system.slice/{c,d}.service"),
    ] {
        assert!(!globs_disjoint(a, b), "{a} {b}");
        assert!(!globs_disjoint(b, a), "{b} {a}");
    }
}

#[test]
fn a_cgroup_glob_ending_in_a_unit_fixes_the_unit() {
    let victim = cgroup("/system.slice/victim.service");
    assert!(!overlap(&victim, &unit("billing.service")));
    assert!(overlap(&victim, &unit("victim.service")));
    assert!(!overlap(
        &unit("billing.service"),
        &cgroup("**/victim.service")
    ));
    // A container runtime's scope is not the unit, nor is a glob's last segment that is not literal.
    assert!(overlap(
        &cgroup("/system.slice/docker-0123abcd.scope"),
        &unit("billing.service")
    ));
    assert!(overlap(
        &cgroup("/system.slice/*.service"),
        &unit("billing.service")
    ));
    assert!(overlap(
        &cgroup("/system.slice/billing.service/**"),
        &unit("billing.service")
    ));
}
