//! Rendering of the evidence pack as CSV (one row per secret path and workload) and Markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{Report, SecretLine};

fn opt(x: Option<u64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// CSV columns, in order.
const CSV_HEADER: &str = "path,mount_type,consumers,methods,first_retrieval,last_retrieval,retrievals,rotations,rotation_interval_s,max_rotation_interval_s,rotation_period_s,rotation_overdue,renewals,renewal_interval_s,lease_ttl_s,failures,owner,environment,sensitivity,workload";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Report {
    /// One row per secret path and workload, grouped by workload (failures and chain gaps are in the
    /// JSON and Markdown forms).
    pub fn to_csv(&self) -> String {
        let mut out = format!("{CSV_HEADER}\n");
        for l in &self.secrets {
            let cols = [
                l.path.clone(),
                l.mount_type.clone(),
                join(&l.consumers, ";"),
                join(&l.methods, ";"),
                l.first_retrieval.clone(),
                l.last_retrieval.clone(),
                l.retrievals.to_string(),
                l.rotations.to_string(),
                opt(l.rotation_interval_s),
                opt(l.max_rotation_interval_s),
                opt(l.rotation_period_s),
                l.rotation_overdue.to_string(),
                l.renewals.to_string(),
                opt(l.renewal_interval_s),
                opt(l.lease_ttl_s),
                l.failures.to_string(),
                l.owner.clone(),
                l.environment.clone(),
                l.sensitivity.clone(),
                l.workload.clone(),
            ];
            let row: Vec<String> = cols.iter().map(|c| csv_field(c)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// The lines without a workload, and each workload's lines (in name order).
    fn by_workload(&self) -> (Vec<&SecretLine>, BTreeMap<&str, Vec<&SecretLine>>) {
        let mut shared = Vec::new();
        let mut per_workload: BTreeMap<&str, Vec<&SecretLine>> = BTreeMap::new();
        for l in &self.secrets {
            if l.workload.is_empty() {
                shared.push(l);
            } else {
                per_workload.entry(&l.workload).or_default().push(l);
            }
        }
        (shared, per_workload)
    }

    /// A Markdown document: summary, inventory, rotations (a section per workload), failures,
    /// chain.
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# sidekey evidence report\n");
        let _ = writeln!(
            o,
            "{} events from {} to {}.\n",
            self.events, self.from, self.to
        );
        let (shared, per_workload) = self.by_workload();
        if !shared.is_empty() || per_workload.is_empty() {
            let _ = writeln!(o, "## Inventory\n");
            inventory(&mut o, &shared);
            let _ = writeln!(o, "\n## Rotations and renewals\n");
            rotations(&mut o, &shared);
        }
        for (workload, lines) in &per_workload {
            let _ = writeln!(o, "\n## Workload `{workload}`\n");
            let _ = writeln!(o, "### Inventory\n");
            inventory(&mut o, lines);
            let _ = writeln!(o, "\n### Rotations and renewals\n");
            rotations(&mut o, lines);
        }
        let _ = writeln!(o, "\n## Failures ({})\n", self.failures.len());
        for f in &self.failures {
            let _ = writeln!(o, "- {} `{}` {}: {}", f.time, f.event, f.subject, f.error);
        }
        let _ = writeln!(o, "\n## Chain\n");
        if self.chain_gaps.is_empty() {
            let _ = writeln!(o, "Intact: every event chains to the previous one.");
        } else {
            for g in &self.chain_gaps {
                let _ = writeln!(o, "- {g}");
            }
        }
        o
    }
}

/// The Markdown inventory table of `lines`.
fn inventory(o: &mut String, lines: &[&SecretLine]) {
    let head = [
        "path",
        "type",
        "consumers",
        "method/role",
        "first",
        "last",
        "retrievals",
        "owner",
        "env",
        "sensitivity",
    ];
    table(o, &head, lines, |l| {
        vec![
            l.path.clone(),
            l.mount_type.clone(),
            join(&l.consumers, ", "),
            join(&l.methods, ", "),
            l.first_retrieval.clone(),
            l.last_retrieval.clone(),
            l.retrievals.to_string(),
            l.owner.clone(),
            l.environment.clone(),
            l.sensitivity.clone(),
        ]
    });
}

/// The Markdown rotations and renewals table of `lines`.
fn rotations(o: &mut String, lines: &[&SecretLine]) {
    let head = [
        "path",
        "rotations",
        "mean interval (s)",
        "max interval (s)",
        "rotation period (s)",
        "lease TTL (s)",
        "overdue",
        "renewals",
        "mean renewal interval (s)",
    ];
    table(o, &head, lines, |l| {
        vec![
            l.path.clone(),
            l.rotations.to_string(),
            opt(l.rotation_interval_s),
            opt(l.max_rotation_interval_s),
            opt(l.rotation_period_s),
            opt(l.lease_ttl_s),
            if l.rotation_overdue { "**yes**" } else { "no" }.to_string(),
            l.renewals.to_string(),
            opt(l.renewal_interval_s),
        ]
    });
}

/// A Markdown table with the columns `head` and a row of `cells` per line.
fn table(
    o: &mut String,
    head: &[&str],
    lines: &[&SecretLine],
    cells: impl Fn(&SecretLine) -> Vec<String>,
) {
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(head.len()));
    for l in lines {
        let _ = writeln!(o, "| {} |", cells(l).join(" | "));
    }
}

fn join(s: &BTreeSet<String>, sep: &str) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(sep)
}
