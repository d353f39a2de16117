//! cgroups a test makes in the machine's writable cgroup2 tree, named as systemd names its units
//! (`system.slice/app-a.service`) or as container runtimes name their scopes, so a caller moved into one
//! looks to sidekey like a process of that unit or container. Removed on drop, once the processes moved in
//! have exited, also when the test fails. Tests that make several cgroups under one parent at once hold
//! the parent's [`Cgroup`] for as long, so no child's drop races another's creation for the parent.
//!
//! ```no_run
//! use sidekey_tests::cgroup::Cgroup;
//!
//! let unit = Cgroup::create("system.slice/app-a.service");
//! let out = unit.command("curl", &["-s", "--unix-socket", "/run/sidekey/api.sock", "http://x/v1/sys/health"]);
//! ```

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::background::wait_until;

/// How long the drop waits for the processes moved in to exit before it gives up removing the cgroup.
const EMPTY_WITHIN: Duration = Duration::from_secs(10);

/// A cgroup made for one test; removed with the parents it had to make when dropped.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    /// The directories this made (parents first); other tests may share a parent made before.
    made: Vec<PathBuf>,
}

impl Cgroup {
    /// The writable cgroup2 hierarchy: `/sys/fs/cgroup/unified` on a hybrid host, `/sys/fs/cgroup` on a
    /// pure-v2 one. Panics if the machine has none.
    pub fn root() -> PathBuf {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (_, at, kind) = (f.next()?, f.next()?, f.next()?);
                (kind == "cgroup2").then(|| PathBuf::from(at))
            })
            .next()
            .expect("no cgroup2 hierarchy mounted (see /proc/mounts)")
    }

    /// Make `relative` (`system.slice/w1.service`) under [`Cgroup::root`], and whatever parents it lacks.
    pub fn create(relative: &str) -> Cgroup {
        let relative = relative.trim_start_matches('/');
        let path = Cgroup::root().join(relative);
        let mut made = Vec::new();
        let mut dir = Cgroup::root();
        for part in Path::new(relative).components() {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => made.push(dir.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => panic!("create the cgroup {}: {e}", dir.display()),
            }
        }
        Cgroup { path, made }
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `program ARGS` run by a shell that first moves itself into this cgroup, so the program runs
    /// inside it from its first instruction.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$0" && exec "$@""#)
            .arg(self.path.join("cgroup.procs"))
            .arg(program)
            .args(args);
        cmd
    }

    /// The pids in it now.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A cgroup with processes cannot be removed; the test's callers are short-lived: wait for them.
        wait_until(EMPTY_WITHIN, || self.pids().is_empty());
        let _ = std::fs::remove_dir(&self.path);
        // Parents this made, deepest first; one another test still uses stays (EBUSY).
        for dir in self.made.iter().rev().filter(|d| **d != self.path) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
