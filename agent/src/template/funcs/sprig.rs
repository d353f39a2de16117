//! The `sprig_*` functions consul-template exposes, for the ones templates use most: strings, defaults, lists
//! and dicts, encodings, and integer math. Argument order is sprig's (the value worked on comes last).

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::{FResult, arity};
use crate::template::print::{quote, to_v};
use crate::template::value::Value;

/// Run `sprig_<name>`, or `None` if `name` is not one of ours.
pub fn call(name: &str, args: &[Value]) -> Option<FResult> {
    let name = name.strip_prefix("sprig_")?;
    if let Err(e) = string_params(name, args) {
        return Some(Err(e));
    }
    let s = |i: usize| args.get(i).map(strval).unwrap_or_default();
    let n = |want: usize| arity(name, args, want);
    Some(match name {
        "upper" => n(1).map(|()| Value::str(super::text::go_upper(&s(0)))),
        "lower" => n(1).map(|()| Value::str(super::text::go_lower(&s(0)))),
        "trim" => n(1).map(|()| Value::str(s(0).trim())),
        "trimAll" => n(2).map(|()| Value::str(s(1).trim_matches(|c| s(0).contains(c)))),
        "trimPrefix" => n(2).map(|()| Value::str(s(1).strip_prefix(&s(0)).unwrap_or(&s(1)))),
        "trimSuffix" => n(2).map(|()| Value::str(s(1).strip_suffix(&s(0)).unwrap_or(&s(1)))),
        "title" => n(1).map(|()| Value::str(super::text::title(&s(0)))),
        "nospace" => n(1).map(|()| Value::str(s(0).split_whitespace().collect::<String>())),
        "b64enc" => n(1).map(|()| Value::str(STANDARD.encode(s(0)))),
        "b64dec" => n(1).and_then(|()| {
            let text = s(0);
            Ok(Value::str(
                match STANDARD.decode(super::text::without_line_breaks(&text).as_bytes()) {
                    Ok(b) => super::text::binary_text("sprig_b64dec", b)?,
                    // Go's base64 error text: the offset of the first bad byte.
                    Err(base64::DecodeError::InvalidByte(at, _)) => {
                        format!("illegal base64 data at input byte {at}")
                    }
                    Err(_) => format!("illegal base64 data at input byte {}", text.len()),
                },
            ))
        }),
        "sha256sum" => n(1).map(|()| Value::str(hex::encode(Sha256::digest(s(0).as_bytes())))),
        "replace" => n(3).map(|()| Value::str(s(2).replace(&s(0), &s(1)))),
        "repeat" => n(2).map(|()| {
            let count = usize::try_from(to_int(&args[0])).unwrap_or(0);
            Value::str(s(1).repeat(count))
        }),
        "hasPrefix" => n(2).map(|()| Value::Bool(s(1).starts_with(&s(0)))),
        "hasSuffix" => n(2).map(|()| Value::Bool(s(1).ends_with(&s(0)))),
        "contains" => n(2).map(|()| Value::Bool(s(1).contains(&s(0)))),
        "trunc" => n(2).and_then(|()| trunc(to_int(&args[0]), &s(1))),
        "substr" => n(3).and_then(|()| substr(to_int(&args[0]), to_int(&args[1]), &s(2))),
        "quote" => Ok(Value::str(
            args.iter()
                .filter(|a| !matches!(a, Value::Nil | Value::Missing(_)))
                .map(|a| quote(&strval(a)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "squote" => Ok(Value::str(
            args.iter()
                .filter(|a| !matches!(a, Value::Nil | Value::Missing(_)))
                .map(|a| format!("'{}'", strval(a)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "indent" => n(2).map(|()| Value::str(indent(to_int(&args[0]), &s(1)))),
        "nindent" => n(2).map(|()| Value::str(format!("\n{}", indent(to_int(&args[0]), &s(1))))),
        "toString" => n(1).map(|()| Value::str(s(0))),
        "toJson" => n(1).map(|()| {
            let mut out = String::new();
            // sprig swallows encoding errors into an empty string.
            match super::json::encode(&mut out, &args[0], true, None) {
                Ok(()) => Value::str(out),
                Err(_) => Value::str(""),
            }
        }),
        "default" => match args {
            [d] => Ok(d.clone()),
            [d, given, ..] => Ok(if !given.truth() {
                d.clone()
            } else {
                given.clone()
            }),
            [] => Err("wrong number of args for default: want at least 1 got 0".into()),
        },
        "empty" => n(1).map(|()| Value::Bool(!args[0].truth())),
        "coalesce" => Ok(args
            .iter()
            .find(|a| a.truth())
            .cloned()
            .unwrap_or(Value::Nil)),
        "ternary" => n(3).map(|()| {
            if args[2].truth() {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }),
        "list" => Ok(Value::list(args.to_vec())),
        "dict" => Ok(Value::Map(Rc::new(
            args.chunks(2)
                .map(|kv| (strval(&kv[0]), kv.get(1).cloned().unwrap_or(Value::str(""))))
                .collect::<BTreeMap<_, _>>(),
        ))),
        "get" => n(2).map(|()| match &args[0] {
            Value::Map(m) => m.get(&s(1)).cloned().unwrap_or_else(|| Value::str("")),
            _ => Value::str(""),
        }),
        "hasKey" => {
            n(2).map(|()| Value::Bool(matches!(&args[0], Value::Map(m) if m.contains_key(&s(1)))))
        }
        "keys" => Ok(Value::strings(
            args.iter()
                .filter_map(|a| match a {
                    Value::Map(m) => Some(m.keys().cloned().collect::<Vec<_>>()),
                    _ => None,
                })
                .flatten(),
        )),
        "sortAlpha" => n(1).map(|()| {
            let mut v: Vec<String> = match &args[0] {
                Value::List(l) | Value::Strings(l) => l.iter().map(strval).collect(),
                other => vec![strval(other)],
            };
            v.sort();
            Value::strings(v)
        }),
        "join" => n(2).map(|()| {
            let parts: Vec<String> = match &args[1] {
                Value::List(l) | Value::Strings(l) => l
                    .iter()
                    .filter(|e| !matches!(e, Value::Nil | Value::Missing(_)))
                    .map(strval)
                    .collect(),
                other => vec![strval(other)],
            };
            Value::str(parts.join(&s(0)))
        }),
        "splitList" => n(2).map(|()| {
            let (sep, text) = (s(0), s(1));
            Value::strings(super::text::go_split(&text, &sep))
        }),
        "first" | "last" => n(1).map(|()| match &args[0] {
            Value::List(l) | Value::Strings(l) => {
                let e = if name == "first" { l.first() } else { l.last() };
                e.cloned().unwrap_or(Value::Nil)
            }
            _ => Value::Nil,
        }),
        "int" => n(1).map(|()| Value::Int(to_int(&args[0]))),
        "int64" => n(1).map(|()| Value::Int64(to_int(&args[0]))),
        "add" => Ok(Value::Int64(
            args.iter().map(to_int).fold(0i64, i64::wrapping_add),
        )),
        "max" | "min" => match args.split_first() {
            Some((first, rest)) => {
                let mut acc = to_int(first);
                for a in rest {
                    let v = to_int(a);
                    acc = if name == "max" {
                        acc.max(v)
                    } else {
                        acc.min(v)
                    };
                }
                Ok(Value::Int64(acc))
            }
            None => Err(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            )),
        },
        _ => return super::sprig_ext::call(name, args),
    })
}

/// The positions of `string` parameters in sprig's signatures: Go refuses anything else there.
fn string_params(name: &str, args: &[Value]) -> Result<(), String> {
    let positions: &[usize] = match name {
        "upper" | "lower" | "trim" | "title" | "untitle" | "nospace" | "b64enc" | "b64dec"
        | "sha256sum" | "snakecase" | "camelcase" | "kebabcase" | "swapcase" | "initials"
        | "atoi" | "fromJson" | "base" | "dir" | "ext" | "clean" => &[0],
        "trimAll" | "trimall" | "trimPrefix" | "trimSuffix" | "hasPrefix" | "hasSuffix"
        | "contains" | "splitList" | "split" | "regexMatch" | "regexFind" | "regexFindAll"
        | "regexSplit" => &[0, 1],
        "replace" | "regexReplaceAll" | "regexReplaceAllLiteral" => &[0, 1, 2],
        "repeat" | "trunc" | "indent" | "nindent" | "abbrev" => &[1],
        "substr" => &[2],
        "plural" => &[0, 1],
        _ => &[],
    };
    for &i in positions {
        match args.get(i) {
            None | Some(Value::Str(_)) => {}
            Some(Value::Missing(_) | Value::Nil) => {
                return Err(format!("{name}: invalid value; expected string"));
            }
            Some(v @ Value::JsonNumber(_)) => {
                return Err(format!(
                    "wrong type for value; expected string; got {}",
                    v.type_name()
                ));
            }
            Some(v) => return Err(format!("expected string; found {}", strval(v))),
        }
    }
    Ok(())
}

/// Whether `name` (without the `sprig_` prefix) is one of the sprig functions provided.
pub fn is_known(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "upper",
        "lower",
        "trim",
        "trimAll",
        "trimPrefix",
        "trimSuffix",
        "title",
        "nospace",
        "b64enc",
        "b64dec",
        "sha256sum",
        "replace",
        "repeat",
        "hasPrefix",
        "hasSuffix",
        "contains",
        "trunc",
        "substr",
        "quote",
        "squote",
        "indent",
        "nindent",
        "toString",
        "toJson",
        "default",
        "empty",
        "coalesce",
        "ternary",
        "list",
        "dict",
        "get",
        "hasKey",
        "keys",
        "sortAlpha",
        "join",
        "splitList",
        "first",
        "last",
        "int",
        "int64",
        "add",
        "max",
        "min",
    ];
    [
        NAMES,
        super::sprig_ext::NAMES,
        super::sprig_time::NAMES,
        super::sprig_list::NAMES,
        super::sprig_more::NAMES,
        super::sprig_crypto::NAMES,
    ]
    .iter()
    .any(|names| names.contains(&name))
}

/// sprig's `strval`: strings as they are, anything else as Go's `%v`.
pub(super) fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::JsonNumber(n) => n.to_string(),
        other => to_v(other),
    }
}

/// `cast.ToInt64`: numbers truncate, strings parse as Go integer literals (`0x1F`, `017`; 0 when they do
/// not, `"3.7"` included), booleans are 0/1.
pub(super) fn to_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(_) | Value::JsonNumber(_) => parse_go_int(v.as_str().unwrap_or_default()),
        _ => 0,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, 0 on error.
fn parse_go_int(s: &str) -> i64 {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let parsed = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16)
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2)
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8)
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8)
    } else {
        lower.parse::<i64>()
    };
    parsed.map_or(0, |n| if neg { -n } else { n })
}

fn trunc(c: i64, s: &str) -> FResult {
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if c < 0 && len + c > 0 {
        byte_slice("trunc", s, len + c, len)
    } else if c >= 0 && len > c {
        byte_slice("trunc", s, 0, c)
    } else {
        Ok(Value::str(s))
    }
}

fn substr(start: i64, end: i64, s: &str) -> FResult {
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if start < 0 {
        byte_slice("substr", s, 0, end)
    } else if end < 0 || end > len {
        byte_slice("substr", s, start, len)
    } else {
        byte_slice("substr", s, start, end)
    }
}

/// `s[lo:hi]` as Go slices a string, by bytes: bounds out of range are Go's runtime error; a cut inside a
/// character, where Go would write part of its bytes, is refused (as `slice` refuses it).
pub(super) fn byte_slice(name: &str, s: &str, lo: i64, hi: i64) -> FResult {
    let range = usize::try_from(lo)
        .ok()
        .zip(usize::try_from(hi).ok())
        .filter(|&(l, h)| l <= h && h <= s.len());
    let Some((l, h)) = range else {
        return Err(format!(
            "{name}: slice bounds out of range [{lo}:{hi}] with length {}",
            s.len()
        ));
    };
    s.get(l..h)
        .map(Value::str)
        .ok_or_else(|| format!("{name}: index is not on a character boundary"))
}

/// sprig's `indent`: every line, empty ones too, gets the padding.
fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(usize::try_from(n).unwrap_or(0));
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}
