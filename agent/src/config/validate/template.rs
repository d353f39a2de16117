//! `template { ... }` (files) and `env_template "NAME" { ... }` (the exec'd child's environment).

use std::time::Duration;

use crate::config::ConfigError;
use crate::config::field::Field;
use crate::config::node::{Problem, Value};
use crate::config::section::Section;
use crate::config::types::{EnvTemplateConfig, Origin, TemplateConfig, TemplateSource};

/// Default `command_timeout` / `exec.timeout`.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Read one `template` block.
pub(super) fn template(
    mut s: Section<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<TemplateConfig, Problem> {
    let source = source(&mut s)?;
    let destination = s.require("destination", Field::path_buf)?;
    let (command, command_timeout) = command(&mut s)?;
    let (left_delimiter, right_delimiter) = delimiters(&mut s)?;
    let wait = match s.field("wait")? {
        Some(f) => {
            // consul-template's string form, which Vault Agent accepts too: "MIN" or "MIN:MAX".
            let w = if matches!(f.node.value, Value::Str(_)) {
                wait_string(&f)?
            } else {
                wait(s.nested("wait", &f)?)?
            };
            warnings.push(f.problem(
                "loaded, not served: sidekey writes a template as soon as all its secrets are there (no quiescence timer)",
            ));
            Some(w)
        }
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
    let perms = s.get("perms", Field::mode)?;
    let backup = s.get("backup", Field::bool)?.unwrap_or(false);
    let atomic_set = atomic_set(&mut s, &destination, backup)?;
    let config = TemplateConfig {
        source,
        destination,
        perms: perms.unwrap_or(0o600),
        perms_given: perms.is_some(),
        user: owner(&mut s, "user", "uid")?,
        group: owner(&mut s, "group", "gid")?,
        create_dest_dirs: s.get("create_dest_dirs", Field::bool)?.unwrap_or(true),
        command,
        command_timeout,
        error_on_missing_key: s.get("error_on_missing_key", Field::bool)?,
        error_fatal: s.get("error_fatal", Field::bool)?.unwrap_or(true),
        left_delimiter,
        right_delimiter,
        wait,
        backup,
        allow_non_tmpfs: s.get("allow_non_tmpfs", Field::bool)?.unwrap_or(false),
        atomic_set,
        function_denylist: denylist,
        workload: None,
    };
    // Earlier sidekey versions needed this key for `writeToFile`, which is now on as in Vault Agent: configs
    // written for them must keep loading, and whoever wrote `false` must learn how to turn it off now.
    if let Some(f) = s.field("allow_write_to_file")? {
        f.bool()?;
        warnings.push(f.problem(
            "ignored: writeToFile is on by default, as in Vault Agent; to turn it off, write function_denylist = [\"writeToFile\"]",
        ));
    }
    s.finish(&[(
        "sandbox_path",
        "sidekey does not confine the file function to a directory; to forbid it, write function_denylist = [\"file\"]",
    )])?;
    Ok(config)
}

/// `atomic_set` (sidekey): the destination's file name must not be one the `..data` layout uses, and
/// there is no `.bak` in that layout.
fn atomic_set(
    s: &mut Section<'_>,
    destination: &std::path::Path,
    backup: bool,
) -> Result<bool, Problem> {
    let Some(f) = s.field("atomic_set")? else {
        return Ok(false);
    };
    if !f.bool()? {
        return Ok(false);
    }
    if backup {
        return Err(f.problem(
            "atomic_set and backup cannot be combined: a set keeps no .bak file (the previous set is removed once the new one is in place)",
        ));
    }
    let name = destination.file_name().map(|n| n.to_string_lossy());
    if name.as_deref().is_none_or(|n| n.starts_with("..")) {
        return Err(f.problem(format!(
            "atomic_set: destination {destination:?} must end in a file name that does not start with \"..\" (those names hold the set's directories)"
        )));
    }
    Ok(true)
}

/// The directory of an `atomic_set` template's destination as one absolute path however it is spelled
/// (`out/a`, `./out/b`, `/abs/out/c`): the set it belongs to.
pub(in crate::config) fn set_dir(destination: &std::path::Path) -> std::path::PathBuf {
    let dir = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.components().collect()
}

/// The settings every member of one atomic set must share (one directory, written at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::config) struct SetShared {
    user: Option<String>,
    group: Option<String>,
    create_dest_dirs: bool,
    allow_non_tmpfs: bool,
}

impl SetShared {
    /// What `t` has of them.
    pub(in crate::config) fn of(t: &TemplateConfig) -> Self {
        Self {
            user: t.user.clone(),
            group: t.group.clone(),
            create_dest_dirs: t.create_dest_dirs,
            allow_non_tmpfs: t.allow_non_tmpfs,
        }
    }

    /// The keys whose values differ from `other`'s.
    pub(in crate::config) fn differing(&self, other: &Self) -> Vec<&'static str> {
        [
            ("user", self.user != other.user),
            ("group", self.group != other.group),
            (
                "create_dest_dirs",
                self.create_dest_dirs != other.create_dest_dirs,
            ),
            (
                "allow_non_tmpfs",
                self.allow_non_tmpfs != other.allow_non_tmpfs,
            ),
        ]
        .into_iter()
        .filter_map(|(k, differs)| differs.then_some(k))
        .collect()
    }
}

/// An `atomic_set` template joins the set of its directory: refused when it differs from the set's
/// first member in a setting the whole set shares.
pub(in crate::config) fn join_set(
    sets: &mut std::collections::HashMap<std::path::PathBuf, (Origin, SetShared)>,
    t: &TemplateConfig,
    file: &std::path::Path,
    line: usize,
) -> Result<(), ConfigError> {
    if !t.atomic_set {
        return Ok(());
    }
    let dir = set_dir(&t.destination);
    let shared = SetShared::of(t);
    let Some((first, theirs)) = sets.get(&dir) else {
        let origin = Origin {
            file: file.to_path_buf(),
            line,
        };
        sets.insert(dir, (origin, shared));
        return Ok(());
    };
    let differing = shared.differing(theirs);
    if differing.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        file: file.to_path_buf(),
        line,
        message: format!(
            "template.atomic_set: {} must be the same for every template of the atomic set in {} (they differ from the template at {}:{})",
            differing.join(", "),
            dir.display(),
            first.file.display(),
            first.line
        ),
    })
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
    // Vault Agent reads an env_template from a file too (`source`), as a `template`.
    let source = source(&mut s)?;
    let (left_delimiter, right_delimiter) = delimiters(&mut s)?;
    let config = EnvTemplateConfig {
        name,
        source,
        error_on_missing_key: s.get("error_on_missing_key", Field::bool)?,
        left_delimiter,
        right_delimiter,
    };
    s.finish(&[("destination", "an env_template sets a variable, not a file")])?;
    Ok(config)
}

/// `source` (a template file) or `contents` (inline text): exactly one.
fn source(s: &mut Section<'_>) -> Result<TemplateSource, Problem> {
    match (s.field("source")?, s.field("contents")?) {
        (Some(src), None) => Ok(TemplateSource::File(src.path_buf()?)),
        (None, Some(contents)) => Ok(TemplateSource::Inline(contents.string()?)),
        (Some(src), Some(contents)) => Err(contents.problem(format!(
            "give either source (line {}) or contents, not both",
            src.line
        ))),
        (None, None) => Err(s.problem("needs source (a template file) or contents (inline text)")),
    }
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

/// `user` / `group`, or consul-template's older numeric `uid` / `gid` (one of the two).
fn owner(
    s: &mut Section<'_>,
    key: &'static str,
    numeric: &'static str,
) -> Result<Option<String>, Problem> {
    match (s.field(key)?, s.field(numeric)?) {
        (Some(f), None) => f.string_or_number().map(Some),
        (None, Some(f)) => f.unsigned().map(|id| Some(id.to_string())),
        (Some(_), Some(f)) => Err(f.problem(format!("give {key} or {numeric}, not both"))),
        (None, None) => Ok(None),
    }
}

/// `wait = "5s"` or `wait = "5s:30s"` (consul-template's string form): one duration is `min`, and
/// `max` is then 4 × `min`, as in the block form.
fn wait_string(f: &Field<'_>) -> Result<(Duration, Duration), Problem> {
    let text = f.string()?;
    let parse = |part: &str| {
        crate::config::duration::parse(part).map_err(|m| {
            f.problem(format!(
                "{m} (write \"MIN\" or \"MIN:MAX\", e.g. \"5s:30s\")"
            ))
        })
    };
    let (min, max) = match text.split_once(':') {
        Some((min, max)) => (parse(min)?, parse(max)?),
        None => {
            let min = parse(&text)?;
            (min, min.saturating_mul(4))
        }
    };
    if max < min {
        return Err(f.problem(format!("{max:?} is less than min ({min:?})")));
    }
    Ok((min, max))
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
