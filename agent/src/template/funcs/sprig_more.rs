//! sprig v3.2.3 functions: strings, hashes and encodings, paths, environment, URLs and semver.
//!
//! Go's strings are bytes; several of these functions cut at byte offsets (`abbrevboth`, `wrapWith`) or
//! decode arbitrary bytes (`b32dec`, `urlParse`). Where Go would produce invalid UTF-8 the result here has
//! U+FFFD in its place, since template values are Rust strings.
//!
//! - [`url`]: Go's `net/url` parsing and printing, for `urlParse` and `urlJoin`.
//! - [`semver`]: Masterminds/semver v3.4 (what `bao agent` links), for `semver` and `semverCompare`.

use std::collections::BTreeMap;
use std::rc::Rc;

use sha1::{Digest, Sha1};

use super::sprig_text::path_fn;
use super::{Env, FResult, arity, str_arg};
use crate::template::value::Value;

mod semver;
mod url;

#[cfg(test)]
mod tests;

/// The sprig names (without `sprig_`) this file serves.
pub const NAMES: &[&str] = &[
    "hello",
    "abbrevboth",
    "wrap",
    "wrapWith",
    "shuffle",
    "splitn",
    "regexQuoteMeta",
    "sha1sum",
    "adler32sum",
    "b32enc",
    "b32dec",
    "env",
    "expandenv",
    "isAbs",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "urlParse",
    "urlJoin",
    "semver",
    "semverCompare",
];

/// Run `sprig_<name>` (`name` without the prefix), or `None` if it is not one of this file's.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    let out = run(name, args, env)?;
    // While a pass only discovers secrets, a value missing because of them (a version, a URL) may well be
    // refused: the pass goes on with a missing value instead, so it finds the template's other secrets.
    if out.is_err()
        && env.discovering()
        && let Some(Value::Missing(path)) = args.iter().find(|a| matches!(a, Value::Missing(_)))
    {
        return Some(Ok(Value::Missing(path.clone())));
    }
    Some(out)
}

fn run(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    if !NAMES.contains(&name) {
        return None;
    }
    let full = format!("sprig_{name}");
    let s = |i: usize| str_arg(&full, &args[i], env);
    let n = |i: usize| int_arg(&full, &args[i], env);
    let want = |count: usize| arity(&full, args, count);
    Some(match name {
        "hello" => want(0).map(|()| Value::str("Hello!")),
        "abbrevboth" => want(3).and_then(|()| Ok(Value::str(abbrevboth(n(0)?, n(1)?, s(2)?)))),
        "wrap" => want(2).and_then(|()| Ok(Value::str(wrap(s(1)?, n(0)?, "", false)))),
        "wrapWith" => want(3).and_then(|()| Ok(Value::str(wrap(s(2)?, n(0)?, s(1)?, true)))),
        "shuffle" => want(1).and_then(|()| Ok(Value::str(shuffle(s(0)?)))),
        "splitn" => want(3).and_then(|()| Ok(splitn(s(0)?, n(1)?, s(2)?))),
        "regexQuoteMeta" => want(1).and_then(|()| Ok(Value::str(quote_meta(s(0)?)))),
        "sha1sum" => {
            want(1).and_then(|()| Ok(Value::str(hex::encode(Sha1::digest(s(0)?.as_bytes())))))
        }
        "adler32sum" => {
            want(1).and_then(|()| Ok(Value::str(adler32(s(0)?.as_bytes()).to_string())))
        }
        "b32enc" => want(1).and_then(|()| Ok(Value::str(b32_encode(s(0)?.as_bytes())))),
        // sprig returns the decoder's error text as the result.
        "b32dec" => want(1).and_then(|()| {
            let text = super::text::without_line_breaks(s(0)?);
            Ok(Value::str(match b32_decode(text.as_bytes()) {
                Ok(b) => super::text::binary_text("sprig_b32dec", b)?,
                Err(at) => format!("illegal base32 data at input byte {at}"),
            }))
        }),
        "env" => want(1).and_then(|()| Ok(Value::str(env.ctx.env(s(0)?).unwrap_or_default()))),
        "expandenv" => want(1).and_then(|()| {
            Ok(Value::str(expand(s(0)?, |k| {
                env.ctx.env(k).unwrap_or_default()
            })))
        }),
        // Go's `path.IsAbs` and, on Unix, `filepath.IsAbs`.
        "isAbs" | "osIsAbs" => want(1).and_then(|()| Ok(Value::Bool(s(0)?.starts_with('/')))),
        // On Unix `filepath.Base/Clean/Dir/Ext` are `path`'s.
        "osBase" | "osClean" | "osDir" | "osExt" => want(1).and_then(|()| {
            let f = name.trim_start_matches("os").to_ascii_lowercase();
            Ok(Value::str(path_fn(&f, s(0)?)))
        }),
        "urlParse" => want(1).and_then(|()| url::parse_to_dict(s(0)?)),
        "urlJoin" => want(1).and_then(|()| match &args[0] {
            Value::Map(m) => url::join_dict(m).map(Value::str),
            other => Err(format!(
                "wrong type for value; expected map[string]interface {{}}; got {}",
                other.type_name()
            )),
        }),
        "semver" => want(1).and_then(|()| semver::object(s(0)?)),
        "semverCompare" => want(2).and_then(|()| semver::compare(s(0)?, s(1)?).map(Value::Bool)),
        _ => return None,
    })
}

/// An `int` parameter of a sprig function. Go's template accepts an `int` value or an integer constant
/// (`5`, or `5.0`, which Go's parser reads as an integer too); an `int64` or a string is a wrong type.
/// Literals and variables are not told apart here, so a whole `float64` variable passes where Go refuses it.
fn int_arg(name: &str, v: &Value, env: &Env<'_>) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
        Value::Missing(_) | Value::Nil if env.discovering() => Ok(0),
        Value::Missing(_) | Value::Nil => Err(format!("{name}: invalid value; expected int")),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// A Go string built from bytes: invalid UTF-8 becomes U+FFFD (see the module note).
fn from_bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// === strings ===

/// sprig's `abbrevboth`: goutils' `AbbreviateFull` (byte offsets), the string as it is for widths it refuses.
fn abbrevboth(left: i64, right: i64, s: &str) -> String {
    if right < 4 || (left > 0 && right < 7) {
        return s.to_string();
    }
    abbreviate_full(s.as_bytes(), left, right)
}

/// goutils' `AbbreviateFull`, with `max_width >= 4` (and `>= 7` when `offset > 0`) checked by the caller.
fn abbreviate_full(b: &[u8], offset: i64, max_width: i64) -> String {
    let len = i64::try_from(b.len()).unwrap_or(i64::MAX);
    if b.is_empty() || len <= max_width {
        return from_bytes(b);
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    let at = |i: i64| usize::try_from(i).unwrap_or(0).min(b.len());
    if offset <= 4 {
        return from_bytes(&b[..at(max_width - 3)]) + "...";
    }
    if max_width < 7 {
        // goutils returns an error, which sprig drops: the result is empty.
        return String::new();
    }
    if offset + max_width - 3 < len {
        return "...".to_string() + &abbreviate_full(&b[at(offset)..], 0, max_width - 3);
    }
    "...".to_string() + &from_bytes(&b[at(len - (max_width - 3))..])
}

/// goutils' `WrapCustom`: break at the last space that fits in `width` bytes, dropping the spaces where
/// lines break; a word longer than `width` is cut (`long_words`) or left whole.
fn wrap(s: &str, width: i64, newline: &str, long_words: bool) -> String {
    let b = s.as_bytes();
    if b.is_empty() {
        return String::new();
    }
    let nl = if newline.is_empty() { "\n" } else { newline }.as_bytes();
    let width = usize::try_from(width.max(1)).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let window = &b[offset..offset + width + 1];
        if let Some(space) = window.iter().rposition(|&c| c == b' ') {
            out.extend_from_slice(&b[offset..offset + space]);
            out.extend_from_slice(nl);
            offset += space + 1;
        } else if long_words {
            out.extend_from_slice(&b[offset..offset + width]);
            out.extend_from_slice(nl);
            offset += width;
        } else {
            let end = offset + width;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = b.len();
                }
                Some(i) => {
                    out.extend_from_slice(&b[offset..end + i]);
                    out.extend_from_slice(nl);
                    offset = end + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    from_bytes(&out)
}

/// xstrings' `Shuffle`: the characters in a random order.
fn shuffle(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    rand::seq::SliceRandom::shuffle(chars.as_mut_slice(), &mut rand::rng());
    chars.into_iter().collect()
}

/// sprig's `splitn`: Go's `strings.SplitN` into a dict keyed `_0`, `_1`, ...
fn splitn(sep: &str, n: i64, s: &str) -> Value {
    Value::Map(Rc::new(
        split_n(s, sep, n)
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::str(p)))
            .collect::<BTreeMap<_, _>>(),
    ))
}

/// Go's `strings.SplitN`: at most `n` parts (all of them when `n < 0`, none when `n == 0`); an empty
/// separator splits after each character.
fn split_n(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    if sep.is_empty() {
        let chars: Vec<char> = s.chars().collect();
        let mut parts: Vec<String> = Vec::new();
        for (i, c) in chars.iter().enumerate() {
            if parts.len() + 1 == limit {
                parts.push(chars[i..].iter().collect());
                return parts;
            }
            parts.push(c.to_string());
        }
        return parts;
    }
    s.splitn(limit, sep).map(str::to_string).collect()
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// === hashes and encodings ===

/// Adler-32 (RFC 1950), as `hash/adler32` computes it.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before `b` could overflow a u32.
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `base32.StdEncoding.EncodeToString`: RFC 4648 with `=` padding.
fn b32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        // Characters that carry input bits: 2, 4, 5, 7 or 8 for 1..=5 bytes.
        let used = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < used {
                out.push(char::from(B32[((bits >> (35 - 5 * i)) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base32.StdEncoding.DecodeString`, error offsets included (they become sprig's output): `\r` and `\n`
/// are dropped first; decoding stops at the first padding, ignoring what follows it.
fn b32_decode(input: &[u8]) -> Result<Vec<u8>, usize> {
    let src: Vec<u8> = input
        .iter()
        .copied()
        .filter(|&c| c != b'\r' && c != b'\n')
        .collect();
    let olen = src.len();
    let mut pos = 0;
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let value = |c: u8| B32.iter().position(|&x| x == c);
    while pos < olen {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut end = false;
        let mut j = 0;
        while j < 8 {
            if pos == olen {
                return Err(olen - j);
            }
            let c = src[pos];
            pos += 1;
            let left = olen - pos;
            if c == b'=' && j >= 2 && left < 8 {
                if left + j < 7 {
                    return Err(olen);
                }
                for k in 0..(7 - j) {
                    if left > k && src[pos + k] != b'=' {
                        return Err(pos + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(pos - 1);
                }
                break;
            }
            match value(c) {
                // `value` is below 32, so the cast is exact.
                Some(v) => dbuf[j] = v as u8,
                None => return Err(pos - 1),
            }
            j += 1;
        }
        let bits = dbuf.iter().fold(0u64, |acc, &x| (acc << 5) | u64::from(x));
        let bytes = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        for i in 0..bytes {
            out.push(((bits >> (32 - 8 * i)) & 0xff) as u8);
        }
        if end {
            break;
        }
    }
    Ok(out)
}

// === environment ===

/// Go's `os.Expand`: `$NAME` and `${NAME}` replaced by `lookup(NAME)`, with the shell's special one-character
/// names (`$1`, `$@`, `${*}`, ...); `${}` and an unclosed `${` are dropped, a `$` before anything else stays.
fn expand(s: &str, mut lookup: impl FnMut(&str) -> String) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.extend_from_slice(&b[i..j]);
            let (name, width) = shell_name(&b[j + 1..]);
            match name {
                // Bad syntax: the characters are eaten.
                None if width > 0 => {}
                None => out.push(b'$'),
                Some(name) => out.extend_from_slice(lookup(&from_bytes(name)).as_bytes()),
            }
            j += width;
            i = j + 1;
        }
        j += 1;
    }
    out.extend_from_slice(&b[i.min(b.len())..]);
    from_bytes(&out)
}

/// Go's `getShellName`: the name after a `$` and how many bytes it took (`None` for no name).
fn shell_name(s: &[u8]) -> (Option<&[u8]>, usize) {
    let special = |c: u8| b"*#$@!?-0123456789".contains(&c);
    if s[0] == b'{' {
        if s.len() > 2 && special(s[1]) && s[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        return match s.iter().skip(1).position(|&c| c == b'}') {
            Some(0) => (None, 2),
            Some(k) => (Some(&s[1..=k]), k + 2),
            None => (None, 1),
        };
    }
    if special(s[0]) {
        return (Some(&s[..1]), 1);
    }
    let k = s
        .iter()
        .position(|&c| !(c == b'_' || c.is_ascii_alphanumeric()))
        .unwrap_or(s.len());
    ((k > 0).then_some(&s[..k]), k)
}
