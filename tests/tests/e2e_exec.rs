//! End to end: `sidekey exec` against a real OpenBao, with small child programs that log the signals they
//! get and the environment they see to a file (issue 4's acceptance list).

// Test helpers: a failed expectation is a failed test, and wall-clock time is what a user sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use sidekey_tests::background::Background;
use sidekey_tests::hcl;
use sidekey_tests::{Fixture, Setup, Sidekey, sidekey_bin};

/// The KV v2 secret every test reads; its `password` is the fixture's sentinel.
const KV_PATH: &str = "secret/data/app/config";
/// The secret's `password`.
const PASSWORD: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;
/// The secret's `username`.
const USERNAME: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.username }}{{ end }}"#;

/// `sidekey exec -c CFG -- CHILD` in the background, with only `envs` (and `PATH`, `HOME`) set.
fn exec_child(cfg: &Path, child: &Path, envs: &[(&str, String)]) -> Background {
    Background::sidekey()
        .args(["exec", "-c"])
        .arg(cfg)
        .arg("--")
        .arg(child)
        .clean_env()
        .envs(envs.iter().cloned())
        .start()
}

/// Write an executable script into the fixture's directory.
fn script(fx: &Fixture, name: &str, text: &str) -> PathBuf {
    let p = fx.write_file(name, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Poll `path` until `pred` holds on its content; the content. Panics after `timeout`.
fn wait_for(path: &Path, timeout: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let s = read(path);
        if pred(&s) {
            return s;
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: not seen in {timeout:?}; {} has:\n{s}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// sidekey's environment for talking to the fixture without a config file.
fn bao_env(fx: &Fixture) -> Vec<(&'static str, String)> {
    vec![
        ("BAO_ADDR", fx.addr()),
        ("BAO_TOKEN", fx.bao.root_token().to_string()),
    ]
}

/// A config that renders `PW` from the KV secret and re-reads it every second; `exec` are the lines of
/// its `exec` stanza (the child is given on the command line).
fn config(fx: &Fixture, exec: &[&str]) -> PathBuf {
    config_with(fx, exec, "")
}

/// [`config`] with more stanzas after the `exec` one.
fn config_with(fx: &Fixture, exec: &[&str], extra: &str) -> PathBuf {
    let text = [
        hcl::vault(&fx.addr()),
        hcl::template_config(&["static_secret_render_interval = \"1s\""]),
        hcl::env_template("PW", PASSWORD),
        hcl::exec(&[], exec),
        extra.to_owned(),
    ]
    .concat();
    fx.write_file("agent.hcl", &text)
}

/// A child that logs its start (with `PW`), its environment, and each signal it gets; TERM exits 7.
const SIGNAL_CHILD: &str = r#"#!/bin/sh
echo "start $$ $PW" >> "$LOG"
env > "$LOG.env"
for s in HUP USR1 USR2 INT WINCH; do trap "echo $s >> \"$LOG\"" $s; done
trap 'echo TERM >> "$LOG"; exit 7' TERM
echo ready >> "$LOG"
while :; do sleep 0.05; done
"#;

#[test]
fn signals_arrive_in_order_and_unchanged_refreshes_never_restart() {
    let fx = Setup::new().start();
    let log = fx.dir.path().join("child.log");
    let child = script(&fx, "child.sh", SIGNAL_CHILD);
    let cfg = config(&fx, &[]);
    let mut envs = bao_env(&fx);
    envs.push(("LOG", log.display().to_string()));
    envs.push(("SIDEKEY_LOG", "info".into()));
    envs.push(("VAULT_SECRET_ID", "not-for-the-child".into()));
    let mut sk = exec_child(&cfg, &child, &envs);
    wait_for(&log, Duration::from_secs(15), "child ready", |s| {
        s.contains("ready")
    });
    // Several 1 s refreshes of an unchanged secret: still the one child.
    std::thread::sleep(Duration::from_secs(4));
    for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGHUP, libc::SIGTERM] {
        sk.signal(sig);
        // Let the child's trap run before the next one: a shell itself merges pending signals.
        std::thread::sleep(Duration::from_millis(300));
    }
    let (code, _, err) = sk.finish(Duration::from_secs(10));
    assert_eq!(code, 7, "{err}");
    let text = read(&log);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("start ")).count(),
        1,
        "{text}\n{err}"
    );
    assert!(
        lines[0].ends_with(&fx.sentinel),
        "child did not get PW: {text}"
    );
    let after: Vec<&str> = lines
        .iter()
        .skip_while(|l| **l != "ready")
        .skip(1)
        .copied()
        .collect();
    assert_eq!(after, ["HUP", "USR1", "HUP", "TERM"], "{err}");
    let env = read(&PathBuf::from(format!("{}.env", log.display())));
    for gone in ["BAO_TOKEN=", "VAULT_SECRET_ID=", "SIDEKEY_LOG="] {
        assert!(!env.contains(gone), "{gone} passed to the child:\n{env}");
    }
    assert!(env.contains("BAO_ADDR="), "{env}");
}

#[test]
fn as_pid_1_orphans_are_reaped_and_the_childs_code_is_kept() {
    let fx = Setup::new().start();
    let out = fx.dir.path().join("zombies");
    // 50 orphans (their parent subshell exits at once), then count zombies in this PID namespace.
    let child = script(
        &fx,
        "orphans.sh",
        r#"#!/bin/sh
i=0
while [ $i -lt 50 ]; do (sleep 0.2 &); i=$((i+1)); done
sleep 1.5
z=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == "Z"' | wc -l)
echo "$z" > "$OUT"
exit 3
"#,
    );
    let mut envs = bao_env(&fx);
    envs.push(("OUT", out.display().to_string()));
    let mut sk = Background::command("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(sidekey_bin())
        .args(["exec", "--"])
        .arg(&child)
        .clean_env()
        .envs(envs)
        .start();
    let (code, _, err) = sk.finish(Duration::from_secs(20));
    assert_eq!(code, 3, "{err}");
    assert_eq!(read(&out).trim(), "0", "zombies left; {err}");
}

/// A child that holds a TCP port (no SO_REUSEADDR) and takes a second to stop.
const PORT_CHILD: &str = r#"#!/usr/bin/env python3
import os, signal, socket, sys, time
def log(line):
    with open(os.environ["LOG"], "a") as f:
        f.write(line + "\n")
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    s.listen()
except OSError as e:
    log("bind-error %s" % e)
    sys.exit(1)
log("start %d %s" % (os.getpid(), os.environ.get("PW", "")))
def stop(*_):
    time.sleep(1.0)
    log("stop %d" % os.getpid())
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.1)
"#;

fn starts(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.starts_with("start "))
        .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn secret_changes_restart_one_child_at_a_time_and_coalesce() {
    let fx = Setup::new().start();
    let log = fx.dir.path().join("child.log");
    let child = script(&fx, "port.py", PORT_CHILD);
    let cfg = config(&fx, &["kill_timeout = \"10s\""]);
    let port = sidekey_tests::ports::free_port();
    let mut envs = bao_env(&fx);
    envs.push(("LOG", log.display().to_string()));
    envs.push(("PORT", port.to_string()));
    let mut sk = exec_child(&cfg, &child, &envs);
    wait_for(&log, Duration::from_secs(15), "first child", |s| {
        starts(s).len() == 1
    });
    let put = |v: &str| {
        fx.bao.write(
            KV_PATH,
            json!({ "data": { "username": "app", "password": v } }),
        );
    };
    for i in 1..=5 {
        let v = format!("pw-{i}");
        put(&v);
        wait_for(
            &log,
            Duration::from_secs(10),
            &format!("child with {v}"),
            |s| starts(s).last() == Some(&v),
        );
    }
    // Two changes within one refresh: one restart, with the newer value.
    put("pw-6");
    put("pw-7");
    wait_for(&log, Duration::from_secs(10), "child with pw-7", |s| {
        starts(s).last().map(String::as_str) == Some("pw-7")
    });
    std::thread::sleep(Duration::from_secs(2));
    sk.signal(libc::SIGTERM);
    let (code, _, err) = sk.finish(Duration::from_secs(10));
    let text = read(&log);
    assert!(
        !text.contains("bind-error"),
        "two children at once:\n{text}\n{err}"
    );
    let values = starts(&text);
    assert_eq!(values.len(), 7, "{text}\n{err}");
    assert!(!values.contains(&"pw-6".to_string()), "{text}");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn child_killed_while_the_backend_is_down_exits_137_within_a_second() {
    let fx = Setup::new().start();
    let log = fx.dir.path().join("child.log");
    let child = script(&fx, "child.sh", SIGNAL_CHILD);
    let cfg = config(&fx, &[]);
    let mut envs = bao_env(&fx);
    envs.push(("LOG", log.display().to_string()));
    let mut sk = exec_child(&cfg, &child, &envs);
    let text = wait_for(&log, Duration::from_secs(15), "child ready", |s| {
        s.contains("ready")
    });
    let pid: i32 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let Fixture { bao, dir, .. } = fx;
    drop(bao);
    // Let a few refreshes fail against the dead backend.
    std::thread::sleep(Duration::from_secs(2));
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let t = Instant::now();
    let code = sk.wait_timeout(Duration::from_secs(5));
    let took = t.elapsed();
    let (_, _, err) = sk.finish(Duration::from_secs(1));
    assert_eq!(code, Some(137), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}\n{err}");
    drop(dir);
}

/// As with Vault Agent's exec, an env_template whose secret does not exist yet is retried, and the child
/// starts once it renders (a `sidekey:` reference, below, fails at once instead).
#[test]
fn exec_waits_for_an_env_template_whose_secret_appears_later() {
    let fx = Setup::new().start();
    let log = fx.dir.path().join("later.log");
    let child = script(
        &fx,
        "later.sh",
        "#!/bin/sh\necho \"started $LATER\" >> \"$LOG\"\n",
    );
    let text = hcl::vault(&fx.addr())
        + &hcl::env_template(
            "LATER",
            r#"{{ with secret "secret/data/app/later" }}{{ .Data.data.value }}{{ end }}"#,
        );
    let cfg = fx.write_file("later.hcl", &text);
    let mut envs = bao_env(&fx);
    envs.push(("LOG", log.display().to_string()));
    let mut sk = exec_child(&cfg, &child, &envs);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!log.exists(), "the child started before its secret existed");
    fx.bao.write(
        "secret/data/app/later",
        json!({ "data": { "value": "arrived" } }),
    );
    let (code, _, err) = sk.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&log), "started arrived\n");
}

#[test]
fn missing_keys_and_bad_references_start_no_child_and_name_the_variable() {
    let fx = Setup::new().start();
    let marker = fx.dir.path().join("started");
    let child = script(&fx, "mark.sh", "#!/bin/sh\ntouch \"$MARK\"\n");
    for (reference, expect_code) in [
        ("sidekey:secret/data/app/config#nope", None),
        ("sidekey:secret/data/app/missing#password", None),
        ("sidekey:secret/data/app/config", Some(78)),
    ] {
        let mut cmd = Sidekey::new(["exec", "--", child.to_str().unwrap()])
            .env("DB_PASSWORD", reference)
            .env("MARK", marker.as_os_str());
        for (k, v) in bao_env(&fx) {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        assert_ne!(out.code(), 0, "{reference}: {}", out.stderr);
        if let Some(c) = expect_code {
            assert_eq!(out.code(), c, "{reference}: {}", out.stderr);
        }
        assert!(
            out.stderr.contains("DB_PASSWORD"),
            "{reference}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains(&fx.sentinel), "{}", out.stderr);
        assert!(!marker.exists(), "{reference}: the child was started");
    }
}

#[test]
fn masking_versions_and_hand_over() {
    let fx = Setup::new().start();
    fx.bao.write(
        KV_PATH,
        json!({ "data": { "username": "app", "password": "second-version" } }),
    );
    let run = |args: &[&str], reference: &str, script: &str| {
        let mut cmd = Sidekey::new(["exec"])
            .args(args.iter().copied())
            .args(["--", "sh", "-c", script])
            .env("PW", reference);
        for (k, v) in bao_env(&fx) {
            cmd = cmd.env(k, v);
        }
        cmd.run()
    };
    let print = "echo \"pw is $PW\"; echo \"err $PW\" >&2; exit 5";
    // Masked: the child's output shows ****, never the value; its exit code is sidekey's.
    let out = run(
        &["--mask"],
        "sidekey:secret/data/app/config#password",
        print,
    );
    assert_eq!(out.code(), 5, "{}", out.stderr);
    assert!(out.stdout.contains("pw is ****"), "{}", out.stdout);
    assert!(out.stderr.contains("err ****"), "{}", out.stderr);
    assert!(!out.stdout.contains("second-version") && !out.stderr.contains("second-version"));
    // @1 reads version 1 (the sentinel), not the newest.
    let out = run(&[], "sidekey:secret/data/app/config#password@1", print);
    assert!(
        out.stdout.contains(&format!("pw is {}", fx.sentinel)),
        "{}",
        out.stdout
    );
    // --no-supervise: the child replaces sidekey (same pid), with the rendered env.
    let out = run(
        &["--no-supervise"],
        "sidekey:secret/data/app/config#password",
        "echo \"pw is $PW\"; exit 4",
    );
    assert_eq!(out.code(), 4, "{}", out.stderr);
    assert!(
        out.stdout.contains("pw is second-version"),
        "{}",
        out.stdout
    );
}

#[test]
fn signal_mode_sends_the_reload_signal_instead_of_restarting() {
    let fx = Setup::new().start();
    let shm = sidekey_tests::ShmDir::new();
    let file = shm.join("db");
    let log = fx.dir.path().join("child.log");
    let child = script(&fx, "child.sh", SIGNAL_CHILD);
    let cfg = config_with(
        &fx,
        &["restart_mode = \"signal\"", "reload_signal = \"USR1\""],
        &hcl::template(USERNAME, &file, &[]),
    );
    let mut envs = bao_env(&fx);
    envs.push(("LOG", log.display().to_string()));
    let mut sk = exec_child(&cfg, &child, &envs);
    wait_for(&log, Duration::from_secs(15), "child ready", |s| {
        s.contains("ready")
    });
    // A change of the file only (username), then of the env (password): a signal each, no restart.
    fx.bao.write(
        KV_PATH,
        json!({ "data": { "username": "renamed", "password": fx.sentinel } }),
    );
    wait_for(&log, Duration::from_secs(10), "USR1 for the file", |s| {
        s.contains("USR1")
    });
    assert_eq!(read(&file), "renamed");
    fx.bao.write(
        KV_PATH,
        json!({ "data": { "username": "renamed", "password": "new-pw" } }),
    );
    wait_for(&log, Duration::from_secs(10), "USR1 for the env", |s| {
        s.matches("USR1").count() >= 2
    });
    sk.signal(libc::SIGTERM);
    let (code, _, err) = sk.finish(Duration::from_secs(10));
    assert_eq!(code, 7, "{err}");
    assert_eq!(starts(&read(&log)).len(), 1, "{}\n{err}", read(&log));
}

/// In exec mode sidekey reaps every process below it; a template's `command` still reports its own
/// status: a succeeding command is not reported as failed, and a failing one is retried.
#[test]
fn template_commands_keep_their_status_in_exec_mode() {
    let fx = Setup::new().start();
    let out = sidekey_tests::ShmDir::new();
    let marks = out.join("marks");
    let command = format!("echo ok >> {}", marks.display());
    let extra = hcl::template(
        PASSWORD,
        &out.join("pw"),
        &[&hcl::attr("command", &command)],
    );
    let cfg = config_with(&fx, &[], &extra);
    let child = format!("sleep 3; test -s {}", marks.display());
    let mut bg = Background::sidekey()
        .args(["exec", "-c"])
        .arg(&cfg)
        .args(["--", "sh", "-c", &child])
        .clean_env()
        .envs(bao_env(&fx))
        .start();
    let (code, _, err) = bg.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("command failed"),
        "a succeeding command was reported as failed:\n{err}"
    );
    assert_eq!(read(&marks).lines().count(), 1, "the command ran once");
}

/// The 1-based line of the first line of `path` that contains `needle`.
fn line_of(path: &Path, needle: &str) -> usize {
    read(path)
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in {}", path.display()))
}

#[test]
fn a_stdout_audit_sink_is_refused_where_stdout_is_the_childs() {
    let fx = Setup::new().start();
    let marker = fx.dir.path().join("started");
    let child = script(
        &fx,
        "mark.sh",
        "#!/bin/sh\ntouch \"$MARK\"\necho CHILD-OUTPUT\n",
    );
    let trail = fx.dir.path().join("audit.log");
    let audit = hcl::audit(&trail, &["stdout {}"]);
    let base = [
        hcl::vault(&fx.addr()),
        hcl::env_template("PW", PASSWORD),
        audit.clone(),
    ]
    .concat();
    let refused = |out: &sidekey_tests::SidekeyOutput, cfg: &Path, what: &str| {
        let at = format!(
            "{}:{}: audit.stdout: in exec mode stdout belongs to the child",
            cfg.display(),
            line_of(cfg, "stdout {")
        );
        assert_eq!(out.code(), 78, "{what}: {}", out.stderr);
        assert!(
            out.stderr.contains(&at),
            "{what}: want {at:?} in {}",
            out.stderr
        );
        assert!(
            !out.stdout.contains("CHILD-OUTPUT"),
            "{what}: {}",
            out.stdout
        );
        assert!(!marker.exists(), "{what}: the child was started");
    };

    // Without an exec stanza `run` and `check` keep the sink; `sidekey exec` refuses it.
    let plain = fx.write_file("plain.hcl", &base);
    let out = Sidekey::new(["check", "-c", plain.to_str().unwrap()]).run();
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let mut cmd = Sidekey::new([
        "exec",
        "-c",
        plain.to_str().unwrap(),
        "--",
        child.to_str().unwrap(),
    ])
    .env("MARK", marker.as_os_str());
    for (k, v) in bao_env(&fx) {
        cmd = cmd.env(k, v);
    }
    refused(&cmd.run(), &plain, "sidekey exec");

    // With an exec stanza `check` and `run` name the sink's line.
    let stanza = fx.write_file(
        "stanza.hcl",
        &[base.clone(), hcl::exec(&[child.to_str().unwrap()], &[])].concat(),
    );
    for verb in ["check", "run"] {
        let out = Sidekey::new([verb, "-c", stanza.to_str().unwrap()])
            .env("MARK", marker.as_os_str())
            .run();
        refused(&out, &stanza, verb);
    }

    // The child's output sent to a file leaves stdout to the sink.
    let out_file = fx.dir.path().join("child.out");
    let elsewhere = fx.write_file(
        "elsewhere.hcl",
        &[
            base,
            hcl::exec(
                &[child.to_str().unwrap()],
                &[&hcl::attr_path("child_process_stdout", &out_file)],
            ),
        ]
        .concat(),
    );
    let out = Sidekey::new(["check", "-c", elsewhere.to_str().unwrap()]).run();
    assert_eq!(out.code(), 0, "{}", out.stderr);
}
