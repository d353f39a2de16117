//! The outputs the engine renders: template files and `env_template` variables, parsed once at start.

use crate::config::{Config, EnvTemplateConfig, TemplateConfig, TemplateSource};
use crate::output::{FileOutput, FileTarget};
use crate::template::{MissingKey, ParseOptions, Template, TemplateError};

/// A parsed template and how it treats missing keys: the pure half of an output.
pub struct Renderer {
    /// How errors name it: the source file, the destination for inline `contents`, or the env var.
    pub name: String,
    /// The parsed template.
    pub template: Template,
    /// Missing-key behaviour.
    pub missing_key: MissingKey,
    /// The text it was parsed from (a reload compares it: a `source` file may change on its own).
    pub text: String,
    /// The workload whose token reads its secrets (a template inside `workload "NAME"`); `None`: the
    /// agent's.
    pub workload: Option<String>,
}

/// A `template` stanza ready to render and deliver.
pub struct FileJob {
    /// What renders it.
    pub render: Renderer,
    /// Where it goes and what runs after.
    pub output: FileOutput,
}

/// An `env_template` stanza ready to render; `name` is the variable's.
pub type EnvJob = Renderer;

/// Why a template could not be prepared: unreadable source, or a syntax error (with line and column).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The `source` file cannot be read.
    #[error("template {path}: {source}")]
    Source {
        /// The source file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Parse error.
    #[error(transparent)]
    Parse(#[from] TemplateError),
    /// A `user` or `group` that does not exist.
    #[error("template {destination}: {what} {name:?} not found")]
    Owner {
        /// The destination.
        destination: String,
        /// `user` or `group`.
        what: &'static str,
        /// The name given.
        name: String,
    },
}

/// `error_on_missing_key`: unset → sidekey's default; true → Go's `missingkey=error`; false → `<no value>`.
pub fn missing_key(setting: Option<bool>) -> MissingKey {
    match setting {
        None => MissingKey::ErrorOnPrint,
        Some(true) => MissingKey::Error,
        Some(false) => MissingKey::NoValue,
    }
}

/// Parse every template and env_template of `cfg`.
///
/// # Errors
/// The first [`JobError`].
pub fn prepare(cfg: &Config) -> Result<(Vec<FileJob>, Vec<EnvJob>), JobError> {
    let files = cfg
        .templates
        .iter()
        .map(file_job)
        .collect::<Result<Vec<_>, _>>()?;
    let envs = cfg
        .env_templates
        .iter()
        .map(env_job)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((files, envs))
}

/// The name a template's errors are reported under (its file, or `inline` for inline text) and its text.
fn read_source(source: &TemplateSource, inline: String) -> Result<(String, String), JobError> {
    match source {
        TemplateSource::File(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| JobError::Source {
                path: p.display().to_string(),
                source,
            })?;
            Ok((p.display().to_string(), text))
        }
        TemplateSource::Inline(s) => Ok((inline, s.clone())),
    }
}

fn file_job(t: &TemplateConfig) -> Result<FileJob, JobError> {
    let (name, text) = read_source(&t.source, t.destination.display().to_string())?;
    let opts = ParseOptions {
        left_delimiter: t.left_delimiter.clone(),
        right_delimiter: t.right_delimiter.clone(),
        function_denylist: t.function_denylist.clone(),
        allow_write_to_file: true,
    };
    let template = Template::parse(&name, &text, &opts)?;
    let text = text.to_string();
    let dest = t.destination.display().to_string();
    Ok(FileJob {
        render: Renderer {
            name: name.clone(),
            template,
            missing_key: missing_key(t.error_on_missing_key),
            text,
            workload: t.workload.clone(),
        },
        output: FileOutput {
            name,
            target: FileTarget {
                path: t.destination.clone(),
                mode: t.perms,
                uid: owner(&dest, "user", t.user.as_deref())?,
                gid: owner(&dest, "group", t.group.as_deref())?,
                create_dirs: t.create_dest_dirs,
                allow_non_tmpfs: t.allow_non_tmpfs,
                backup: t.backup,
                keep_mode: !t.perms_given,
            },
            command: t.command.clone(),
            command_timeout: t.command_timeout,
            // One workload's file must not hold back the agent's readiness, nor end the run, for
            // every other workload it serves: its failure is that workload's alone.
            error_fatal: t.error_fatal && t.workload.is_none(),
            atomic_set: t.atomic_set,
        },
    })
}

fn env_job(t: &EnvTemplateConfig) -> Result<EnvJob, JobError> {
    let opts = ParseOptions {
        left_delimiter: t.left_delimiter.clone(),
        right_delimiter: t.right_delimiter.clone(),
        function_denylist: Vec::new(),
        allow_write_to_file: false,
    };
    let (source_name, text) = read_source(&t.source, format!("env_template \"{}\"", t.name))?;
    let template = Template::parse(&source_name, &text, &opts)?;
    Ok(Renderer {
        name: t.name.clone(),
        template,
        missing_key: missing_key(t.error_on_missing_key),
        text,
        workload: None,
    })
}

/// A `user`/`group` given as a name or a numeric id.
pub(crate) fn owner(
    dest: &str,
    what: &'static str,
    v: Option<&str>,
) -> Result<Option<u32>, JobError> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(id) = v.parse::<u32>() {
        return Ok(Some(id));
    }
    let err = || JobError::Owner {
        destination: dest.to_string(),
        what,
        name: v.to_string(),
    };
    let id = if what == "user" {
        nix::unistd::User::from_name(v)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    } else {
        nix::unistd::Group::from_name(v)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    };
    id.map(Some).ok_or_else(err)
}
