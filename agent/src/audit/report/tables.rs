//! The report as a document every format renders: headings, findings, tables (and, in HTML, the
//! timeline), so Markdown, CSV and HTML say the same thing in the same words.

use std::collections::{BTreeMap, BTreeSet};

use super::{Access, Report, SecretLine};

mod columns;

use columns::{compliance, inventory, secrets};

/// One cell; `alert` marks what an auditor must look at (an overdue rotation, a break).
pub(super) struct Cell {
    /// What it says.
    pub text: String,
    /// Whether to set it off (red in HTML, bold in Markdown).
    pub alert: bool,
}

/// A table: its columns and rows.
pub(super) struct Table {
    /// The column headings.
    pub head: Vec<&'static str>,
    /// A cell per column, per row.
    pub rows: Vec<Vec<Cell>>,
}

/// A part of the document.
pub(super) enum Block {
    /// A heading, with a name set in code type after its text (a workload's).
    Heading {
        level: u8,
        text: String,
        code: Option<String>,
    },
    /// A paragraph.
    Para(String),
    /// A list of findings.
    Facts(Vec<Cell>),
    /// A table.
    Table(Table),
    /// The timeline chart under its heading (HTML only).
    Timeline,
}

/// The tables `--table` names, for CSV.
pub const TABLES: [&str; 7] = [
    "secrets",
    "identities",
    "workloads",
    "callers",
    "failures",
    "chain",
    "restarts",
];

// === impl Cell ===

impl Cell {
    fn alert(text: String, alert: bool) -> Self {
        Self { text, alert }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self { text, alert: false }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        text.to_string().into()
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Self {
        n.to_string().into()
    }
}

impl From<Option<u64>> for Cell {
    fn from(n: Option<u64>) -> Self {
        n.map(|v| v.to_string()).unwrap_or_default().into()
    }
}

// === impl Report ===

impl Report {
    /// The document.
    pub(super) fn blocks(&self) -> Vec<Block> {
        let mut b = vec![
            heading(1, "sidekey evidence report", None),
            Block::Para(format!(
                "{} events from {} to {}.",
                self.events, self.from, self.to
            )),
        ];
        if !self.files.is_empty() {
            b.push(Block::Para(format!(
                "Files, in chain order: {}.",
                self.files.join(", ")
            )));
        }
        b.push(Block::Facts(self.findings()));
        b.push(Block::Timeline);
        let (shared, per_workload) = self.by_workload();
        if !shared.is_empty() || per_workload.is_empty() {
            b.push(heading(2, "Inventory", None));
            b.push(Block::Table(inventory(&shared)));
            b.push(heading(2, "Rotation compliance", None));
            b.push(Block::Table(compliance(&shared)));
        }
        for (workload, lines) in &per_workload {
            b.push(heading(2, "Workload", Some(workload)));
            b.push(heading(3, "Inventory", None));
            b.push(Block::Table(inventory(lines)));
            b.push(heading(3, "Rotation compliance", None));
            b.push(Block::Table(compliance(lines)));
        }
        for (title, id) in [
            ("Access by identity", "identities"),
            ("Access by workload", "workloads"),
            ("Access by caller", "callers"),
        ] {
            b.push(heading(2, title, None));
            b.push(self.table_or_none(id));
        }
        b.push(heading(
            2,
            &format!("Failures ({})", self.failures.len()),
            None,
        ));
        b.push(self.table_or_none("failures"));
        b.push(heading(2, "Chain", None));
        if self.chain_gaps.is_empty() {
            b.push(Block::Para(
                "Intact: every event chains to the previous one.".into(),
            ));
        } else {
            b.push(self.table_or_none("chain"));
        }
        if self.continues_earlier_file {
            b.push(Block::Para(
                "The first file continues the chain of an earlier file, not read here.".into(),
            ));
        }
        b.push(heading(
            3,
            &format!("Agent restarts ({})", self.restarts.len()),
            None,
        ));
        b.push(self.table_or_none("restarts"));
        b
    }

    /// Table `id` (one of [`TABLES`]).
    pub(super) fn table(&self, id: &str) -> Option<Table> {
        let lines: Vec<&SecretLine> = self.secrets.iter().collect();
        Some(match id {
            "secrets" => secrets(&lines),
            "identities" => access_table(
                &["method", "role", "subject", "token accessor"],
                self.identities.iter().map(|i| {
                    (
                        vec![
                            i.method.as_str().into(),
                            i.role.as_str().into(),
                            i.subject.as_str().into(),
                            i.token_accessor.as_str().into(),
                        ],
                        &i.access,
                    )
                }),
            ),
            "workloads" => access_table(
                &["workload"],
                self.workloads
                    .iter()
                    .map(|w| (vec![w.workload.as_str().into()], &w.access)),
            ),
            "callers" => access_table(
                &[
                    "unit",
                    "container",
                    "pod",
                    "exe",
                    "uid",
                    "address",
                    "workloads",
                ],
                self.callers.iter().map(|c| {
                    (
                        vec![
                            c.unit.as_str().into(),
                            c.container_id.as_str().into(),
                            c.pod_uid.as_str().into(),
                            c.exe.as_str().into(),
                            c.uid.map(u64::from).into(),
                            c.address.as_str().into(),
                            join(&c.workloads, ", ").into(),
                        ],
                        &c.access,
                    )
                }),
            ),
            "failures" => Table {
                head: vec!["event", "path", "count", "first", "last", "last error"],
                rows: self
                    .failure_summary
                    .iter()
                    .map(|f| {
                        vec![
                            f.event.as_str().into(),
                            f.subject.as_str().into(),
                            f.count.into(),
                            f.first.as_str().into(),
                            f.last.as_str().into(),
                            f.last_error.as_str().into(),
                        ]
                    })
                    .collect(),
            },
            "chain" => Table {
                head: vec!["file", "line", "kind", "detail"],
                rows: self
                    .chain_gaps
                    .iter()
                    .map(|g| {
                        vec![
                            g.file.as_str().into(),
                            g.line.to_string().into(),
                            Cell::alert(g.kind.into(), true),
                            g.detail.as_str().into(),
                        ]
                    })
                    .collect(),
            },
            "restarts" => Table {
                head: vec![
                    "time",
                    "agent",
                    "previous agent",
                    "previous event",
                    "unrecorded (s)",
                ],
                rows: self
                    .restarts
                    .iter()
                    .map(|r| {
                        vec![
                            r.time.as_str().into(),
                            r.agent.as_str().into(),
                            r.previous_agent.as_str().into(),
                            r.previous_time.as_str().into(),
                            r.down_s.into(),
                        ]
                    })
                    .collect(),
            },
            _ => return None,
        })
    }

    /// Table `id`, or "None." when it has no row.
    fn table_or_none(&self, id: &str) -> Block {
        match self.table(id) {
            Some(t) if !t.rows.is_empty() => Block::Table(t),
            _ => Block::Para("None.".into()),
        }
    }

    /// What an auditor looks at first.
    fn findings(&self) -> Vec<Cell> {
        let with_period = self
            .secrets
            .iter()
            .filter(|l| l.rotation_period_s.is_some())
            .count();
        let overdue: Vec<&str> = self
            .secrets
            .iter()
            .filter(|l| l.rotation_overdue)
            .map(|l| l.path.as_str())
            .collect();
        let mut facts = vec![Cell::alert(
            format!(
                "Rotation: {} secret paths, {with_period} with a rotation period, {} overdue{}",
                self.secrets.len(),
                overdue.len(),
                if overdue.is_empty() {
                    String::new()
                } else {
                    format!(": {}", overdue.join(", "))
                }
            ),
            !overdue.is_empty(),
        )];
        let chain = if self.chain_gaps.is_empty() {
            "Chain: intact".to_string()
        } else {
            format!("Chain: {} breaks", self.chain_gaps.len())
        };
        facts.push(Cell::alert(
            if self.continues_earlier_file {
                format!("{chain}, starting mid-chain: the first file continues an earlier file not read here")
            } else {
                chain
            },
            !self.chain_gaps.is_empty() || self.continues_earlier_file,
        ));
        if self.duplicates > 0 {
            facts.push(
                format!(
                    "Redelivered lines left out: {} (same agent.id, seq and bytes)",
                    self.duplicates
                )
                .into(),
            );
        }
        let longest = self.restarts.iter().filter_map(|r| r.down_s).max();
        facts.push(
            format!(
                "Agent restarts: {}{}",
                self.restarts.len(),
                longest
                    .map(|s| format!(" (longest unrecorded stretch {s} s)"))
                    .unwrap_or_default()
            )
            .into(),
        );
        facts.push(
            format!(
                "Failures: {} ({} event kind and path pairs)",
                self.failures.len(),
                self.failure_summary.len()
            )
            .into(),
        );
        facts
    }

    /// The lines without a workload, and each workload's lines (in name order).
    pub(super) fn by_workload(&self) -> (Vec<&SecretLine>, BTreeMap<&str, Vec<&SecretLine>>) {
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
}

fn heading(level: u8, text: &str, code: Option<&str>) -> Block {
    Block::Heading {
        level,
        text: text.to_string(),
        code: code.map(str::to_string),
    }
}

/// An access table: the `who` columns, then what was retrieved.
fn access_table<'a>(
    who: &[&'static str],
    lines: impl Iterator<Item = (Vec<Cell>, &'a Access)>,
) -> Table {
    let mut head = who.to_vec();
    head.extend(["retrievals", "failures", "paths", "first", "last"]);
    Table {
        head,
        rows: lines
            .map(|(mut cells, a)| {
                cells.extend([
                    a.retrievals.into(),
                    a.failures.into(),
                    join(&a.paths, ", ").into(),
                    a.first.as_str().into(),
                    a.last.as_str().into(),
                ]);
                cells
            })
            .collect(),
    }
}

fn join(s: &BTreeSet<String>, sep: &str) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(sep)
}
