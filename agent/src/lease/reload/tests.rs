//! The reload's tests: workloads published and named, and a workload that cannot be served refused.

use super::*;
use crate::config::CallerMatch;

fn workload(name: &str, uid: u32, line: usize) -> WorkloadConfig {
    let origin = crate::config::Origin {
        file: "/etc/sidekey/agent.hcl".into(),
        line,
    };
    WorkloadConfig {
        name: name.into(),
        matcher: CallerMatch {
            uid: Some(uid),
            origin: origin.clone(),
            ..CallerMatch::default()
        },
        policies: vec![format!("p{name}")],
        token_role: None,
        auto_auth: None,
        credentials: Vec::new(),
        origin,
    }
}

fn engine(workloads: Vec<WorkloadConfig>) -> Engine {
    let cfg = Config {
        workloads,
        ..Config::default()
    };
    let engine = Engine::new(
        Arc::new(cfg.clone()),
        Client::plain("http://127.0.0.1:1"),
        Vec::new(),
        Vec::new(),
        crate::audit::Auditor::disabled(),
        Arc::new(crate::runtime::ProcessEnv),
        false,
    );
    engine.publish_workloads(Workloads::compile(&cfg.workloads).unwrap());
    engine
}

fn applied(r: Reloaded) -> ReloadMeta {
    match r {
        Reloaded::Applied(meta) => Some(meta),
        _ => None,
    }
    .expect("applied")
}

#[test]
fn a_reload_publishes_the_workloads_and_names_what_changed() {
    let mut e = engine(vec![workload("a", 1001, 1), workload("b", 1002, 5)]);
    let published = e.workloads();
    // `b` moved down the file (not a change), `a` matches another uid, `c` is new.
    let new = vec![
        workload("a", 2001, 1),
        workload("b", 1002, 9),
        workload("c", 1003, 20),
    ];
    let cfg = Config {
        workloads: new,
        ..Config::default()
    };
    let meta = applied(e.reload(Ok(cfg)));
    assert_eq!(meta.added, ["workload \"c\""]);
    assert_eq!(meta.changed, ["workload \"a\""]);
    assert!(meta.removed.is_empty());
    let now = published.borrow().clone();
    let caller = |uid| crate::workload::Caller {
        uid,
        ..Default::default()
    };
    assert_eq!(now.selector.select(&caller(2001)).unwrap().name, "a");
    assert!(now.selector.select(&caller(1001)).is_err());
    assert_eq!(now.selector.select(&caller(1003)).unwrap().name, "c");

    let meta = applied(e.reload(Ok(Config::default())));
    assert_eq!(
        meta.removed,
        ["workload \"a\"", "workload \"b\"", "workload \"c\""]
    );
    assert!(published.borrow().selector.select(&caller(2001)).is_err());
}

#[test]
fn a_workload_that_cannot_be_served_rejects_the_reload() {
    let mut e = engine(vec![workload("a", 1001, 1)]);
    let published = e.workloads();
    let mut bad = workload("a", 1001, 1);
    bad.matcher.cgroup = Some("/system.slice/[unclosed".into());
    let cfg = Config {
        workloads: vec![bad],
        ..Config::default()
    };
    let why = match e.reload(Ok(cfg)) {
        Reloaded::Rejected(why) => Some(why),
        _ => None,
    }
    .expect("rejected");
    assert!(why.starts_with("/etc/sidekey/agent.hcl:1: "), "{why}");
    // The running workloads are kept.
    let caller = crate::workload::Caller {
        uid: 1001,
        ..Default::default()
    };
    assert_eq!(
        published.borrow().selector.select(&caller).unwrap().name,
        "a"
    );
    assert_eq!(e.cfg.workloads[0].matcher.cgroup, None);
}
