//! The state file's settings (docs/persistence.md): the `persist` block of Vault Agent's `cache` stanza
//! (`persist "kubernetes" { path, keep_after_import, exit_on_err, service_account_token_file }`, or
//! `persist { type = "kubernetes" ... }`) with sidekey's `key_file` and `allow_non_tmpfs`, its own type
//! `persist "file"`, and the top-level `lease_state_file` / `lease_state_key_file`. The key itself is read
//! at start-up (`crate::persist`), where the environment's systemd credentials are known.

use std::path::PathBuf;

use super::{Located, field};
use crate::config::field::Field;
use crate::config::node::Problem;
use crate::config::section::{Labels, Section};
use crate::config::types::{KUBERNETES_FILE_NAME, Origin, PersistConfig, PersistKind};

/// Every key of a `persist` block.
pub(super) const KEYS: &[&str] = &[
    "type",
    "path",
    "keep_after_import",
    "exit_on_err",
    "service_account_token_file",
    "key_file",
    "allow_non_tmpfs",
];

/// The keys of [`KEYS`] only sidekey knows.
pub(super) const SIDEKEY_KEYS: &[&str] = &["key_file", "allow_non_tmpfs"];

/// The `persist` block of a `cache` stanza, if it has one (read, so the cache's own checks do not see
/// it again).
pub(super) fn from_cache(
    cache: &mut Section<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<Option<Located<PersistConfig>>, Problem> {
    let mut blocks = cache.blocks("persist", Labels::Optional(KEYS))?;
    if let [first, second, ..] = blocks.as_slice() {
        return Err(Problem::new(
            second.line,
            format!(
                "{}: given twice (lines {} and {}); give it once",
                cache.key_path("persist"),
                first.line,
                second.line
            ),
        ));
    }
    let Some(block) = blocks.pop() else {
        return Ok(None);
    };
    let line = block.line;
    let mut s = block.section;
    let named = match (block.label, s.field("type")?) {
        (Some(label), Some(f)) => {
            let given = f.string()?;
            if !given.eq_ignore_ascii_case(&label) {
                return Err(f.problem(format!(
                    "{given:?} contradicts the block's label {label:?}; give the type once"
                )));
            }
            label
        }
        (Some(label), None) => label,
        (None, Some(f)) => f.non_empty()?,
        (None, None) => {
            return Err(s.problem(
                "give the type, e.g. persist \"kubernetes\" { path = \"/vault/agent-cache\" } or \
                 persist \"file\" { path = \"/run/sidekey/state\" key_file = \"/etc/sidekey/state.key\" }",
            ));
        }
    };
    let kind = match named.to_ascii_lowercase().as_str() {
        "kubernetes" => PersistKind::Kubernetes,
        "file" => PersistKind::File,
        other => {
            return Err(s.problem(format!(
                "persist type {other:?} is not supported: \"kubernetes\" (Vault Agent's) or \"file\""
            )));
        }
    };
    let path = s.require("path", Field::path_buf)?;
    let path = match kind {
        // Vault Agent's `path` is the directory its cache file goes in.
        PersistKind::Kubernetes => path.join(KUBERNETES_FILE_NAME),
        _ => path,
    };
    let key = s.field("key_file")?.map(|f| (f.path_buf(), f.line));
    let (key_file, key_line) = match key {
        Some((p, line)) => (Some(p?), Some(line)),
        None => (None, None),
    };
    if let Some(f) = s.field("service_account_token_file")? {
        f.path_buf()?;
        warnings.push(f.problem(
            "not used: Vault Agent mixes the service account token into its own key, which it keeps \
             in the cache file; sidekey's state file is protected by key_file, kept apart from it",
        ));
    }
    let config = PersistConfig {
        kind,
        path,
        key_file,
        keep_after_import: s
            .get("keep_after_import", Field::bool)?
            .unwrap_or(kind == PersistKind::File),
        exit_on_err: s.get("exit_on_err", Field::bool)?.unwrap_or(false),
        allow_non_tmpfs: s.get("allow_non_tmpfs", Field::bool)?.unwrap_or(false),
        origin: at(line),
        key_origin: key_line.map(at),
    };
    s.finish(&[])?;
    Ok(Some((config, line)))
}

/// The top-level `lease_state_file` and `lease_state_key_file` of one file, each with its line.
type LeaseStateKeys = (Option<Located<PathBuf>>, Option<Located<PathBuf>>);

/// The top-level `lease_state_file` and `lease_state_key_file` of one file; [`super::super::load()`]
/// puts them together (they may come from different files).
pub(super) fn lease_state_keys(s: &mut Section<'_>) -> Result<LeaseStateKeys, Problem> {
    Ok((
        field(s, "lease_state_file", Field::path_buf)?,
        field(s, "lease_state_key_file", Field::path_buf)?,
    ))
}

/// The state file of all the config files: the cache's `persist` block, or `lease_state_file` (kept
/// across restarts, plain unless a key is given or a systemd credential is present at start-up), not
/// both. The error names where to fix it.
pub(crate) fn merge(
    cache: Option<PersistConfig>,
    lease_state_file: Option<(PathBuf, Origin)>,
    key: Option<(PathBuf, Origin)>,
) -> Result<Option<PersistConfig>, (Origin, String)> {
    let Some((path, origin)) = lease_state_file else {
        return match key {
            Some((_, at)) => Err((
                at,
                "lease_state_key_file: has no effect without lease_state_file; give \
                 lease_state_file = \"PATH\" too (or persist \"file\" { path, key_file } in the cache stanza)"
                    .into(),
            )),
            None => Ok(cache),
        };
    };
    if let Some(p) = cache {
        let message = format!(
            "lease_state_file: the state file is already configured by {} at {}:{}; give one of them",
            p.name(),
            p.origin.file.display(),
            p.origin.line
        );
        return Err((origin, message));
    }
    let (key_file, key_origin) = key.unzip();
    Ok(Some(PersistConfig {
        kind: PersistKind::LeaseStateFile,
        path,
        key_file,
        keep_after_import: true,
        exit_on_err: false,
        allow_non_tmpfs: false,
        origin,
        key_origin,
    }))
}

/// An origin in the file being read (its name is added when the files are merged).
fn at(line: usize) -> Origin {
    Origin {
        file: PathBuf::new(),
        line,
    }
}
