//! consul-template's number functions (`add` … `maximum`, `parse*`, `loop`) and list membership
//! (`in`, `containsAny/All/None/NotAll`). Binary math takes the piped value last: `{{ 5 | subtract 2 }}` is 3.

use super::{Env, FResult, arity, int_arg, str_arg};
use crate::template::value::{Value, deep_equal};

/// The most elements `loop` produces.
const MAX_LOOP: i64 = 1_000_000;

/// Run number/list function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    Some(match name {
        "add" | "subtract" | "multiply" | "divide" | "modulo" | "minimum" | "maximum" => {
            arity(name, args, 2).and_then(|()| arith(name, &args[1], &args[0]))
        }
        "parseInt" => arity(name, args, 1).and_then(|()| {
            let s = str_arg(name, &args[0], env)?;
            if s.is_empty() {
                return Ok(Value::Int64(0));
            }
            s.parse::<i64>()
                .map(Value::Int64)
                .map_err(|_| format!("{name}: invalid syntax"))
        }),
        "parseUint" => arity(name, args, 1).and_then(|()| {
            let s = str_arg(name, &args[0], env)?;
            if s.is_empty() {
                return Ok(Value::Int(0));
            }
            s.parse::<u64>()
                .ok()
                .and_then(|u| i64::try_from(u).ok())
                .map(Value::Int)
                .ok_or_else(|| format!("{name}: invalid syntax"))
        }),
        "parseFloat" => arity(name, args, 1).and_then(|()| {
            let s = str_arg(name, &args[0], env)?;
            if s.is_empty() {
                return Ok(Value::Float(0.0));
            }
            go_parse_float(s)
                .map(Value::Float)
                .map_err(|e| format!("{name}: {e}"))
        }),
        "parseBool" => arity(name, args, 1).and_then(|()| match str_arg(name, &args[0], env)? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
            "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(format!("{name}: invalid syntax")),
        }),
        "in" => arity(name, args, 2).and_then(|()| in_list(&args[0], &args[1]).map(Value::Bool)),
        "containsAny" => contains_some(name, args, true, false),
        "containsAll" => contains_some(name, args, false, true),
        "containsNone" => contains_some(name, args, true, true),
        "containsNotAll" => contains_some(name, args, false, false),
        "loop" => looped(args),
        _ => return None,
    })
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal (`0x1p3`) forms, underscores between digits,
/// `Inf`/`Infinity`/`NaN`; a finite literal too large for a float64 is "value out of range".
pub(super) fn go_parse_float(s: &str) -> Result<f64, &'static str> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    let magnitude = match special {
        Some(f) => f,
        None => {
            let bytes = lower.as_bytes();
            let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_hexdigit);
            let underscores_ok = bytes.iter().enumerate().all(|(i, &b)| {
                b != b'_' || (i > 0 && (digit(i - 1) || bytes[i - 1] == b'x') && digit(i + 1))
            });
            if !underscores_ok || lower.contains("inf") || lower.contains("nan") {
                return Err("invalid syntax");
            }
            let clean = lower.replace('_', "");
            let f = match clean.strip_prefix("0x") {
                Some(hex) => parse_hex_float(hex).ok_or("invalid syntax")?,
                None => clean.parse::<f64>().map_err(|_| "invalid syntax")?,
            };
            if f.is_infinite() {
                return Err("value out of range");
            }
            f
        }
    };
    Ok(if neg { -magnitude } else { magnitude })
}

/// The part after `0x` of a Go hexadecimal float: hex digits with an optional point, then a mandatory `p`
/// exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let shift = exp - 4 * i32::try_from(frac.len()).ok()?;
    Some(v * 2f64.powi(shift))
}

enum Num {
    I(i64),
    F(f64),
}

fn num(name: &str, v: &Value) -> Result<Num, String> {
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(Num::I(*i)),
        Value::Float(f) => Ok(Num::F(*f)),
        // consul-template switches on the reflect kind: json.Number is a string kind, not a number. Go
        // quotes the number here; sidekey does not (it may be a secret, e.g. a PIN).
        Value::JsonNumber(_) => Err(format!("{name}: unknown type for value: json.Number")),
        _ => Err(format!("{name}: unknown type for value: {}", v.type_name())),
    }
}

/// `a op b`, where the template wrote `op b a` (the piped value is `a`).
fn arith(name: &str, a: &Value, b: &Value) -> FResult {
    let (a, b) = (num(name, a)?, num(name, b)?);
    if let (Num::I(a), Num::I(b)) = (&a, &b) {
        let (a, b) = (*a, *b);
        return Ok(Value::Int64(match name {
            "add" => a.wrapping_add(b),
            "subtract" => a.wrapping_sub(b),
            "multiply" => a.wrapping_mul(b),
            "divide" | "modulo" if b == 0 => return Err(format!("{name}: division by zero")),
            "divide" => a.wrapping_div(b),
            "modulo" => a.wrapping_rem(b),
            "minimum" => a.min(b),
            _ => a.max(b),
        }));
    }
    let f = |n: Num| match n {
        Num::I(i) => i as f64,
        Num::F(f) => f,
    };
    let (a, b) = (f(a), f(b));
    Ok(Value::Float(match name {
        "add" => a + b,
        "subtract" => a - b,
        "multiply" => a * b,
        "divide" if b == 0.0 => return Err(format!("{name}: division by zero")),
        "divide" => a / b,
        "modulo" => return Err(format!("{name}: unknown type for value: float64")),
        "minimum" => a.min(b),
        _ => a.max(b),
    }))
}

/// consul-template's `in list value`: list membership, or substring for a string.
pub fn in_list(l: &Value, v: &Value) -> Result<bool, String> {
    match l {
        Value::List(items) | Value::Strings(items) => Ok(items.iter().any(|e| deep_equal(e, v))),
        Value::Str(s) => Ok(v.as_str().is_some_and(|n| s.contains(n))),
        Value::Missing(_) | Value::Nil => Ok(false),
        _ => Err(format!("in: unsupported type {}", l.type_name())),
    }
}

/// `containsAny/All/None/NotAll items list`: returns `!invert` as soon as an item's membership is
/// `ret_true`, else `invert`.
fn contains_some(name: &str, args: &[Value], ret_true: bool, invert: bool) -> FResult {
    arity(name, args, 2)?;
    // consul-template declares the list as []interface {}: a []string (from split) is refused, as in Go.
    let items = match &args[0] {
        Value::List(l) => l.clone(),
        Value::Missing(_) | Value::Nil => Default::default(),
        v => {
            return Err(format!(
                "wrong type for value; expected []interface {{}}; got {}",
                v.type_name()
            ));
        }
    };
    for item in items.iter() {
        if in_list(&args[1], item)? == ret_true {
            return Ok(Value::Bool(!invert));
        }
    }
    Ok(Value::Bool(invert))
}

/// `loop n` is 0…n-1, `loop a b` is a…b-1.
fn looped(args: &[Value]) -> FResult {
    let as_int = |v: &Value| match v {
        Value::JsonNumber(_) | Value::Str(_) => match v.as_str().unwrap_or_default() {
            "" => Ok(0),
            s => s
                .parse::<i64>()
                .map_err(|_| "loop: invalid integer".to_string()),
        },
        v => int_arg("loop", v),
    };
    let (start, stop) = match args {
        [n] => (0, as_int(n)?),
        [a, b] => (as_int(a)?, as_int(b)?),
        _ => {
            return Err(format!(
                "loop: wrong number of arguments, expected 1 or 2, but got {}",
                args.len()
            ));
        }
    };
    if stop.saturating_sub(start) > MAX_LOOP {
        return Err(format!("loop: more than {MAX_LOOP} iterations"));
    }
    Ok(Value::list((start..stop).map(Value::Int64).collect()))
}
