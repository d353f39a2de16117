//! The `template` and `env_template` stanzas: where a template's text comes from and where it goes.

use std::path::PathBuf;
use std::time::Duration;

/// Where a template's text comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateSource {
    /// `source`: a template file.
    File(PathBuf),
    /// `contents`: inline template text.
    Inline(String),
}

/// One `template { ... }` stanza.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateConfig {
    /// `source` or `contents`.
    pub source: TemplateSource,
    /// `destination`: the rendered file.
    pub destination: PathBuf,
    /// `perms`: the file mode (default 0600, stricter than Vault Agent's 0644).
    pub perms: u32,
    /// Whether `perms` was written. If not, an existing destination keeps its mode, as with
    /// consul-template (an operator may have opened it to a reader group).
    pub perms_given: bool,
    /// `user`: owner (name or uid), if set.
    pub user: Option<String>,
    /// `group`: group (name or gid), if set.
    pub group: Option<String>,
    /// `create_dest_dirs` (default true).
    pub create_dest_dirs: bool,
    /// `command`: run after the file changes; a string is run with `sh -c`, a list as argv.
    pub command: Option<Vec<String>>,
    /// `command_timeout` (default 30 s).
    pub command_timeout: Duration,
    /// `error_on_missing_key`: `None` = sidekey's default (error when printing a missing key).
    pub error_on_missing_key: Option<bool>,
    /// `left_delimiter` (default `{{`).
    pub left_delimiter: String,
    /// `right_delimiter` (default `}}`).
    pub right_delimiter: String,
    /// `error_fatal` (default true): whether a failure of this template may end the run
    /// (`exit_on_retry_failure`) and holds back readiness and an exec child; `false`: it is logged,
    /// audited and retried while everything else goes on.
    pub error_fatal: bool,
    /// `wait { min, max }`: quiescence timers before writing. Validated, not acted on (README: loaded, not
    /// served): sidekey renders once all of a template's secrets are there.
    #[allow(dead_code)]
    pub wait: Option<(Duration, Duration)>,
    /// `backup`: keep the previous file as `<destination>.bak`.
    pub backup: bool,
    /// `allow_non_tmpfs` (sidekey): allow a destination that is not on tmpfs/ramfs.
    pub allow_non_tmpfs: bool,
    /// `atomic_set` (sidekey): the templates with it whose destinations share a directory are switched
    /// together, in kubelet's `..data` layout (docs/files.md).
    pub atomic_set: bool,
    /// `function_denylist`: template functions that may not be used.
    pub function_denylist: Vec<String>,
    /// The workload whose token reads the template's secrets (a `template` inside `workload "NAME"`);
    /// `None`: the agent's own token.
    pub workload: Option<String>,
}

/// One `env_template "NAME" { contents = "..." }` stanza: an environment variable for the exec'd child.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvTemplateConfig {
    /// The variable's name.
    pub name: String,
    /// `contents`, or `source` (a template file), as for `template`.
    pub source: TemplateSource,
    /// `error_on_missing_key`, as for files.
    pub error_on_missing_key: Option<bool>,
    /// `left_delimiter` (default `{{`).
    pub left_delimiter: String,
    /// `right_delimiter` (default `}}`).
    pub right_delimiter: String,
}
