//! Outputs: every side effect of delivery. Atomic secret files, token sinks, post-render commands, the
//! child's env.
//!
//! - `deliver`: the deliverer: writes, side writes, sinks, commands beside the loop, their retries.
//! - `sink`: token sinks: what each holds, its value as Vault Agent writes it (encrypted when asked).
//! - `dh`: the curve25519 + AES-GCM envelope of encrypted sinks (Vault Agent's `dhutil` format).
//! - `failure`: typed delivery failures (which output, which step, transient or not).
//! - `file`: atomic, symlink-safe, mode-first file writes; configured mode and owner restored.
//! - `dir`: destination directories opened without following a symlink swapped in later.
//! - `set`: atomic sets (`atomic_set`): files switched together in kubelet's `..data` layout.
//! - `side`: the files a template's `writeToFile` calls asked for.
//! - `command`: the template's `command`, in its own process group, with a timeout.
//! - `env`: the exec'd child's environment.

pub mod command;
pub mod deliver;
pub mod dh;
pub mod dir;
pub mod env;
pub mod failure;
pub mod file;
mod set;
mod side;
pub mod sink;

pub use deliver::{Deliverer, Delivery, EnvMap, FileOutput, RenderedEnv, RenderedFile};
pub use failure::{OutputFailure, OutputId, Step};
pub use file::{FileTarget, WriteOutcome, write_atomic};
