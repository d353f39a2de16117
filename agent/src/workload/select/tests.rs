use super::*;
use crate::config::Origin;

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed";

fn workload(name: &str, line: usize, matcher: CallerMatch) -> WorkloadConfig {
    WorkloadConfig {
        name: name.into(),
        matcher: CallerMatch {
            origin: Origin {
                file: "/etc/sidekey/agent.hcl".into(),
                line,
            },
            ..matcher
        },
        policies: vec![format!("{name}-read")],
        token_role: None,
        auto_auth: None,
        credentials: Vec::new(),
        origin: Origin::default(),
    }
}

/// A caller in `app-a.service`, running as root (uid 0 and its names exist on every machine).
fn caller() -> Caller {
    Caller {
        pid: 4242,
        uid: 0,
        gid: 0,
        exe: Some("/usr/bin/app-a".into()),
        sha256: Some(SHA.into()),
        cgroup: Some("/system.slice/app-a.service".into()),
        unit: Some("app-a.service".into()),
        ..Caller::default()
    }
}

fn selector(workloads: &[WorkloadConfig]) -> Selector {
    Selector::new(workloads).unwrap()
}

/// The name of the workload `c` is, or the refusal's message.
fn chosen(s: &Selector, c: &Caller) -> Result<String, String> {
    s.select(c)
        .map(|w| w.name.clone())
        .map_err(|r| r.to_string())
}

fn glob(pattern: &str) -> CallerMatch {
    only("cgroup", pattern)
}

/// A `match` with the one key `key` set to `value`.
fn only(key: &str, value: &str) -> CallerMatch {
    let mut m = CallerMatch::default();
    match key {
        "uid" => m.uid = Some(value.parse().unwrap()),
        "gid" => m.gid = Some(value.parse().unwrap()),
        "user" => m.user = Some(value.into()),
        "group" => m.group = Some(value.into()),
        "unit" => m.unit = Some(value.into()),
        "cgroup" => m.cgroup = Some(value.into()),
        "exe" => m.exe = Some(value.into()),
        "sha256" => m.sha256 = Some(value.into()),
        _ => unreachable!("{key}"),
    }
    m
}

#[test]
fn each_key_alone_selects_and_a_wrong_value_refuses() {
    let upper = SHA.to_uppercase();
    let other = "00".repeat(32);
    let cases = [
        ("uid", "0", "1000"),
        ("gid", "0", "1000"),
        ("user", "root", "skt-nobody-here"),
        ("group", "root", "skt-nobody-here"),
        ("unit", "app-a.service", "app-b.service"),
        (
            "cgroup",
            "/system.slice/app-a.service",
            "/system.slice/app-b.service",
        ),
        ("exe", "/usr/bin/app-a", "/usr/bin/app-b"),
        ("sha256", upper.as_str(), other.as_str()),
    ];
    for (key, right, wrong) in cases {
        let s = selector(&[workload("a", 3, only(key, right))]);
        assert_eq!(chosen(&s, &caller()), Ok("a".into()), "{key} = {right}");
        let s = selector(&[workload("a", 3, only(key, wrong))]);
        assert!(chosen(&s, &caller()).is_err(), "{key} = {wrong}");
    }
}

#[test]
fn every_key_of_a_match_must_hold() {
    let both = CallerMatch {
        uid: Some(0),
        unit: Some("app-a.service".into()),
        ..CallerMatch::default()
    };
    let s = selector(&[workload("a", 3, both)]);
    assert_eq!(chosen(&s, &caller()), Ok("a".into()));
    let elsewhere = Caller {
        unit: Some("app-b.service".into()),
        ..caller()
    };
    assert!(chosen(&s, &elsewhere).is_err());
}

#[test]
fn a_caller_without_the_fact_does_not_match_on_it() {
    let bare = Caller {
        pid: 7,
        uid: 0,
        gid: 0,
        ..Caller::default()
    };
    for m in [
        only("unit", "app-a.service"),
        glob("**"),
        only("exe", "/usr/bin/app-a"),
        only("sha256", SHA),
    ] {
        let s = selector(&[workload("a", 3, m.clone())]);
        assert!(chosen(&s, &bare).is_err(), "{m:?}");
    }
}

#[test]
fn cgroup_globs_stay_in_a_segment_unless_double_starred() {
    let pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_ab.slice";
    let scope = format!("/{pod}/cri-containerd-{}.scope", "e".repeat(64));
    let at = |path: &str| Caller {
        cgroup: Some(path.into()),
        ..caller()
    };
    let cases = [
        (
            "/system.slice/*.service",
            "/system.slice/app-a.service",
            true,
        ),
        (
            "/system.slice/*",
            "/system.slice/app-a.service/worker",
            false,
        ),
        (
            "/system.slice/**",
            "/system.slice/app-a.service/worker",
            true,
        ),
        (
            "/*/app-a.service",
            "/user.slice/user-1000.slice/app-a.service",
            false,
        ),
        (
            "**/app-a.service",
            "/user.slice/user-1000.slice/app-a.service",
            true,
        ),
        ("**/cri-containerd-*.scope", scope.as_str(), true),
        (
            "/kubepods.slice/**/*-pod1234_ab.slice/*",
            scope.as_str(),
            true,
        ),
        (
            "/kubepods.slice/*/cri-containerd-*.scope",
            scope.as_str(),
            false,
        ),
        // The leading `/` is optional on either side.
        (
            "system.slice/app-a.service",
            "/system.slice/app-a.service",
            true,
        ),
        (
            "/system.slice/app-a.service",
            "system.slice/app-a.service",
            true,
        ),
        (
            "/system.slice/app-[ab].service",
            "/system.slice/app-b.service",
            true,
        ),
        (
            "/system.slice/app-{a,c}.service",
            "/system.slice/app-b.service",
            false,
        ),
    ];
    for (pattern, path, expected) in cases {
        let s = selector(&[workload("a", 3, glob(pattern))]);
        assert_eq!(
            chosen(&s, &at(path)).is_ok(),
            expected,
            "{pattern} over {path}"
        );
    }
}

#[test]
fn an_invalid_glob_names_the_match_block() {
    let err = Selector::new(&[workload("app-a", 12, glob("/system.slice/[app"))]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("/etc/sidekey/agent.hcl:12: workload \"app-a\": match.cgroup"),
        "{msg}"
    );
    assert!(
        msg.contains("/system.slice/[app") || msg.contains("system.slice/[app"),
        "{msg}"
    );
}

#[test]
fn no_match_names_the_caller() {
    let s = selector(&[workload("b", 3, glob("/system.slice/app-b.service"))]);
    let msg = chosen(&s, &caller()).unwrap_err();
    assert_eq!(
        msg,
        format!(
            "no workload matches the caller (pid 4242, uid 0, gid 0, unit app-a.service, cgroup \
             /system.slice/app-a.service, exe /usr/bin/app-a, sha256 {SHA}); add a workload whose \
             `match` selects it"
        )
    );
}

#[test]
fn several_matches_are_refused_naming_every_workload() {
    let s = selector(&[
        workload("by-uid", 3, only("uid", "0")),
        workload("other", 9, only("uid", "1000")),
        workload("by-unit", 15, only("unit", "app-a.service")),
        workload("by-glob", 21, glob("/system.slice/**")),
    ]);
    let refusal = s.select(&caller()).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Several {
            caller: "pid 4242, uid 0, gid 0, unit app-a.service, cgroup /system.slice/app-a.service, exe \
                     /usr/bin/app-a, sha256 "
                .to_string()
                + SHA,
            workloads: vec!["by-uid".into(), "by-unit".into(), "by-glob".into()],
        }
    );
    assert!(
        refusal
            .to_string()
            .contains("matches several workloads (by-uid, by-unit, by-glob)")
    );
}

#[test]
fn the_one_matching_workload_is_chosen_among_many() {
    let s = selector(&[
        workload("b", 3, only("unit", "app-b.service")),
        workload("a", 9, only("unit", "app-a.service")),
        workload("pods", 15, glob("/kubepods.slice/**")),
    ]);
    assert_eq!(chosen(&s, &caller()), Ok("a".into()));
    let w = s.select(&caller()).unwrap();
    assert_eq!(w.policies, ["a-read"]);
    assert_eq!(w.matcher.origin.line, 9);
}

#[test]
fn user_and_group_names_are_looked_up_per_caller() {
    // uid 0 is root everywhere; an unknown uid has no name and matches no `user`.
    let s = selector(&[workload(
        "root",
        3,
        CallerMatch {
            user: Some("root".into()),
            group: Some("root".into()),
            ..CallerMatch::default()
        },
    )]);
    assert_eq!(chosen(&s, &caller()), Ok("root".into()));
    let unknown = Caller {
        uid: 4_000_000_000,
        gid: 4_000_000_000,
        ..caller()
    };
    assert!(chosen(&s, &unknown).is_err());
}

#[test]
fn a_caller_is_hashed_only_when_a_workload_matching_on_sha256_could_take_it() {
    let unhashed = Caller {
        sha256: None,
        ..caller()
    };
    let by_unit = workload("a", 3, only("unit", "app-a.service"));
    let by_hash = workload("b", 9, only("sha256", SHA));
    assert!(!selector(std::slice::from_ref(&by_unit)).needs_sha256_for(&unhashed));
    assert!(selector(&[by_unit.clone(), by_hash]).needs_sha256_for(&unhashed));
    assert!(!selector(&[]).needs_sha256_for(&unhashed));
    // A sha256 workload whose other keys rule the caller out: no hash.
    let mut elsewhere = only("sha256", SHA);
    elsewhere.unit = Some("app-b.service".into());
    let s = selector(&[by_unit.clone(), workload("c", 15, elsewhere)]);
    assert!(!s.needs_sha256_for(&unhashed));
    let mut here = only("sha256", SHA);
    here.unit = Some("app-a.service".into());
    assert!(selector(&[by_unit, workload("d", 21, here)]).needs_sha256_for(&unhashed));
}

#[test]
fn exe_paths_compare_whole() {
    let s = selector(&[workload("a", 3, only("exe", "/usr/bin/app"))]);
    assert!(chosen(&s, &caller()).is_err());
}
