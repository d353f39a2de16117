//! End to end: sidekey's process hardening (issue 16). Another process of the same user cannot read
//! sidekey's environment (it holds a token), core dumps are off, and the exec child and template
//! commands still get the umask and core limit sidekey was started with, and no secret in their argv.

// Test helpers: a failed expectation is a failed test, and wall-clock time is what a user sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::Path;
use std::time::Duration;

use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl;
use sidekey_tests::users::TestUser;
use sidekey_tests::{Fixture, Setup, ShmDir, random_hex, sidekey_bin};

/// The KV v2 secret whose `password` is the fixture's sentinel.
const PASSWORD: &str =
    r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;

/// The pids of `pid`'s children (`/proc/PID/task/PID/children`).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Wait (≤ 10 s) for the one child of `pid`; its pid.
fn child_of(agent: &Background) -> u32 {
    let pid = agent.pid();
    assert!(
        wait_until(Duration::from_secs(10), || !children(pid).is_empty()),
        "no child of sidekey ({pid}) within 10 s; stderr:\n{}",
        agent.stderr()
    );
    children(pid)[0]
}

/// The soft "Max core file size" of `pid`, as `/proc/PID/limits` says it.
fn core_soft(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    core_line_soft(&limits)
}

/// The soft limit on the "Max core file size" line of a `limits` file's text.
fn core_line_soft(limits: &str) -> String {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core line in:\n{limits}"));
    line.trim_start_matches("Max core file size")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// `VmLck` of `pid` in kB: memory `mlockall` has locked (pages are locked as they are touched).
fn locked_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmLck in:\n{status}"))
}

/// Poll `path` (≤ 10 s) until it is not empty; its trimmed content.
fn wait_file(path: &Path) -> String {
    let mut s = String::new();
    wait_until(Duration::from_secs(10), || {
        s = std::fs::read_to_string(path).unwrap_or_default();
        !s.is_empty()
    });
    assert!(!s.is_empty(), "{} not written in 10 s", path.display());
    s.trim().to_owned()
}

/// Where an exec child reports the umask and core limit it got (`mask`, `inner`), and where the shell
/// that started sidekey recorded its own core limit (`outer`).
struct Reports {
    outer: std::path::PathBuf,
    inner: std::path::PathBuf,
    mask: std::path::PathBuf,
}

/// `sh` sets `umask` and `ulimit -c core`, records its core line, then execs `sidekey exec FLAGS -c CFG
/// -- sh -c CHILD`, where the child reports what it got and then runs `then`.
fn exec_via_shell(
    fx: &Fixture,
    out: &ShmDir,
    (umask, core): (&str, u32),
    flags: &str,
    then: &str,
) -> (Background, Reports) {
    let cfg = env_config(fx);
    let r = Reports {
        outer: out.join("outer"),
        inner: out.join("inner"),
        mask: out.join("umask"),
    };
    let child = format!(
        "umask > {m}; grep 'Max core' /proc/self/limits > {i}; {then}",
        m = r.mask.display(),
        i = r.inner.display()
    );
    let script = format!(
        "umask {umask}; ulimit -c {core}; grep 'Max core' /proc/self/limits > {o}; exec \"$0\" exec {flags} -c {c} -- sh -c \"$1\"",
        o = r.outer.display(),
        c = cfg.display()
    );
    let agent = Background::command("sh")
        .clean_env()
        .env("BAO_ADDR", fx.addr())
        .env("BAO_TOKEN", fx.bao.root_token())
        .args(["-c", &script])
        .arg(sidekey_bin())
        .arg(&child)
        .start();
    (agent, r)
}

fn env_config(fx: &Fixture) -> std::path::PathBuf {
    fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            hcl::env_template("SECRET", PASSWORD),
        ]
        .concat(),
    )
}

#[test]
fn another_process_of_the_same_user_cannot_read_sidekeys_environment() {
    let fx = Setup::new().start();
    let user = TestUser::create(&format!("skt-proc{}", random_hex(3)));
    let cfg = env_config(&fx);
    // The config must be readable by the user sidekey runs as.
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        fx.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let as_user = |b: sidekey_tests::background::Builder| {
        b.args([
            format!("--reuid={}", user.uid),
            format!("--regid={}", user.gid),
            "--clear-groups".to_owned(),
            "--".to_owned(),
        ])
    };
    // setpriv execs: the background pid is sidekey's.
    let agent = as_user(Background::command("setpriv").clean_env())
        .arg(sidekey_bin())
        .args(["exec", "-c"])
        .arg(&cfg)
        .args(["--", "sleep", "30"])
        .env("BAO_ADDR", fx.addr())
        .env("BAO_TOKEN", fx.bao.root_token())
        .start();
    let pid = agent.pid();
    let child = child_of(&agent);
    let read_as_user = |target: u32| {
        let out = std::process::Command::new("setpriv")
            .arg(format!("--reuid={}", user.uid))
            .arg(format!("--regid={}", user.gid))
            .args(["--clear-groups", "--", "cat"])
            .arg(format!("/proc/{target}/environ"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The same user can read its own dumpable processes' environment: the child (a plain `sleep`)
    // proves the reader is allowed where nothing hardens the target.
    let (ok, env, err) = read_as_user(child);
    assert!(ok, "the user cannot read its own child's environ: {err}");
    assert!(env.contains("SECRET="), "child environ: {env}");
    let (ok, env, err) = read_as_user(pid);
    assert!(
        !ok,
        "another process of the same user read sidekey's environ: {env}"
    );
    assert!(
        err.contains("Permission denied"),
        "expected EACCES, got: {err}"
    );
    assert_eq!(core_soft(pid), "0", "sidekey may dump core");
    // Without CAP_IPC_LOCK and with the usual small RLIMIT_MEMLOCK, locking everything could make
    // allocations fail: memory stays unlocked, and one line says so.
    assert_eq!(locked_kb(pid), 0);
    assert!(
        agent.stderr().contains("memory is not locked"),
        "{}",
        agent.stderr()
    );
}

#[test]
fn the_exec_child_gets_the_original_umask_and_core_limit_and_no_secret_in_argv() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    // The child reports what it got, then stays up so its argv can be read.
    let (agent, r) = exec_via_shell(&fx, &out, ("0027", 2048), "", "exec sleep 30");
    assert_eq!(wait_file(&r.mask), "0027", "the child's umask");
    let outer_soft = core_line_soft(&wait_file(&r.outer));
    assert_ne!(
        outer_soft, "0",
        "the test must start sidekey with core dumps allowed"
    );
    assert_eq!(
        core_line_soft(&wait_file(&r.inner)),
        outer_soft,
        "the child's core limit"
    );
    assert_eq!(core_soft(agent.pid()), "0", "sidekey may dump core");
    // As root (CAP_IPC_LOCK), memory is locked.
    assert!(locked_kb(agent.pid()) > 0, "sidekey's memory is not locked");
    let sleeper = child_of(&agent);
    for pid in [agent.pid(), sleeper] {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let argv = String::from_utf8_lossy(&argv);
        assert!(
            !argv.contains(&fx.sentinel),
            "a secret in the argv of {pid}: {argv}"
        );
    }
}

#[test]
fn template_commands_get_the_original_umask_and_core_limit() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    let (mask, inner) = (out.join("umask"), out.join("inner"));
    let command = format!(
        "umask > {m}; grep 'Max core' /proc/self/limits > {i}",
        m = mask.display(),
        i = inner.display()
    );
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            // Vault Agent's switch: memory is not locked.
            "disable_mlock = true\n".to_owned(),
            hcl::template(
                PASSWORD,
                &out.join("password"),
                &[&hcl::command(&["sh", "-c", &command])],
            ),
            hcl::template(
                PASSWORD,
                &out.join("made/for/it/password"),
                &["perms = \"0644\"", "create_dest_dirs = true"],
            ),
        ]
        .concat(),
    );
    let script = format!(
        "umask 0002; ulimit -c 4096; exec \"$0\" run --once -c {}",
        cfg.display()
    );
    let mut agent = Background::command("sh")
        .clean_env()
        .env("BAO_ADDR", fx.addr())
        .env("BAO_TOKEN", fx.bao.root_token())
        .args(["-c", &script])
        .arg(sidekey_bin())
        .start();
    let (code, _, stderr) = agent.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("disable_mlock") && !stderr.contains("memory is not locked"),
        "disable_mlock is served, silently: {stderr}"
    );
    assert_eq!(wait_file(&mask), "0002", "the command's umask");
    assert_ne!(
        core_line_soft(&wait_file(&inner)),
        "0",
        "the command's core limit"
    );
    let meta = std::fs::metadata(out.join("password")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600,
        "the destination's mode is sidekey's default, whatever the umask"
    );
    // Directories sidekey makes for a destination get the mode its perms imply (0755 beside 0644), not
    // sidekey's own umask 077.
    for dir in ["made", "made/for", "made/for/it"] {
        let meta = std::fs::metadata(out.join(dir)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o755,
            "{dir}"
        );
    }
    let meta = std::fs::metadata(out.join("made/for/it/password")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o644
    );
}

#[test]
fn a_handed_over_child_gets_the_original_umask_and_core_limit() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    // `--no-supervise`: sidekey execs the child in its own place.
    let (mut agent, r) = exec_via_shell(&fx, &out, ("0007", 1024), "--no-supervise", "true");
    let (code, _, stderr) = agent.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(wait_file(&r.mask), "0007", "the child's umask");
    assert_eq!(
        core_line_soft(&wait_file(&r.inner)),
        core_line_soft(&wait_file(&r.outer)),
        "the child's core limit"
    );
}
