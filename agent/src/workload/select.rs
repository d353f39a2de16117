//! Which workload a caller is: the one workload whose `match` block holds for it, or a refusal saying
//! why not (no workload matches, or several do).

use std::cell::OnceCell;

use globset::{GlobBuilder, GlobMatcher};
use nix::unistd::{Gid, Group, Uid, User};

use super::Caller;
use crate::config::{CallerMatch, ConfigError, WorkloadConfig};

/// Why a caller was not given a workload. The messages name the caller as the kernel sees it (never a
/// secret), so an operator can write the missing `match` or make overlapping ones exclusive.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No workload's `match` holds.
    #[error("no workload matches the caller ({caller}); add a workload whose `match` selects it")]
    NoMatch {
        /// The caller, described.
        caller: String,
    },
    /// More than one workload's `match` holds.
    #[error(
        "the caller ({caller}) matches several workloads ({}); make their `match` blocks exclusive",
        workloads.join(", ")
    )]
    Several {
        /// The caller, described.
        caller: String,
        /// The names of the workloads that match, in config order.
        workloads: Vec<String>,
    },
}

/// The workloads' `match` blocks, ready to test callers against (globs compiled once).
#[derive(Clone, Debug, Default)]
pub struct Selector {
    entries: Vec<Entry>,
}

/// One workload and its compiled `match.cgroup` glob.
#[derive(Clone, Debug)]
struct Entry {
    workload: WorkloadConfig,
    cgroup: Option<GlobMatcher>,
}

/// The caller's user and group names, looked up once per selection and only if a `match` asks.
struct Names {
    uid: u32,
    gid: u32,
    user: OnceCell<Option<String>>,
    group: OnceCell<Option<String>>,
}

impl Selector {
    /// Compile the workloads' matches.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the `match` block's file:line when a `cgroup` glob is not valid.
    pub fn new(workloads: &[WorkloadConfig]) -> Result<Self, ConfigError> {
        let entries = workloads
            .iter()
            .map(|w| {
                let cgroup = w
                    .matcher
                    .cgroup
                    .as_deref()
                    .map(|glob| compile(w, glob))
                    .transpose()?;
                Ok(Entry {
                    workload: w.clone(),
                    cgroup,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self { entries })
    }

    /// Whether `caller` (attested without its executable's hash) could be a workload that matches on
    /// `sha256`: every other key of that workload's `match` holds for it. Only then is the executable
    /// hashed.
    pub fn needs_sha256_for(&self, caller: &Caller) -> bool {
        let names = Names::new(caller);
        self.entries.iter().any(|e| {
            e.workload.matcher.sha256.is_some()
                && holds_but_sha256(&e.workload.matcher, e.cgroup.as_ref(), caller, &names)
        })
    }

    /// The one workload `caller` is.
    ///
    /// # Errors
    /// [`Refusal`] when no workload matches, or several do.
    pub fn select(&self, caller: &Caller) -> Result<&WorkloadConfig, Refusal> {
        let names = Names::new(caller);
        let mut matching = self
            .entries
            .iter()
            .filter(|e| holds(&e.workload.matcher, e.cgroup.as_ref(), caller, &names))
            .map(|e| &e.workload);
        match (matching.next(), matching.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => Err(Refusal::NoMatch {
                caller: describe(caller),
            }),
            (Some(first), Some(second)) => Err(Refusal::Several {
                caller: describe(caller),
                workloads: [first, second]
                    .into_iter()
                    .chain(matching)
                    .map(|w| w.name.clone())
                    .collect(),
            }),
        }
    }
}

impl Names {
    fn new(caller: &Caller) -> Self {
        Self {
            uid: caller.uid,
            gid: caller.gid,
            user: OnceCell::new(),
            group: OnceCell::new(),
        }
    }

    /// The caller's user name now (an unknown uid or a failed lookup has none, and matches no `user`).
    fn user(&self) -> Option<&str> {
        self.user
            .get_or_init(|| {
                User::from_uid(Uid::from_raw(self.uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .as_deref()
    }

    /// The name of the caller's primary group now.
    fn group(&self) -> Option<&str> {
        self.group
            .get_or_init(|| {
                Group::from_gid(Gid::from_raw(self.gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            })
            .as_deref()
    }
}

/// `match.cgroup` as a glob over cgroup paths: `*` stays within a segment, `**` crosses segments; the
/// leading `/` is optional (stripped from both sides).
fn compile(workload: &WorkloadConfig, glob: &str) -> Result<GlobMatcher, ConfigError> {
    cgroup_glob(glob).map_err(|e| ConfigError::Invalid {
        file: workload.matcher.origin.file.clone(),
        line: workload.matcher.origin.line,
        message: format!("workload \"{}\": match.cgroup: {e}", workload.name),
    })
}

/// The one way a `match.cgroup` glob is compiled, shared with the config check (`sidekey check` and
/// `run` agree on which globs are valid): globset's syntax (`*`, `**`, `?`, `[...]`, `{a,b}`, `\`
/// escapes), `*` and `?` never crossing a `/`, the leading `/` stripped.
///
/// # Errors
/// globset's error when `glob` is not a valid glob.
pub(crate) fn cgroup_glob(glob: &str) -> Result<GlobMatcher, globset::Error> {
    GlobBuilder::new(glob.trim_start_matches('/'))
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
}

/// Whether every key of `m` holds for `c`.
fn holds(m: &CallerMatch, cgroup: Option<&GlobMatcher>, c: &Caller, names: &Names) -> bool {
    holds_but_sha256(m, cgroup, c, names)
        && m.sha256.as_deref().is_none_or(|want| {
            c.sha256
                .as_deref()
                .is_some_and(|got| got.eq_ignore_ascii_case(want))
        })
}

/// Whether every key of `m` but `sha256` holds for `c`.
fn holds_but_sha256(
    m: &CallerMatch,
    cgroup: Option<&GlobMatcher>,
    c: &Caller,
    names: &Names,
) -> bool {
    m.uid.is_none_or(|uid| uid == c.uid)
        && m.gid.is_none_or(|gid| gid == c.gid)
        && m.user
            .as_deref()
            .is_none_or(|user| names.user() == Some(user))
        && m.group
            .as_deref()
            .is_none_or(|group| names.group() == Some(group))
        && m.unit
            .as_deref()
            .is_none_or(|unit| c.unit.as_deref() == Some(unit))
        && cgroup.is_none_or(|glob| {
            c.cgroup
                .as_deref()
                .is_some_and(|path| glob.is_match(path.trim_start_matches('/')))
        })
        && m.exe.as_ref().is_none_or(|exe| c.exe.as_ref() == Some(exe))
}

/// The caller as the kernel sees it, for refusals: what a `match` block can select on.
fn describe(c: &Caller) -> String {
    let mut s = format!("pid {}, uid {}, gid {}", c.pid, c.uid, c.gid);
    let exe = c.exe.as_ref().map(|p| p.display().to_string());
    let facts = [
        ("unit", c.unit.as_deref()),
        ("cgroup", c.cgroup.as_deref()),
        ("container", c.container_id.as_deref()),
        ("pod", c.pod_uid.as_deref()),
        ("exe", exe.as_deref()),
        ("sha256", c.sha256.as_deref()),
    ];
    for (key, value) in facts {
        if let Some(value) = value {
            s.push_str(&format!(", {key} {value}"));
        }
    }
    if let Some(why) = &c.sha256_unread {
        s.push_str(&format!(", no sha256: {why}"));
    }
    s
}

#[cfg(test)]
mod tests;
