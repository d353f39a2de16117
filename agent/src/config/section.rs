//! Reading one block of the raw tree: typed getters that name the key path and line in every error, and
//! [`Section::finish`], which turns any key nobody asked for into an "unknown key" (with a suggestion) or a
//! "not supported by sidekey" error. This is the raw layer's `deny_unknown_fields`, with one exception: a
//! key Vault Agent skips harmlessly (a key of another block, or of a newer Vault Agent; see
//! `validate::keys`) is a warning in the file's [`Notes`] instead.

use std::cell::RefCell;

use super::field::Field;
use super::node::{Entry, Node, Problem, Value};

mod leftover;

/// The warnings the sections of one file found about keys they skipped, shared by all of them.
pub(crate) type Notes = RefCell<Vec<Problem>>;

/// How a repeated block is named.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Labels {
    /// `template { }`: a label is an error.
    None,
    /// `env_template "NAME" { }`; in JSON `"env_template": {"NAME": { }}`. The label joins the key path.
    Required,
    /// `method "jwt" { }` or `method { type = "jwt" }`; `body_keys` tell a JSON body from a label.
    Optional(&'static [&'static str]),
}

/// One block (or object) being read.
pub(crate) struct Section<'a> {
    path: String,
    /// The path without labels (`env_template.DB` is an `env_template`): which block this is.
    kind: String,
    line: usize,
    entries: &'a [Entry],
    used: Vec<bool>,
    asked: Vec<&'static str>,
    notes: &'a Notes,
}

/// A block found by [`Section::blocks`], with its label if it has one.
pub(crate) struct Labeled<'a> {
    /// The block's label.
    pub label: Option<String>,
    /// The line of the label (or of the block).
    pub line: usize,
    /// The block's body.
    pub section: Section<'a>,
}

impl<'a> Section<'a> {
    /// The top level of a file (`root` must be a block or object); its sections' warnings go to `notes`.
    pub(crate) fn root(root: &'a Node, notes: &'a Notes) -> Result<Self, Problem> {
        Self::new(String::new(), String::new(), 1, root, notes)
    }

    /// Read `node` (which must be a block or object) as the section at `path`.
    fn new(
        path: String,
        kind: String,
        line: usize,
        node: &'a Node,
        notes: &'a Notes,
    ) -> Result<Self, Problem> {
        match &node.value {
            Value::Map(entries) => Ok(Self {
                path,
                kind,
                line,
                entries,
                used: vec![false; entries.len()],
                asked: Vec::new(),
                notes,
            }),
            other => Err(Problem::new(
                line,
                format!("{path}: expected a block, found {}", other.describe()),
            )),
        }
    }

    /// The block `key` of this section, at `path` (which has the block's label, if it joins the path).
    fn child(&self, key: &str, path: String, line: usize, node: &'a Node) -> Result<Self, Problem> {
        let kind = if self.kind.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.kind)
        };
        Self::new(path, kind, line, node, self.notes)
    }

    /// The attribute `f` (read as `key`) when its value is a block, e.g. `wait = { min = "5s" }`.
    pub(crate) fn nested(&self, key: &str, f: &Field<'a>) -> Result<Self, Problem> {
        self.child(key, f.path.clone(), f.line, f.node)
    }

    /// The section's key path (`auto_auth.method`).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The section's line.
    pub(crate) fn line(&self) -> usize {
        self.line
    }

    /// The path of `key` inside this section.
    pub(crate) fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An error about the section itself.
    pub(crate) fn problem(&self, message: impl std::fmt::Display) -> Problem {
        Problem::new(self.line, format!("{}: {message}", self.path))
    }

    /// Every entry named `key`, marked as read.
    fn take_all(&mut self, key: &'static str) -> Vec<&'a Entry> {
        self.asked.push(key);
        let entries = self.entries;
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.key == key)
            .map(|(i, e)| {
                if let Some(u) = self.used.get_mut(i) {
                    *u = true;
                }
                e
            })
            .collect()
    }

    /// Mark every entry named `key` as read, whatever its value (for keys sidekey accepts and ignores).
    pub(crate) fn skip(&mut self, key: &'static str) {
        let _ = self.take_all(key);
    }

    /// The single entry named `key`; given twice is an error.
    fn take_one(&mut self, key: &'static str) -> Result<Option<&'a Entry>, Problem> {
        let found = self.take_all(key);
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            [first, second, ..] => Err(Problem::new(
                second.line,
                format!(
                    "{}: given twice (lines {} and {}); give it once",
                    self.key_path(key),
                    first.line,
                    second.line
                ),
            )),
        }
    }

    /// The attribute `key`, if present. An empty string counts as absent, as in Vault Agent (generated
    /// configs, such as the injector's JSON, write `"ca_cert": ""`); so a required key given as `""` is
    /// reported as required.
    pub(crate) fn field(&mut self, key: &'static str) -> Result<Option<Field<'a>>, Problem> {
        let f = self.given_field(key)?;
        Ok(f.filter(|f| !matches!(&f.node.value, Value::Str(s) if s.trim().is_empty())))
    }

    /// The attribute `key`, if present, an empty string included: for sidekey's own keys, which no
    /// generated Vault Agent config writes, `key = ""` is a mistake to name, not a default.
    pub(crate) fn given_field(&mut self, key: &'static str) -> Result<Option<Field<'a>>, Problem> {
        let Some(entry) = self.take_one(key)? else {
            return Ok(None);
        };
        let path = self.key_path(key);
        if !entry.labels.is_empty() {
            return Err(Problem::new(
                entry.line,
                format!("{path}: expected `{key} = value`, found a labeled block"),
            ));
        }
        Ok(Some(Field {
            path,
            line: entry.line,
            node: &entry.node,
        }))
    }

    /// The attribute `key` converted by `get`, if present (an empty string included: see
    /// [`Self::given_field`]).
    pub(crate) fn given<T>(
        &mut self,
        key: &'static str,
        get: impl FnOnce(&Field<'a>) -> Result<T, Problem>,
    ) -> Result<Option<T>, Problem> {
        self.given_field(key)?.map(|f| get(&f)).transpose()
    }

    /// The attribute `key` converted by `get`, if present.
    pub(crate) fn get<T>(
        &mut self,
        key: &'static str,
        get: impl FnOnce(&Field<'a>) -> Result<T, Problem>,
    ) -> Result<Option<T>, Problem> {
        self.field(key)?.map(|f| get(&f)).transpose()
    }

    /// The required attribute `key` converted by `get`.
    pub(crate) fn require<T>(
        &mut self,
        key: &'static str,
        get: impl FnOnce(&Field<'a>) -> Result<T, Problem>,
    ) -> Result<T, Problem> {
        match self.field(key)? {
            Some(f) => get(&f),
            None => Err(self.misspelled(key).unwrap_or_else(|| {
                Problem::new(self.line, format!("{}: required", self.key_path(key)))
            })),
        }
    }

    /// The single unlabeled block (or object attribute) `key`, if present. In JSON a one-element list of
    /// objects is accepted too.
    pub(crate) fn block(&mut self, key: &'static str) -> Result<Option<Section<'a>>, Problem> {
        let Some(entry) = self.take_one(key)? else {
            return Ok(None);
        };
        let path = self.key_path(key);
        if let Some(label) = entry.labels.first() {
            return Err(Problem::new(
                entry.line,
                format!("{path}: takes no label, found {label:?}"),
            ));
        }
        let node = match &entry.node.value {
            Value::List(items) => match items.as_slice() {
                [one] => one,
                _ => {
                    return Err(Problem::new(
                        entry.line,
                        format!(
                            "{path}: expected one block, found a list of {}",
                            items.len()
                        ),
                    ));
                }
            },
            _ => &entry.node,
        };
        self.child(key, path, entry.line, node).map(Some)
    }

    /// Every block `key`, in order (repeated blocks, or a JSON list of objects).
    pub(crate) fn blocks(
        &mut self,
        key: &'static str,
        labels: Labels,
    ) -> Result<Vec<Labeled<'a>>, Problem> {
        let path = self.key_path(key);
        let mut out = Vec::new();
        for entry in self.take_all(key) {
            match entry.labels.as_slice() {
                [] => {}
                [label] if matches!(labels, Labels::None) => {
                    return Err(Problem::new(
                        entry.line,
                        format!("{path}: takes no label, found {label:?}"),
                    ));
                }
                [label] => {
                    let section_path = match labels {
                        Labels::Required => format!("{path}.{label}"),
                        _ => path.clone(),
                    };
                    out.push(Labeled {
                        label: Some(label.clone()),
                        line: entry.line,
                        section: self.child(key, section_path, entry.line, &entry.node)?,
                    });
                    continue;
                }
                [_, extra, ..] => {
                    return Err(Problem::new(
                        entry.line,
                        format!("{path}: takes one label, found a second one {extra:?}"),
                    ));
                }
            }
            for node in items(&entry.node) {
                self.unlabeled(key, &path, entry.line, node, labels, &mut out)?;
            }
        }
        Ok(out)
    }

    /// A block `key` given without an HCL label: `key = {...}`, JSON, or `method { type = "jwt" }`.
    fn unlabeled(
        &self,
        key: &str,
        path: &str,
        line: usize,
        node: &'a Node,
        labels: Labels,
        out: &mut Vec<Labeled<'a>>,
    ) -> Result<(), Problem> {
        let Value::Map(entries) = &node.value else {
            return Err(Problem::new(
                node.line.max(line),
                format!("{path}: expected a block, found {}", node.value.describe()),
            ));
        };
        let nested = match labels {
            Labels::None => false,
            Labels::Required => {
                if let Some(e) = entries
                    .iter()
                    .find(|e| !matches!(e.node.value, Value::Map(_) | Value::List(_)))
                {
                    return Err(Problem::new(
                        e.line,
                        format!("{path}: needs a name, e.g. {path} \"NAME\" {{ ... }}"),
                    ));
                }
                true
            }
            Labels::Optional(body_keys) => match entries.as_slice() {
                [only] => {
                    !body_keys.contains(&only.key.as_str())
                        && matches!(only.node.value, Value::Map(_) | Value::List(_))
                }
                _ => false,
            },
        };
        if !nested {
            out.push(Labeled {
                label: None,
                line,
                section: self.child(key, path.to_string(), line, node)?,
            });
            return Ok(());
        }
        for entry in entries {
            let section_path = match labels {
                Labels::Required => format!("{path}.{}", entry.key),
                _ => path.to_string(),
            };
            for body in items(&entry.node) {
                out.push(Labeled {
                    label: Some(entry.key.clone()),
                    line: entry.line,
                    section: self.child(key, section_path.clone(), entry.line, body)?,
                });
            }
        }
        Ok(())
    }
}

/// The blocks a value stands for: itself, or each element of a list (JSON's repeated blocks).
fn items(node: &Node) -> Vec<&Node> {
    match &node.value {
        Value::List(items) => items.iter().collect(),
        _ => vec![node],
    }
}
