//! consul-template's string and encoding functions. Argument order follows consul-template, so the value
//! being worked on comes last and can be piped in (`{{ .x | split "," }}`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use sha2::{Digest, Sha256};

use super::{Env, FResult, arity, gocase, int_arg, str_arg};
use crate::template::print::to_v;
use crate::template::value::Value;

/// Run string function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    let one = |f: &dyn Fn(&str) -> FResult| -> FResult {
        arity(name, args, 1)?;
        f(str_arg(name, &args[0], env)?)
    };
    let two = |f: &dyn Fn(&str, &str) -> FResult| -> FResult {
        arity(name, args, 2)?;
        f(str_arg(name, &args[0], env)?, str_arg(name, &args[1], env)?)
    };
    Some(match name {
        "base64Encode" => one(&|s| Ok(Value::str(STANDARD.encode(s)))),
        "base64Decode" => one(&|s| decode(&STANDARD, s, name)),
        "base64URLEncode" => one(&|s| Ok(Value::str(URL_SAFE.encode(s)))),
        "base64URLDecode" => one(&|s| decode(&URL_SAFE, s, name)),
        "trimSpace" => one(&|s| Ok(Value::str(s.trim_matches(go_space)))),
        "toUpper" => one(&|s| Ok(Value::str(go_upper(s)))),
        "toLower" => one(&|s| Ok(Value::str(go_lower(s)))),
        "toTitle" => one(&|s| Ok(Value::str(cases_title(s)))),
        "sha256Hex" => one(&|s| Ok(Value::str(hex::encode(Sha256::digest(s.as_bytes()))))),
        "split" => two(&|sep, s| {
            let s = s.trim_matches(go_space);
            if s.is_empty() {
                return Ok(Value::strings(Vec::<String>::new()));
            }
            Ok(Value::strings(go_split(s, sep)))
        }),
        "trim" => two(&|cutset, s| Ok(Value::str(s.trim_matches(|c| cutset.contains(c))))),
        "trimPrefix" => two(&|p, s| Ok(Value::str(s.strip_prefix(p).unwrap_or(s)))),
        "trimSuffix" => two(&|p, s| Ok(Value::str(s.strip_suffix(p).unwrap_or(s)))),
        "contains" => contains(args, env),
        "replaceAll" => (|| {
            arity(name, args, 3)?;
            let old = str_arg(name, &args[0], env)?;
            let new = str_arg(name, &args[1], env)?;
            let s = str_arg(name, &args[2], env)?;
            Ok(Value::str(go_replace_all(s, old, new)))
        })(),
        "join" => (|| {
            arity(name, args, 2)?;
            let sep = str_arg(name, &args[0], env)?;
            join(sep, &args[1], env)
        })(),
        "indent" => (|| {
            arity(name, args, 2)?;
            let n = int_arg(name, &args[0])?;
            let s = str_arg(name, &args[1], env)?;
            indent(n, s)
        })(),
        _ => return None,
    })
}

/// `unicode.IsSpace` as Go's `strings.TrimSpace` uses it.
fn go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

fn decode(engine: &base64::engine::GeneralPurpose, s: &str, name: &str) -> FResult {
    let bytes = engine
        .decode(without_line_breaks(s).as_bytes())
        .map_err(|_| format!("{name}: input is not valid base64"))?;
    binary_text(name, bytes).map(Value::str)
}

/// Go's base64 and base32 decoders skip `\r` and `\n` (values stored as `base64` wraps them, at 76
/// columns).
pub(super) fn without_line_breaks(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Decoded bytes as template text. Go would write bytes that are not UTF-8 (a keystore, a DER key) raw into
/// the file; sidekey's template values are text, and replacing the bytes would deliver a corrupted file
/// without a word, so the render fails instead, saying why (the bytes themselves are never shown).
pub(super) fn binary_text(name: &str, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name}: the decoded value is binary (not UTF-8 text at byte {}); sidekey cannot write binary \
             data from a template: deliver it base64-encoded and decode it in the application",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Go's `strings.ToUpper`: Unicode's simple (one-to-one) mapping, so `ß` stays `ß`.
pub(super) fn go_upper(s: &str) -> String {
    s.chars().map(gocase::upper).collect()
}

/// Go's `strings.ToLower`: the simple mapping (`İ` becomes `i`, not `i̇`).
pub(super) fn go_lower(s: &str) -> String {
    s.chars().map(gocase::lower).collect()
}

/// Go's `strings.Split`: an empty separator splits into characters.
pub(super) fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        s.char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect()
    } else {
        s.split(sep).collect()
    }
}

/// Go's `strings.ReplaceAll`: an empty `old` inserts `new` around every character.
fn go_replace_all(s: &str, old: &str, new: &str) -> String {
    if !old.is_empty() {
        return s.replace(old, new);
    }
    let mut out = String::from(new);
    for c in s.chars() {
        out.push(c);
        out.push_str(new);
    }
    out
}

/// Go's deprecated `strings.Title` (sprig's `title`): upper-case the first letter of each word.
pub(super) fn title(s: &str) -> String {
    title_words(s, false)
}

/// consul-template's `toTitle`: golang.org/x/text/cases' title casing without lowering the rest.
fn cases_title(s: &str) -> String {
    title_words(s, true)
}

/// Title-case the first letter of each word (`strings.Title`: Go's simple `unicode.ToTitle`, `ǆ` → `ǅ`,
/// `ß` kept; x/text/cases: the full mapping, `ß` → `Ss`); with `unicode_breaks`, an apostrophe, full stop or colon between
/// two letters does not start a new word (Unicode word breaking, as x/text/cases applies it: `o'neil` →
/// `O'neil`).
fn title_words(s: &str, unicode_breaks: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for (i, &c) in chars.iter().enumerate() {
        if !prev_sep {
            out.push(c);
        } else if unicode_breaks {
            gocase::title_full(c, &mut out);
        } else {
            out.push(gocase::title(c));
        }
        let mid_letter = unicode_breaks
            && matches!(c, '\'' | '.' | ':' | '\u{2019}' | '\u{b7}')
            && i > 0
            && chars[i - 1].is_alphabetic()
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        let sep = !mid_letter
            && if c.is_ascii() {
                !(c.is_ascii_alphanumeric() || c == '_')
            } else {
                c.is_whitespace()
            };
        // x/text/cases upper-cases the first letter of a word even after digits (`1st` → `1St`).
        prev_sep = sep || (unicode_breaks && prev_sep && !c.is_alphabetic());
    }
    out
}

/// `contains "needle" .haystack`: substring test, or membership for a list.
fn contains(args: &[Value], env: &Env<'_>) -> FResult {
    arity("contains", args, 2)?;
    if let Value::List(_) | Value::Strings(_) = &args[1] {
        return super::math::in_list(&args[1], &args[0]).map(Value::Bool);
    }
    let needle = str_arg("contains", &args[0], env)?;
    let hay = str_arg("contains", &args[1], env)?;
    Ok(Value::Bool(hay.contains(needle)))
}

/// consul-template's `join(sep string, a []string)`: only a `[]string` (from `split`, `secrets`, ...) passes;
/// Go refuses a decoded `[]interface {}` even when every element is a string.
fn join(sep: &str, list: &Value, env: &Env<'_>) -> FResult {
    match list {
        Value::Strings(l) => {
            let mut parts = Vec::with_capacity(l.len());
            for v in l.iter() {
                match v {
                    Value::Str(_) | Value::JsonNumber(_) => {
                        parts.push(v.as_str().unwrap_or_default().to_string())
                    }
                    _ => parts.push(to_v(v)),
                }
            }
            Ok(Value::str(parts.join(sep)))
        }
        Value::Missing(_) | Value::Nil if env.discovering() => Ok(Value::str("")),
        v => Err(format!(
            "wrong type for value; expected []string; got {}",
            v.type_name()
        )),
    }
}

/// consul-template's `indent`: prefix every non-empty line with `n` spaces.
fn indent(n: i64, s: &str) -> FResult {
    let n =
        usize::try_from(n).map_err(|_| "indent value must be a positive integer".to_string())?;
    let pad = " ".repeat(n);
    let mut out = String::with_capacity(s.len());
    let mut at_line_start = true;
    for c in s.chars() {
        if at_line_start && c != '\n' {
            out.push_str(&pad);
        }
        out.push(c);
        at_line_start = c == '\n';
    }
    Ok(Value::str(out))
}
