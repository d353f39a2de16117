//! The scenario the audit sink tests drive a receiver through: an agent reading a secret every second,
//! the receiver down across an agent restart, then every event of the trail checked as received once
//! (or duplicated byte for byte) and each agent run's chain verified.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::audit::{assert_verifies, events_strict};
use crate::background::{Background, wait_until};
use crate::{Fixture, ShmDir, hcl};

/// A config reading a KV v2 secret every second (a `secret.read` event each time), the trail in
/// `audit.log`, and `sink` (a block inside `audit { }`).
pub fn config(fx: &Fixture, out: &ShmDir, sink: &str) -> PathBuf {
    let text = [
        hcl::vault(&fx.addr()),
        hcl::template_config(&["static_secret_render_interval = \"1s\""]),
        hcl::template(
            r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            &out.join("kv"),
            &[],
        ),
        hcl::audit(&fx.dir.path().join("audit.log"), &[sink]),
    ]
    .concat();
    fx.write_file("agent.hcl", &text)
}

/// `sidekey run -c CFG` with the root token and `env`.
pub fn agent(fx: &Fixture, cfg: &Path, env: &[(&str, &str)]) -> Background {
    Background::sidekey()
        .args(["run", "-c"])
        .arg(cfg)
        .clean_env()
        .env("BAO_TOKEN", fx.bao.root_token())
        .env("SIDEKEY_LOG", "debug")
        .envs(env.iter().copied())
        .start()
}

/// The trail's events by (`agent.id`, `seq`), each with its line as written.
pub fn trail(path: &Path) -> BTreeMap<(String, u64), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            let id = v.pointer("/agent/id")?.as_str()?.to_string();
            Some(((id, v["seq"].as_u64()?), l.to_string()))
        })
        .collect()
}

/// A receiver the scenario drives: up or down, and what it has so far as (`agent.id`, `seq`, event
/// line) per message.
pub trait Receiver {
    /// Start (`true`) or stop (`false`) it: stopped, it is an outage.
    fn up(&mut self, up: bool);
    /// What it has received so far: (`agent.id`, `seq`, event line) per message.
    fn received(&self) -> Vec<(String, u64, String)>;
}

/// The receiver is up while the agent starts, goes down, the agent is restarted while it is down,
/// then the receiver comes back: returns the trail and both agents' stderr once every event of the
/// trail arrived (or the deadline passed).
pub fn outage_and_restart(
    fx: &Fixture,
    cfg: &Path,
    env: &[(&str, &str)],
    rx: &mut dyn Receiver,
) -> (PathBuf, String) {
    let trail_path = fx.dir.path().join("audit.log");
    rx.up(true);
    let mut first = agent(fx, cfg, env);
    assert!(
        wait_until(Duration::from_secs(10), || rx.received().len() >= 3),
        "no events arrived while the receiver was up ({} received, trail: {:?}):\n{}",
        rx.received().len(),
        trail(&trail_path).keys().collect::<Vec<_>>(),
        first.stderr()
    );
    rx.up(false);
    std::thread::sleep(Duration::from_secs(2));
    first.stop();
    // The scenario is only worth its name if the first run left events undelivered.
    let got: BTreeSet<(String, u64)> = rx
        .received()
        .into_iter()
        .map(|(id, seq, _)| (id, seq))
        .collect();
    let left = trail(&trail_path)
        .into_keys()
        .filter(|k| !got.contains(k))
        .count();
    assert!(
        left > 0,
        "the first run delivered everything before the restart"
    );
    let mut second = agent(fx, cfg, env);
    std::thread::sleep(Duration::from_secs(2));
    rx.up(true);
    std::thread::sleep(Duration::from_secs(1));
    second.stop();
    let logs = format!(
        "first run:\n{}\nsecond run:\n{}",
        first.stderr(),
        second.stderr()
    );
    let all_arrived = || {
        let got: BTreeSet<(String, u64)> = rx
            .received()
            .into_iter()
            .map(|(id, seq, _)| (id, seq))
            .collect();
        trail(&trail_path).keys().all(|k| got.contains(k))
    };
    // What the second run left spooled goes out on a third start.
    if !wait_until(Duration::from_secs(3), all_arrived) {
        let mut third = agent(fx, cfg, env);
        let _ = wait_until(Duration::from_secs(10), all_arrived);
        third.stop();
    }
    (trail_path, logs)
}

/// No event of the trail is missing and none is extra; a duplicate is the same bytes again; and each
/// agent run's lines, as received in the sink's format, verify as one hash chain.
pub fn assert_every_event_once_or_duplicated(
    fx: &Fixture,
    trail_path: &Path,
    rx: &dyn Receiver,
    logs: &str,
) {
    let trail = trail(trail_path);
    let runs: BTreeSet<&str> = trail.keys().map(|(id, _)| id.as_str()).collect();
    assert!(
        runs.len() >= 2,
        "the trail should hold two agent runs: {runs:?}"
    );
    let received = rx.received();
    let mut seen: BTreeMap<(String, u64), &str> = BTreeMap::new();
    for (id, seq, line) in &received {
        let key = (id.clone(), *seq);
        assert!(
            trail.contains_key(&key),
            "received an event the trail does not have: {id} {seq}: {line}"
        );
        if let Some(first) = seen.insert(key, line) {
            assert_eq!(
                first, line,
                "a duplicate of ({id}, {seq}) is not the same bytes"
            );
        }
    }
    let missing: Vec<_> = trail.keys().filter(|k| !seen.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "events lost: {missing:?} ({} received, {} in the trail)\n{logs}",
        received.len(),
        trail.len()
    );
    for run in runs {
        let lines: Vec<&str> = seen
            .iter()
            .filter(|((id, _), _)| id == run)
            .map(|(_, l)| *l)
            .collect();
        let received_chain =
            fx.write_file(&format!("received-{run}.log"), &(lines.join("\n") + "\n"));
        assert_verifies(&received_chain);
    }
    assert_verifies(trail_path);
    let events = events_strict(trail_path);
    assert!(events.iter().any(|e| e["event"] == "secret.read"));
}

/// The trail's event (sidekey's schema) for (`agent.id`, `seq`).
pub fn event_of(trail_path: &Path, id: &str, seq: u64) -> Value {
    let line = trail(trail_path)
        .remove(&(id.to_string(), seq))
        .unwrap_or_else(|| panic!("({id}, {seq}) is not in the trail"));
    serde_json::from_str(&line).unwrap()
}
