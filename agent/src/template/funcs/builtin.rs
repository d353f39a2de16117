//! Go's `text/template` builtin functions (`and`/`or` live in the evaluator: they short-circuit).

use std::rc::Rc;

use super::{Env, FResult, arity, check_printable, int_arg};
use crate::template::MissingKey;
use crate::template::print::{is_print, sprint, sprintln};
use crate::template::sprintf::sprintf;
use crate::template::value::{Value, equal, less};

/// Run builtin `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    Some(match name {
        "not" => arity(name, args, 1).map(|()| Value::Bool(!args[0].truth())),
        "len" => arity(name, args, 1).and_then(|()| match &args[0] {
            Value::Missing(_) | Value::Nil if env.discovering() => Ok(Value::Int(0)),
            v => len(v),
        }),
        "index" => index(args, env),
        "slice" => slice(args),
        "print" => check_printable(name, args, env).map(|()| Value::str(sprint(args))),
        "println" => check_printable(name, args, env).map(|()| Value::str(sprintln(args))),
        "printf" => printf(args, env),
        "eq" => eq(args).map(Value::Bool),
        "ne" => {
            arity(name, args, 2).and_then(|()| equal(&args[0], &args[1]).map(|b| Value::Bool(!b)))
        }
        "lt" => cmp(name, args, less),
        "le" => cmp(name, args, |a, b| Ok(less(a, b)? || equal(a, b)?)),
        "gt" => cmp(name, args, |a, b| Ok(!less(a, b)? && !equal(a, b)?)),
        "ge" => cmp(name, args, |a, b| Ok(!less(a, b)?)),
        "html" => {
            check_printable(name, args, env).map(|()| Value::str(html_escape(&eval_args(args))))
        }
        "js" => check_printable(name, args, env).map(|()| Value::str(js_escape(&eval_args(args)))),
        "urlquery" => {
            check_printable(name, args, env).map(|()| Value::str(query_escape(&eval_args(args))))
        }
        "call" => Err("call: function values are not supported".into()),
        _ => return None,
    })
}

/// Go's `evalArgs`: a single string argument as is, otherwise `fmt.Sprint` of all of them.
fn eval_args(args: &[Value]) -> String {
    match args {
        [v] if v.as_str().is_some() => v.as_str().unwrap_or_default().to_string(),
        _ => sprint(args),
    }
}

fn printf(args: &[Value], env: &Env<'_>) -> FResult {
    let Some((fmt, rest)) = args.split_first() else {
        return Err("wrong number of args for printf: want at least 1 got 0".into());
    };
    check_printable("printf", rest, env)?;
    let fmt = fmt.as_str().ok_or_else(|| {
        format!(
            "printf: wrong type for value; expected string; got {}",
            fmt.type_name()
        )
    })?;
    Ok(Value::str(sprintf(fmt, rest)))
}

fn cmp(name: &str, args: &[Value], f: impl Fn(&Value, &Value) -> Result<bool, String>) -> FResult {
    arity(name, args, 2)?;
    f(&args[0], &args[1])
        .map(Value::Bool)
        .map_err(|e| format!("{name}: {e}"))
}

/// `eq a b c…`: a equals any of the others.
fn eq(args: &[Value]) -> Result<bool, String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("missing argument for comparison".into());
    };
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for a in rest {
        if equal(first, a).map_err(|e| format!("eq: {e}"))? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn len(v: &Value) -> FResult {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::JsonNumber(s) => s.len(),
        Value::List(l) | Value::Strings(l) => l.len(),
        Value::Map(m) => m.len(),
        _ => return Err(format!("len of type {}", v.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Go's `index`. A missing map key gives the map's zero value (nil), whatever the missing-key mode; sidekey's
/// default mode keeps it "missing" so that printing it is still an error.
fn index(args: &[Value], env: &Env<'_>) -> FResult {
    let Some((mut item, keys)) = args.split_first().map(|(f, r)| (f.clone(), r)) else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    for k in keys {
        item = match (&item, k) {
            (Value::List(l) | Value::Strings(l), Value::Int(i) | Value::Int64(i)) => {
                let i = usize::try_from(*i)
                    .map_err(|_| format!("error calling index: index out of range: {i}"))?;
                l.get(i)
                    .cloned()
                    .ok_or_else(|| format!("error calling index: index out of range: {i}"))?
            }
            (Value::Str(_) | Value::JsonNumber(_), Value::Int(i) | Value::Int64(i)) => {
                let s = item.as_str().unwrap_or_default();
                let i = usize::try_from(*i)
                    .map_err(|_| format!("error calling index: index out of range: {i}"))?;
                Value::Int(
                    s.as_bytes()
                        .get(i)
                        .map(|b| i64::from(*b))
                        .ok_or_else(|| format!("error calling index: index out of range: {i}"))?,
                )
            }
            (Value::Map(m), k) if k.as_str().is_some() => {
                let key = k.as_str().unwrap_or_default();
                match m.get(key) {
                    Some(v) => v.clone(),
                    None if env.missing_key == MissingKey::ErrorOnPrint => {
                        Value::Missing(format!("index {key:?}").into())
                    }
                    None => Value::Nil,
                }
            }
            (Value::Map(_), k) => {
                return Err(format!(
                    "error calling index: value has type {}; should be string",
                    k.type_name()
                ));
            }
            (Value::Missing(p), _) if env.discovering() => Value::Missing(p.clone()),
            (Value::Missing(_) | Value::Nil, _) => {
                return Err("error calling index: index of untyped nil".into());
            }
            (Value::List(_) | Value::Strings(_) | Value::Str(_), k) => {
                return Err(format!(
                    "error calling index: cannot index slice/array with type {}",
                    k.type_name()
                ));
            }
            (v, _) => {
                return Err(format!(
                    "error calling index: can't index item of type {}",
                    v.type_name()
                ));
            }
        };
    }
    Ok(item)
}

fn slice(args: &[Value]) -> FResult {
    let Some((item, idx)) = args.split_first() else {
        return Err("wrong number of args for slice: want at least 1 got 0".into());
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item {
        Value::Str(s) => s.len(),
        Value::JsonNumber(s) => s.len(),
        Value::List(l) | Value::Strings(l) => l.len(),
        Value::Nil => return Err("slice of untyped nil".into()),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut bounds = Vec::new();
    for i in idx {
        let v = int_arg("slice", i)?;
        let v = usize::try_from(v).map_err(|_| format!("index out of range: {v}"))?;
        if v > len {
            return Err(format!("index out of range: {v}"));
        }
        bounds.push(v);
    }
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len);
    if lo > hi {
        return Err(format!("invalid slice index: {lo} > {hi}"));
    }
    match item {
        Value::Str(s) => {
            if bounds.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.get(lo..hi)
                .map(Value::str)
                .ok_or_else(|| "slice: index is not on a character boundary".into())
        }
        Value::JsonNumber(n) if bounds.len() < 3 => n
            .get(lo..hi)
            .map(|s| Value::JsonNumber(s.into()))
            .ok_or_else(|| "slice: index is not on a character boundary".into()),
        Value::List(l) => Ok(Value::List(Rc::new(l[lo..hi].to_vec()))),
        Value::Strings(l) => Ok(Value::Strings(Rc::new(l[lo..hi].to_vec()))),
        _ => Err("cannot 3-index slice a string".into()),
    }
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            // ASCII controls and non-printable runes (U+2028, ...) as \uXXXX; DEL stays as it is, as in Go.
            c if (c as u32) < 0x20 || (!c.is_ascii() && !is_print(c)) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
