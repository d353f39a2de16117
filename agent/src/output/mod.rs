//! Outputs: every side effect of delivery. Atomic secret files, the post-render command, the child's env.
//!
//! - `file`: atomic, symlink-safe, mode-first file writes.
//! - `command`: the template's `command`, run after its file changed.
//! - `env`: the exec'd child's environment.

pub mod command;
pub mod env;
pub mod file;

pub use file::{FileTarget, OutputError, WriteOutcome, write_atomic};
