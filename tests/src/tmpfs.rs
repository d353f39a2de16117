//! A per-test output directory on tmpfs (`/dev/shm`), removed on drop.
//!
//! sidekey refuses destinations that are not on tmpfs/ramfs by default, so rendered secrets go here.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A fresh directory under `/dev/shm`, removed with its contents when dropped.
#[derive(Debug)]
pub struct ShmDir {
    dir: TempDir,
}

impl ShmDir {
    /// Create `/dev/shm/sidekey-test-XXXXXX`.
    pub fn new() -> ShmDir {
        let dir = tempfile::Builder::new()
            .prefix("sidekey-test-")
            .tempdir_in("/dev/shm")
            .expect("cannot create a directory under /dev/shm (is tmpfs mounted there?)");
        ShmDir { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Names of the entries in the directory, sorted (to check no temp file is left behind).
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .expect("read the /dev/shm test directory")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Default for ShmDir {
    fn default() -> Self {
        ShmDir::new()
    }
}
