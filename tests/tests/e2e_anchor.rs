//! Issue 17, anchored chain and audit file rotation, end to end against a real OpenBao: the agent
//! anchors its chain head in a KV v2 secret set up exactly as docs/audit-events.md says (its commands run
//! with the real `bao`, its policies written as printed), while its audit file rotates with Vault's
//! `log_rotate_*` keys; `sidekey audit verify --anchors` agrees with the untouched trail and catches an
//! event rewritten with the chain recomputed, without the HMAC key and with it (acceptance 4), and events
//! removed from the end. The agent's token can add anchors but not delete, destroy or change them. An idle
//! agent adds no versions, `--once` anchors at exit, and a refused write is retried without holding
//! delivery back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::Path;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Digest;
use sidekey_tests::audit::anchored::{Anchored, anchors, docs_block};
use sidekey_tests::audit::trail::{copy_trail, events, rewrite, trail_files};
use sidekey_tests::background::wait_until;
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::setup::str_at;
use sidekey_tests::{Setup, ShmDir, Sidekey};

/// The HMAC key of the trail.
const KEY: &str = "the-audit-key";

fn sha256(canonical: &str) -> String {
    hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
}

fn hmac_sha256(canonical: &str) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    m.update(canonical.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// `sidekey audit verify DIR/audit.log --anchors -c CFG` as the auditor.
fn verify_anchored(dir: &Path, cfg: &Path, addr: &str, token: &str) -> (i32, String) {
    let r = Sidekey::new(["audit", "verify"])
        .args([&dir.join("audit.log")])
        .args(["--anchors", "-c"])
        .args([cfg])
        .env("BAO_ADDR", addr)
        .env("BAO_TOKEN", token)
        .run();
    (r.code(), r.stderr.clone())
}

#[test]
fn anchors_catch_a_rewritten_trail_with_or_without_the_key_across_rotated_files() {
    let anchored = Anchored::start();
    let (fx, trail) = (&anchored.fx, anchored.trail.as_path());
    let addr = fx.addr();
    fx.bao.write(
        "sys/policies/acl/sidekey-anchor-auditor",
        json!({ "policy": docs_block("hcl", "# policy \"sidekey-anchor-auditor\"") }),
    );
    let auditor = str_at(
        &fx.bao.write(
            "auth/token/create",
            json!({ "policies": ["sidekey-anchor-auditor"], "ttl": "1h" }),
        ),
        "/auth/client_token",
    );

    let key = fx.write_file("audit.key", KEY);
    let out = ShmDir::new();
    let hmac_key = hcl::attr_path("hmac_key_file", &key);
    let cfg = anchored.config(
        &["log_rotate_bytes = 2000\n"],
        &[&hmac_key],
        ("anchors/web-1", "2s"),
        &[
            hcl::template_config(&["static_secret_render_interval = \"1s\""]),
            hcl::template(
                r#"{{ with secret "secret/app/config" }}{{ .Data.data.username }}{{ end }}"#,
                &out.join("kv"),
                &[],
            ),
        ],
    );
    let sink = anchored.sink();
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let enough = wait_until(Duration::from_secs(10), || {
        anchors(&events(trail)).len() >= 3 && trail_files(trail).len() >= 3
    });
    agent.stop();
    let stderr = agent.stderr();
    assert!(enough, "too few anchors or rotations; stderr:\n{stderr}");

    // --- what the agent wrote: one audit.anchor per KV version, with the server's request id ---
    let evs = events(trail);
    let written = anchors(&evs);
    for (i, a) in written.iter().enumerate() {
        assert_eq!(a["anchor"]["path"], "anchors/data/web-1", "{a}");
        assert_eq!(a["anchor"]["version"], i as u64 + 1, "{a}");
        assert_eq!(a["anchor"]["sink"], "file");
        assert!(
            a["backend"]["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{a}"
        );
        assert!(
            a["identity"]["token_accessor"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let anchored = evs.iter().find(|e| e["seq"] == a["anchor"]["seq"]).unwrap();
        assert_eq!(anchored["hash"], a["anchor"]["hash"]);
    }
    assert!(
        !evs.iter()
            .any(|e| e["event"] == "audit.anchor" && e["outcome"] == "failure"),
        "{stderr}"
    );
    let meta = fx.bao.read("anchors/metadata/web-1");
    assert_eq!(meta["data"]["current_version"], written.len() as u64);
    let first = fx.bao.read("anchors/data/web-1?version=1");
    assert_eq!(first["data"]["data"]["seq"], written[0]["anchor"]["seq"]);
    assert_eq!(first["data"]["data"]["host"], evs[0]["agent"]["host"]);

    // --- the untouched trail: the set verifies, and agrees with every anchor ---
    let plain = Sidekey::new(["audit", "verify"])
        .args([&trail.join("audit.log")])
        .args(["--hmac-key-file"])
        .args([&key])
        .run();
    assert_eq!(plain.code(), 0, "{}", plain.show());
    assert!(plain.stderr.contains("rotated file"), "{}", plain.show());
    let (code, text) = verify_anchored(trail, &cfg, &addr, &auditor);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "{} anchors in anchors/data/web-1 agree",
            written.len()
        )),
        "{text}"
    );

    // --- the agent's token adds anchors, nothing else ---
    let token = std::fs::read_to_string(&sink).unwrap();
    for (method, path, body) in [
        ("DELETE", "anchors/data/web-1", None),
        (
            "POST",
            "anchors/delete/web-1",
            Some(json!({ "versions": [1] })),
        ),
        (
            "POST",
            "anchors/destroy/web-1",
            Some(json!({ "versions": [1] })),
        ),
        ("DELETE", "anchors/metadata/web-1", None),
        (
            "POST",
            "anchors/metadata/web-1",
            Some(json!({ "max_versions": 1 })),
        ),
        ("POST", "anchors/config", Some(json!({ "max_versions": 1 }))),
        ("GET", "anchors/data/web-1", None),
    ] {
        let reply = fx
            .bao
            .request(method, path, Some(token.trim()), body.as_ref());
        assert_eq!(
            reply.status, 403,
            "{method} {path} with the agent's token: {}",
            reply.body
        );
    }

    // --- acceptance 4: an event after anchor v1 rewritten, the chain recomputed ---
    let target = written[0]["seq"].as_u64().unwrap();
    let without_key = copy_trail(trail, "without-key");
    rewrite(&without_key, target, &sha256);
    let (code, text) = verify_anchored(&without_key, &cfg, &addr, &auditor);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("disagree between anchor v1 at "), "{text}");
    assert!(text.contains(" and anchor v2 at "), "{text}");
    assert!(text.contains("content does not match its hash"), "{text}");

    let with_key = copy_trail(trail, "with-key");
    rewrite(&with_key, target, &hmac_sha256);
    let plain = Sidekey::new(["audit", "verify"])
        .args([&with_key.join("audit.log")])
        .args(["--hmac-key-file"])
        .args([&key])
        .run();
    assert_eq!(
        plain.code(),
        0,
        "the recomputed chain verifies on its own: {}",
        plain.show()
    );
    let (code, text) = verify_anchored(&with_key, &cfg, &addr, &auditor);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("disagree between anchor v1 at "), "{text}");
    assert!(
        text.contains("was rewritten (or one added or removed) and the chain recomputed"),
        "{text}"
    );

    // --- events removed from the end ---
    let cut = copy_trail(trail, "cut");
    let last_anchored = written.last().unwrap()["anchor"]["seq"].as_u64().unwrap();
    for f in trail_files(&cut) {
        let kept: String = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| {
                serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64() < Some(last_anchored)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&f, kept).unwrap();
    }
    let (code, text) = verify_anchored(&cut, &cfg, &addr, &auditor);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "the trail has no event seq {last_anchored} of agent"
        )),
        "{text}"
    );

    // --- the agent's own auto-auth cannot read the anchors, and says what is needed ---
    let r = Sidekey::new(["audit", "verify"])
        .args([&trail.join("audit.log")])
        .args(["--anchors", "-c"])
        .args([&cfg])
        .env("BAO_ADDR", &addr)
        .run();
    assert_eq!(r.code(), 69, "{}", r.show());
    assert!(
        r.stderr.contains("set BAO_TOKEN to an auditor's token"),
        "{}",
        r.show()
    );
}

/// An idle agent adds no versions: after the first anchor, only new events (here a reload on SIGHUP,
/// which also reopens the audit file) are anchored, and nothing is written at shutdown when the head is
/// the last anchor's own event.
#[test]
fn an_idle_agent_anchors_only_what_is_new_and_sighup_keeps_the_file_going() {
    let anchored = Anchored::start();
    let cfg = anchored.config(
        &["log_rotate_max_files = 0\n"],
        &[],
        ("anchors/data/web-1", "1s"),
        &[],
    );
    let (fx, trail) = (&anchored.fx, anchored.trail.as_path());
    let addr = fx.addr();
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    assert!(wait_until(Duration::from_secs(10), || anchors(&events(
        trail
    ))
    .len()
        == 1));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(anchors(&events(trail)).len(), 1, "idle: no new anchor");
    agent.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(10), || anchors(&events(
        trail
    ))
    .len()
        == 2));
    std::thread::sleep(Duration::from_secs(2));
    agent.stop();
    let stderr = agent.stderr();
    let evs = events(trail);
    assert!(
        evs.iter().any(|e| e["event"] == "config.reload"),
        "{stderr}"
    );
    let written = anchors(&evs);
    assert_eq!(written.len(), 2, "{stderr}");
    // The newest anchor covers every event before its own, and nothing came after it.
    let last = evs.last().unwrap();
    assert_eq!(last["event"], "audit.anchor");
    assert_eq!(last["anchor"]["seq"], evs[evs.len() - 2]["seq"]);
    assert_eq!(
        fx.bao.read("anchors/metadata/web-1")["data"]["current_version"],
        2
    );
    let (code, text) = verify_anchored(trail, &cfg, &addr, fx.bao.root_token());
    assert_eq!(code, 0, "{text}");
}

/// `run --once` never turns the engine's loop: it anchors at exit.
#[test]
fn a_one_shot_run_anchors_what_it_did_at_exit() {
    let anchored = Anchored::start();
    let out = ShmDir::new();
    let cfg = anchored.config(
        &[],
        &[],
        ("anchors/web-1", "5m"),
        &[hcl::template(
            r#"{{ with secret "secret/app/config" }}{{ .Data.data.username }}{{ end }}"#,
            &out.join("kv"),
            &[],
        )],
    );
    let (fx, trail) = (&anchored.fx, anchored.trail.as_path());
    let r = Sidekey::new(["run", "--once", "-c"])
        .args([&cfg])
        .env("BAO_ADDR", fx.addr())
        .run();
    assert_eq!(r.code(), 0, "{}", r.show());
    let evs = events(trail);
    let written = anchors(&evs);
    assert_eq!(written.len(), 1, "{}", r.show());
    // The head at exit: the last event before the anchor's own (its mount lookup comes in between).
    let head = evs
        .iter()
        .rev()
        .find(|e| e["event"] != "audit.anchor" && e["event"] != "backend.request")
        .unwrap();
    assert_eq!(written[0]["anchor"]["seq"], head["seq"], "{}", r.show());
    assert_eq!(written[0]["anchor"]["hash"], head["hash"]);
    let (code, text) = verify_anchored(trail, &cfg, &fx.addr(), fx.bao.root_token());
    assert_eq!(code, 0, "{text}");
}

/// A refused anchor write (here the token's policy has no right on the path, written as a Vault user
/// writes a KV v2 path) is an `audit.anchor` failure and a warning, tried again at the next interval;
/// delivery goes on.
#[test]
fn a_refused_anchor_is_retried_and_never_stops_delivery() {
    let fx = Setup::new().jwt().start();
    let trail = fx.dir.path().join("audit.log");
    let out = ShmDir::new();
    let jwt = fx.app_jwt();
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            AutoAuth::jwt(&jwt.path, "app").to_string(),
            hcl::template(
                r#"{{ with secret "secret/app/config" }}{{ .Data.data.username }}{{ end }}"#,
                &out.join("kv"),
                &[],
            ),
            hcl::audit(
                &trail,
                &[&hcl::block(
                    "anchor",
                    &[
                        &hcl::attr("path", "secret/sidekey/anchors/web-1"),
                        &hcl::attr("interval", "1s"),
                    ],
                )],
            ),
        ]
        .concat(),
    );
    let mut agent = fx.agent().args(["run", "-c"]).arg(&cfg).start();
    let failures = |evs: &[Value]| {
        evs.iter()
            .filter(|e| e["event"] == "audit.anchor" && e["outcome"] == "failure")
            .count()
    };
    let retried = wait_until(Duration::from_secs(10), || {
        failures(&sidekey_tests::audit::events_so_far(&trail)) >= 2
    });
    agent.stop();
    let stderr = agent.stderr();
    assert!(retried, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(out.join("kv")).unwrap(),
        sidekey_tests::setup::KV_USERNAME
    );
    let evs = sidekey_tests::audit::events_strict(&trail);
    let failed = evs.iter().find(|e| e["event"] == "audit.anchor").unwrap();
    assert_eq!(
        failed["anchor"]["path"], "secret/data/sidekey/anchors/web-1",
        "{failed}"
    );
    assert!(
        failed["error"].as_str().unwrap().contains("403"),
        "{failed}"
    );
    assert!(failed["anchor"].get("version").is_none());
    assert!(
        stderr.contains("audit anchor not written; trying again at the next interval"),
        "{stderr}"
    );
    sidekey_tests::audit::assert_verifies(&trail);
}
