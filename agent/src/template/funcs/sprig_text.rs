//! Helpers of the `sprig_*` string functions: xstrings-style case conversion, Go's `path` functions and
//! random strings.

use super::gocase::{is_letter, is_punct, is_upper, lower, upper};

/// Go's `path.Base`, `path.Dir`, `path.Ext` and `path.Clean`.
pub(super) fn path_fn(name: &str, p: &str) -> String {
    match name {
        "ext" => p
            .rfind(['.', '/'])
            .filter(|&i| p.as_bytes()[i] == b'.')
            .map_or(String::new(), |i| p[i..].to_string()),
        "base" => {
            if p.is_empty() {
                return ".".into();
            }
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                return "/".into();
            }
            t.rsplit('/').next().unwrap_or(t).to_string()
        }
        "dir" => {
            let cut = p.rfind('/').map_or(0, |i| i + 1);
            clean(&p[..cut])
        }
        _ => clean(p),
    }
}

/// Go's `path.Clean`.
fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

// === xstrings v1.4.0 case conversion (sprig's `camelcase`, `snakecase`, `kebabcase`) ===

/// xstrings' `isAlphabet`: a letter, CJK ideographs excepted.
fn is_alphabet(c: char) -> bool {
    is_letter(c)
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// xstrings' `ToCamelCase`: connectors (`-`, `_`, white space) dropped and the rune after each upper-cased;
/// the first rune upper-cased; leading connectors kept, and in a run of them all but the last.
pub(super) fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut first = None;
    let mut last_connector = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first = Some(upper(c));
            break;
        }
        out.push(c);
        last_connector = Some(c);
    }
    let Some(mut r0) = first else {
        // Only connectors: Go writes the last one a second time.
        out.extend(last_connector);
        return out;
    };
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = upper(r0);
        } else {
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextValidRune`: the first rune of `s` that is not U+FFFD and the bytes up to its end, or
/// `prev` and all of `s`.
fn next_valid(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != char::REPLACEMENT_CHARACTER {
            return (c, size);
        }
    }
    (prev, size)
}

/// xstrings' `nextWord`: the kind of the word `s` starts with, the word, and the rest.
fn next_word(s: &str) -> (Word, &str, &str) {
    if s.is_empty() {
        return (Word::Invalid, "", "");
    }
    let (mut r, size) = next_valid(s, char::REPLACEMENT_CHARACTER);
    let mut offset = size;
    if r == char::REPLACEMENT_CHARACTER {
        return (Word::Invalid, &s[..offset], &s[offset..]);
    }
    let mut rest = &s[size..];
    // Extend the word while `keep` holds for the next rune; `r` is left on the rune that ended it.
    let extend =
        |keep: &dyn Fn(char) -> bool, r: &mut char, offset: &mut usize, rest: &mut &str| {
            while !rest.is_empty() {
                let (c, sz) = next_valid(rest, *r);
                *r = c;
                if !keep(c) {
                    break;
                }
                *offset += sz;
                *rest = &rest[sz..];
            }
        };
    let kind = if is_connector(r) {
        extend(&is_connector, &mut r, &mut offset, &mut rest);
        Word::Connector
    } else if is_punct(r) {
        extend(&is_punct, &mut r, &mut offset, &mut rest);
        Word::Punct
    } else if is_upper(r) {
        if !rest.is_empty() {
            let (c, sz) = next_valid(rest, r);
            r = c;
            if is_upper(r) {
                // An acronym: up to the last upper-case rune before a lower-case one ("HTTPStatus").
                let mut prev_size = sz;
                offset += sz;
                rest = &rest[sz..];
                while !rest.is_empty() {
                    let (c, sz) = next_valid(rest, r);
                    r = c;
                    if !is_upper(r) {
                        break;
                    }
                    prev_size = sz;
                    offset += sz;
                    rest = &rest[sz..];
                }
                if !rest.is_empty() && is_alphabet(r) {
                    offset -= prev_size;
                    rest = &s[offset..];
                }
            } else if is_alphabet(r) {
                offset += sz;
                rest = &rest[sz..];
                extend(
                    &|c| is_alphabet(c) && !is_upper(c),
                    &mut r,
                    &mut offset,
                    &mut rest,
                );
            }
        }
        Word::Upper
    } else if is_alphabet(r) {
        extend(
            &|c| is_alphabet(c) && !is_upper(c),
            &mut r,
            &mut offset,
            &mut rest,
        );
        Word::Alphabet
    } else if r.is_numeric() {
        extend(&char::is_numeric, &mut r, &mut offset, &mut rest);
        Word::Number
    } else {
        extend(
            &|c| !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c)),
            &mut r,
            &mut offset,
            &mut rest,
        );
        Word::Other
    };
    (kind, &s[..offset], rest)
}

/// xstrings' `toLower`: upper-case words and connectors lower-cased, connectors replaced by `sep`.
fn lower_word(out: &mut String, kind: Word, word: &str, sep: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        out.push(if is_connector(c) {
            sep
        } else if is_upper(c) {
            lower(c)
        } else {
            c
        });
    }
}

/// xstrings' `ToSnakeCase` (`sep` `_`) and `ToKebabCase` (`-`): `HTTPServer` → `http_server`, `http2xx` →
/// `http_2xx`, `Bld4Floor3rd` → `bld4_floor_3rd`.
pub(super) fn delimited(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    if s.is_empty() {
        return out;
    }
    let (mut kind, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if kind != Word::Connector {
            lower_word(&mut out, kind, word, sep);
        }
        let (prev, last) = (kind, word);
        (kind, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while kind == Word::Alphabet || kind == Word::Number {
                    lower_word(&mut out, kind, word, sep);
                    (kind, word, rest) = next_word(rest);
                }
                if !matches!(kind, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(sep);
                }
            }
            Word::Connector => lower_word(&mut out, prev, last, sep),
            Word::Punct => {}
            _ => {
                if kind != Word::Number {
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(sep);
                    }
                    continue;
                }
                if rest.is_empty() {
                    continue;
                }
                let number = word;
                (kind, word, rest) = next_word(rest);
                // A number followed by anything but letters belongs to the word before ("Bld4Floor").
                if kind != Word::Alphabet {
                    lower_word(&mut out, Word::Number, number, sep);
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(sep);
                    }
                    continue;
                }
                // Letters after a number start a new word with it ("HTTP2xx" → "http_2xx").
                out.push(sep);
                lower_word(&mut out, Word::Number, number, sep);
                while kind == Word::Alphabet || kind == Word::Number {
                    lower_word(&mut out, kind, word, sep);
                    (kind, word, rest) = next_word(rest);
                }
                if !matches!(kind, Word::Invalid | Word::Connector | Word::Punct) {
                    out.push(sep);
                }
            }
        }
    }
    lower_word(&mut out, kind, word, sep);
    out
}

pub(super) fn map_words(s: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in s.chars() {
        if c.is_whitespace() {
            out.push_str(&f(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&f(&word));
    out
}

/// goutils' `Uncapitalize` of one word: its first rune through `unicode.ToLower`.
pub(super) fn lower_first(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| lower(f).to_string() + c.as_str())
        .unwrap_or_default()
}

/// sprig's random strings (from a cryptographic source): letters and digits, letters, digits or printable
/// ASCII.
pub(super) fn random_string(name: &str, len: i64) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let set: &[u8] = match name {
        "randAlpha" => &ALNUM[..52],
        "randNumeric" => &ALNUM[52..],
        "randAscii" => b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
        _ => ALNUM,
    };
    let mut rng = rand::rng();
    (0..usize::try_from(len).unwrap_or(0).min(1_000_000))
        .map(|_| char::from(set[rand::Rng::random_range(&mut rng, 0..set.len())]))
        .collect()
}

/// A random (version 4) UUID in its canonical lowercase form.
pub(super) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
