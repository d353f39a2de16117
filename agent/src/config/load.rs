//! Reading the files (a directory stands for its config files): pick the HCL or JSON reader, validate
//! each file, then merge them in order.

use std::path::{Path, PathBuf};

use super::node::Problem;
use super::types::Config;
use super::validate::{self, Partial};
use super::{ConfigError, hcl, hcl1, json};

mod log;
mod merge;
mod token;
mod workload;

use self::merge::{Merged, once, unique};

/// Read, validate and merge `files`; a directory stands for its config files (see [`config_files`]).
pub(crate) fn load(files: &[&Path]) -> Result<Config, ConfigError> {
    let mut merged = Merged::default();
    for given in files {
        for file in config_files(given)? {
            let partial = read(&file)?;
            merged.add(&file, partial)?;
        }
    }
    merged.finish()
}

/// `path` itself, or, for a directory (as Vault Agent's `-config=DIR`, e.g. a mounted ConfigMap), its
/// `*.hcl` and `*.json` files in name order, leaving out subdirectories and editor leftovers (`x~`,
/// `.#x`, `#x#`).
fn config_files(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let read_err = |source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_err)? {
        let file = entry.map_err(read_err)?.path();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = name.ends_with('~')
            || name.starts_with(".#")
            || (name.starts_with('#') && name.ends_with('#'));
        let config = name.ends_with(".hcl") || name.ends_with(".json");
        if config && !temporary && !file.is_dir() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Read and validate one file.
fn read(file: &Path) -> Result<Partial, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    from_text(file, &text)
}

/// Validate `text`, the contents of `file` (whose extension picks the JSON or HCL reader).
fn from_text(file: &Path, text: &str) -> Result<Partial, ConfigError> {
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let tree = if is_json {
        json::parse(text)
    } else {
        // Files edited on Windows: Vault Agent reads CRLF as LF, heredoc lines included (line numbers stay).
        let text = text.replace("\r\n", "\n");
        // Vault Agent reads HCL 1; HCL 2 first for its precise errors, HCL 1 for what only it accepts.
        // When both refuse the file, the error further down is the one to fix: HCL 1 read everything
        // before its error, so an earlier HCL 2 error is only an HCL 1 form HCL 2 does not know.
        hcl::parse(&text).or_else(|e2| match hcl1::parse(&text) {
            Ok(tree) => Ok(tree),
            Err(e1) if e1.line > e2.line => Err(e1),
            Err(_) => Err(e2),
        })
    };
    tree.and_then(|t| validate::file(&t))
        .map_err(|p| invalid(file, p))
}

/// `text` loaded as the only config file `file`: [`load`] without the file system (the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn load_text(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut merged = Merged::default();
    merged.add(file, from_text(file, text)?)?;
    merged.finish()
}

/// [`load_text`] through the HCL 1 reader alone, which [`from_text`] reaches only where HCL 2 refuses.
#[cfg(feature = "fuzzing")]
pub(crate) fn load_hcl1_text(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let partial = hcl1::parse(text)
        .and_then(|t| validate::file(&t))
        .map_err(|p| invalid(file, p))?;
    let mut merged = Merged::default();
    merged.add(file, partial)?;
    merged.finish()
}

fn invalid(file: &Path, p: Problem) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_path_buf(),
        line: p.line,
        message: p.message,
    }
}
