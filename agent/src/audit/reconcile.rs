//! `sidekey audit reconcile`: the agent's trail against the server's audit device, so that a team can
//! prove the agent recorded every request the server saw with its token, and that the server saw every
//! request the agent recorded.
//!
//! - Every agent event a backend request caused carries the server's `request_id`
//!   (`backend.request_id`), which OpenBao writes in plain as `request.id`: most requests match on it.
//!   Each match also says which of the server's token accessors (HMAC'ed as `hmac-sha256:...` unless the
//!   device has `hmac_accessor = false`) is which of the agent's.
//! - Sidekey's entries on the server are those made with a token seen in a match (a login's issued
//!   token included), and every matched entry (a login has no token yet).
//! - An answer without a `request_id` (an error, a 204 such as a revocation) is matched by path, time
//!   (within the window) and token: the server's accessor must be the agent's, in plain or through the
//!   mapping the `request_id` matches gave.
//!
//! What is left is reported per token and path: the server's entries for sidekey's tokens that no agent
//! event records, and the agent's events of requests the server has no entry for.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

pub mod read;
mod render;

pub use read::{AgentRequest, ServerLog, ServerRequest, agent_trail};

/// The result of a reconciliation.
#[derive(Debug, Default, Serialize)]
pub struct Reconciled {
    /// Agent events read.
    pub agent_events: usize,
    /// Of those, the events that stand for a backend request.
    pub agent_requests: usize,
    /// Requests in the server's log (with a request id).
    pub server_requests: usize,
    /// The server's requests made with sidekey's tokens (or matched).
    pub sidekey_entries: usize,
    /// Of those, matched by `request_id`.
    pub matched_by_request_id: usize,
    /// Of those, matched by path, time and token.
    pub matched_by_path_and_time: usize,
    /// The matched share of sidekey's entries, in percent (100 when there are none).
    pub matched_percent: f64,
    /// Sidekey's tokens as the server names them, and as the agent does when a match told.
    pub tokens: Vec<TokenPair>,
    /// The server's entries for sidekey's tokens that no agent event records, per token and path.
    pub server_only: Vec<Group>,
    /// The agent's events of requests the server has no entry for, per token and path.
    pub agent_only: Vec<Group>,
    /// The agent's requests abandoned at shutdown (`unanswered`) that the server has no entry for: they
    /// may never have reached it, and are not counted as missing.
    pub unanswered: Vec<Group>,
}

/// One of sidekey's tokens.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenPair {
    /// The accessor in the server's log (HMAC'ed or plain).
    pub server: String,
    /// The accessor in the agent's trail, when a match told it.
    pub agent: Option<String>,
}

/// Unmatched requests of one token on one path.
#[derive(Debug, Serialize)]
pub struct Group {
    /// The token: the agent's accessor when known, else the server's; `(none)` for a login.
    pub token: String,
    /// The API path.
    pub path: String,
    /// The requests.
    pub items: Vec<Item>,
}

/// One unmatched request.
#[derive(Debug, Serialize)]
pub struct Item {
    /// The agent's trail file it is in (a rotated set has several); absent for the server's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in its log (its file).
    pub line: usize,
    /// Its time as written.
    pub time: String,
    /// The server's request id, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The server's operation (`read`, `update`, ...) or the agent's event name.
    pub what: String,
    /// The server's error, if the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reconciled {
    /// Whether every entry on each side found its counterpart.
    pub fn complete(&self) -> bool {
        self.server_only.is_empty() && self.agent_only.is_empty()
    }
}

/// Match `agent` (the requests among `agent_events` events) against `server`; entries without a
/// `request_id` match within `window_ms`.
pub fn reconcile(
    agent: &[AgentRequest],
    agent_events: usize,
    server: &ServerLog,
    window_ms: i64,
) -> Reconciled {
    let mut m = Matcher {
        agent,
        server,
        agent_matched: vec![false; agent.len()],
        by_server: vec![None; server.requests.len()],
        names: HashMap::new(),
        ours: HashSet::new(),
    };
    m.by_request_id();
    m.by_path_and_time(window_ms);
    m.result(agent_events)
}

/// What is known while matching.
struct Matcher<'a> {
    agent: &'a [AgentRequest],
    server: &'a ServerLog,
    /// For each agent request, whether it matched.
    agent_matched: Vec<bool>,
    /// For each server request, whether it matched and how.
    by_server: Vec<Option<bool>>,
    /// The server's accessor → the agent's, learned from `request_id` matches.
    names: HashMap<String, String>,
    /// The server's accessors of sidekey's tokens.
    ours: HashSet<String>,
}

impl Matcher<'_> {
    fn by_request_id(&mut self) {
        for (ai, a) in self.agent.iter().enumerate() {
            let Some(si) = a
                .request_id
                .as_deref()
                .and_then(|id| self.server.position(id))
            else {
                continue;
            };
            self.agent_matched[ai] = true;
            self.by_server[si] = Some(true);
            self.learn(a, &self.server.requests[si]);
        }
    }

    /// What a `request_id` match says about tokens: the token used is sidekey's (unless the API proxy
    /// forwarded a caller's own), and a login's issued token too; each pairs the two logs' accessors.
    fn learn(&mut self, a: &AgentRequest, s: &ServerRequest) {
        if let Some(issued) = &s.issued
            && !a.issued.is_empty()
        {
            self.ours.insert(issued.clone());
            self.names.insert(issued.clone(), a.issued.clone());
        }
        if a.event == "proxy.request" {
            return;
        }
        if let Some(used) = &s.accessor {
            self.ours.insert(used.clone());
            if !a.accessor.is_empty() {
                self.names.insert(used.clone(), a.accessor.clone());
            }
        }
    }

    /// Agent requests without a `request_id` against the server's unmatched entries of the same path
    /// within the window, the closest in time first, when the tokens agree.
    fn by_path_and_time(&mut self, window_ms: i64) {
        let mut waiting: Vec<usize> = (0..self.agent.len())
            .filter(|i| !self.agent_matched[*i] && self.agent[*i].request_id.is_none())
            .collect();
        waiting.sort_by_key(|i| self.agent[*i].time_ms);
        // The server's unmatched requests by path, so each agent request looks at its path's only.
        let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
        for (si, s) in self.server.requests.iter().enumerate() {
            if self.by_server[si].is_none() {
                by_path.entry(s.path.as_str()).or_default().push(si);
            }
        }
        for ai in waiting {
            let a = &self.agent[ai];
            let Some(candidates) = a.path.as_deref().and_then(|p| by_path.get(p)) else {
                continue;
            };
            let best = candidates
                .iter()
                .copied()
                .filter(|si| {
                    let s = &self.server.requests[*si];
                    self.by_server[*si].is_none()
                        && (s.time_ms - a.time_ms).abs() <= window_ms
                        && self.same_token(s, a)
                })
                .min_by_key(|si| (self.server.requests[*si].time_ms - a.time_ms).abs());
            if let Some(si) = best {
                self.agent_matched[ai] = true;
                self.by_server[si] = Some(false);
            }
        }
    }

    /// Whether `s` may have been made with `a`'s token: the server's accessor is the agent's in plain or
    /// by a learned pair, or one side does not name one (a login; a token the server did not know).
    fn same_token(&self, s: &ServerRequest, a: &AgentRequest) -> bool {
        match &s.accessor {
            None => true,
            Some(_) if a.accessor.is_empty() => true,
            Some(used) => *used == a.accessor || self.names.get(used) == Some(&a.accessor),
        }
    }

    fn result(&self, agent_events: usize) -> Reconciled {
        let mut r = Reconciled {
            agent_events,
            agent_requests: self.agent.len(),
            server_requests: self.server.requests.len(),
            ..Reconciled::default()
        };
        let mut server_only: BTreeMap<(String, String), Vec<Item>> = BTreeMap::new();
        for (si, s) in self.server.requests.iter().enumerate() {
            let ours = s.accessor.as_ref().is_some_and(|a| self.ours.contains(a));
            match self.by_server[si] {
                Some(by_id) => {
                    r.sidekey_entries += 1;
                    if by_id {
                        r.matched_by_request_id += 1;
                    } else {
                        r.matched_by_path_and_time += 1;
                    }
                }
                None if ours => {
                    r.sidekey_entries += 1;
                    let token = self.server_token(s.accessor.as_deref());
                    server_only
                        .entry((token, s.path.clone()))
                        .or_default()
                        .push(Item {
                            file: None,
                            line: s.line,
                            time: s.time.clone(),
                            request_id: Some(s.id.clone()),
                            what: s.operation.clone(),
                            error: s.error.clone(),
                        });
                }
                None => {}
            }
        }
        let mut agent_only: BTreeMap<(String, String), Vec<Item>> = BTreeMap::new();
        let mut unanswered: BTreeMap<(String, String), Vec<Item>> = BTreeMap::new();
        for (ai, a) in self.agent.iter().enumerate() {
            if self.agent_matched[ai] || (a.request_id.is_none() && a.path.is_none()) {
                continue;
            }
            let token = [&a.accessor, &a.issued]
                .into_iter()
                .find(|t| !t.is_empty())
                .map_or_else(|| "(none)".to_string(), Clone::clone);
            let path = a.path.clone().unwrap_or_else(|| "(unknown)".into());
            let side = if a.unanswered {
                &mut unanswered
            } else {
                &mut agent_only
            };
            side.entry((token, path)).or_default().push(Item {
                file: Some(a.file.clone()).filter(|f| !f.is_empty()),
                line: a.line,
                time: a.time.clone(),
                request_id: a.request_id.clone(),
                what: a.event.clone(),
                error: None,
            });
        }
        let matched = r.matched_by_request_id + r.matched_by_path_and_time;
        r.matched_percent = if r.sidekey_entries == 0 {
            100.0
        } else {
            // Counts of log entries are far below 2^52: exact as f64.
            #[allow(clippy::cast_precision_loss)]
            let share = matched as f64 * 100.0 / r.sidekey_entries as f64;
            share
        };
        let mut tokens: Vec<TokenPair> = self
            .ours
            .iter()
            .map(|s| TokenPair {
                server: s.clone(),
                agent: self.names.get(s).cloned(),
            })
            .collect();
        tokens.sort();
        r.tokens = tokens;
        r.server_only = groups(server_only);
        r.agent_only = groups(agent_only);
        r.unanswered = groups(unanswered);
        r
    }

    /// How a server accessor is shown: the agent's accessor when a match paired them.
    fn server_token(&self, accessor: Option<&str>) -> String {
        match accessor {
            None => "(none)".into(),
            Some(a) => self.names.get(a).cloned().unwrap_or_else(|| a.to_string()),
        }
    }
}

fn groups(by: BTreeMap<(String, String), Vec<Item>>) -> Vec<Group> {
    by.into_iter()
        .map(|((token, path), items)| Group { token, path, items })
        .collect()
}

#[cfg(test)]
mod tests;
