//! Watching the files that change what sidekey delivers (DESIGN §12), with the `notify` crate.
//!
//! Parent directories are watched, not the files: editors replace a file by renaming a new one over it,
//! and Kubernetes swaps a ConfigMap or Secret volume by pointing its `..data` symlink at a new
//! directory. So an event counts when it names a watched file, or `..data` in a watched directory that
//! has one (then every watched file there changed). Only creations, modifications and removals count:
//! sidekey reading a file must not look like a change.
//!
//! Two kinds of change: a template `source`, a TLS file or (in a `..data` mount, or with
//! `reload_on_config_change`) the config itself asks for a reload, debounced ~500 ms; a credential file
//! (token file, JWT, AppRole ids) wakes the token owner at once, so a file that appears after start is
//! read within a second, and a replaced token file is used right away.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc};

use crate::config::{Config, MethodKind, TemplateSource};

/// How long a burst of reload-worthy changes is collected before one reload.
const DEBOUNCE: Duration = Duration::from_millis(500);
/// How long a credential file may take to be written completely.
const SETTLE: Duration = Duration::from_millis(150);

/// What a change asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Reload,
    Credentials,
    /// A directory on the way to a credential file that did not exist appeared: watch again, and try the
    /// login (the file may be there already).
    Rewatch,
}

/// The files that matter, as `(directory, file name)`, and the directories whose `..data` swap counts.
#[derive(Default)]
struct Targets {
    files: Vec<(PathBuf, std::ffi::OsString, Change)>,
    data_dirs: Vec<(PathBuf, Change)>,
    /// (nearest existing ancestor, missing directory) of credential files whose directory is missing.
    missing: Vec<(PathBuf, PathBuf)>,
}

impl Targets {
    fn change_for(&self, path: &Path) -> Option<Change> {
        let (dir, name) = (path.parent()?, path.file_name()?);
        if let Some((_, _, c)) = self.files.iter().find(|(d, n, _)| d == dir && n == name) {
            return Some(*c);
        }
        if self
            .missing
            .iter()
            .any(|(a, m)| a == dir && m.starts_with(path))
        {
            return Some(Change::Rewatch);
        }
        let data = name.to_str().is_some_and(|n| n.starts_with("..data"));
        self.data_dirs
            .iter()
            .filter(|_| data)
            .find(|(d, _)| d == dir)
            .map(|(_, c)| *c)
    }

    fn dirs(&self) -> HashSet<PathBuf> {
        self.files
            .iter()
            .map(|(d, _, _)| d.clone())
            .chain(self.data_dirs.iter().map(|(d, _)| d.clone()))
            .chain(self.missing.iter().map(|(a, _)| a.clone()))
            .collect()
    }
}

/// A running watch; dropping it stops watching.
pub struct FileWatch {
    inner: Arc<Mutex<Inner>>,
    targets: Arc<Mutex<Targets>>,
}

/// The watcher and what it was set up from (shared with the debounce task, which re-targets it when a
/// missing directory appears).
struct Inner {
    watcher: RecommendedWatcher,
    watching: HashSet<PathBuf>,
    config_files: Vec<PathBuf>,
    cfg: Config,
}

impl Inner {
    /// Watch what `self.cfg` depends on now.
    fn retarget(&mut self, current: &Mutex<Targets>) {
        let t = targets(&self.cfg, &self.config_files);
        let dirs = t.dirs();
        for gone in self.watching.difference(&dirs) {
            let _ = self.watcher.unwatch(gone);
        }
        let mut watching: HashSet<PathBuf> = self.watching.intersection(&dirs).cloned().collect();
        for dir in dirs.difference(&self.watching) {
            match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watching.insert(dir.clone());
                }
                // A directory that does not exist yet is watched once it appears (see `missing`).
                Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "not watched"),
            }
        }
        tracing::debug!(dirs = ?watching, "watching");
        self.watching = watching;
        if let Ok(mut cur) = current.lock() {
            *cur = t;
        }
    }
}

impl FileWatch {
    /// Watch what `cfg` (read from `config_files`) depends on: reload requests go to `reloads`, credential
    /// changes wake `credentials`. `None` (logged) when the platform cannot watch.
    pub fn start(
        cfg: &Config,
        config_files: Vec<PathBuf>,
        reloads: Option<mpsc::UnboundedSender<()>>,
        credentials: Arc<Notify>,
    ) -> Option<Self> {
        let targets = Arc::new(Mutex::new(Targets::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let seen = targets.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if !matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            ) {
                return;
            }
            let Ok(t) = seen.lock() else { return };
            for p in &event.paths {
                if let Some(c) = t.change_for(p) {
                    let _ = tx.send(c);
                }
            }
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch files; changes are picked up on SIGHUP only");
                return None;
            }
        };
        let inner = Arc::new(Mutex::new(Inner {
            watcher,
            watching: HashSet::new(),
            config_files,
            cfg: cfg.clone(),
        }));
        let mut w = Self { inner, targets };
        w.set(cfg);
        tokio::spawn(debounce(
            rx,
            reloads,
            credentials,
            w.inner.clone(),
            w.targets.clone(),
        ));
        Some(w)
    }

    /// Watch what `cfg` depends on from now on (after a reload).
    pub fn set(&mut self, cfg: &Config) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.cfg = cfg.clone();
            inner.retarget(&self.targets);
        }
    }
}

/// Turn raw events into one reload per burst, and credential wake-ups once a file has settled.
async fn debounce(
    mut raw: mpsc::UnboundedReceiver<Change>,
    reloads: Option<mpsc::UnboundedSender<()>>,
    credentials: Arc<Notify>,
    inner: Arc<Mutex<Inner>>,
    targets: Arc<Mutex<Targets>>,
) {
    while let Some(first) = raw.recv().await {
        let window = if first == Change::Reload {
            DEBOUNCE
        } else {
            SETTLE
        };
        tokio::time::sleep(window).await;
        let mut changes = vec![first];
        while let Ok(c) = raw.try_recv() {
            changes.push(c);
        }
        tracing::debug!(?changes, "watched files changed");
        if changes.contains(&Change::Rewatch)
            && let Ok(mut i) = inner.lock()
        {
            i.retarget(&targets);
        }
        if changes.contains(&Change::Credentials) || changes.contains(&Change::Rewatch) {
            credentials.notify_one();
        }
        if changes.contains(&Change::Reload)
            && let Some(tx) = &reloads
            && tx.send(()).is_err()
        {
            return;
        }
    }
}

/// What `cfg` depends on.
fn targets(cfg: &Config, config_files: &[PathBuf]) -> Targets {
    let mut t = Targets::default();
    let add = |path: &Path, change: Change, t: &mut Targets| {
        let Ok(path) = std::path::absolute(path) else {
            return;
        };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        t.files
            .push((dir.to_path_buf(), name.to_os_string(), change));
        if change == Change::Credentials
            && !dir.is_dir()
            && let Some(existing) = dir.ancestors().find(|a| a.is_dir())
        {
            t.missing.push((existing.to_path_buf(), dir.to_path_buf()));
        }
        if dir.join("..data").exists() {
            t.data_dirs.push((dir.to_path_buf(), change));
        }
    };
    let sources = cfg.templates.iter().map(|t| &t.source);
    for source in sources.chain(cfg.env_templates.iter().map(|t| &t.source)) {
        if let TemplateSource::File(p) = source {
            add(p, Change::Reload, &mut t);
        }
    }
    let v = &cfg.vault;
    for p in [&v.ca_cert, &v.client_cert, &v.client_key]
        .into_iter()
        .flatten()
    {
        add(p, Change::Reload, &mut t);
    }
    if let Some(aa) = &cfg.auto_auth {
        match &aa.method.kind {
            MethodKind::Cert {
                client_cert,
                client_key,
                ca_cert,
                ..
            } => {
                for p in [client_cert, client_key, ca_cert].into_iter().flatten() {
                    add(p, Change::Reload, &mut t);
                }
            }
            MethodKind::TokenFile { token_file_path } => {
                add(token_file_path, Change::Credentials, &mut t);
            }
            MethodKind::Jwt { path, .. } => add(path, Change::Credentials, &mut t),
            MethodKind::Kubernetes { token_path, .. } => {
                add(token_path, Change::Credentials, &mut t);
            }
            MethodKind::AppRole {
                role_id_file_path,
                secret_id_file_path,
                ..
            } => {
                add(role_id_file_path, Change::Credentials, &mut t);
                if let Some(p) = secret_id_file_path {
                    add(p, Change::Credentials, &mut t);
                }
            }
        }
    }
    // The config reloads on change only where that is how it is updated (a ConfigMap's `..data` swap), or
    // when asked: systemd users expect an edit to apply on `systemctl reload`, not mid-edit.
    for f in config_files {
        let Ok(f) = std::path::absolute(f) else {
            continue;
        };
        let dir = if f.is_dir() {
            Some(f.as_path())
        } else {
            f.parent()
        };
        let Some(dir) = dir else { continue };
        if dir.join("..data").exists() {
            t.data_dirs.push((dir.to_path_buf(), Change::Reload));
        } else if cfg.reload_on_config_change {
            if f.is_dir() {
                // A directory stands for its *.hcl and *.json files.
                let files = std::fs::read_dir(&f).into_iter().flatten().flatten();
                for e in files.filter(|e| {
                    let p = e.path();
                    matches!(p.extension().and_then(|x| x.to_str()), Some("hcl" | "json"))
                }) {
                    add(&e.path(), Change::Reload, &mut t);
                }
            } else {
                add(&f, Change::Reload, &mut t);
            }
        }
    }
    t
}
