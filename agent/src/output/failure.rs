//! Typed delivery failures: which output failed, at which step, and whether a retry can fix it. The
//! runtime decides exit codes and the engine decides retries from these fields, never from message text.

use std::fmt;
use std::path::PathBuf;

/// One output: a template file, an env var of the exec'd child, or a token sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputId {
    /// A `template` stanza: how errors name it (source file, or destination for inline `contents`).
    File(String),
    /// An `env_template` (or `sidekey:` reference): the variable's name.
    Env(String),
    /// An auto-auth `sink "file"`: its path.
    Sink(PathBuf),
    /// A workload's `credential`, as systemd asked for it: `UNIT/ID`.
    Credential(String),
}

impl fmt::Display for OutputId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(name) => write!(f, "template {name}"),
            Self::Env(name) => write!(f, "env_template {name}"),
            Self::Sink(path) => write!(f, "sink {}", path.display()),
            Self::Credential(name) => write!(f, "credential {name}"),
        }
    }
}

/// The step of delivery that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Fetching a secret the output needs (the API path).
    Fetch(String),
    /// Rendering the template from data the server returned (missing key, type error, bad function use).
    Render,
    /// Writing the file (or a `writeToFile` side file, or a sink).
    Write,
}

/// A failure of one output. Its message names the output and the secret path, never a value.
#[derive(Clone, Debug)]
pub struct OutputFailure {
    /// Which output.
    pub output: OutputId,
    /// Which step.
    pub step: Step,
    /// What went wrong (already scrubbed of secret values).
    pub message: String,
    /// Whether a later try may work without anyone changing anything (the backend was unreachable).
    pub transient: bool,
    /// Whether it may end the run or hold anything back. `false` for a template with
    /// `error_fatal = false`: logged, audited, counted and retried like any failure, but it ends no run
    /// (`exit_on_retry_failure`) and delays neither readiness nor an exec child.
    pub fatal: bool,
}

impl fmt::Display for OutputFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A render error already names its template with line and column, as Go's text/template does.
        if self.step == Step::Render {
            return f.write_str(&self.message);
        }
        write!(f, "{}: {}", self.output, self.message)
    }
}

impl std::error::Error for OutputFailure {}

impl OutputFailure {
    /// A failure of `output` at `step` that a retry cannot fix by itself.
    pub fn permanent(output: OutputId, step: Step, message: impl Into<String>) -> Self {
        Self {
            output,
            step,
            message: message.into(),
            transient: false,
            fatal: true,
        }
    }
}
