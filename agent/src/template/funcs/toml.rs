//! `toTOML`: a map encoded as consul-template does it, with the BurntSushi TOML encoder's layout: plain keys
//! first, then sub-tables (`[a.b]`, indented two spaces per level below the top), maps inside arrays as inline
//! tables, `nil` values left out, and the result trimmed.

use std::collections::BTreeMap;

use super::{FResult, arity};
use crate::template::value::Value;

type Map = BTreeMap<String, Value>;

/// Run `toTOML`, or `None` for another name.
pub fn call(name: &str, args: &[Value]) -> Option<FResult> {
    if name != "toTOML" {
        return None;
    }
    Some(arity(name, args, 1).and_then(|()| {
        let plain = args[0].plain_deep().map_err(|m| format!("{name}: {m}"))?;
        let Value::Map(m) = &plain else {
            return Err(format!(
                "{name}: wrong type for value; expected map[string]interface {{}}; got {}",
                args[0].type_name()
            ));
        };
        let mut e = Encoder::default();
        e.table(&[], m)?;
        Ok(Value::str(e.out.trim()))
    }))
}

#[derive(Default)]
struct Encoder {
    out: String,
}

/// Whether a value is written as a table (`[key]` or `[[key]]`) rather than `key = value`.
fn is_table(v: &Value) -> bool {
    match v {
        Value::Map(_) => true,
        Value::List(l) | Value::Strings(l) => {
            !l.is_empty() && l.iter().all(|e| matches!(e, Value::Map(_)))
        }
        _ => false,
    }
}

fn bare(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn key_part(k: &str) -> String {
    if bare(k) { k.to_string() } else { quoted(k) }
}

fn dotted(path: &[&str]) -> String {
    path.iter()
        .map(|p| key_part(p))
        .collect::<Vec<_>>()
        .join(".")
}

fn indent(path: &[&str]) -> String {
    "  ".repeat(path.len().saturating_sub(1))
}

fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`, with `.0` added to whole numbers.
fn float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

impl Encoder {
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn table(&mut self, path: &[&str], m: &Map) -> Result<(), String> {
        type Entries<'m> = Vec<(&'m String, &'m Value)>;
        let (subs, direct): (Entries<'_>, Entries<'_>) = m.iter().partition(|(_, v)| is_table(v));
        for (k, v) in direct {
            if matches!(v, Value::Nil | Value::Missing(_)) {
                continue;
            }
            let mut p = path.to_vec();
            p.push(k);
            self.out
                .push_str(&format!("{}{} = ", indent(&p), key_part(k)));
            self.element(v)?;
            self.newline();
        }
        for (k, v) in subs {
            let mut p = path.to_vec();
            p.push(k);
            match v {
                Value::Map(c) => {
                    if p.len() == 1 {
                        self.newline();
                    }
                    self.out
                        .push_str(&format!("{}[{}]", indent(&p), dotted(&p)));
                    self.newline();
                    self.table(&p, c)?;
                }
                Value::List(items) | Value::Strings(items) => {
                    for item in items.iter() {
                        if let Value::Map(c) = item {
                            self.newline();
                            self.out
                                .push_str(&format!("{}[[{}]]", indent(&p), dotted(&p)));
                            self.newline();
                            self.table(&p, c)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn element(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&float(*f)),
            Value::JsonNumber(n) => match (n.parse::<i64>(), n.parse::<f64>()) {
                (Ok(i), _) => self.out.push_str(&i.to_string()),
                (_, Ok(f)) => self.out.push_str(&float(f)),
                _ => return Err(format!("{n:?} is not a number")),
            },
            Value::Str(s) => self.out.push_str(&quoted(s)),
            Value::List(l) | Value::Strings(l) => {
                self.out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.element(e)?;
                }
                self.out.push(']');
            }
            Value::Map(m) => {
                self.out.push('{');
                let live: Vec<_> = m
                    .iter()
                    .filter(|(_, v)| !matches!(v, Value::Nil | Value::Missing(_)))
                    .collect();
                for (i, (k, e)) in live.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(&format!("{} = ", key_part(k)));
                    self.element(e)?;
                }
                self.out.push('}');
            }
            Value::Nil | Value::Missing(_) => return Err("toml: cannot encode a nil value".into()),
            Value::Secret(_) | Value::Scratch(_) | Value::Object(_) => {
                return Err(format!("toml: cannot encode a {}", v.type_name()));
            }
        }
        Ok(())
    }
}
