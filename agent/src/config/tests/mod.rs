//! Tests of `config::load`: one per error case (message and line), and positive tests on realistic Vault
//! Agent configs.

#![allow(clippy::panic)] // a failed test panics

mod anchor;
mod atomic_set;
mod audit_sinks;
mod cache;
mod errors;
mod evidence;
mod exec;
mod hcl1;
mod keys12;
mod lease_check;
mod listener;
mod misplaced;
mod persist;
mod sinks;
mod unserved;
mod valid;
mod workload;

use std::path::PathBuf;

use tempfile::TempDir;

use super::{Config, ConfigError, load};

/// Config files written to a temporary directory.
struct Files {
    dir: TempDir,
    paths: Vec<PathBuf>,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            paths: Vec::new(),
        }
    }

    fn add(mut self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        self.paths.push(path);
        self
    }

    fn load(&self) -> Result<Config, ConfigError> {
        let paths: Vec<&std::path::Path> = self.paths.iter().map(PathBuf::as_path).collect();
        load(&paths)
    }
}

/// Load one file that must be valid.
fn ok(name: &str, text: &str) -> Config {
    match Files::new().add(name, text).load() {
        Ok(config) => config,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

/// Load one file that must be invalid; returns (file name, line, message).
fn invalid(name: &str, text: &str) -> (String, usize, String) {
    invalid_files(Files::new().add(name, text))
}

fn invalid_files(files: Files) -> (String, usize, String) {
    match files.load() {
        Ok(_) => panic!("expected an error"),
        Err(ConfigError::Invalid {
            file,
            line,
            message,
        }) => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, line, message)
        }
        Err(e) => panic!("expected ConfigError::Invalid, got {e:?}"),
    }
}
