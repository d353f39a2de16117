//! HCL 1 reader: the fallback for files `hcl-edit` (HCL 2) refuses.
//!
//! Vault Agent and OpenBao Agent parse their configs with HCL 1 (`hashicorp/hcl` v1), which accepts forms
//! HCL 2 does not, and configs in the field use them: a block inside an object (`auto_auth = { method
//! "jwt" { ... } }`), several attributes on one line without separators (`config = { a = "x" b = "y" }`),
//! commas after block attributes, nested blocks on one line, quoted names (`"vault" { ... }`, and
//! `"vault" = { ... }` as JSON-to-HCL converters write it), and `%{` as plain text in strings and
//! heredocs. No maintained Rust crate reads HCL 1, and its
//! grammar is small, so this is our own reader: a lexer ([`lex`]) and this recursive-descent parser,
//! producing the same [`Node`] tree as the HCL 2 reader (`key "label" { }` → an entry with labels;
//! `key = { }` → a map), so both forms mean the same thing downstream.
//!
//! HCL 2 is still tried first (see `super::hcl`): its errors carry columns and it refuses expressions
//! by name. A file is read with this parser only when HCL 2 refuses it; when both refuse it, the HCL 2
//! error is reported.

mod lex;

use lex::Tok;

use super::node::{Entry, Node, Problem, Value};

/// Parse HCL 1 `text` into a map node.
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    let mut p = Parser {
        toks: lex::tokens(text)?,
        pos: 0,
    };
    let body = p.body(None)?;
    Ok(Node {
        value: body,
        line: 1,
    })
}

/// The text of one quoted string or heredoc, given as written (`"..."`, `<<-EOT` ... `EOT`) and starting
/// on `line`, by HCL 1's rules. The HCL 2 reader uses this for every string, since HCL 2 strips heredoc
/// indentation differently and unescapes `$${` / `%%{`, which HCL 1 keeps as written.
pub(crate) fn string(source: &str, line: usize) -> Result<String, Problem> {
    let relocate = |p: Problem| Problem::new(line + p.line.saturating_sub(1), p.message);
    match lex::tokens(source.trim_end()).map_err(relocate)?.as_slice() {
        [(Tok::Str(text), _)] => Ok(text.clone()),
        _ => Err(Problem::new(
            line,
            "HCL syntax error: could not read this string",
        )),
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    /// The line of the next token (of the last one at the end).
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(1, |(_, l)| *l)
    }

    fn bump(&mut self) -> Option<(Tok, usize)> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn error(&self, message: impl std::fmt::Display) -> Problem {
        Problem::new(self.line(), format!("HCL syntax error: {message}"))
    }

    /// Items up to the end of the file (`open` is `None`) or the `}` closing the block opened at line
    /// `open`. Items may be separated by commas.
    fn body(&mut self, open: Option<usize>) -> Result<Value, Problem> {
        let mut entries = Vec::new();
        loop {
            match (self.peek(), open) {
                (None, None) => return Ok(Value::Map(entries)),
                (None, Some(line)) => {
                    return Err(Problem::new(
                        line,
                        "HCL syntax error: this block's `}` is missing",
                    ));
                }
                (Some(Tok::Punct('}')), Some(_)) => {
                    self.pos += 1;
                    return Ok(Value::Map(entries));
                }
                (Some(Tok::Punct(',')), _) => self.pos += 1,
                _ => entries.push(self.item()?),
            }
        }
    }

    /// `key = value`, or `key ["label" ...] { ... }`.
    fn item(&mut self) -> Result<Entry, Problem> {
        let mut keys = Vec::new();
        let line = self.line();
        loop {
            match self.peek() {
                Some(Tok::Ident(k) | Tok::Str(k)) => {
                    keys.push(k.clone());
                    self.pos += 1;
                }
                Some(Tok::Punct('=')) if keys.len() == 1 => {
                    self.pos += 1;
                    let node = self.value()?;
                    let key = keys.remove(0);
                    return Ok(Entry {
                        key,
                        labels: Vec::new(),
                        line,
                        node,
                    });
                }
                Some(Tok::Punct('{')) if !keys.is_empty() => {
                    self.pos += 1;
                    let key = keys.remove(0);
                    return Ok(Entry {
                        key,
                        labels: keys,
                        line,
                        node: Node {
                            value: self.body(Some(line))?,
                            line,
                        },
                    });
                }
                Some(Tok::Punct('=')) => {
                    return Err(self.error(format!(
                        "`{}` has labels, so it must be a block: write `{{` instead of `=`",
                        keys.join(" ")
                    )));
                }
                Some(other) => {
                    return Err(self.error(format!(
                        "expected a key, `=` or `{{`, found {}",
                        describe(other)
                    )));
                }
                None => return Err(self.error("the file ends inside a key")),
            }
        }
    }

    fn value(&mut self) -> Result<Node, Problem> {
        let Some((tok, line)) = self.bump() else {
            return Err(self.error("the file ends where a value was expected"));
        };
        let value = match tok {
            Tok::Str(s) => Value::Str(s),
            Tok::Number(n) => Value::Number(n),
            Tok::Ident(b) if b == "true" || b == "false" => Value::Bool(b == "true"),
            Tok::Punct('{') => self.body(Some(line))?,
            Tok::Punct('[') => self.list(line)?,
            other => {
                self.pos -= 1;
                return Err(self.error(format!(
                    "expected a value (a quoted string, number, boolean, list or object), found {}",
                    describe(&other)
                )));
            }
        };
        Ok(Node { value, line })
    }

    /// The elements of a list whose `[` is on `line`, up to its `]`; commas between them.
    fn list(&mut self, line: usize) -> Result<Value, Problem> {
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Punct(']')) => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                Some(Tok::Punct(',')) if !items.is_empty() => self.pos += 1,
                Some(_) => items.push(self.value()?),
                None => {
                    return Err(Problem::new(
                        line,
                        "HCL syntax error: this list's `]` is missing",
                    ));
                }
            }
        }
    }
}

/// A token as named in an error.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(_) => "a string".into(),
        Tok::Number(n) => format!("the number {n}"),
        Tok::Punct(c) => format!("`{c}`"),
    }
}
