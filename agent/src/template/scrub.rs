//! Values taken out of a function's error message: the message names the function (and the template's
//! line), never what it was given.
//!
//! Go's and sprig's errors quote their input (`parsing time "…"`, `error parsing regexp: … "…"`,
//! `fail`'s own text), and a template can hand any function a secret, whole or transformed
//! (`{{ .Data.password | toUpper | sprig_fail }}`). So every argument that came from data (not a
//! literal in the template text) is looked for in the message: the value itself, and any [`WINDOW`]
//! bytes of it, so a quoted fragment (one line of a PEM key, a snippet around a JSON syntax error) is
//! caught too.
//!
//! The texts are turned into an [`Index`] once (sorted pieces, binary-searched), so scrubbing a message
//! costs about its length times a logarithm, whatever the number of secrets. Every match is marked on
//! the original message first and the message is written out once: a text inside another (`admin` in
//! `admin-Xy7…`) cannot cut the longer one into pieces too short to be found.

use zeroize::Zeroizing;

use super::print::format_float_g;
use super::value::Value;

/// The length of the pieces of a value searched for in a message: any run of this many bytes that also
/// occurs in a value is replaced.
pub const WINDOW: usize = 8;

/// Shorter values are replaced only when whole (fragments that short would garble messages, not hide
/// much); shorter still, not at all (as the secret store's own scrubbing).
pub const MIN_WHOLE: usize = 4;

/// What replaces a value (or a run of pieces of one) in a message.
pub const REDACTED: &str = "[REDACTED]";

/// Map keys that are the shape of a backend response (KV v2's envelope, a LIST's `keys`), not data: they
/// name fields in paths and messages (`secret/data/app`), so hiding them would garble every message.
const STRUCTURE_KEYS: &[&str] = &[
    "data",
    "metadata",
    "keys",
    "key_info",
    "version",
    "created_time",
    "deletion_time",
    "destroyed",
    "custom_metadata",
];

/// Secret texts to look for: zeroized when dropped, as they are copies of secrets.
pub type Texts = Vec<Zeroizing<String>>;

/// Something that takes secret values out of a message before it is logged, audited or returned.
pub trait Scrub: Sync {
    /// `message` with every value this knows of replaced by [`REDACTED`].
    fn scrub(&self, message: &str) -> String;
}

/// What [`Index::mark`] looks for, built once from [`Texts`]; its copies of secret bytes are zeroized
/// when it is dropped.
#[derive(Default)]
pub struct Index {
    /// Texts of [`MIN_WHOLE`] to [`WINDOW`]` - 1` bytes, sorted: found only whole. Longer texts need no
    /// entry here: a whole occurrence is covered by its windows.
    short: Vec<Zeroizing<Vec<u8>>>,
    /// Every [`WINDOW`]-byte piece of every longer text, as a number, sorted and deduplicated.
    windows: Zeroizing<Vec<u64>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("short", &self.short.len())
            .field("windows", &self.windows.len())
            .finish()
    }
}

impl Index {
    /// The index of `texts`.
    pub fn new(texts: &[Zeroizing<String>]) -> Self {
        let count = texts
            .iter()
            .map(|t| (t.len() + 1).saturating_sub(WINDOW))
            .sum();
        // Sized up front: a growing vector would leave copies of secret bytes behind in freed memory.
        let mut windows = Zeroizing::new(Vec::with_capacity(count));
        let mut short = Vec::new();
        for t in texts {
            let b = t.as_bytes();
            if b.len() >= WINDOW {
                windows.extend(b.windows(WINDOW).map(piece));
            } else if b.len() >= MIN_WHOLE {
                short.push(Zeroizing::new(b.to_vec()));
            }
        }
        windows.sort_unstable();
        windows.dedup();
        short.sort_unstable_by(|a, b| a.as_slice().cmp(b.as_slice()));
        short.dedup_by(|a, b| a.as_slice() == b.as_slice());
        Self { short, windows }
    }

    /// The index of the [`texts`] of `values`.
    pub fn of_values<'a>(values: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut t = Vec::new();
        values.into_iter().for_each(|v| texts(v, &mut t));
        Self::new(&t)
    }

    /// The index of the [`json_texts`] of a secret's data.
    pub fn of_json(data: &serde_json::Value) -> Self {
        let mut t = Vec::new();
        json_texts(data, &mut t);
        Self::new(&t)
    }

    /// Set `hidden[i]` for every byte `i` of `message` that is part of a text or of a window of one.
    pub fn mark(&self, message: &str, hidden: &mut [bool]) {
        let m = message.as_bytes();
        if !self.windows.is_empty() && m.len() >= WINDOW {
            for (i, w) in m.windows(WINDOW).enumerate() {
                if self.windows.binary_search(&piece(w)).is_ok() {
                    hidden[i..i + WINDOW].fill(true);
                }
            }
        }
        if self.short.is_empty() {
            return;
        }
        for len in MIN_WHOLE..WINDOW {
            for (i, w) in m.windows(len).enumerate() {
                if self.short.binary_search_by(|t| t.as_slice().cmp(w)).is_ok() {
                    hidden[i..i + len].fill(true);
                }
            }
        }
    }
}

impl Scrub for Index {
    fn scrub(&self, message: &str) -> String {
        let mut hidden = vec![false; message.len()];
        self.mark(message, &mut hidden);
        emit(message, &hidden)
    }
}

/// `message` with each run of characters that has a byte marked in `hidden` replaced by one
/// [`REDACTED`].
pub fn emit(message: &str, hidden: &[bool]) -> String {
    if !hidden.contains(&true) {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut in_run = false;
    for (i, c) in message.char_indices() {
        let h = hidden[i..i + c.len_utf8()].contains(&true);
        if !h {
            out.push(c);
        } else if !in_run {
            out.push_str(REDACTED);
        }
        in_run = h;
    }
    out
}

/// A window as a number, for sorting and searching.
fn piece(w: &[u8]) -> u64 {
    let mut b = [0u8; WINDOW];
    b.copy_from_slice(w);
    u64::from_ne_bytes(b)
}

/// The texts a value can show in a message: its strings and numbers, however deep in lists, maps and
/// secrets, and the longer keys of maps (see `key_text`).
pub fn texts(v: &Value, out: &mut Texts) {
    match v {
        Value::Str(s) => out.push(Zeroizing::new(s.as_str().to_owned())),
        Value::JsonNumber(n) => number_texts(n, out),
        Value::Int(i) | Value::Int64(i) => number_texts(&i.to_string(), out),
        Value::Float(f) => {
            out.push(Zeroizing::new(f.to_string()));
            out.push(Zeroizing::new(format!("{f:e}")));
            float_texts(*f, out);
        }
        Value::List(l) | Value::Strings(l) => l.iter().for_each(|v| texts(v, out)),
        Value::Map(m) => m.iter().for_each(|(k, v)| {
            key_text(k, out);
            texts(v, out);
        }),
        Value::Secret(s) => json_texts(&s.data.0, out),
        Value::Missing(_) | Value::Nil | Value::Bool(_) | Value::Scratch(_) | Value::Object(_) => {}
    }
}

/// [`texts`] of a secret's JSON data.
pub fn json_texts(v: &serde_json::Value, out: &mut Texts) {
    match v {
        serde_json::Value::String(s) => out.push(Zeroizing::new(s.clone())),
        serde_json::Value::Number(n) => number_texts(&n.to_string(), out),
        serde_json::Value::Array(a) => a.iter().for_each(|v| json_texts(v, out)),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
            key_text(k, out);
            json_texts(v, out);
        }),
        serde_json::Value::Null | serde_json::Value::Bool(_) => {}
    }
}

/// A map key of at least [`WINDOW`] bytes (data keyed by user names, hosts, serials), unless it is part
/// of a response's shape. Shorter keys are nearly always field names the template spells itself
/// (`value`, `nested`, `pin`): hiding them would garble every message and path that names them.
fn key_text(k: &str, out: &mut Texts) {
    if k.len() >= WINDOW && !STRUCTURE_KEYS.contains(&k) {
        out.push(Zeroizing::new(k.to_owned()));
    }
}

/// A number as written, and as a template prints it once it has become a float (`1.23456e+05`, as
/// `Value::Float` and JSON encoding print it): a short PIN is found in either form.
fn number_texts(n: &str, out: &mut Texts) {
    out.push(Zeroizing::new(n.to_owned()));
    if let Ok(f) = n.parse::<f64>() {
        float_texts(f, out);
    }
}

/// The float forms of `f` that differ from each other (none for NaN and the infinities: Go's words for
/// them are not data).
fn float_texts(f: f64, out: &mut Texts) {
    if !f.is_finite() {
        return;
    }
    let short = Zeroizing::new(format_float_g(f, 6));
    let json = Zeroizing::new(format_float_g(f, 21));
    if json != short {
        out.push(json);
    }
    out.push(short);
}

#[cfg(test)]
mod tests;
