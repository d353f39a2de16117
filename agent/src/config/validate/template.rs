//! `template { ... }` (files) and `env_template "NAME" { ... }` (the exec'd child's environment).

use std::time::Duration;

use crate::config::field::Field;
use crate::config::node::{Problem, Value};
use crate::config::section::Section;
use crate::config::types::{EnvTemplateConfig, TemplateConfig, TemplateSource};

/// Default `command_timeout` / `exec.timeout`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Read one `template` block.
pub(super) fn template(mut s: Section<'_>) -> Result<TemplateConfig, Problem> {
    let source = match (s.field("source")?, s.field("contents")?) {
        (Some(src), None) => TemplateSource::File(src.path_buf()?),
        (None, Some(contents)) => TemplateSource::Inline(contents.string()?),
        (Some(src), Some(contents)) => {
            return Err(contents.problem(format!(
                "give either source (line {}) or contents, not both",
                src.line
            )));
        }
        (None, None) => {
            return Err(s.problem("needs source (a template file) or contents (inline text)"));
        }
    };
    let destination = s.require("destination", Field::path_buf)?;
    let (command, command_timeout) = command(&mut s)?;
    let (left_delimiter, right_delimiter) = delimiters(&mut s)?;
    let wait = match s.block("wait")? {
        Some(w) => Some(wait(w)?),
        None => None,
    };
    let denylist = match (
        s.field("function_denylist")?,
        s.field("function_blacklist")?,
    ) {
        (Some(f), None) | (None, Some(f)) => f.strings()?,
        (Some(_), Some(old)) => {
            return Err(
                old.problem("give function_denylist only (function_blacklist is its old name)")
            );
        }
        (None, None) => Vec::new(),
    };
    let config = TemplateConfig {
        source,
        destination,
        perms: s.get("perms", Field::mode)?.unwrap_or(0o600),
        user: s.get("user", Field::string_or_number)?,
        group: s.get("group", Field::string_or_number)?,
        create_dest_dirs: s.get("create_dest_dirs", Field::bool)?.unwrap_or(true),
        command,
        command_timeout,
        error_on_missing_key: s.get("error_on_missing_key", Field::bool)?,
        left_delimiter,
        right_delimiter,
        wait,
        backup: s.get("backup", Field::bool)?.unwrap_or(false),
        allow_non_tmpfs: s.get("allow_non_tmpfs", Field::bool)?.unwrap_or(false),
        function_denylist: denylist,
    };
    s.finish(&[("sandbox_path", "")])?;
    Ok(config)
}

/// Read one `env_template "NAME"` block.
pub(super) fn env_template(
    name: String,
    line: usize,
    mut s: Section<'_>,
) -> Result<EnvTemplateConfig, Problem> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(Problem::new(
            line,
            format!(
                "env_template {name:?}: not a valid environment variable name (write e.g. env_template \"DB_PASSWORD\" {{ ... }})"
            ),
        ));
    }
    let contents = s.require("contents", Field::string)?;
    let (left_delimiter, right_delimiter) = delimiters(&mut s)?;
    let config = EnvTemplateConfig {
        name,
        contents,
        error_on_missing_key: s.get("error_on_missing_key", Field::bool)?,
        left_delimiter,
        right_delimiter,
    };
    s.finish(&[
        ("source", "an env_template takes inline contents"),
        ("destination", "an env_template sets a variable, not a file"),
    ])?;
    Ok(config)
}

/// `left_delimiter` / `right_delimiter` (non-empty; default `{{` / `}}`).
fn delimiters(s: &mut Section<'_>) -> Result<(String, String), Problem> {
    let left = s.get("left_delimiter", Field::non_empty)?;
    let right = s.get("right_delimiter", Field::non_empty)?;
    Ok((
        left.unwrap_or_else(|| "{{".into()),
        right.unwrap_or_else(|| "}}".into()),
    ))
}

/// `command` + `command_timeout`, or the newer `exec { command, timeout }`.
fn command(s: &mut Section<'_>) -> Result<(Option<Vec<String>>, Duration), Problem> {
    let legacy = s.get("command", argv)?;
    let legacy_timeout = s.get("command_timeout", Field::duration)?;
    let Some(mut exec) = s.block("exec")? else {
        return Ok((legacy, legacy_timeout.unwrap_or(COMMAND_TIMEOUT)));
    };
    if legacy.is_some() || legacy_timeout.is_some() {
        return Err(
            exec.problem("give exec { command, timeout } or command/command_timeout, not both")
        );
    }
    let command = exec.require("command", argv)?;
    let timeout = exec.get("timeout", Field::duration)?;
    exec.finish(&[])?;
    Ok((Some(command), timeout.unwrap_or(COMMAND_TIMEOUT)))
}

/// A command: a string runs with `sh -c`, a list is the argv.
fn argv(f: &Field<'_>) -> Result<Vec<String>, Problem> {
    let argv = match &f.node.value {
        Value::Str(s) if !s.trim().is_empty() => vec!["sh".into(), "-c".into(), s.clone()],
        Value::Str(_) => Vec::new(),
        Value::List(_) => f.strings()?,
        other => {
            return Err(f.problem(format!(
                "expected a string or a list of strings, found {}",
                other.describe()
            )));
        }
    };
    if argv.first().is_none_or(|a| a.trim().is_empty()) {
        return Err(f.problem("must name a program"));
    }
    Ok(argv)
}

/// `wait { min, max }`: `max` defaults to 4 × `min`, as in consul-template.
fn wait(mut w: Section<'_>) -> Result<(Duration, Duration), Problem> {
    let min = w.require("min", Field::duration)?;
    let max = match w.field("max")? {
        Some(f) => {
            let max = f.duration()?;
            if max < min {
                return Err(f.problem(format!("{max:?} is less than min ({min:?})")));
            }
            max
        }
        None => min.saturating_mul(4),
    };
    w.finish(&[])?;
    Ok((min, max))
}
