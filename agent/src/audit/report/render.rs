//! Rendering of the evidence pack as CSV (one table: by default one row per secret path and workload)
//! and Markdown. A trail's strings are escaped for each: Markdown's table and inline syntax, and the
//! formula prefixes a spreadsheet would run from a CSV cell.

use std::fmt::Write as _;

use super::Report;
use super::tables::{Block, Cell, Table};

impl Report {
    /// Table `table` (one of [`super::tables::TABLES`]; `secrets`, one row per secret path and
    /// workload, when `None`) as CSV; `None` for an unknown name.
    pub fn to_csv_table(&self, table: Option<&str>) -> Option<String> {
        let t = self.table(table.unwrap_or("secrets"))?;
        let mut out = t.head.join(",");
        out.push('\n');
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| csv_field(&c.text)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        Some(out)
    }

    /// One row per secret path and workload, grouped by workload.
    #[cfg(test)]
    pub fn to_csv(&self) -> String {
        self.to_csv_table(None).unwrap_or_default()
    }

    /// A Markdown document: findings, inventory and rotation compliance (a section per workload),
    /// access by identity, workload and caller, failures, chain.
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        for block in self.blocks() {
            match block {
                Block::Heading { level, text, code } => {
                    let code = code.map(|c| format!(" `{c}`")).unwrap_or_default();
                    let _ = writeln!(o, "{} {}{code}\n", "#".repeat(level.into()), md(&text));
                }
                Block::Para(text) => {
                    let _ = writeln!(o, "{}\n", md(&text));
                }
                Block::Facts(facts) => {
                    for f in &facts {
                        let _ = writeln!(o, "- {}", md_cell(f));
                    }
                    o.push('\n');
                }
                Block::Table(t) => markdown_table(&mut o, &t),
                Block::Timeline => {}
            }
        }
        o
    }
}

fn markdown_table(o: &mut String, t: &Table) {
    let _ = writeln!(o, "| {} |", t.head.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(t.head.len()));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(md_cell).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o.push('\n');
}

fn md_cell(c: &Cell) -> String {
    match (c.alert, c.text.is_empty()) {
        (true, false) => format!("**{}**", md(&c.text)),
        _ => md(&c.text),
    }
}

/// `text` as literal Markdown text: no table cell break, no inline HTML, link, code or emphasis.
fn md(text: &str) -> String {
    let mut o = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '<' | '>' | '[' | ']' | '`' | '*' | '_' | '#' | '!' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// A CSV field: quoted when needed; a leading `=`, `+`, `-`, `@`, tab or CR (a formula to a
/// spreadsheet) is made text with a leading `'`.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
