//! `exec { command, restart_on_secret_changes, restart_stop_signal, env {...} }` (and sidekey's
//! `kill_timeout`, `splay`, `restart_mode`): the process supervisor's stanza.

use crate::config::field::Field;
use crate::config::node::Problem;
use crate::config::section::Section;
use crate::config::types::{ExecConfig, ExecEnvConfig, RestartMode};
use crate::config::values;

pub(super) fn exec(mut s: Section<'_>) -> Result<ExecConfig, Problem> {
    let command = match s.field("command")? {
        Some(f) => {
            let argv = f.strings()?;
            if argv.first().is_none_or(|a| a.trim().is_empty()) {
                return Err(
                    f.problem("must name a program, e.g. [\"/app/server\", \"--port\", \"8080\"]")
                );
            }
            argv
        }
        None => Vec::new(),
    };
    let restart = match s.field("restart_on_secret_changes")? {
        Some(f) => match f.string()?.as_str() {
            "always" => true,
            "never" => false,
            other => {
                return Err(f.problem(format!("expected \"always\" or \"never\", found {other:?}")));
            }
        },
        None => true,
    };
    let d = ExecConfig::default();
    let signal = |f: &Field<'_>| values::signal(&f.string()?).map_err(|m| f.problem(m));
    let restart_mode = match s.field("restart_mode")? {
        Some(f) => {
            let mode = match f.string()?.as_str() {
                "restart" => RestartMode::Restart,
                "signal" => RestartMode::Signal,
                "none" => RestartMode::None,
                other => {
                    return Err(f.problem(format!(
                        "expected \"restart\", \"signal\" or \"none\", found {other:?}"
                    )));
                }
            };
            if !restart && mode != RestartMode::None {
                return Err(f.problem(
                    "contradicts restart_on_secret_changes = \"never\"; give one of the two",
                ));
            }
            mode
        }
        None => d.restart_mode,
    };
    let env = match s.block("env")? {
        Some(b) => exec_env(b)?,
        None => ExecEnvConfig::default(),
    };
    let config = ExecConfig {
        command,
        restart_stop_signal: s
            .get("restart_stop_signal", signal)?
            .unwrap_or(d.restart_stop_signal),
        kill_timeout: s
            .get("kill_timeout", Field::duration)?
            .unwrap_or(d.kill_timeout),
        // "never" is Vault Agent's spelling of "leave the child alone".
        restart_mode: if restart {
            restart_mode
        } else {
            RestartMode::None
        },
        reload_signal: s.get("reload_signal", signal)?.unwrap_or(d.reload_signal),
        splay: s.get("splay", Field::duration)?.unwrap_or(d.splay),
        restart_on_exit: s.get("restart_on_exit", Field::bool)?.unwrap_or(false),
        mask_output: s.get("mask_output", Field::bool)?.unwrap_or(false),
        signal_process_group: s.get("signal_process_group", Field::bool)?.unwrap_or(false),
        notify_child: match s.field("notify")? {
            Some(f) => match f.string()?.as_str() {
                "child" => true,
                "agent" => false,
                other => {
                    return Err(f.problem(format!(
                        "expected \"agent\" (sidekey reports readiness) or \"child\" (the child gets NOTIFY_SOCKET), found {other:?}"
                    )));
                }
            },
            None => false,
        },
        env,
        child_stdout: s.get("child_process_stdout", Field::path_buf)?,
        child_stderr: s.get("child_process_stderr", Field::path_buf)?,
    };
    s.finish(&[])?;
    Ok(config)
}

/// `exec { env { pristine, allow, deny } }`.
fn exec_env(mut s: Section<'_>) -> Result<ExecEnvConfig, Problem> {
    let patterns = |f: &Field<'_>| {
        let list = f.strings()?;
        if let Some(bad) = list.iter().find(|p| p.is_empty() || p.contains('=')) {
            return Err(f.problem(format!(
                "{bad:?} is not a variable name or a glob such as \"APP_*\""
            )));
        }
        Ok(list)
    };
    let config = ExecEnvConfig {
        pristine: s.get("pristine", Field::bool)?.unwrap_or(false),
        allow: s.get("allow", patterns)?.unwrap_or_default(),
        deny: s.get("deny", patterns)?.unwrap_or_default(),
    };
    s.finish(&[])?;
    Ok(config)
}
