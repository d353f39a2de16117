//! `toYAML` and `parseYAML`. The output follows Go's `gopkg.in/yaml.v2` (what consul-template marshals with),
//! whose emitter is a port of libyaml: block style, sequences inside mappings not indented, keys in yaml.v2's
//! "natural" order, strings quoted only when they would read back as another type, multi-line strings as
//! literal blocks, long plain lines folded at 80 columns.

use super::{Env, FResult, arity, str_arg};
use crate::template::print::format_float_g;
use crate::template::value::Value;

/// Where the emitter folds long plain and single-quoted scalars (libyaml's `best_width`).
const WIDTH: usize = 80;

/// Run `toYAML` / `parseYAML`, or `None` for another name.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    Some(match name {
        "toYAML" => arity(name, args, 1).and_then(|()| {
            let mut e = Emitter::default();
            let plain = args[0].plain_deep().map_err(|m| format!("{name}: {m}"))?;
            e.top(&plain).map_err(|m| format!("{name}: {m}"))?;
            // consul-template trims the document's final newline.
            let out = e.out.strip_suffix('\n').unwrap_or(&e.out).to_string();
            Ok(Value::str(out))
        }),
        "parseYAML" => arity(name, args, 1).and_then(|()| {
            let s = str_arg(name, &args[0], env)?;
            if s.is_empty() {
                return Ok(Value::Map(Default::default()));
            }
            // consul-template decodes with a yaml library into interface{}: integers are Go ints, other
            // numbers float64.
            let v: serde_json::Value =
                serde_norway::from_str(s).map_err(|e| match e.location() {
                    Some(l) => format!(
                        "{name}: invalid YAML at line {} column {}",
                        l.line(),
                        l.column()
                    ),
                    None => format!("{name}: invalid YAML"),
                })?;
            Ok(from_yaml_json(&v))
        }),
        _ => return None,
    })
}

/// A parsed YAML document as Go's yaml decoder gives it to a template: integers `int`, other numbers `float64`.
fn from_yaml_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::Array(a) => Value::list(a.iter().map(from_yaml_json).collect()),
        serde_json::Value::Object(m) => Value::Map(std::rc::Rc::new(
            m.iter()
                .map(|(k, e)| (k.clone(), from_yaml_json(e)))
                .collect(),
        )),
        other => Value::from_plain_json(other),
    }
}

#[derive(Default)]
struct Emitter {
    out: String,
}

/// How a string scalar is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn column(&self) -> usize {
        let line = self.out.rsplit('\n').next().unwrap_or("");
        line.chars().count()
    }

    fn pad(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    fn top(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::Map(m) if !m.is_empty() => self.map(m, 0, false),
            Value::List(l) | Value::Strings(l) if !l.is_empty() => self.seq(l, 0, false),
            _ => {
                self.scalar(v, 0, false)?;
                self.out.push('\n');
                Ok(())
            }
        }
    }

    /// Entries of a mapping at column `indent`; with `inline_first`, the first one continues the current line.
    fn map(
        &mut self,
        m: &std::collections::BTreeMap<String, Value>,
        indent: usize,
        inline_first: bool,
    ) -> Result<(), String> {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by(|a, b| natural_cmp(a, b));
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 || !inline_first {
                self.pad(indent);
            }
            self.string(k, indent, true);
            self.out.push(':');
            let v = &m[k];
            match v {
                Value::Map(c) if !c.is_empty() => {
                    self.out.push('\n');
                    self.map(c, indent + 2, false)?;
                }
                Value::List(c) | Value::Strings(c) if !c.is_empty() => {
                    self.out.push('\n');
                    self.seq(c, indent, false)?;
                }
                _ => {
                    self.out.push(' ');
                    self.scalar(v, indent, false)?;
                    self.out.push('\n');
                }
            }
        }
        Ok(())
    }

    /// Items of a sequence at column `indent`.
    fn seq(&mut self, l: &[Value], indent: usize, inline_first: bool) -> Result<(), String> {
        for (i, v) in l.iter().enumerate() {
            if i > 0 || !inline_first {
                self.pad(indent);
            }
            self.out.push_str("- ");
            match v {
                Value::Map(c) if !c.is_empty() => self.map(c, indent + 2, true)?,
                Value::List(c) | Value::Strings(c) if !c.is_empty() => {
                    self.seq(c, indent + 2, true)?
                }
                _ => {
                    self.scalar(v, indent, false)?;
                    self.out.push('\n');
                }
            }
        }
        Ok(())
    }

    /// A scalar (or an empty collection, written in flow style) on the current line.
    fn scalar(&mut self, v: &Value, indent: usize, key: bool) -> Result<(), String> {
        match v {
            Value::Missing(_) | Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&float(*f)),
            // yaml.v2 writes a json.Number as an int if it is one, else as a float, else as a string.
            Value::JsonNumber(n) => match (n.parse::<i64>(), n.parse::<f64>()) {
                (Ok(i), _) => self.out.push_str(&i.to_string()),
                (_, Ok(f)) => self.out.push_str(&float(f)),
                _ => self.string(n, indent, key),
            },
            Value::Str(s) => self.string(s, indent, key),
            Value::List(l) | Value::Strings(l) if l.is_empty() => self.out.push_str("[]"),
            Value::Map(m) if m.is_empty() => self.out.push_str("{}"),
            Value::Scratch(_) => self.out.push_str("{}"),
            Value::List(_)
            | Value::Strings(_)
            | Value::Map(_)
            | Value::Secret(_)
            | Value::Object(_) => {
                return Err(format!("cannot marshal a {} here", v.type_name()));
            }
        }
        Ok(())
    }

    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let a = analyze(s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_non_string(s) {
            Style::Double
        } else {
            Style::Plain
        };
        if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.folded(s, indent + 2, false),
            Style::Single => {
                self.out.push('\'');
                self.folded(s, indent + 2, true);
                self.out.push('\'');
            }
            Style::Double => double_quoted(&mut self.out, s),
            Style::Literal => self.literal(s, indent + 2),
        }
    }

    /// A plain or single-quoted scalar, folded at a single space once past the width (libyaml's rule).
    fn folded(&mut self, s: &str, indent: usize, single: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut col = self.column();
        let mut prev_space = false;
        let mut after_break = false;
        for (i, &c) in chars.iter().enumerate() {
            // A printable line break (NEL, LS, PS) in a quoted scalar is written as is, and the text after it
            // starts on the scalar's indentation, as libyaml writes it.
            if single && is_break(c) {
                self.out.push(c);
                col = 0;
                after_break = true;
                continue;
            }
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                let last = i + 1 == chars.len();
                if !prev_space && col > WIDTH && !next_space && !(single && (i == 0 || last)) {
                    self.out.push('\n');
                    self.pad(indent);
                    col = indent;
                } else {
                    self.out.push(' ');
                    col += 1;
                }
                prev_space = true;
                continue;
            }
            prev_space = false;
            if after_break {
                self.pad(indent);
                col = indent;
                after_break = false;
            }
            if single && c == '\'' {
                self.out.push_str("''");
                col += 2;
            } else {
                self.out.push(c);
                col += 1;
            }
        }
    }

    /// A literal block: `|`, the chomping indicator, then each line indented (empty lines stay empty).
    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push('2');
        }
        if !s.ends_with('\n') {
            self.out.push('-');
        } else if s == "\n" || s.ends_with("\n\n") {
            self.out.push('+');
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.pad(indent);
                self.out.push_str(line);
            }
        }
    }
}

/// yaml.v2 formats floats with `strconv.FormatFloat(f, 'g', -1, 64)` and YAML's names for the specials.
fn float(f: f64) -> String {
    match format_float_g(f, 6).as_str() {
        "+Inf" => ".inf".into(),
        "-Inf" => "-.inf".into(),
        "NaN" => ".nan".into(),
        s => s.to_string(),
    }
}

/// What libyaml's scalar analysis allows.
struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

/// libyaml's `IS_BREAK`: CR, LF, NEL, LS and PS.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || ((0xa0..=0xd7ff).contains(&u))
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
    // yaml.v2 tests the UTF-8 lead byte and knows no 4-byte sequence: characters beyond the BMP (emoji)
    // are "non-printable" there, so they force double quotes and are written as \UXXXXXXXX.
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: false,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let blankz = |c: Option<&char>| c.is_none_or(|&c| c == ' ' || c == '\t' || is_break(c));
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) =
        (false, false, false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = blankz(chars.get(i + 1));
        let last = i + 1 == chars.len();
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                block_ind = true;
            }
            if (c == '?' || c == ':' || c == '-') && followed_by_ws {
                block_ind = true;
            }
        } else if (c == ':' && followed_by_ws) || (c == '#' && preceded_by_ws) {
            block_ind = true;
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = blankz(Some(&c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a = Analysis {
            block_plain: false,
            single: false,
            block: false,
        };
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

/// Whether yaml.v2's resolver reads `s`, written plain, as something other than a string (YAML 1.1 booleans,
/// nulls, numbers, base-60 floats, timestamps): such strings are double-quoted.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no",
        "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null",
        "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return true;
    };
    if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
        return false;
    }
    let plain = s.replace('_', "");
    go_int(&plain) || go_float(&plain) || base60(s) || timestamp(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` acceptance: optional sign, 0x/0o/0b/0 prefixes.
fn go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (r, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

/// Go's `strconv.ParseFloat` acceptance for the forms that matter here (decimal, exponent, inf, nan).
fn go_float(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return true;
    }
    body.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && body.parse::<f64>().is_ok()
}

/// yaml.v2's `isBase60Float`: `1:20`, `-12:30:45.5`.
fn base60(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, _) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = int.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
}

/// A YAML timestamp's date part (`2006-1-2`, optionally followed by a time).
fn timestamp(s: &str) -> bool {
    let date = s.split(['T', 't', ' ']).next().unwrap_or("");
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len())
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && (date.len() == s.len() || s.len() > date.len() + 1)
}

/// yaml.v2's key order: runs of digits compare as numbers, letters sort after non-letters.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// libyaml's double-quoted style, with unicode allowed as yaml.v2 sets it.
fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{feff}' => {
                let u = c as u32;
                if u <= 0xff {
                    out.push_str(&format!("\\x{u:02X}"));
                } else if u <= 0xffff {
                    out.push_str(&format!("\\u{u:04X}"));
                } else {
                    out.push_str(&format!("\\U{u:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
