//! sprig v3.2.3 functions: lists, dicts, float math, JSON, reflection and the `must*` variants of list, dict,
//! regex and JSON functions.
//!
//! This file's `call` runs before the older sprig files, so it also serves the list and dict functions
//! `sprig_ext` had, with what Go does to them: a list function given something other than a slice fails
//! with sprig's error; `has`, `uniq` and `without` compare with `reflect.DeepEqual` (an `int` is not an
//! `int64`, a string is not a `json.Number`); the `merge` family follows mergo v0.3.15; typed parameters
//! (`int`, `string`, `map[string]interface {}`) refuse other types as Go's template engine does. Where Go
//! panics, the call fails with the panic's text. Error messages name types, never values: an argument may
//! be a secret.

use std::collections::BTreeMap;
use std::rc::Rc;

use num_bigint::{BigInt, Sign};
use regex::Regex;

use super::sprig::to_int;
use super::{Env, FResult};
use crate::template::print::{special, to_v};
use crate::template::value::Value;

type Map = BTreeMap<String, Value>;

/// The sprig names (without `sprig_`) this file serves.
pub const NAMES: &[&str] = &[
    "add1f",
    "addf",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "biggest",
    "toDecimal",
    "all",
    "any",
    "chunk",
    "mustChunk",
    "slice",
    "mustSlice",
    "tuple",
    "pluck",
    "deepCopy",
    "mustDeepCopy",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "mustAppend",
    "mustPush",
    "mustPrepend",
    "mustFirst",
    "mustRest",
    "mustLast",
    "mustInitial",
    "mustReverse",
    "mustUniq",
    "mustWithout",
    "mustHas",
    "mustCompact",
    "toRawJson",
    "mustToRawJson",
    "mustFromJson",
    "typeIs",
    "typeIsLike",
    "kindIs",
    "mustRegexFind",
    "mustRegexFindAll",
    "mustRegexMatch",
    "mustRegexReplaceAll",
    "mustRegexReplaceAllLiteral",
    "mustRegexSplit",
];

/// Functions other sprig files declare that this one serves with Go's behaviour (see the module doc).
const OVERRIDES: &[&str] = &[
    "until",
    "untilStep",
    "seq",
    "first",
    "last",
    "rest",
    "initial",
    "reverse",
    "uniq",
    "without",
    "has",
    "compact",
    "append",
    "push",
    "prepend",
    "concat",
    "merge",
    "pick",
    "omit",
    "dig",
    "set",
    "unset",
    "keys",
    "values",
    "get",
    "hasKey",
    "regexSplit",
];

/// What Go says when sprig calls `reflect.TypeOf(nil).Kind()` (a list function given nil or a missing key).
const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// Longest list `until`, `untilStep` and `seq` make: Go would build any length, sidekey refuses to exhaust
/// memory instead.
const MAX_RANGE: i128 = 10_000_000;

/// Run `sprig_<name>` (`name` without the prefix), or `None` if it is not one of this file's.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    if !NAMES.contains(&name) && !OVERRIDES.contains(&name) {
        return None;
    }
    // While secrets are still being discovered, a function of a value not fetched yet has no value either;
    // failing here would hide the secrets the rest of the template needs.
    if env.discovering()
        && let Some(m) = args.iter().find(|a| matches!(a, Value::Missing(_)))
    {
        return Some(Ok(m.clone()));
    }
    Some(
        lists(name, args)
            .or_else(|| dicts(name, args))
            .or_else(|| numbers(name, args))
            .or_else(|| others(name, args))
            .unwrap_or_else(|| Err(format!("function \"sprig_{name}\" not defined"))),
    )
}

// === Go's typing of arguments ===

/// Go's check of the argument count of a function with `n` parameters.
fn exactly(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for sprig_{name}: want {n} got {}",
        args.len()
    ))
}

/// Go's check of the argument count of a variadic function with `n` fixed parameters.
fn at_least(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() >= n {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for sprig_{name}: want at least {n} got {}",
        args.len()
    ))
}

/// An argument for an `int` parameter: only a Go `int` is one (not an `int64`, a float or a string).
fn int_param(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil | Value::Missing(_) => Err("invalid value; expected int".into()),
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// An argument for a `string` parameter (a `json.Number` is not one).
fn str_param(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s.as_str()),
        Value::Nil | Value::Missing(_) => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// An argument for a `map[string]interface {}` parameter; nil (or a missing key) is Go's nil map, `None`.
fn map_param(v: &Value) -> Result<Option<&Map>, String> {
    match v {
        Value::Map(m) => Ok(Some(m)),
        Value::Nil | Value::Missing(_) => Ok(None),
        other => Err(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            other.type_name()
        )),
    }
}

/// The elements of an `interface{}` argument sprig wants to be a slice; `what` words sprig's error for any
/// other kind (`Cannot find first on type %s`), nil is Go's nil dereference.
fn slice_param<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], String> {
    match v {
        Value::List(l) | Value::Strings(l) => Ok(l),
        Value::Nil | Value::Missing(_) => Err(NIL_DEREF.into()),
        other => Err(what.replace("%s", go_kind(other))),
    }
}

/// `fmt.Sprintf("%T")` of a value, as sprig's `typeOf` gives it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Nil | Value::Missing(_) => "<nil>",
        other => other.type_name(),
    }
}

/// `reflect.Kind.String()` of a value, as sprig's `kindOf` gives it.
fn go_kind(v: &Value) -> &'static str {
    super::sprig_ext::kind(v)
}

/// Go's `reflect.DeepEqual` on template values: the types must match (an `int` is not an `int64`, a
/// string is not a `json.Number`, a `[]string` is not a `[]interface {}`).
fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil | Value::Missing(_), Value::Nil | Value::Missing(_)) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x.as_str() == y.as_str(),
        (Value::JsonNumber(x), Value::JsonNumber(y)) => x == y,
        (Value::List(x), Value::List(y)) | (Value::Strings(x), Value::Strings(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
        }
        (Value::Secret(x), Value::Secret(y)) => std::sync::Arc::ptr_eq(x, y),
        (Value::Scratch(_), Value::Scratch(_)) => true,
        (Value::Object(x), Value::Object(y)) => {
            x.type_name() == y.type_name() && to_v(a) == to_v(b)
        }
        _ => false,
    }
}

/// `cast.ToInt64` (spf13/cast v1.5.1): numbers truncate, strings parse as Go integer literals once a
/// trailing `.0…` is dropped (`"3.0"` is 3, `"3.5"` is 0), booleans are 0 and 1, anything else 0.
fn cast_int(v: &Value) -> i64 {
    match v.as_str() {
        Some(s) => to_int(&Value::str(trim_zero_decimal(s))),
        None => to_int(v),
    }
}

/// cast's `trimZeroDecimal`, scanning from the end: `"3.00"` → `"3"`; anything else as it is.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, b) in s.bytes().enumerate().rev() {
        match b {
            b'.' if found_zero => return &s[..i],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// `cast.ToFloat64`: numbers as they are, strings by Go's `ParseFloat` (0 when it fails), booleans 0 and
/// 1, anything else 0.
fn cast_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(_) | Value::JsonNumber(_) => {
            super::math::go_parse_float(v.as_str().unwrap_or_default()).unwrap_or(0.0)
        }
        _ => 0.0,
    }
}

// === list.go ===

fn lists(name: &str, args: &[Value]) -> Option<FResult> {
    let one = |what: &str| -> Result<&[Value], String> {
        exactly(name, args, 1)?;
        slice_param(&args[0], what)
    };
    Some(match name {
        "tuple" => Ok(Value::list(args.to_vec())),
        "first" | "mustFirst" => {
            one("Cannot find first on type %s").map(|l| l.first().cloned().unwrap_or(Value::Nil))
        }
        "last" | "mustLast" => {
            one("Cannot find last on type %s").map(|l| l.last().cloned().unwrap_or(Value::Nil))
        }
        "rest" | "mustRest" => one("Cannot find rest on type %s")
            .map(|l| Value::list(l.get(1..).unwrap_or_default().to_vec())),
        "initial" | "mustInitial" => one("Cannot find initial on type %s").map(|l| {
            Value::list(
                l.get(..l.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_vec(),
            )
        }),
        "reverse" | "mustReverse" => one("Cannot find reverse on type %s")
            .map(|l| Value::list(l.iter().rev().cloned().collect())),
        "compact" | "mustCompact" => one("Cannot compact on type %s")
            .map(|l| Value::list(l.iter().filter(|v| v.truth()).cloned().collect())),
        "uniq" | "mustUniq" => one("Cannot find uniq on type %s").map(|l| {
            let mut out: Vec<Value> = Vec::new();
            for v in l {
                if !out.iter().any(|o| deep_equal(v, o)) {
                    out.push(v.clone());
                }
            }
            Value::list(out)
        }),
        "without" | "mustWithout" => at_least(name, args, 1).and_then(|()| {
            let l = slice_param(&args[0], "Cannot find without on type %s")?;
            let omit = &args[1..];
            Ok(Value::list(
                l.iter()
                    .filter(|v| !omit.iter().any(|o| deep_equal(v, o)))
                    .cloned()
                    .collect(),
            ))
        }),
        "has" | "mustHas" => exactly(name, args, 2).and_then(|()| match &args[1] {
            Value::Nil | Value::Missing(_) => Ok(Value::Bool(false)),
            haystack => {
                let l = slice_param(haystack, "Cannot find has on type %s")?;
                Ok(Value::Bool(l.iter().any(|v| deep_equal(&args[0], v))))
            }
        }),
        "append" | "push" | "mustAppend" | "mustPush" => exactly(name, args, 2).and_then(|()| {
            let mut l = slice_param(&args[0], "Cannot push on type %s")?.to_vec();
            l.push(args[1].clone());
            Ok(Value::list(l))
        }),
        "prepend" | "mustPrepend" => exactly(name, args, 2).and_then(|()| {
            let l = slice_param(&args[0], "Cannot prepend on type %s")?;
            Ok(Value::list(
                std::iter::once(args[1].clone())
                    .chain(l.iter().cloned())
                    .collect(),
            ))
        }),
        "concat" => args
            .iter()
            .map(|a| slice_param(a, "Cannot concat type %s as list"))
            .collect::<Result<Vec<_>, _>>()
            .map(|ls| Value::list(ls.concat())),
        "chunk" | "mustChunk" => exactly(name, args, 2).and_then(|()| {
            let size = int_param(&args[0])?;
            chunk(size, slice_param(&args[1], "Cannot chunk type %s")?)
        }),
        "slice" | "mustSlice" => at_least(name, args, 1).and_then(|()| {
            let l = slice_param(&args[0], "list should be type of slice or array but %s")?;
            sub_slice(&args[0], l, &args[1..])
        }),
        _ => return None,
    })
}

/// Go's conversion of a float64 to `int` on amd64: NaN and values out of range become the minimum int.
fn go_float_to_int(f: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-TWO_63..TWO_63).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// sprig's `chunk`: its float arithmetic (`floor((len-1)/size)+1` chunks, the last one `len mod size`
/// long) and the panics it leads to for sizes below 1 are kept, so odd sizes give what Go gives.
fn chunk(size: i64, l: &[Value]) -> FResult {
    const BAD_LEN: &str = "runtime error: makeslice: len out of range";
    let len = l.len() as f64;
    let count = go_float_to_int(((len - 1.0) / size as f64).floor() + 1.0);
    let count = usize::try_from(count).map_err(|_| BAD_LEN.to_string())?;
    let mut out = Vec::with_capacity(count.min(l.len() + 1));
    for i in 0..count {
        let mut clen = size;
        if i + 1 == count {
            // Go's math.Mod keeps the sign of the dividend.
            clen = go_float_to_int((len % size as f64).floor());
            if clen == 0 {
                clen = size;
            }
        }
        let clen = usize::try_from(clen).map_err(|_| BAD_LEN.to_string())?;
        let start = i64::try_from(i).unwrap_or(i64::MAX).wrapping_mul(size);
        let mut part = Vec::with_capacity(clen);
        for j in 0..clen {
            let ix = usize::try_from(start.wrapping_add(i64::try_from(j).unwrap_or(i64::MAX)))
                .ok()
                .filter(|&ix| ix < l.len())
                .ok_or_else(|| "runtime error: index out of range".to_string())?;
            part.push(l[ix].clone());
        }
        out.push(Value::list(part));
    }
    Ok(Value::list(out))
}

/// sprig's `slice LIST [START [END]]`: a Go slice expression on the list, which keeps its type (`[]string`
/// stays `[]string`); nil for an empty list.
fn sub_slice(list: &Value, l: &[Value], indices: &[Value]) -> FResult {
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = indices.first().map_or(0, cast_int);
    let end = indices
        .get(1)
        .map_or(i64::try_from(l.len()).unwrap_or(i64::MAX), cast_int);
    let range = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .filter(|&(s, e)| s <= e && e <= l.len())
        .ok_or_else(|| "reflect.Value.Slice: slice index out of bounds".to_string())?;
    let part = l[range.0..range.1].to_vec();
    Ok(match list {
        Value::Strings(_) => Value::Strings(Rc::new(part)),
        _ => Value::list(part),
    })
}

// === dict.go ===

fn dicts(name: &str, args: &[Value]) -> Option<FResult> {
    let map = |m: Map| Value::Map(Rc::new(m));
    Some(match name {
        "get" => exactly(name, args, 2).and_then(|()| {
            let (d, key) = (map_param(&args[0])?, str_param(&args[1])?);
            Ok(d.and_then(|d| d.get(key))
                .cloned()
                .unwrap_or_else(|| Value::str("")))
        }),
        "hasKey" => exactly(name, args, 2).and_then(|()| {
            let (d, key) = (map_param(&args[0])?, str_param(&args[1])?);
            Ok(Value::Bool(d.is_some_and(|d| d.contains_key(key))))
        }),
        "set" => exactly(name, args, 3).and_then(|()| {
            let (d, key) = (map_param(&args[0])?, str_param(&args[1])?);
            let mut d = d
                .ok_or_else(|| "assignment to entry in nil map".to_string())?
                .clone();
            d.insert(key.to_string(), args[2].clone());
            Ok(map(d))
        }),
        "unset" => exactly(name, args, 2).and_then(|()| {
            let (d, key) = (map_param(&args[0])?, str_param(&args[1])?);
            let mut d = d.cloned().unwrap_or_default();
            d.remove(key);
            Ok(map(d))
        }),
        // Go iterates a map in random order; key order is one of the orders it may give.
        "keys" => args
            .iter()
            .map(map_param)
            .collect::<Result<Vec<_>, _>>()
            .map(|ds| Value::strings(ds.into_iter().flatten().flat_map(|d| d.keys().cloned()))),
        "values" => exactly(name, args, 1).and_then(|()| {
            let d = map_param(&args[0])?;
            Ok(Value::list(
                d.map(|d| d.values().cloned().collect()).unwrap_or_default(),
            ))
        }),
        "pick" | "omit" => at_least(name, args, 1).and_then(|()| {
            let d = map_param(&args[0])?.cloned().unwrap_or_default();
            let keys = args[1..]
                .iter()
                .map(str_param)
                .collect::<Result<Vec<_>, _>>()?;
            let pick = name == "pick";
            Ok(map(d
                .into_iter()
                .filter(|(k, _)| keys.contains(&k.as_str()) == pick)
                .collect()))
        }),
        "pluck" => at_least(name, args, 1).and_then(|()| {
            let key = str_param(&args[0])?;
            let mut out = Vec::new();
            for d in &args[1..] {
                if let Some(v) = map_param(d)?.and_then(|d| d.get(key)) {
                    out.push(v.clone());
                }
            }
            Ok(Value::list(out))
        }),
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => at_least(name, args, 1)
            .and_then(|()| {
                let overwrite = name.ends_with("Overwrite");
                let mut dst = map_param(&args[0])?.cloned().unwrap_or_default();
                for src in &args[1..] {
                    if let Some(src) = map_param(src)? {
                        mergo(&mut dst, src, overwrite);
                    }
                }
                Ok(map(dst))
            }),
        "dig" => dig(args),
        "deepCopy" | "mustDeepCopy" => exactly(name, args, 1).and_then(|()| match &args[0] {
            Value::Nil | Value::Missing(_) => {
                Err("reflect: call of reflect.Value.Type on zero Value".into())
            }
            // Values are immutable here: a copy is the value itself.
            v => Ok(v.clone()),
        }),
        _ => return None,
    })
}

/// mergo v0.3.15's `Merge(&dst, src)` (`overwrite`: `MergeWithOverwrite`) of two `map[string]interface{}`,
/// as sprig's merge functions run it, key by key:
/// - a nil in `src` is skipped (with `overwrite`: stored);
/// - two maps, the destination's not empty, are merged the same way, recursively;
/// - otherwise `src`'s value is stored when `overwrite` is set or the destination's is missing or empty
///   (Go's zero value: `""`, 0, false, an empty list or map).
fn mergo(dst: &mut Map, src: &Map, overwrite: bool) {
    for (k, s) in src {
        let merged = match (dst.get(k), s) {
            (_, Value::Nil | Value::Missing(_)) if !overwrite => continue,
            (Some(Value::Map(d)), Value::Map(sm)) if !d.is_empty() => {
                let mut inner = (**d).clone();
                mergo(&mut inner, sm, overwrite);
                Value::Map(Rc::new(inner))
            }
            (Some(d), _) if d.truth() && !overwrite => continue,
            _ => s.clone(),
        };
        dst.insert(k.clone(), merged);
    }
}

/// sprig's `dig KEY... DEFAULT DICT`: Go's type assertions (a key that is not a string, a step that is not
/// a map) panic, and so fail here with the same words.
fn dig(args: &[Value]) -> FResult {
    let [keys @ .., default, dict] = args else {
        return Err("dig needs at least three arguments".into());
    };
    if keys.is_empty() {
        return Err("dig needs at least three arguments".into());
    }
    let not = |v: &Value, want: &str| {
        let is = match v {
            Value::Nil | Value::Missing(_) => "nil",
            other => other.type_name(),
        };
        format!("interface conversion: interface {{}} is {is}, not {want}")
    };
    let Value::Map(mut cur) = dict.clone() else {
        return Err(not(dict, "map[string]interface {}"));
    };
    let keys = keys
        .iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s.as_str()),
            other => Err(not(other, "string")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = cur.get(*k).cloned() else {
            return Ok(default.clone());
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        cur = match step {
            Value::Map(m) => m,
            other => return Err(not(&other, "map[string]interface {}")),
        };
    }
    Ok(default.clone())
}

// === numeric.go ===

fn numbers(name: &str, args: &[Value]) -> Option<FResult> {
    let float = |r: Result<f64, String>| r.map(Value::Float);
    Some(match name {
        "add1f" => exactly(name, args, 1)
            .and_then(|()| float(decimal_op(&args[0], &[Value::Int(1)], Decimal::add))),
        "addf" => float(decimal_op(&Value::Float(0.0), args, Decimal::add)),
        "subf" | "mulf" | "divf" => at_least(name, args, 1).and_then(|()| {
            float(match name {
                "subf" => decimal_op(&args[0], &args[1..], Decimal::sub),
                "mulf" => decimal_op(&args[0], &args[1..], Decimal::mul),
                _ => decimal_op(&args[0], &args[1..], Decimal::div),
            })
        }),
        "maxf" | "minf" => at_least(name, args, 1).map(|()| {
            let pick = if name == "maxf" { go_max } else { go_min };
            Value::Float(
                args[1..]
                    .iter()
                    .map(cast_float)
                    .fold(cast_float(&args[0]), pick),
            )
        }),
        "biggest" => at_least(name, args, 1)
            .map(|()| Value::Int64(args.iter().map(cast_int).fold(i64::MIN, i64::max))),
        // strconv.ParseInt(fmt.Sprint(v), 8, 64): an optional sign and octal digits; 0 when it fails.
        "toDecimal" => exactly(name, args, 1)
            .map(|()| Value::Int64(i64::from_str_radix(&to_v(&args[0]), 8).unwrap_or(0))),
        "until" => exactly(name, args, 1).and_then(|()| {
            let count = int_param(&args[0])?;
            until_step(0, count, if count < 0 { -1 } else { 1 }).map(ints)
        }),
        "untilStep" => exactly(name, args, 3).and_then(|()| {
            let p = args.iter().map(int_param).collect::<Result<Vec<_>, _>>()?;
            until_step(p[0], p[1], p[2]).map(ints)
        }),
        "seq" => args
            .iter()
            .map(int_param)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|p| seq(&p))
            .map(Value::str),
        _ => return None,
    })
}

fn ints(v: Vec<i64>) -> Value {
    Value::list(v.into_iter().map(Value::Int).collect())
}

/// sprig's `untilStep`: from `start` towards `stop` (exclusive) by `step`; empty when `step` goes the other
/// way or is 0.
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let count = if stop < start && step < 0 {
        (start - stop + (-step) - 1) / (-step)
    } else if stop >= start && step > 0 {
        (stop - start + step - 1) / step
    } else {
        0
    };
    if count > MAX_RANGE {
        return Err(format!(
            "sidekey refuses to make a list of {count} numbers (at most {MAX_RANGE})"
        ));
    }
    Ok((0..count)
        .filter_map(|i| i64::try_from(start + i * step).ok())
        .collect())
}

/// sprig's `seq`, like the Unix command: `seq LAST`, `seq FIRST LAST`, `seq FIRST STEP LAST`; the numbers
/// joined by spaces.
fn seq(p: &[i64]) -> Result<String, String> {
    let (start, stop, step) = match *p {
        [end] => {
            let inc = if end < 1 { -1 } else { 1 };
            (1, end.wrapping_add(inc), inc)
        }
        [start, end] => {
            let inc = if end < start { -1 } else { 1 };
            (start, end.wrapping_add(inc), inc)
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && step > 0 {
                return Ok(String::new());
            }
            (start, end.wrapping_add(inc), step)
        }
        _ => return Ok(String::new()),
    };
    Ok(until_step(start, stop, step)?
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" "))
}

/// Go's `math.Max`: +Inf wins over NaN, NaN over numbers, +0 over -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN over numbers, -0 over +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// sprig's `execDecimalOp`: every operand goes through `cast.ToFloat64` and `decimal.NewFromFloat`, the
/// operation runs on exact decimals left to right, and the result is the nearest float64.
fn decimal_op(
    first: &Value,
    rest: &[Value],
    op: fn(&Decimal, &Decimal) -> Result<Decimal, String>,
) -> Result<f64, String> {
    let mut acc = Decimal::from_f64(cast_float(first))?;
    for v in rest {
        acc = op(&acc, &Decimal::from_f64(cast_float(v))?)?;
    }
    Ok(acc.to_f64())
}

// === impl Decimal ===

/// shopspring/decimal v1.3.1's number: `value × 10^exp`, exact.
#[derive(Clone)]
struct Decimal {
    value: BigInt,
    exp: i64,
}

/// `shopspring/decimal.DivisionPrecision`: digits kept after the point by `Div`.
const DIVISION_PRECISION: i64 = 16;

fn pow10(n: i64) -> BigInt {
    BigInt::from(10u8).pow(u32::try_from(n).unwrap_or(u32::MAX))
}

impl Decimal {
    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f` (what Go's `%v` prints).
    fn from_f64(f: f64) -> Result<Self, String> {
        if let Some(text) = special(f) {
            return Err(format!("Cannot create a Decimal from {text}"));
        }
        if f == 0.0 {
            return Ok(Self {
                value: BigInt::from(0u8),
                exp: 0,
            });
        }
        // Rust's `{:e}` is the shortest round-trip form too: `-1.2345e-7`.
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        Ok(Self {
            value: digits.parse().unwrap_or_default(),
            exp: exp - i64::try_from(fraction).unwrap_or(0),
        })
    }

    /// `Float64()`: the float64 nearest the exact value (Rust's parser rounds a decimal text exactly).
    fn to_f64(&self) -> f64 {
        if self.value.sign() == Sign::NoSign {
            return 0.0;
        }
        format!("{}e{}", self.value, self.exp)
            .parse()
            .unwrap_or(0.0)
    }

    /// Both values scaled to the smaller exponent.
    fn aligned(&self, other: &Self) -> (BigInt, BigInt, i64) {
        let exp = self.exp.min(other.exp);
        (
            &self.value * pow10(self.exp - exp),
            &other.value * pow10(other.exp - exp),
            exp,
        )
    }

    fn add(&self, other: &Self) -> Result<Self, String> {
        let (a, b, exp) = self.aligned(other);
        Ok(Self { value: a + b, exp })
    }

    fn sub(&self, other: &Self) -> Result<Self, String> {
        let (a, b, exp) = self.aligned(other);
        Ok(Self { value: a - b, exp })
    }

    fn mul(&self, other: &Self) -> Result<Self, String> {
        Ok(Self {
            value: &self.value * &other.value,
            exp: self.exp + other.exp,
        })
    }

    /// `Div`: the quotient rounded to 16 digits after the point, half away from zero.
    fn div(&self, other: &Self) -> Result<Self, String> {
        if other.value.sign() == Sign::NoSign {
            return Err("decimal division by 0".into());
        }
        // self / other × 10^16 as the integer fraction num / den.
        let shift = self.exp - other.exp + DIVISION_PRECISION;
        let (num, den) = if shift >= 0 {
            (&self.value * pow10(shift), other.value.clone())
        } else {
            (self.value.clone(), &other.value * pow10(-shift))
        };
        let mut q = &num / &den;
        let r = &num % &den;
        if r.magnitude() * 2u32 >= *den.magnitude() {
            let away = if (self.value.sign() == Sign::Minus) != (other.value.sign() == Sign::Minus)
            {
                -1
            } else {
                1
            };
            q += BigInt::from(away);
        }
        Ok(Self {
            value: q,
            exp: -DIVISION_PRECISION,
        })
    }
}

// === defaults.go, reflect.go, regex.go ===

fn others(name: &str, args: &[Value]) -> Option<FResult> {
    let str_at = |i: usize| str_param(&args[i]);
    Some(match name {
        "all" => Ok(Value::Bool(args.iter().all(Value::truth))),
        "any" => Ok(Value::Bool(args.iter().any(Value::truth))),
        "toRawJson" | "mustToRawJson" => exactly(name, args, 1).and_then(|()| raw_json(&args[0])),
        "mustFromJson" => exactly(name, args, 1).and_then(|()| from_json(str_at(0)?)),
        "typeIs" => {
            exactly(name, args, 2).and_then(|()| Ok(Value::Bool(str_at(0)? == go_type(&args[1]))))
        }
        "typeIsLike" => exactly(name, args, 2).and_then(|()| {
            let (target, t) = (str_at(0)?, go_type(&args[1]));
            Ok(Value::Bool(
                target == t || t.strip_prefix('*') == Some(target),
            ))
        }),
        "kindIs" => {
            exactly(name, args, 2).and_then(|()| Ok(Value::Bool(str_at(0)? == go_kind(&args[1]))))
        }
        "mustRegexFind" => exactly(name, args, 2).and_then(|()| {
            let re = compile(name, str_at(0)?)?;
            Ok(Value::str(
                re.find(str_at(1)?).map(|m| m.as_str()).unwrap_or_default(),
            ))
        }),
        "mustRegexFindAll" => exactly(name, args, 3).and_then(|()| {
            let re = compile(name, str_at(0)?)?;
            let (text, n) = (str_at(1)?, int_param(&args[2])?);
            let found = re.find_iter(text).map(|m| m.as_str());
            Ok(Value::strings(match usize::try_from(n) {
                Ok(n) => found.take(n).collect::<Vec<_>>(),
                Err(_) => found.collect(),
            }))
        }),
        "mustRegexMatch" => exactly(name, args, 2).and_then(|()| {
            let re = compile(name, str_at(0)?)?;
            Ok(Value::Bool(re.is_match(str_at(1)?)))
        }),
        "mustRegexReplaceAll" | "mustRegexReplaceAllLiteral" => {
            exactly(name, args, 3).and_then(|()| {
                let re = compile(name, str_at(0)?)?;
                let (text, repl) = (str_at(1)?, str_at(2)?);
                Ok(Value::str(if name == "mustRegexReplaceAll" {
                    re.replace_all(text, repl).into_owned()
                } else {
                    re.replace_all(text, regex::NoExpand(repl)).into_owned()
                }))
            })
        }
        "regexSplit" | "mustRegexSplit" => exactly(name, args, 3).and_then(|()| {
            let re = compile(name, str_at(0)?)?;
            Ok(Value::strings(go_split(
                &re,
                str_at(1)?,
                int_param(&args[2])?,
            )))
        }),
        _ => return None,
    })
}

fn compile(name: &str, pattern: &str) -> Result<Regex, String> {
    super::pattern::compile(&format!("sprig_{name}"), pattern)
}

/// Go's `Regexp.Split(s, n)`: at most `n` parts when `n > 0` (the last one the unsplit rest), none when 0;
/// an empty match at the very start or end makes no empty part.
fn go_split<'t>(re: &Regex, text: &'t str, n: i64) -> Vec<&'t str> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && text.is_empty() {
        return vec![""];
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(text).take(limit) {
        if n > 0 && out.len() + 1 == limit {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(&text[beg..end]);
        }
        beg = m.end();
    }
    if end != text.len() {
        out.push(&text[beg..]);
    }
    out
}

/// `toRawJson`: `encoding/json` without HTML escaping, Go's error for a float JSON cannot hold.
fn raw_json(v: &Value) -> FResult {
    fn bad_float(v: &Value) -> Option<f64> {
        match v {
            Value::Float(f) if !f.is_finite() => Some(*f),
            Value::List(l) | Value::Strings(l) => l.iter().find_map(bad_float),
            Value::Map(m) => m.values().find_map(bad_float),
            _ => None,
        }
    }
    if let Some(text) = bad_float(v).and_then(special) {
        return Err(format!("json: unsupported value: {text}"));
    }
    let mut out = String::new();
    super::json::encode(&mut out, v, false, None)?;
    Ok(Value::str(out))
}

/// `mustFromJson`: `json.Unmarshal` into `interface{}` (numbers are float64). Errors give the position,
/// not the text: the JSON may be a secret.
fn from_json(text: &str) -> FResult {
    fn too_big(v: &Value) -> bool {
        match v {
            Value::Float(f) => !f.is_finite(),
            Value::List(l) => l.iter().any(too_big),
            Value::Map(m) => m.values().any(too_big),
            _ => false,
        }
    }
    let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            "unexpected end of JSON input".to_string()
        } else {
            format!(
                "invalid character in JSON input at line {} column {}",
                e.line(),
                e.column()
            )
        }
    })?;
    let v = Value::from_plain_json(&parsed);
    if too_big(&v) {
        return Err("json: cannot unmarshal number into Go value of type float64".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)] // a failed test panics

    use std::sync::Arc;

    use crate::backend::secret::{Secret, SecretData, SecretRequest};
    use crate::template::{MissingKey, ParseOptions, RenderContext, Template};

    /// One secret at `secret/data/x` with JSON numbers, as the server sends them.
    struct Ctx(Arc<Secret>);

    impl RenderContext for Ctx {
        fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
            (req.path == "secret/data/x").then(|| self.0.clone())
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
        fn file(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn render(src: &str) -> Result<String, String> {
        let data: serde_json::Value = serde_json::from_str(
            r#"{"data": {"tags": ["a", "b", "c"], "nums": [3, 1.5, 2], "port": 8080}}"#,
        )
        .unwrap_or_default();
        let ctx = Ctx(Arc::new(Secret {
            data: SecretData(data),
            ..Secret::default()
        }));
        let t = Template::parse("t", src, &ParseOptions::default()).map_err(|e| e.to_string())?;
        t.render(&ctx, MissingKey::NoValue)
            .result
            .map(|s| s.to_string())
            .map_err(|e| e.to_string())
    }

    /// Cases as text, two lines each: a template, then `=> OUTPUT` (what `bao agent` 2.7.2 renders) or
    /// `=! TEXT` (the render fails with a message containing TEXT). `$X` stands for `with secret ...`.
    fn check(table: &str) {
        let lines: Vec<&str> = table.lines().filter(|l| !l.trim().is_empty()).collect();
        for case in lines.chunks(2) {
            let [src, want] = case else {
                panic!("unpaired case {case:?}");
            };
            let src = src
                .trim()
                .replace("$X", r#"{{ with secret "secret/data/x" }}"#);
            let want = want.trim();
            match (
                render(&src),
                want.strip_prefix("=>"),
                want.strip_prefix("=!"),
            ) {
                (Ok(got), Some(out), _) => assert_eq!(got, out.trim_start(), "{src}"),
                (Err(e), _, Some(text)) => assert!(e.contains(text.trim_start()), "{src}: {e}"),
                (got, ..) => panic!("{src}: got {got:?}, want {want}"),
            }
        }
    }

    #[test]
    fn float_math_is_decimal_then_float64() {
        check(
            r#"
            {{ sprig_addf 1.1 2.2 }}|{{ sprig_addf 0.1 0.2 }}|{{ sprig_addf }}
            => 3.3|0.3|0
            {{ sprig_subf 1 0.1 0.1 0.1 }}|{{ sprig_subf 3 }}|{{ sprig_mulf 1.1 3 }}|{{ sprig_mulf -1 0 }}
            => 0.7|3|3.3|0
            {{ sprig_divf 2 3 }}|{{ sprig_divf 1 7 }}|{{ sprig_divf 100 7 }}
            => 0.6666666666666667|0.1428571428571429|14.285714285714286
            {{ sprig_divf -1 3 }}|{{ sprig_divf 2 -3 }}|{{ sprig_divf 1e20 3 }}|{{ sprig_divf 1e-20 3 }}
            => -0.3333333333333333|-0.6666666666666667|3.333333333333333e+19|0
            {{ sprig_mulf 3 (sprig_divf 1 3) }}|{{ sprig_mulf 1e200 1e200 }}|{{ sprig_addf 1e300 1e-300 }}
            => 0.9999999999999999|+Inf|1e+300
            {{ sprig_add1f 0.1 }}|{{ sprig_add1f "x" }}|{{ sprig_addf "1.5" true }}|{{ sprig_addf 9007199254740993 }}
            => 1.1|1|2.5|9.007199254740992e+15
            {{ sprig_divf 1 0 }}
            =! decimal division by 0
            {{ sprig_addf "inf" }}
            =! Cannot create a Decimal from +Inf
            {{ sprig_subf }}
            =! want at least 1 got 0
            "#,
        );
    }

    #[test]
    fn min_max_and_to_decimal() {
        check(
            r#"
            {{ sprig_maxf 1 2.5 "3" }}|{{ sprig_minf 1 2.5 -3 }}|{{ sprig_maxf -0.0 0 }}|{{ sprig_minf 0 -0.0 }}
            => 3|-3|0|-0
            {{ sprig_maxf 1 "nan" }}|{{ sprig_minf "-inf" 1 }}|{{ sprig_maxf 1e7 }}|{{ sprig_minf 0.00001 }}
            => NaN|-Inf|1e+07|1e-05
            {{ sprig_biggest 1 5 3 }}|{{ sprig_biggest "3.0" 2 }}|{{ sprig_biggest "3.50" 2 }}|{{ sprig_biggest "0x10" 1 }}
            => 5|3|2|16
            {{ sprig_toDecimal "0777" }}|{{ sprig_toDecimal 777 }}|{{ sprig_toDecimal "8" }}|{{ sprig_toDecimal "-17" }}
            => 511|511|0|-15
            {{ sprig_toDecimal "+7" }}|{{ sprig_toDecimal 1.5 }}
            => 7|0
            "#,
        );
    }

    #[test]
    fn until_and_seq_count_as_sprig_does() {
        check(
            r#"
            {{ sprig_until -3 }}|{{ sprig_until 0 }}|{{ sprig_until 3 }}|{{ sprig_untilStep 0 10 0 }}
            => [0 -1 -2]|[]|[0 1 2]|[]
            {{ sprig_untilStep 10 0 0 }}|{{ sprig_untilStep -3 3 2 }}|{{ sprig_untilStep 3 -3 -2 }}
            => []|[-3 -1 1]|[3 1 -1]
            {{ sprig_seq 0 }}|{{ sprig_seq -2 }}|{{ sprig_seq 3 -1 }}|{{ sprig_seq 5 -2 1 }}|{{ sprig_seq 5 2 1 }}
            => 1 0|1 0 -1 -2|3 2 1 0 -1|5 3 1|
            {{ sprig_seq }}|{{ sprig_seq 1 2 3 4 }}|{{ sprig_seq 2 -1 2 }}|{{ sprig_seq 1 0 1 }}|{{ sprig_seq 1 3 2 }}
            => ||||1
            {{ sprig_until "3" }}
            =! expected int
            {{ sprig_until (sprig_add 1 2) }}
            =! expected int; got int64
            {{ sprig_until 100000000 }}
            =! at most
            "#,
        );
    }

    #[test]
    fn list_functions_keep_go_types() {
        check(
            r#"
            {{ sprig_first (sprig_list) }}|{{ sprig_rest (sprig_list) }}|{{ sprig_mustLast (sprig_list 1 2) }}
            => <no value>|[]|2
            {{ sprig_mustInitial (sprig_list 1 2) }}|{{ sprig_compact (sprig_list "" 0 nil false (sprig_list) "0" 0.0 "a") }}
            => [1]|[0 a]
            {{ sprig_uniq (sprig_list 1 "1" (sprig_int64 1) 1.0 1) }}|{{ sprig_without (sprig_list 1 "1" 2) "1" }}
            => [1 1 1 1]|[1 2]
            {{ sprig_concat }}|{{ sprig_has 1 .nope }}|{{ sprig_has "1" (sprig_list 1) }}|$X{{ sprig_has 3 .Data.data.nums }}{{ end }}
            => []|false|false|false
            {{ sprig_append (split "," "a,b") "c" | sprig_typeOf }}|{{ sprig_mustPrepend (split "," "a,b") "c" }}
            => []interface {}|[c a b]
            {{ sprig_chunk 2 (sprig_list 1 2 3 4 5) }}|{{ sprig_chunk 2 (sprig_list) }}|{{ sprig_chunk -5 (sprig_list 1 2 3) }}
            => [[1 2] [3 4] [5]]|[]|[]
            {{ sprig_chunk -2 (sprig_list 1) }}|{{ sprig_chunk -2 (sprig_list 1 2) }}
            => [[1]]|[]
            {{ sprig_slice (sprig_list 1 2 3 4) 1 3 }}|{{ sprig_slice (sprig_list 1 2 3 4) 2 }}|{{ sprig_slice (sprig_list 1 2) "1" }}
            => [2 3]|[3 4]|[2]
            {{ sprig_slice (split "," "a,b,c") 1 | sprig_typeOf }}|{{ sprig_slice (sprig_list) 1 }}|{{ sprig_tuple 1 "a" }}
            => []string|<no value>|[1 a]
            {{ sprig_first "abc" }}
            =! Cannot find first on type string
            {{ sprig_mustRest 1 }}
            =! Cannot find rest on type int
            {{ sprig_first .nope }}
            =! nil pointer dereference
            {{ sprig_concat (sprig_list 1) "x" }}
            =! Cannot concat type string as list
            {{ sprig_has 1 "x" }}
            =! Cannot find has on type string
            {{ sprig_mustAppend (sprig_dict) 1 }}
            =! Cannot push on type map
            {{ sprig_chunk 0 (sprig_list 1 2) }}
            =! makeslice: len out of range
            {{ sprig_chunk -3 (sprig_list) }}
            =! makeslice: len out of range
            {{ sprig_slice (sprig_list 1 2) 3 }}
            =! slice index out of bounds
            {{ sprig_mustSlice "abc" 1 }}
            =! list should be type of slice or array but string
            "#,
        );
    }

    #[test]
    fn dict_functions_follow_sprig_and_mergo() {
        check(
            r#"
            {{ sprig_merge (sprig_dict "a" "" "b" 0 "c" "x") (sprig_dict "a" nil "b" 5 "c" "y" "d" nil) }}
            => map[a: b:5 c:x]
            {{ sprig_mergeOverwrite (sprig_dict "a" "x" "b" 1 "c" (sprig_list 1) "n" (sprig_dict "p" 1 "q" 2)) (sprig_dict "a" "" "b" 0 "c" (sprig_list) "d" nil "n" (sprig_dict "p" nil "r" 3)) }}
            => map[a: b:0 c:[] d:<nil> n:map[p:<nil> q:2 r:3]]
            {{ $f := sprig_dict "a" 1 }}{{ $_ := sprig_mustMergeOverwrite $f (sprig_dict "a" 2) }}{{ $f }}
            => map[a:2]
            {{ sprig_merge .nope (sprig_dict "a" 1) }}|{{ sprig_mustMerge (sprig_dict "a" 1) .nope }}
            => map[a:1]|map[a:1]
            {{ sprig_pluck "a" (sprig_dict "a" 1) (sprig_dict "b" 2) (sprig_dict "a" 3) }}|{{ sprig_pluck "a" }}
            => [1 3]|[]
            {{ sprig_dig "a" "b" "def" (sprig_dict "b" nil) }}|{{ sprig_dig "a" "def" (sprig_dict "a" nil) }}
            => def|<no value>
            {{ sprig_pick (sprig_dict "a" 1 "b" 2) "a" "zz" }}|{{ sprig_omit (sprig_dict "a" 1 "b" 2) "a" }}
            => map[a:1]|map[b:2]
            {{ sprig_unset .nope "a" }}|{{ sprig_set (sprig_dict) "a" .nope }}|{{ sprig_keys (sprig_dict "b" 1) (sprig_dict "a" 2) }}
            => map[]|map[a:<nil>]|[b a]
            {{ sprig_deepCopy (sprig_dict "a" (sprig_list 1 2)) }}|{{ sprig_deepCopy (split "," "a") | sprig_typeOf }}
            => map[a:[1 2]]|[]string
            {{ sprig_get .nope "a" }}|{{ sprig_hasKey .nope "a" }}|{{ sprig_keys .nope }}
            => |false|[]
            {{ sprig_merge (sprig_dict "a" 1) "x" }}
            =! expected map[string]interface {}
            {{ sprig_dig "a" "b" "d" (sprig_dict "a" "s") }}
            =! interface {} is string, not map
            {{ sprig_dig "a" "b" "d" (sprig_dict "a" nil) }}
            =! interface {} is nil, not map
            {{ sprig_dig 1 "d" (sprig_dict) }}
            =! interface {} is int, not string
            {{ sprig_dig "d" (sprig_dict) }}
            =! dig needs at least three arguments
            {{ sprig_pick (sprig_dict) 1 }}
            =! expected string
            {{ sprig_set .nope "a" 1 }}
            =! assignment to entry in nil map
            {{ sprig_keys "x" }}
            =! expected map[string]interface {}
            {{ sprig_deepCopy .nope }}
            =! zero Value
            "#,
        );
    }

    #[test]
    fn json_reflection_and_truth() {
        check(
            r#"
            {{ sprig_toRawJson (sprig_dict "h" "<a&b>" "l" (sprig_list 1 2.5 nil true)) }}
            => {"h":"<a&b>","l":[1,2.5,null,true]}
            {{ sprig_mustToRawJson 1e21 }}|{{ sprig_toRawJson .nope }}|{{ sprig_mustFromJson "12" | sprig_typeOf }}
            => 1e+21|null|float64
            {{ sprig_mustFromJson "{\"a\": [1, 2.5], \"d\": 1e3}" }}
            => map[a:[1 2.5] d:1000]
            {{ sprig_all }}|{{ sprig_any }}|{{ sprig_all 1 "" }}|{{ sprig_any 0 "x" }}
            => true|false|false|true
            {{ sprig_typeIs "<nil>" .nope }}|{{ sprig_kindIs "invalid" .nope }}|{{ sprig_typeIs "int64" (sprig_add 1 2) }}
            => true|true|true
            {{ sprig_typeIsLike "dependency.Secret" (secret "secret/data/x") }}|{{ sprig_kindIs "ptr" (secret "secret/data/x") }}
            => true|true
            $X{{ sprig_typeIs "json.Number" .Data.data.port }}|{{ sprig_kindIs "string" .Data.data.port }}{{ end }}
            => true|true
            {{ sprig_toRawJson (sprig_float64 "inf") }}
            =! json: unsupported value: +Inf
            {{ sprig_mustFromJson "{" }}
            =! unexpected end of JSON input
            {{ sprig_mustFromJson "[1] x" }}
            =! invalid character
            {{ sprig_mustFromJson "1e400" }}
            =! cannot unmarshal number
            {{ sprig_typeIs 1 1 }}
            =! expected string
            "#,
        );
    }

    #[test]
    fn regex_functions_split_as_go() {
        check(
            r#"
            {{ sprig_regexSplit "," "a,b,c" 2 }}|{{ sprig_regexSplit "" "abc" -1 }}|{{ sprig_regexSplit "x*" "axbc" -1 }}
            => [a b,c]|[a b c]|[a b c]
            {{ sprig_regexSplit "," "" -1 | len }}|{{ sprig_regexSplit "," "a,b" 0 }}|{{ sprig_regexSplit "," ",a," -1 | len }}
            => 1|[]|3
            {{ sprig_mustRegexSplit "b" "abc" 1 }}|{{ sprig_mustRegexFind "b+" "abbbc" }}|{{ sprig_mustRegexFindAll "a*" "baaab" -1 }}
            => [abc]|bbb|[ aaa ]
            {{ sprig_mustRegexFindAll "[0-9]" "a1b2c3" 2 }}|{{ sprig_mustRegexFindAll "[0-9]" "a1b2c3" -1 }}
            => [1 2]|[1 2 3]
            {{ sprig_mustRegexMatch "^a" "abc" }}|{{ sprig_mustRegexReplaceAll "(b)" "abc" "[$1]" }}
            => true|a[b]c
            {{ sprig_mustRegexReplaceAllLiteral "(b)" "abc" "[$1]" }}|{{ sprig_mustRegexReplaceAll "a*" "baaab" "-" }}
            => a[$1]c|-b-b-
            {{ sprig_mustRegexFind "(" "x" }}
            =! sprig_mustRegexFind
            {{ sprig_mustRegexFindAll "a" "aaa" "2" }}
            =! expected int
            $X{{ sprig_mustRegexFind "a" .Data.data.port }}{{ end }}
            =! got json.Number
            "#,
        );
    }
}
