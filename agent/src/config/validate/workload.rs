//! Per-host mode (DESIGN.md §11): `workload "NAME" { match {...} policies token_role credential "ID" {...}
//! template {...} }` and `listener "credentials" { address }`, each checked on its own. What spans stanzas and files (unique
//! names and credentials, the listeners a workload is reached through, matches that overlap) is checked
//! when the files are merged (`load::workload`).

use std::path::PathBuf;

use super::unserved::LISTENER;
use crate::config::field::Field;
use crate::config::node::{Problem, Value};
use crate::config::section::{Labeled, Labels, Section};
use crate::config::types::{
    CallerMatch, CredentialConfig, CredentialListener, Origin, TemplateConfig, WorkloadConfig,
};
use crate::config::validate::Located;
use crate::template::{ParseOptions, Template};

mod auto_auth;
pub(crate) mod overlap;

/// The keys of a `workload` block.
pub(super) const KEYS: &[&str] = &[
    "match",
    "policies",
    "token_role",
    "auto_auth",
    "credential",
    "template",
];

/// The keys of `workload { match { } }`.
pub(super) const MATCH_KEYS: &[&str] = &[
    "uid", "gid", "user", "group", "unit", "cgroup", "exe", "sha256",
];

/// The keys of `workload { credential "ID" { } }`.
pub(super) const CREDENTIAL_KEYS: &[&str] = &["unit", "contents"];

/// systemd's limit on a credential id (a file name in the unit's `$CREDENTIALS_DIRECTORY`).
const CREDENTIAL_ID_MAX: usize = 255;

/// systemd's limit on a unit name.
const UNIT_NAME_MAX: usize = 255;

/// The unit types (systemd.unit(5)): what a unit name ends with.
const UNIT_TYPES: &[&str] = &[
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// The units a caller can run in: the innermost `.service` or `.scope` of its cgroup is its `unit`.
const CALLER_UNIT_TYPES: &[&str] = &["service", "scope"];

/// The units that can ask for a credential: `LoadCredential=` is an execution setting (systemd.exec(5)),
/// which only services, sockets, mounts and swaps have.
const CREDENTIAL_UNIT_TYPES: &[&str] = &["service", "socket", "mount", "swap"];

/// Read one `workload "NAME"` block: the workload, and its `template` stanzas (tagged with its name).
pub(super) fn workload(
    block: Labeled<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<(WorkloadConfig, Vec<Located<TemplateConfig>>), Problem> {
    let line = block.line;
    let mut s = block.section;
    let name = block.label.unwrap_or_default();
    if name.trim().is_empty() {
        return Err(Problem::new(
            line,
            "workload: needs a non-empty name, e.g. workload \"app-a\" { ... }",
        ));
    }
    s.check_keys(KEYS, &[])?;
    let Some(m) = s.block("match")? else {
        return Err(Problem::new(
            line,
            format!(
                "{}: required: which callers are this workload, e.g. match {{ unit = \"app-a.service\" }}",
                s.key_path("match")
            ),
        ));
    };
    let matcher = caller_match(m)?;
    let own_auth = auto_auth::auto_auth(&mut s)?;
    let token_role = s.given("token_role", Field::non_empty)?;
    let policies = policies(&mut s, token_role.is_some() || own_auth.is_some())?;
    let mut credentials = Vec::new();
    for c in s.blocks("credential", Labels::Required)? {
        credentials.push(credential(s.path(), c)?);
    }
    let mut templates = Vec::new();
    for t in s.blocks("template", Labels::None)? {
        templates.push(file_template(&name, &matcher, t, warnings)?);
    }
    s.finish(&[])?;
    let w = WorkloadConfig {
        name,
        matcher,
        policies,
        token_role,
        auto_auth: own_auth,
        credentials,
        origin: Origin {
            file: PathBuf::new(),
            line,
        },
    };
    Ok((w, templates))
}

/// One `template { ... }` of the workload `name`: every key of a top-level template, its secrets read
/// with the workload's token, its file owned by the workload: the template's `user`/`group`, else the
/// match's `uid`/`user` and `gid`/`group`. An owner is required: a file the agent's user owns (mode
/// 0600 by default) would be of no use to the workload.
fn file_template(
    name: &str,
    matcher: &CallerMatch,
    block: Labeled<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<Located<TemplateConfig>, Problem> {
    let line = block.line;
    let path = block.section.path().to_string();
    let mut t = super::template::template(block.section, warnings)?;
    let or_match = |given: Option<String>, id: Option<u32>, named: &Option<String>| {
        given.or_else(|| id.map(|n| n.to_string()).or_else(|| named.clone()))
    };
    t.user = or_match(t.user, matcher.uid, &matcher.user);
    t.group = or_match(t.group, matcher.gid, &matcher.group);
    if t.user.is_none() {
        return Err(Problem::new(
            line,
            format!(
                "{path}: the file needs an owner, and workload {name:?} is matched by neither uid nor user \
                 (a workload matched by unit or cgroup only): give the template user/group, e.g. user = \"app-a\""
            ),
        ));
    }
    t.workload = Some(name.to_string());
    Ok((t, line))
}

/// `match { ... }`: at least one key; uid and gid numbers, the rest strings.
fn caller_match(mut m: Section<'_>) -> Result<CallerMatch, Problem> {
    m.check_keys(MATCH_KEYS, &[])?;
    let empty_match = m.problem(format!(
        "needs at least one of {}: an empty match would take every local process",
        MATCH_KEYS.join(", ")
    ));
    let matcher = CallerMatch {
        uid: m.get("uid", id)?,
        gid: m.get("gid", id)?,
        user: m.given("user", |f| name(f, "uid"))?,
        group: m.given("group", |f| name(f, "gid"))?,
        unit: m.given("unit", |f| unit(f, CALLER_UNIT_TYPES, "a caller's unit"))?,
        cgroup: m.given("cgroup", cgroup)?,
        exe: m.get("exe", exe)?,
        sha256: m.get("sha256", sha256)?,
        origin: Origin {
            file: PathBuf::new(),
            line: m.line(),
        },
    };
    m.finish(&[])?;
    let nothing = CallerMatch {
        origin: matcher.origin.clone(),
        ..CallerMatch::default()
    };
    if matcher == nothing {
        return Err(empty_match);
    }
    Ok(matcher)
}

/// `uid` / `gid`: a number the kernel can report.
fn id(f: &Field<'_>) -> Result<u32, Problem> {
    let n = f.unsigned()?;
    u32::try_from(n).map_err(|_| f.problem(format!("{n} is not an id (0 to {})", u32::MAX)))
}

/// `user` / `group`: a name; a number is pointed to its own key (`numeric`).
fn name(f: &Field<'_>, numeric: &str) -> Result<String, Problem> {
    if let Value::Number(n) = &f.node.value {
        return Err(f.problem(format!(
            "expected a name, found the number {n}; write {numeric} = {n} for an id"
        )));
    }
    f.non_empty()
}

/// A systemd unit name (`NAME.TYPE`, in the characters systemd allows) of one of the `types`; `what`
/// names the key's meaning for the message.
fn unit(f: &Field<'_>, types: &[&str], what: &str) -> Result<String, Problem> {
    let name = f.non_empty()?;
    let Some((stem, kind)) = name
        .rsplit_once('.')
        .filter(|(stem, kind)| !stem.is_empty() && UNIT_TYPES.contains(kind))
    else {
        return Err(f.problem(format!(
            "{name:?} is not a systemd unit name: expected NAME.TYPE, TYPE one of {}, e.g. \"app-a.service\"",
            types.join(", ")
        )));
    };
    if let Some(c) = name.chars().find(|c| !crate::workload::is_unit_char(*c)) {
        return Err(f.problem(format!(
            "{name:?} is not a systemd unit name: {c:?} is not allowed (a unit name has letters, digits and \
             :-_.\\@ only, no path)"
        )));
    }
    if name.len() > UNIT_NAME_MAX {
        return Err(f.problem(format!(
            "is {} bytes long; systemd takes unit names of at most {UNIT_NAME_MAX}",
            name.len()
        )));
    }
    if stem.ends_with('@') {
        return Err(f.problem(format!(
            "{name:?} is a template, which never runs itself: name an instance, e.g. \"{stem}1.{kind}\""
        )));
    }
    if !types.contains(&kind) {
        return Err(f.problem(format!(
            "{name:?} is a .{kind} unit; {what} is a {}",
            types
                .iter()
                .map(|t| format!(".{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(name)
}

/// `cgroup`: a glob compiled as the workload selector compiles it, so that `sidekey check` refuses what
/// `sidekey run` would.
fn cgroup(f: &Field<'_>) -> Result<String, Problem> {
    let glob = f.non_empty()?;
    crate::workload::select::cgroup_glob(&glob)
        .map_err(|e| f.problem(format!("not a valid glob: {}", e.kind())))?;
    Ok(glob)
}

/// `exe`: an absolute path, as the kernel reports a process's executable.
fn exe(f: &Field<'_>) -> Result<PathBuf, Problem> {
    let path = f.path_buf()?;
    if !path.is_absolute() {
        return Err(f.problem(format!(
            "{path:?} is not an absolute path (the kernel reports a caller's executable by its absolute path)"
        )));
    }
    Ok(path)
}

/// `sha256`: 64 hex digits, kept in lower case (as `sha256sum` prints them).
fn sha256(f: &Field<'_>) -> Result<String, Problem> {
    let digest = f.non_empty()?;
    if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(f.problem(format!(
            "expected 64 hex digits (as sha256sum prints them), found {} characters{}",
            digest.chars().count(),
            if digest.chars().all(|c| c.is_ascii_hexdigit()) {
                ""
            } else {
                " that are not all hex digits"
            }
        )));
    }
    Ok(digest.to_ascii_lowercase())
}

/// `policies`: required and non-empty without `token_role` (a child token created without policies
/// holds every policy of the agent's token); no empty name.
fn policies(s: &mut Section<'_>, role: bool) -> Result<Vec<String>, Problem> {
    const WIDE: &str = "a child token of the agent's token created without policies would hold every \
                        policy of the agent's token";
    let Some(f) = s.field("policies")? else {
        if role {
            return Ok(Vec::new());
        }
        return Err(Problem::new(
            s.line(),
            format!(
                "{}: required without token_role ({WIDE}); give e.g. policies = [\"app-a\"]",
                s.key_path("policies")
            ),
        ));
    };
    let list = f.strings()?;
    if let Some(i) = list.iter().position(|p| p.trim().is_empty()) {
        return Err(Problem::new(
            f.line,
            format!("{}[{i}]: a policy name must not be empty", f.path),
        ));
    }
    if list.is_empty() && !role {
        return Err(f.problem(format!("must not be empty without token_role ({WIDE})")));
    }
    Ok(list)
}

/// One `credential "ID" { unit contents }` of the workload at `workload` (its key path).
fn credential(workload: &str, block: Labeled<'_>) -> Result<CredentialConfig, Problem> {
    let line = block.line;
    let id = block.label.unwrap_or_default();
    let bad = |why: String| Problem::new(line, format!("{workload}.credential {id:?}: {why}"));
    if id.is_empty() {
        return Err(bad(
            "needs an id, the ID of the unit's LoadCredential=ID:/run/sidekey/creds.sock".into(),
        ));
    }
    if id.contains(['/', '\0']) || id == "." || id == ".." {
        return Err(bad(
            "is not a file name: the id names a file in the unit's $CREDENTIALS_DIRECTORY".into(),
        ));
    }
    if id.len() > CREDENTIAL_ID_MAX {
        return Err(bad(format!(
            "is {} bytes long; systemd takes ids of at most {CREDENTIAL_ID_MAX}",
            id.len()
        )));
    }
    let mut s = block.section;
    s.check_keys(CREDENTIAL_KEYS, &[])?;
    let unit = s.require("unit", |f| {
        unit(
            f,
            CREDENTIAL_UNIT_TYPES,
            "a unit that can take LoadCredential=",
        )
    })?;
    let contents = s.require("contents", Field::string)?;
    let contents_path = s.key_path("contents");
    s.finish(&[])?;
    check_template(&id, &contents)
        .map_err(|why| Problem::new(line, format!("{contents_path}: {why}")))?;
    Ok(CredentialConfig {
        id,
        unit,
        contents,
        origin: Origin {
            file: PathBuf::new(),
            line,
        },
    })
}

/// Why `contents` (of credential `id`) is not a template sidekey can serve, if it is not. The reply goes
/// to systemd as it is, so a `writeToFile` call would have no one to write its file.
fn check_template(id: &str, contents: &str) -> Result<(), String> {
    let served = crate::workload::credentials::contents_options();
    let Err(e) = Template::parse(id, contents, &served) else {
        return Ok(());
    };
    let with_files = ParseOptions {
        allow_write_to_file: true,
        ..served
    };
    if Template::parse(id, contents, &with_files).is_ok() {
        return Err(format!(
            "line {}, column {}: writeToFile is not available in a credential: its contents go to systemd, \
             which writes them to the unit's credentials directory",
            e.line, e.col
        ));
    }
    Err(format!(
        "not a valid template: line {}, column {}: {}",
        e.line, e.col, e.message
    ))
}

/// `listener "credentials" { address = "/run/sidekey/creds.sock" }`: an absolute path, and nothing else.
pub(super) fn credential_listener(
    mut b: Section<'_>,
    line: usize,
) -> Result<CredentialListener, Problem> {
    let path = b.require("address", |f| {
        let path = f.path_buf()?;
        if !path.is_absolute() {
            return Err(f.problem(format!(
                "{path:?} is not an absolute path (a unit's LoadCredential=ID:PATH names the socket by it)"
            )));
        }
        Ok(path)
    })?;
    let only_address: Vec<(&str, &str)> = LISTENER
        .keys
        .iter()
        .filter(|k| !matches!(**k, "address" | "type"))
        .map(|k| (*k, "listener \"credentials\" takes only address"))
        .collect();
    b.finish(&only_address)?;
    Ok(CredentialListener {
        path,
        origin: Origin {
            file: PathBuf::new(),
            line,
        },
    })
}
