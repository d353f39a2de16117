//! JSON reader (files ending in `.json`): Vault Agent's JSON form of the same config. `serde_json` checks the
//! syntax (and reports line and column); then a small walker builds the [`Node`] tree, keeping each key's
//! line and repeated keys, which `serde_json::Value` would drop.

use super::node::{Entry, Node, Problem, Value};

/// Parse JSON `text` into a node (a map, for a valid config).
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let full = e.to_string();
        let message = full
            .rsplit_once(" at line ")
            .map_or(full.as_str(), |(m, _)| m);
        return Err(Problem::new(
            e.line(),
            format!("JSON syntax error at column {}: {message}", e.column()),
        ));
    }
    let mut walker = Walker {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        line: 1,
    };
    walker.value()
}

struct Walker<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
}

impl Walker<'_> {
    fn invalid(&self) -> Problem {
        Problem::new(self.line, "invalid JSON")
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Result<(), Problem> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    fn value(&mut self) -> Result<Node, Problem> {
        let first = self.peek().ok_or_else(|| self.invalid())?;
        let line = self.line;
        let value = match first {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' => Value::Str(self.string()?),
            b't' | b'f' | b'n' => self.word()?,
            _ => self.number()?,
        };
        Ok(Node { value, line })
    }

    fn object(&mut self) -> Result<Value, Problem> {
        self.eat(b'{')?;
        let mut entries = Vec::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Map(entries));
        }
        loop {
            self.skip_ws();
            let line = self.line;
            let key = self.string()?;
            self.eat(b':')?;
            let node = self.value()?;
            entries.push(Entry {
                key,
                labels: Vec::new(),
                line,
                node,
            });
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Map(entries));
                }
                _ => return Err(self.invalid()),
            }
        }
    }

    fn array(&mut self) -> Result<Value, Problem> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::List(items));
        }
        loop {
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                _ => return Err(self.invalid()),
            }
        }
    }

    /// A string token, decoded by `serde_json` (it is already known to be valid).
    fn string(&mut self) -> Result<String, Problem> {
        self.eat(b'"')?;
        let start = self.pos - 1;
        let mut escaped = false;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    let raw = self
                        .text
                        .get(start..self.pos)
                        .ok_or_else(|| self.invalid())?;
                    return serde_json::from_str(raw).map_err(|_| self.invalid());
                }
                _ => {}
            }
        }
        Err(self.invalid())
    }

    fn word(&mut self) -> Result<Value, Problem> {
        for (word, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if self.bytes[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                return Ok(value);
            }
        }
        Err(self.invalid())
    }

    fn number(&mut self) -> Result<Value, Problem> {
        let start = self.pos;
        while let Some(&b) = self.bytes.get(self.pos) {
            if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        match self.text.get(start..self.pos) {
            Some(n) if !n.is_empty() => Ok(Value::Number(n.to_string())),
            _ => Err(self.invalid()),
        }
    }
}
