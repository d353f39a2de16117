//! The secret tables (inventory, rotation compliance, every column for CSV): their columns and how
//! each cell reads for a program or a person.

use std::collections::BTreeSet;

use super::{Cell, Table, join};
use crate::audit::report::SecretLine;

/// How a secret table is read: CSV (by a program: `true`/`false`, lists joined by `;`, keys as
/// headings) or text (by a person: `yes`/`no`, lists joined by `, `, titles as headings).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    Csv,
    Person,
}

/// A column of the secret tables: its key (the CSV heading and the JSON member), its title, its cell.
struct Column {
    key: &'static str,
    title: &'static str,
    cell: fn(&SecretLine, Reader) -> Cell,
}

/// A [`Column`], written on one line.
const fn col(
    key: &'static str,
    title: &'static str,
    cell: fn(&SecretLine, Reader) -> Cell,
) -> Column {
    Column { key, title, cell }
}

/// Every column, in the CSV's order: the columns of `sidekey report` v1, then v2's.
const COLUMNS: &[Column] = &[
    col("path", "path", |l, _| {
        Cell::alert(l.path.clone(), l.rotation_overdue)
    }),
    col("mount_type", "type", |l, _| l.mount_type.as_str().into()),
    col("consumers", "consumers", |l, r| list(&l.consumers, r)),
    col("methods", "method/role", |l, r| list(&l.methods, r)),
    col("first_retrieval", "first", |l, _| {
        l.first_retrieval.as_str().into()
    }),
    col("last_retrieval", "last", |l, _| {
        l.last_retrieval.as_str().into()
    }),
    col("retrievals", "retrievals", |l, _| l.retrievals.into()),
    col("rotations", "rotations", |l, _| l.rotations.into()),
    col("rotation_interval_s", "mean interval (s)", |l, _| {
        l.rotation_interval_s.into()
    }),
    col("max_rotation_interval_s", "max interval (s)", |l, _| {
        l.max_rotation_interval_s.into()
    }),
    col("rotation_period_s", "rotation period (s)", |l, _| {
        l.rotation_period_s.into()
    }),
    col("rotation_overdue", "overdue", |l, r| {
        let text = match (r, l.rotation_period_s, l.rotation_overdue) {
            (Reader::Csv, ..) => l.rotation_overdue.to_string(),
            (Reader::Person, None, _) => String::new(),
            (Reader::Person, Some(_), true) => "yes".into(),
            (Reader::Person, Some(_), false) => "no".into(),
        };
        Cell::alert(text, l.rotation_overdue)
    }),
    col("renewals", "renewals", |l, _| l.renewals.into()),
    col("renewal_interval_s", "mean renewal interval (s)", |l, _| {
        l.renewal_interval_s.into()
    }),
    col("lease_ttl_s", "lease TTL (s)", |l, _| l.lease_ttl_s.into()),
    col("failures", "failures", |l, _| l.failures.into()),
    col("owner", "owner", |l, _| l.owner.as_str().into()),
    col("environment", "env", |l, _| l.environment.as_str().into()),
    col("sensitivity", "sensitivity", |l, _| {
        l.sensitivity.as_str().into()
    }),
    col("workload", "workload", |l, _| l.workload.as_str().into()),
    col("last_rotation", "last rotation", |l, _| {
        l.last_rotation.as_str().into()
    }),
    col("overdue", "overdue stretches", |l, _| stretches(l).into()),
];

/// The inventory: who retrieved each secret, how, when, how often.
const INVENTORY: &[&str] = &[
    "path",
    "mount_type",
    "consumers",
    "methods",
    "first_retrieval",
    "last_retrieval",
    "retrievals",
    "failures",
    "owner",
    "environment",
    "sensitivity",
];

/// Rotation compliance: the period against the rotations observed.
const COMPLIANCE: &[&str] = &[
    "path",
    "rotation_period_s",
    "rotations",
    "last_rotation",
    "rotation_interval_s",
    "max_rotation_interval_s",
    "lease_ttl_s",
    "rotation_overdue",
    "overdue",
    "renewals",
    "renewal_interval_s",
];

/// Every column of every line, for a program.
pub(super) fn secrets(lines: &[&SecretLine]) -> Table {
    let keys: Vec<&str> = COLUMNS.iter().map(|c| c.key).collect();
    secret_table(lines, &keys, Reader::Csv)
}

/// The inventory of `lines`, for a person.
pub(super) fn inventory(lines: &[&SecretLine]) -> Table {
    secret_table(lines, INVENTORY, Reader::Person)
}

/// Rotation compliance of `lines`, for a person.
pub(super) fn compliance(lines: &[&SecretLine]) -> Table {
    secret_table(lines, COMPLIANCE, Reader::Person)
}

/// The columns `keys` of `lines`, for `reader`.
fn secret_table(lines: &[&SecretLine], keys: &[&str], reader: Reader) -> Table {
    let columns: Vec<&Column> = keys
        .iter()
        .filter_map(|k| COLUMNS.iter().find(|c| c.key == *k))
        .collect();
    Table {
        head: columns
            .iter()
            .map(|c| {
                if reader == Reader::Csv {
                    c.key
                } else {
                    c.title
                }
            })
            .collect(),
        rows: lines
            .iter()
            .map(|l| columns.iter().map(|c| (c.cell)(l, reader)).collect())
            .collect(),
    }
}

fn list(items: &BTreeSet<String>, reader: Reader) -> Cell {
    join(items, if reader == Reader::Csv { ";" } else { ", " }).into()
}

/// A line's overdue stretches, `FROM to TO (N s)`, the open one `to the end of the window`.
fn stretches(l: &SecretLine) -> String {
    l.overdue
        .iter()
        .map(|o| {
            let to = if o.open {
                "the end of the window".to_string()
            } else {
                o.to.clone()
            };
            format!("{} to {to} ({} s)", o.from, o.seconds)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
