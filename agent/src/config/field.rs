//! [`Field`]: one attribute found in a [`super::section::Section`], and its typed readers. Each reader
//! names the key path and line in its error.

use std::path::PathBuf;
use std::time::Duration;

use super::duration;
use super::node::{Node, Problem, Value};
use super::values;

/// One value found by a getter: where it is and what it is.
pub(crate) struct Field<'a> {
    /// The full key path, e.g. `template.perms`.
    pub path: String,
    /// 1-based line of the key.
    pub line: usize,
    /// The value.
    pub node: &'a Node,
}

impl Field<'_> {
    /// An error about this field.
    pub(crate) fn problem(&self, message: impl std::fmt::Display) -> Problem {
        Problem::new(self.line, format!("{}: {message}", self.path))
    }

    fn wrong_type(&self, expected: &str) -> Problem {
        self.problem(format!(
            "expected {expected}, found {}",
            self.node.value.describe()
        ))
    }

    /// The value as a string.
    pub(crate) fn string(&self) -> Result<String, Problem> {
        match &self.node.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.wrong_type("a string")),
        }
    }

    /// The value as a string; a number is taken as written (for `user = 1000`).
    pub(crate) fn string_or_number(&self) -> Result<String, Problem> {
        match &self.node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.clone()),
            _ => Err(self.wrong_type("a string or number")),
        }
    }

    /// The value as a non-empty string.
    pub(crate) fn non_empty(&self) -> Result<String, Problem> {
        let s = self.string()?;
        if s.trim().is_empty() {
            return Err(self.problem("must not be empty"));
        }
        Ok(s)
    }

    /// The value as a boolean (`true`, or a string Go's `ParseBool` accepts, such as `"true"`).
    pub(crate) fn bool(&self) -> Result<bool, Problem> {
        match &self.node.value {
            Value::Bool(b) => Ok(*b),
            Value::Str(s) => values::go_bool(s)
                .ok_or_else(|| self.problem(format!("expected true or false, found {s:?}"))),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    /// The value as a whole number `>= 0` (a number or a string of digits).
    pub(crate) fn unsigned(&self) -> Result<u64, Problem> {
        let text = match &self.node.value {
            Value::Number(n) => n.as_str(),
            Value::Str(s) => s.trim(),
            _ => return Err(self.wrong_type("a whole number")),
        };
        text.parse()
            .map_err(|_| self.problem(format!("expected a whole number >= 0, found {text}")))
    }

    /// The value as a whole number that may be negative (`num_retries = -1`).
    pub(crate) fn signed(&self) -> Result<i64, Problem> {
        let text = match &self.node.value {
            Value::Number(n) => n.as_str(),
            Value::Str(s) => s.trim(),
            _ => return Err(self.wrong_type("a whole number")),
        };
        text.parse()
            .map_err(|_| self.problem(format!("expected a whole number, found {text}")))
    }

    /// The value as a number (a number or a numeric string).
    pub(crate) fn float(&self) -> Result<f64, Problem> {
        let text = match &self.node.value {
            Value::Number(n) => n.as_str(),
            Value::Str(s) => s.trim(),
            _ => return Err(self.wrong_type("a number")),
        };
        text.parse()
            .map_err(|_| self.problem(format!("expected a number, found {text}")))
    }

    /// The value as a duration (`"30s"`, `"1h30m"`, or a number of seconds).
    pub(crate) fn duration(&self) -> Result<Duration, Problem> {
        let text = match &self.node.value {
            Value::Str(s) => s.as_str(),
            Value::Number(n) => n.as_str(),
            _ => return Err(self.wrong_type("a duration such as \"30s\"")),
        };
        duration::parse(text).map_err(|m| self.problem(m))
    }

    /// The value as a file mode: a string is octal (`"0640"`), so is a number written with a leading zero
    /// (`0640`); another number is the mode's value (`416`).
    pub(crate) fn mode(&self) -> Result<u32, Problem> {
        match &self.node.value {
            Value::Str(s) => values::octal_mode(s).map_err(|m| self.problem(m)),
            Value::Number(n) => values::numeric_mode(n).map_err(|m| self.problem(m)),
            _ => Err(self.wrong_type("a file mode such as \"0640\"")),
        }
    }

    /// The value as a path (a non-empty string).
    pub(crate) fn path_buf(&self) -> Result<PathBuf, Problem> {
        self.non_empty().map(PathBuf::from)
    }

    /// The value as a list of strings.
    pub(crate) fn strings(&self) -> Result<Vec<String>, Problem> {
        let Value::List(items) = &self.node.value else {
            return Err(self.wrong_type("a list of strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match &item.value {
                Value::Str(s) => Ok(s.clone()),
                other => Err(Problem::new(
                    item.line,
                    format!(
                        "{}[{i}]: expected a string, found {}",
                        self.path,
                        other.describe()
                    ),
                )),
            })
            .collect()
    }

    /// The value as an object of strings (`headers = { "X-Api-Key" = "..." }`): each key with its value
    /// and line, in source order; a key given twice is an error.
    pub(crate) fn string_map(&self) -> Result<Vec<(String, String, usize)>, Problem> {
        let Value::Map(entries) = &self.node.value else {
            return Err(self.wrong_type("an object such as { name = \"value\" }"));
        };
        let mut out: Vec<(String, String, usize)> = Vec::new();
        for e in entries {
            let at = |m: String| Problem::new(e.line, format!("{}.{}: {m}", self.path, e.key));
            let Value::Str(v) = &e.node.value else {
                return Err(at(format!(
                    "expected a string, found {}",
                    e.node.value.describe()
                )));
            };
            if let Some((_, _, first)) = out.iter().find(|(k, _, _)| *k == e.key) {
                return Err(at(format!(
                    "given twice (lines {first} and {}); give it once",
                    e.line
                )));
            }
            out.push((e.key.clone(), v.clone(), e.line));
        }
        Ok(out)
    }
}
