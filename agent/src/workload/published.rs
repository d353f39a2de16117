//! The workloads as one config gives them, compiled once: the `match` blocks the unix listeners select
//! callers with and the credentials the `LoadCredential=` socket serves. The lease engine publishes them
//! (a reload replaces them, so the listeners serve the new workloads from the next request on).

use super::credentials::{Catalog, ContentsError};
use super::select::Selector;
use crate::config::{ConfigError, WorkloadConfig};

/// The workloads, compiled for the listeners that serve them.
#[derive(Debug, Default)]
pub struct Workloads {
    /// Which workload a caller is.
    pub selector: Selector,
    /// The credentials the `LoadCredential=` socket serves.
    pub credentials: Catalog,
}

/// A workload stanza that cannot be served: a configuration error naming file:line.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadsError {
    /// A `match.cgroup` glob is not valid.
    #[error(transparent)]
    Match(#[from] ConfigError),
    /// A credential's `contents` is not a valid template.
    #[error(transparent)]
    Contents(#[from] ContentsError),
}

impl Workloads {
    /// Compile `workloads`.
    ///
    /// # Errors
    /// [`WorkloadsError`], naming the stanza's file:line.
    pub fn compile(workloads: &[WorkloadConfig]) -> Result<Self, WorkloadsError> {
        Ok(Self {
            selector: Selector::new(workloads)?,
            credentials: Catalog::parse(workloads)?,
        })
    }
}
