//! The raw layer: a config file as a tree of keys and values, each with its line, before any meaning is given
//! to it. Both the HCL reader ([`super::hcl`]) and the JSON reader ([`super::json`]) produce this tree, so the
//! validation in [`super::validate`] is written once.

/// A value with the 1-based line it starts on.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The value.
    pub value: Value,
    /// 1-based line of the value (0 when not known).
    pub line: usize,
}

/// A raw value. Blocks (`vault { ... }`) and objects (`config = { ... }`) are both [`Value::Map`], as in
/// Vault Agent's own HCL reader.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as written in the source (so `0640` can be read as octal).
    Number(String),
    /// A string (HCL interpolations such as `${HOME}` are kept as written).
    Str(String),
    /// `[ ... ]`.
    List(Vec<Node>),
    /// A block body or an object, entries in source order (repeated keys kept).
    Map(Vec<Entry>),
}

/// One `key = value` or `key "label" { ... }` inside a [`Value::Map`].
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The key or block name.
    pub key: String,
    /// Block labels (`method "jwt" {}` has `["jwt"]`); always empty for attributes and JSON.
    pub labels: Vec<String>,
    /// 1-based line of the key.
    pub line: usize,
    /// The value (a [`Value::Map`] for a block).
    pub node: Node,
}

impl Value {
    /// How the value is described in a "wrong type" error.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => format!("the boolean {b}"),
            Self::Number(n) => format!("the number {n}"),
            Self::Str(s) if s.chars().count() > 40 => "a string".into(),
            Self::Str(s) => format!("the string {s:?}"),
            Self::List(_) => "a list".into(),
            Self::Map(_) => "a block/object".into(),
        }
    }
}

/// Maps byte offsets of a source text to 1-based line numbers.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Index the line starts of `text`.
    pub(crate) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// A problem found in one file, before the file name is attached (see [`super::ConfigError::Invalid`]).
#[derive(Debug)]
pub(crate) struct Problem {
    /// 1-based line (0 when not known).
    pub line: usize,
    /// What is wrong, starting with the key path.
    pub message: String,
}

impl Problem {
    /// A problem at `line`.
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}
