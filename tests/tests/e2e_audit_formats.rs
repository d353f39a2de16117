//! Issue 17's formats, end to end against a real OpenBao: with `audit { file { format = "ocsf" }
//! stdout { format = "ecs" } }` every event arrives in both, each sink chained on its own;
//! `sidekey audit verify` passes for both and names an edited line; the OCSF records carry every
//! attribute OCSF 1.x requires of their class (acceptance 2); `sidekey report` reads the OCSF trail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::{Setup, ShmDir, Sidekey};

/// Lines of `text` as JSON (a last line still being written is left out).
fn parse(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `(seq, event)` of each OCSF record, or of each ECS document.
fn ocsf_events(recs: &[Value]) -> Vec<(u64, String)> {
    let at = |r: &Value| {
        let event = r["metadata"]["event_code"].as_str().unwrap_or_default();
        (r["unmapped"]["seq"].as_u64().unwrap(), event.to_string())
    };
    recs.iter().map(at).collect()
}

fn ecs_events(docs: &[Value]) -> Vec<(u64, String)> {
    let at = |d: &Value| {
        let event = d["event"]["action"].as_str().unwrap_or_default();
        (d["sidekey"]["seq"].as_u64().unwrap(), event.to_string())
    };
    docs.iter().map(at).collect()
}

/// `sidekey audit verify FILE`: its exit code and stderr.
fn verify(file: &Path) -> (i32, String) {
    let r = Sidekey::new(["audit", "verify"]).args([file]).run();
    (r.code(), r.stderr)
}

/// Acceptance 2 and the formats: the same events, in OCSF to the file and in ECS to stdout.
#[test]
fn ocsf_file_and_ecs_stdout_carry_every_event_each_with_its_chain() {
    let fx = Setup::new().jwt().start();
    let out = ShmDir::new();
    let trail = fx.dir.path().join("audit.ocsf.log");
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::jwt(&fx.app_jwt().path, "app")
            .sink(&fx.dir.path().join("token"), &[])
            .to_string(),
        hcl::template(
            r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#,
            &out.join("kv"),
            &[&hcl::command(&["true"])],
        ),
        hcl::block(
            "audit",
            &[
                &hcl::block(
                    "file",
                    &[
                        &hcl::attr_path("path", &trail),
                        &hcl::attr("format", "ocsf"),
                    ],
                ),
                &hcl::block("stdout", &[&hcl::attr("format", "ecs")]),
            ],
        ),
    ]
    .concat();
    let cfg = fx.write_file("agent.hcl", &text);
    let mut agent = Background::sidekey()
        .args(["run", "-c"])
        .arg(&cfg)
        .clean_env()
        .start();
    let has = |event: &str| {
        let recs = parse(&std::fs::read_to_string(&trail).unwrap_or_default());
        ocsf_events(&recs).iter().any(|(_, e)| e == event)
    };
    assert!(
        wait_until(Duration::from_secs(10), || has("output.command")),
        "no output.command event:\n{}",
        agent.stderr()
    );
    agent.signal(libc::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), || has("config.reload")),
        "no config.reload event:\n{}",
        agent.stderr()
    );
    agent.stop();
    let stderr = agent.stderr();
    let ocsf_text = std::fs::read_to_string(&trail).unwrap();
    let ecs_text = agent.stdout();

    // Every event in both formats, in the same order, none missing.
    let ocsf = ocsf_events(&parse(&ocsf_text));
    let ecs = ecs_events(&parse(&ecs_text));
    assert_eq!(ocsf, ecs, "OCSF file and ECS stdout differ:\n{stderr}");
    let seqs: Vec<u64> = ocsf.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    for kind in [
        "auth.login",
        "secret.read",
        "output.write",
        "output.command",
        "config.reload",
    ] {
        assert!(
            ocsf.iter().any(|(_, e)| e == kind),
            "{kind} missing: {ocsf:?}"
        );
    }
    // Never a secret value, nor the token.
    let token = std::fs::read_to_string(fx.dir.path().join("token")).unwrap();
    for (what, text) in [("OCSF", &ocsf_text), ("ECS", &ecs_text)] {
        assert!(!text.contains(&fx.sentinel), "the secret value in {what}");
        assert!(!text.contains(token.trim()), "the token in {what}");
    }

    // Acceptance 2: the OCSF records against the OCSF 1.x schemas (tests/ocsf/required.py).
    let check = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("ocsf/required.py"))
        .arg(&trail)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "OCSF records miss what OCSF requires:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let summary: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(summary["records"], ocsf.len());
    for class in [1001, 1007, 3002, 6002, 6003] {
        assert!(
            summary["classes"]
                .as_array()
                .unwrap()
                .contains(&class.into()),
            "class {class} not seen: {summary}"
        );
    }

    // Both chains verify; an edited line is named in either format.
    let ecs_file = fx.dir.path().join("audit.ecs.log");
    std::fs::write(&ecs_file, &ecs_text).unwrap();
    for (file, from, to) in [
        (&trail, "\"status_id\":1", "\"status_id\":2"),
        (
            &ecs_file,
            "\"outcome\":\"success\"",
            "\"outcome\":\"failure\"",
        ),
    ] {
        let (code, err) = verify(file);
        assert_eq!(code, 0, "{}: {err}", file.display());
        let text = std::fs::read_to_string(file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let i = lines.iter().position(|l| l.contains(from)).unwrap();
        lines[i] = lines[i].replacen(from, to, 1);
        let edited = fx.dir.path().join("edited.log");
        std::fs::write(&edited, lines.join("\n") + "\n").unwrap();
        let (code, err) = verify(&edited);
        assert_eq!(code, 1, "{}: {err}", file.display());
        let expect = format!("line {}: content does not match its hash", i + 1);
        assert!(err.contains(&expect), "{}: {err}", file.display());
    }

    // The evidence report reads the OCSF trail as it reads sidekey's own.
    let r = Sidekey::new(["report", "--format", "json", "--audit"])
        .args([&trail])
        .run();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let rep: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rep["events"], ocsf.len());
    assert!(rep["chain_gaps"].as_array().unwrap().is_empty(), "{rep:#}");
    let kv = rep["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "secret/data/app/config")
        .unwrap_or_else(|| panic!("secret/data/app/config not in the report: {rep:#}"));
    assert_eq!(kv["consumers"][0], sidekey_tests::jwt::APP_SUBJECT);
}
