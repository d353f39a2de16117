//! Values taken out of a function's error message: the message names the function (and the template's
//! line), never what it was given.
//!
//! Go's and sprig's errors quote their input (`parsing time "…"`, `error parsing regexp: … "…"`,
//! `fail`'s own text), and a template can hand any function a secret, whole or transformed
//! (`{{ .Data.password | toUpper | sprig_fail }}`). So every argument that came from data (not a
//! literal in the template text) is looked for in the message: the value itself, and any [`WINDOW`]
//! characters of it, so a quoted fragment (one line of a PEM key, a snippet around a JSON syntax
//! error) is caught too.

use zeroize::Zeroizing;

use super::value::Value;

/// The length of the pieces of a value searched for in a message: any run of this many characters that
/// also occurs in a value is replaced.
pub const WINDOW: usize = 8;

/// Shorter values are replaced only when whole (fragments that short would garble messages, not hide
/// much); shorter still, not at all (as the secret store's own scrubbing).
pub const MIN_WHOLE: usize = 4;

/// What replaces a value (or a run of pieces of one) in a message.
pub const REDACTED: &str = "[REDACTED]";

/// Secret texts to look for: zeroized when dropped, as they are copies of secrets.
pub type Texts = Vec<Zeroizing<String>>;

/// The texts a value can show in a message: its strings and numbers, however deep in lists, maps and
/// secrets. Map keys are left out: they are the template's field names.
pub fn texts(v: &Value, out: &mut Texts) {
    match v {
        Value::Str(s) => out.push(Zeroizing::new(s.as_str().to_owned())),
        Value::JsonNumber(n) => out.push(Zeroizing::new(n.to_string())),
        Value::Int(i) | Value::Int64(i) => out.push(Zeroizing::new(i.to_string())),
        Value::Float(f) => {
            out.push(Zeroizing::new(f.to_string()));
            out.push(Zeroizing::new(format!("{f:e}")));
        }
        Value::List(l) | Value::Strings(l) => l.iter().for_each(|v| texts(v, out)),
        Value::Map(m) => m.values().for_each(|v| texts(v, out)),
        Value::Secret(s) => json_texts(&s.data.0, out),
        Value::Missing(_) | Value::Nil | Value::Bool(_) | Value::Scratch(_) | Value::Object(_) => {}
    }
}

/// [`texts`] of a secret's JSON data.
pub fn json_texts(v: &serde_json::Value, out: &mut Texts) {
    match v {
        serde_json::Value::String(s) => out.push(Zeroizing::new(s.clone())),
        serde_json::Value::Number(n) => out.push(Zeroizing::new(n.to_string())),
        serde_json::Value::Array(a) => a.iter().for_each(|v| json_texts(v, out)),
        serde_json::Value::Object(m) => m.values().for_each(|v| json_texts(v, out)),
        serde_json::Value::Null | serde_json::Value::Bool(_) => {}
    }
}

/// `message` with every one of `texts` (of at least [`MIN_WHOLE`] bytes), and every run of characters
/// covered by [`WINDOW`]-character pieces of them, replaced by [`REDACTED`].
pub fn scrub(message: &str, texts: &[Zeroizing<String>]) -> String {
    let mut out = message.to_owned();
    for t in texts {
        if t.len() >= MIN_WHOLE && out.contains(t.as_str()) {
            out = out.replace(t.as_str(), REDACTED);
        }
    }
    let chars: Vec<char> = out.chars().collect();
    if chars.len() < WINDOW {
        return out;
    }
    let mut hidden = vec![false; chars.len()];
    let mut piece = String::new();
    for start in 0..=chars.len() - WINDOW {
        piece.clear();
        piece.extend(&chars[start..start + WINDOW]);
        if piece.contains(REDACTED) || REDACTED.contains(piece.as_str()) {
            continue;
        }
        if texts.iter().any(|t| t.contains(piece.as_str())) {
            hidden[start..start + WINDOW].fill(true);
        }
    }
    if !hidden.contains(&true) {
        return out;
    }
    let mut scrubbed = String::with_capacity(out.len());
    let mut in_run = false;
    for (c, h) in chars.iter().zip(&hidden) {
        match (h, in_run) {
            (true, false) => scrubbed.push_str(REDACTED),
            (false, _) => scrubbed.push(*c),
            (true, true) => {}
        }
        in_run = *h;
    }
    scrubbed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Texts {
        vec![Zeroizing::new(v.to_owned())]
    }

    #[test]
    fn a_whole_value_and_a_quoted_fragment_are_replaced() {
        assert_eq!(
            scrub("fail: hunter2-secret", &s("hunter2-secret")),
            "fail: [REDACTED]"
        );
        let pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIAbcdefghijklmnop\n-----END EC PRIVATE KEY-----";
        assert_eq!(
            scrub("bad line \"MHcCAQEEIAbcdefgh\" at 2", &s(pem)),
            "bad line \"[REDACTED]\" at 2"
        );
    }

    #[test]
    fn words_of_the_message_itself_stay() {
        let msg = "error calling parseInt: parseInt: invalid syntax";
        assert_eq!(scrub(msg, &s("s3cr3t-value-0123456789")), msg);
        assert_eq!(scrub("short", &s("abc")), "short");
    }

    #[test]
    fn numbers_are_found_in_their_float_form_too() {
        let mut t = Vec::new();
        texts(
            &Value::JsonNumber("123456789012345678901234".into()),
            &mut t,
        );
        let out = scrub("no such template \"1.2345678901234569e+23\"", &t);
        assert!(!out.contains("23456789"), "{out}");
    }
}
