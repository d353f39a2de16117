//! The `exec` stanza's sidekey extensions: restart policy, signals, masking and env filtering.

use std::time::Duration;

use super::{invalid, ok};
use crate::config::RestartMode;

#[test]
fn every_exec_key() {
    let c = ok(
        "agent.hcl",
        r#"
exec {
  command                   = ["/app", "serve"]
  restart_on_secret_changes = "always"
  restart_mode              = "signal"
  restart_stop_signal       = "SIGINT"
  reload_signal             = "USR1"
  kill_timeout              = "5s"
  splay                     = "2s"
  restart_on_exit           = true
  mask_output               = true
  signal_process_group      = true
  env {
    pristine = true
    allow    = ["PATH", "APP_*"]
    deny     = ["AWS_*"]
  }
}
"#,
    );
    let e = c.exec.expect("exec");
    assert_eq!(e.restart_mode, RestartMode::Signal);
    assert_eq!(e.restart_stop_signal, libc::SIGINT);
    assert_eq!(e.reload_signal, libc::SIGUSR1);
    assert_eq!(e.kill_timeout, Duration::from_secs(5));
    assert_eq!(e.splay, Duration::from_secs(2));
    assert!(e.restart_on_exit && e.mask_output && e.signal_process_group);
    assert!(e.env.pristine);
    assert_eq!(e.env.allow, ["PATH", "APP_*"]);
    assert_eq!(e.env.deny, ["AWS_*"]);
}

#[test]
fn defaults_and_never() {
    let c = ok("agent.hcl", "exec {\n  command = [\"/app\"]\n}\n");
    let e = c.exec.expect("exec");
    assert_eq!(e.restart_mode, RestartMode::Restart);
    assert_eq!(e.reload_signal, libc::SIGHUP);
    assert_eq!(e.splay, Duration::ZERO);
    assert!(!e.restart_on_exit && !e.mask_output && !e.signal_process_group);
    assert!(!e.env.pristine && e.env.allow.is_empty());

    let c = ok(
        "agent.hcl",
        "exec {\n  restart_on_secret_changes = \"never\"\n}\n",
    );
    assert_eq!(c.exec.expect("exec").restart_mode, RestartMode::None);
}

#[test]
fn bad_restart_mode_and_env_keys() {
    let (_, line, message) = invalid("agent.hcl", "exec {\n  restart_mode = \"reboot\"\n}\n");
    assert_eq!(line, 2);
    assert_eq!(
        message,
        r#"exec.restart_mode: expected "restart", "signal" or "none", found "reboot""#
    );

    let (_, line, message) = invalid(
        "agent.hcl",
        "exec {\n  env {\n    allow = [\"A=B\"]\n  }\n}\n",
    );
    assert_eq!(line, 3);
    assert!(message.starts_with("exec.env.allow: \"A=B\""), "{message}");

    let (_, line, message) = invalid("agent.hcl", "exec {\n  env {\n    pristin = true\n  }\n}\n");
    assert_eq!(line, 3);
    assert!(
        message.starts_with("exec.env.pristin: unknown key"),
        "{message}"
    );
}

#[test]
fn never_with_a_restart_mode_is_a_contradiction() {
    let text = "exec {\n  restart_on_secret_changes = \"never\"\n  restart_mode = \"signal\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 3);
    assert!(
        message.starts_with("exec.restart_mode: contradicts"),
        "{message}"
    );
}
