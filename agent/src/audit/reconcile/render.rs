//! A reconciliation as people read it.

use std::fmt::Write;

use super::{Group, Reconciled};

impl Reconciled {
    /// The report as text: what was read, sidekey's tokens, each side's unmatched requests per token
    /// and path, and the summary line last.
    pub fn to_text(&self, agent: &str, server: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "agent trail {agent}: {} events, {} of them backend requests",
            self.agent_events, self.agent_requests
        );
        let _ = writeln!(
            out,
            "server audit log {server}: {} requests, {} of them with sidekey's {} token(s) or matched",
            self.server_requests,
            self.sidekey_entries,
            self.tokens.len()
        );
        for t in &self.tokens {
            match &t.agent {
                Some(a) if *a != t.server => {
                    let _ = writeln!(out, "  token {a} is {} on the server", t.server);
                }
                _ => {
                    let _ = writeln!(out, "  token {}", t.server);
                }
            }
        }
        section(
            &mut out,
            "The server saw, the agent did not record:",
            &self.server_only,
        );
        section(
            &mut out,
            "The agent recorded, the server has no entry:",
            &self.agent_only,
        );
        section(
            &mut out,
            "Abandoned by the agent at shutdown, no server entry (it may never have arrived; not counted):",
            &self.unanswered,
        );
        let _ = writeln!(
            out,
            "matched {} of {} server entries for sidekey's token(s): {:.1}% ({} by request_id, {} by path and time); {} agent request(s) without a server entry",
            self.matched_by_request_id + self.matched_by_path_and_time,
            self.sidekey_entries,
            self.matched_percent,
            self.matched_by_request_id,
            self.matched_by_path_and_time,
            self.agent_only.iter().map(|g| g.items.len()).sum::<usize>(),
        );
        out
    }
}

fn section(out: &mut String, title: &str, groups: &[Group]) {
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for g in groups {
        let _ = writeln!(out, "  token {}, {}: {}", g.token, g.path, g.items.len());
        for i in &g.items {
            let file = i.file.as_ref().map(|f| format!("{f} ")).unwrap_or_default();
            let _ = write!(out, "    {file}line {} at {}: {}", i.line, i.time, i.what);
            if let Some(id) = &i.request_id {
                let _ = write!(out, ", request_id {id}");
            }
            if let Some(e) = &i.error {
                let _ = write!(out, ", error {:?}", e.trim());
            }
            out.push('\n');
        }
    }
}
