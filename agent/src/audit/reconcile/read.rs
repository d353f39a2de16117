//! Reading the two trails: the agent's events that stand for a backend request ([`agent_request`], the
//! one place that knows the agent's formats), and the server's audit device entries, a request and its
//! response joined by `request.id` ([`ServerLog`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A line of the server's log that is not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: not a JSON audit entry ({source})")]
pub struct NotAnEntry {
    /// Its number (from 1).
    pub line: usize,
    /// Why it does not parse.
    source: serde_json::Error,
}

/// The agent's trail cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// A file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not JSON.
    #[error("{}: line {line}: not an audit event", path.display())]
    NotAnEvent {
        /// The file.
        path: PathBuf,
        /// Its number in the file (from 1).
        line: usize,
    },
}

/// The agent's trail as reconciliation reads it.
#[derive(Debug, Default)]
pub struct AgentTrail {
    /// The events that stand for a backend request, oldest first.
    pub requests: Vec<AgentRequest>,
    /// Every event read.
    pub events: usize,
}

/// One agent event that stands for a backend request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRequest {
    /// The trail file it is in (empty when read from no file).
    pub file: String,
    /// Its line in that file (from 1).
    pub line: usize,
    /// Its `seq`.
    pub seq: u64,
    /// Its `time` in milliseconds since the epoch.
    pub time_ms: i64,
    /// Its `time` as written.
    pub time: String,
    /// The event name (`secret.read`, `backend.request`, ...).
    pub event: String,
    /// The server's `request_id` the event recorded, if any.
    pub request_id: Option<String>,
    /// The API path the server logs for the request (see [`server_path`]); `None` when the event does
    /// not say which request it was (then only its `request_id` can match it).
    pub path: Option<String>,
    /// The accessor of the token the request was made with (empty: none or not known).
    pub accessor: String,
    /// The accessor of the token a login or token creation issued (`auth.login` only).
    pub issued: String,
    /// The agent stopped waiting for the answer (shutdown): the server may never have seen it.
    pub unanswered: bool,
}

/// One request as the server's audit device recorded it: its request entry and its response entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerRequest {
    /// `request.id`.
    pub id: String,
    /// The first line of its entries in the server's log (from 1).
    pub line: usize,
    /// The response's `time` (the request's when no response was logged), in milliseconds since the epoch.
    pub time_ms: i64,
    /// That time as written.
    pub time: String,
    /// `request.path`.
    pub path: String,
    /// `request.operation` (`read`, `update`, `create`, `list`, ...).
    pub operation: String,
    /// `auth.accessor`: the accessor of the token used, `hmac-sha256:...` unless the device has
    /// `hmac_accessor = false`; `None` for a login or a token the server did not know.
    pub accessor: Option<String>,
    /// `response.auth.accessor`: the accessor of a token the request issued (a login, a token creation).
    pub issued: Option<String>,
    /// The entry's `error`, if it failed.
    pub error: Option<String>,
}

/// The server's requests, in the order of their first entry.
#[derive(Debug, Default)]
pub struct ServerLog {
    /// Every request with an id.
    pub requests: Vec<ServerRequest>,
    index: HashMap<String, usize>,
}

impl ServerLog {
    /// Take one line of an OpenBao/Vault JSON file audit device (line `line`, from 1).
    ///
    /// # Errors
    /// A line that is not a JSON object, named by its number.
    pub fn line(&mut self, line: usize, text: &str) -> Result<(), NotAnEntry> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(text).map_err(|source| NotAnEntry { line, source })?;
        let kind = str_at(&v, "/type");
        let Some(id) = v
            .pointer("/request/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
        else {
            // An entry without a request id (the server's own setup, a device test) names nothing to match.
            return Ok(());
        };
        let i = match self.index.get(id) {
            Some(i) => *i,
            None => {
                self.index.insert(id.to_string(), self.requests.len());
                self.requests.push(ServerRequest {
                    id: id.to_string(),
                    line,
                    ..ServerRequest::default()
                });
                self.requests.len() - 1
            }
        };
        let r = &mut self.requests[i];
        r.path = str_at(&v, "/request/path");
        r.operation = str_at(&v, "/request/operation");
        r.accessor = r.accessor.take().or_else(|| opt_at(&v, "/auth/accessor"));
        r.issued = r
            .issued
            .take()
            .or_else(|| opt_at(&v, "/response/auth/accessor"));
        r.error = r.error.take().or_else(|| opt_at(&v, "/error"));
        if kind == "response" || r.time.is_empty() {
            r.time = str_at(&v, "/time");
            r.time_ms = millis(&r.time).unwrap_or_default();
        }
        Ok(())
    }

    /// Where the request with `id` is in [`ServerLog::requests`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// Read the agent's trail from `files` (oldest first: a rotated set as `audit verify` takes it), each
/// request named by its file and line.
///
/// # Errors
/// [`TrailError`]: a file cannot be read, or a line is not JSON.
pub fn agent_trail(files: &[PathBuf]) -> Result<AgentTrail, TrailError> {
    let mut trail = AgentTrail::default();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| TrailError::Read {
            path: path.clone(),
            source,
        })?;
        read_file(&mut trail, path, &text)?;
    }
    Ok(trail)
}

fn read_file(trail: &mut AgentTrail, path: &Path, text: &str) -> Result<(), TrailError> {
    let name = path.display().to_string();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str::<Value>(line).map_err(|_| TrailError::NotAnEvent {
            path: path.to_path_buf(),
            line: i + 1,
        })?;
        trail.events += 1;
        if let Some(mut r) = agent_request(i + 1, v) {
            r.file.clone_from(&name);
            trail.requests.push(r);
        }
    }
    Ok(())
}

/// The backend request an agent event stands for (line `line` of the trail, parsed as `line_json`), or
/// `None` for an event no backend request caused. Every format the agent writes is read here: OCSF and
/// ECS lines are mapped back to the sidekey shape (schema v1) first; there, an event with a `backend`
/// object stands for a request, except `backend.failover`.
pub fn agent_request(line: usize, line_json: Value) -> Option<AgentRequest> {
    let v = &crate::audit::format::to_sidekey(line_json);
    let event = v.get("event")?.as_str()?;
    let backend = v.get("backend").filter(|b| b.is_object())?;
    if event == "backend.failover" {
        return None;
    }
    let request_id = backend
        .get("request_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string);
    let accessor = str_at(v, "/identity/token_accessor");
    let (accessor, issued) = if event == "auth.login" {
        // A login's identity names the token it issued; a token creation was made with another one.
        (String::new(), accessor)
    } else {
        (accessor, String::new())
    };
    let time = str_at(v, "/time");
    Some(AgentRequest {
        file: String::new(),
        line,
        seq: v.get("seq").and_then(Value::as_u64).unwrap_or_default(),
        time_ms: millis(&time).unwrap_or_default(),
        time,
        event: event.to_string(),
        path: server_path(event, v, request_id.is_some()),
        request_id,
        accessor,
        issued,
        unanswered: str_at(v, "/backend/purpose") == "unanswered",
    })
}

/// The API path the server logs for the request behind a sidekey event `v` named `event`.
fn server_path(event: &str, v: &Value, answered: bool) -> Option<String> {
    let path = match event {
        "backend.request" => str_at(v, "/backend/path"),
        "secret.read" | "secret.write" | "proxy.request" => str_at(v, "/secret/path"),
        "secret.renew" => "sys/leases/renew".into(),
        "secret.revoke" => "sys/leases/revoke".into(),
        "auth.renew" => "auth/token/renew-self".into(),
        "auth.login" => match str_at(v, "/identity/method").as_str() {
            // The token is read with a lookup-self of its own (a `backend.request`); only a wrapped
            // one is the login's request.
            "token_file" if answered => "auth/token/lookup-self".into(),
            "token_file" => return None,
            // A workload's child token (`auth/token/create[/role]`).
            "token" => match str_at(v, "/identity/role").as_str() {
                "" => "auth/token/create".into(),
                role => format!("auth/token/create/{role}"),
            },
            _ => format!(
                "{}/login",
                str_at(v, "/identity/mount").trim_end_matches('/')
            ),
        },
        _ => return None,
    };
    (!path.is_empty()).then_some(path)
}

/// The string at JSON pointer `ptr`, or empty.
fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The non-empty string at JSON pointer `ptr`.
fn opt_at(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An RFC 3339 time in milliseconds since the epoch.
fn millis(t: &str) -> Option<i64> {
    let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}
