//! Runtime: the top-level flows (`run`, `run --once`, `exec`) and the process plumbing they share; the
//! process environment is read through a small trait so tests inject values instead of mutating it.

use std::ffi::OsString;

/// Where environment variables come from.
pub trait EnvSource: Send + Sync {
    /// The value of `name`, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
    /// Every variable, for building a child's environment.
    fn vars_os(&self) -> Vec<(OsString, OsString)>;
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn vars_os(&self) -> Vec<(OsString, OsString)> {
        std::env::vars_os().collect()
    }
}

mod evidence;
mod flows;
pub mod reaped;

pub use flows::{
    EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE, ExecOptions, apply_env_overrides,
    build_engine, exec, once, run,
};
