//! What `sidekey check` can tell about destinations before `run` would refuse them.

use crate::config::Config;

/// Files `run` would refuse to write because of a directory on their path (see `output::dir::refused`:
/// their own directory a symlink, a symlink above it owned by someone else, a directory writable by its
/// group or others, not sticky and owned by neither root nor this user), where that can be told now.
pub(super) fn destinations_in_unsafe_dirs(cfg: &Config) -> Vec<String> {
    let templates = cfg
        .templates
        .iter()
        .map(|t| ("template destination", &t.destination));
    let sinks = cfg
        .auto_auth
        .iter()
        .flat_map(|a| a.sinks.iter().map(|s| ("sink", &s.path)));
    let state = cfg.persist.iter().map(|p| ("state file", &p.path));
    templates
        .chain(sinks)
        .chain(state)
        .filter_map(|(what, path)| {
            let why = crate::output::dir::refused(path)?;
            Some(format!(
                "{what} {}: {why} (`sidekey run` will refuse to write it)",
                path.display()
            ))
        })
        .collect()
}

/// Destinations that `run` would refuse because they are not on tmpfs/ramfs (where that can be told now).
pub(super) fn destinations_off_tmpfs(cfg: &Config) -> Vec<String> {
    let state = cfg
        .persist
        .as_ref()
        .filter(|p| !p.allow_non_tmpfs)
        .filter(|p| crate::output::file::destination_on_memory_fs(&p.path) == Some(false))
        .map(|p| {
            format!(
                "{} {}: not on tmpfs/ramfs, so `sidekey run` will refuse to keep the token and leases there (mount a tmpfs there, or set allow_non_tmpfs = true in the persist block)",
                p.name(),
                p.path.display()
            )
        });
    cfg.templates
        .iter()
        .filter(|t| !t.allow_non_tmpfs)
        .filter(|t| crate::output::file::destination_on_memory_fs(&t.destination) == Some(false))
        .map(|t| {
            format!(
                "template destination {}: not on tmpfs/ramfs, so `sidekey run` will refuse to write it (mount a tmpfs there, or set allow_non_tmpfs = true in the template stanza)",
                t.destination.display()
            )
        })
        .chain(state)
        .collect()
}
