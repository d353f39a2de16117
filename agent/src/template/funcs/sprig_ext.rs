//! More `sprig_*` functions (sprig v3, as consul-template ships it): regexes, case conversion, paths, list and
//! dict helpers, integer/float math and JSON. Argument order is sprig's.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::sprig::{byte_slice, strval, to_int};
use super::sprig_text::{
    camel, delimited, lower_first, map_words, path_fn, random_string, uuid_v4,
};
use super::{FResult, arity, gocase};
use crate::template::value::{Value, deep_equal};

/// Every function of this file (without the `sprig_` prefix).
pub const NAMES: &[&str] = &[
    "toPrettyJson",
    "mustToJson",
    "mustToPrettyJson",
    "fromJson",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexMatch",
    "regexSplit",
    "snakecase",
    "camelcase",
    "kebabcase",
    "swapcase",
    "untitle",
    "initials",
    "abbrev",
    "plural",
    "base",
    "dir",
    "ext",
    "clean",
    "until",
    "untilStep",
    "seq",
    "pick",
    "omit",
    "dig",
    "append",
    "push",
    "prepend",
    "concat",
    "reverse",
    "rest",
    "initial",
    "uniq",
    "without",
    "has",
    "compact",
    "sub",
    "mul",
    "div",
    "mod",
    "add1",
    "round",
    "floor",
    "ceil",
    "float64",
    "atoi",
    "kindOf",
    "typeOf",
    "toStrings",
    "set",
    "unset",
    "deepEqual",
    "trimall",
    "cat",
    "split",
    "fail",
    "values",
    "merge",
    "randAlphaNum",
    "randAlpha",
    "randNumeric",
    "randAscii",
    "randInt",
    "uuidv4",
];

/// Run `name` (without the prefix), or `None` if it is not one of this file's.
pub fn call(name: &str, args: &[Value]) -> Option<FResult> {
    let s = |i: usize| args.get(i).map(strval).unwrap_or_default();
    let n = |want: usize| arity(name, args, want);
    let list = |i: usize| -> Vec<Value> {
        match args.get(i) {
            Some(Value::List(l) | Value::Strings(l)) => l.to_vec(),
            _ => Vec::new(),
        }
    };
    let map = |i: usize| -> BTreeMap<String, Value> {
        match args.get(i) {
            Some(Value::Map(m)) => (**m).clone(),
            _ => BTreeMap::new(),
        }
    };
    let strs = Value::strings::<String>;
    Some(match name {
        "toPrettyJson" | "mustToPrettyJson" | "mustToJson" => n(1).and_then(|()| {
            let mut out = String::new();
            let indent = (name != "mustToJson").then_some(0);
            super::json::encode(&mut out, &args[0], true, indent)
                .map(|()| Value::str(out))
                .map_err(|e| format!("{name}: {e}"))
        }),
        "fromJson" => n(1).map(|()| {
            serde_json::from_str::<serde_json::Value>(&s(0))
                .map(|v| Value::from_plain_json(&v))
                .unwrap_or(Value::Nil)
        }),
        "regexFind" => n(2).and_then(|()| {
            let re = super::pattern::compile(name, &s(0))?;
            Ok(Value::str(
                re.find(&s(1)).map(|m| m.as_str()).unwrap_or_default(),
            ))
        }),
        "regexFindAll" => n(3).and_then(|()| {
            let re = super::pattern::compile(name, &s(0))?;
            let text = s(1);
            let found: Vec<String> = re
                .find_iter(&text)
                .map(|m| m.as_str().to_string())
                .collect();
            Ok(strs(limit(found, to_int(&args[2]))))
        }),
        "regexReplaceAll" | "regexReplaceAllLiteral" => n(3).and_then(|()| {
            let re = super::pattern::compile(name, &s(0))?;
            let (text, repl) = (s(1), s(2));
            Ok(Value::str(if name == "regexReplaceAll" {
                re.replace_all(&text, repl.as_str()).into_owned()
            } else {
                re.replace_all(&text, regex::NoExpand(&repl)).into_owned()
            }))
        }),
        "regexMatch" => n(2).and_then(|()| {
            let re = super::pattern::compile(name, &s(0))?;
            Ok(Value::Bool(re.is_match(&s(1))))
        }),
        "regexSplit" => n(3).and_then(|()| {
            let re = super::pattern::compile(name, &s(0))?;
            let text = s(1);
            let parts: Vec<String> = re.split(&text).map(str::to_string).collect();
            Ok(strs(limit(parts, to_int(&args[2]))))
        }),
        "snakecase" => n(1).map(|()| Value::str(delimited(&s(0), '_'))),
        "kebabcase" => n(1).map(|()| Value::str(delimited(&s(0), '-'))),
        "camelcase" => n(1).map(|()| Value::str(camel(&s(0)))),
        // goutils' `SwapCase`: upper and title case to lower, lower to title, rune by rune.
        "swapcase" => n(1).map(|()| {
            Value::str(
                s(0).chars()
                    .map(|c| {
                        if gocase::is_upper(c) || gocase::is_title(c) {
                            gocase::lower(c)
                        } else if gocase::is_lower(c) {
                            gocase::title(c)
                        } else {
                            c
                        }
                    })
                    .collect::<String>(),
            )
        }),
        "untitle" => n(1).map(|()| Value::str(map_words(&s(0), lower_first))),
        "initials" => n(1).map(|()| {
            Value::str(
                s(0).split_whitespace()
                    .filter_map(|w| w.chars().next())
                    .collect::<String>(),
            )
        }),
        // goutils' `Abbreviate`: the first width-3 bytes and "...".
        "abbrev" => n(2).and_then(|()| {
            let (width, text) = (to_int(&args[0]), s(1));
            if width < 4 || usize::try_from(width).is_ok_and(|w| text.len() <= w) {
                return Ok(Value::str(text));
            }
            let head = byte_slice("abbrev", &text, 0, width - 3)?;
            Ok(Value::str(format!(
                "{}...",
                head.as_str().unwrap_or_default()
            )))
        }),
        "plural" => n(3).map(|()| Value::str(if to_int(&args[2]) == 1 { s(0) } else { s(1) })),
        "base" | "dir" | "ext" | "clean" => n(1).map(|()| Value::str(path_fn(name, &s(0)))),
        "until" => n(1).map(|()| ints(until_step(0, to_int(&args[0]), 1))),
        "untilStep" => n(3).map(|()| {
            ints(until_step(
                to_int(&args[0]),
                to_int(&args[1]),
                to_int(&args[2]),
            ))
        }),
        "seq" => Ok(Value::str(seq(&args
            .iter()
            .map(to_int)
            .collect::<Vec<_>>()))),
        "pick" | "omit" => {
            let m = map(0);
            let keys: Vec<String> = args.iter().skip(1).map(strval).collect();
            Ok(Value::Map(Rc::new(
                m.into_iter()
                    .filter(|(k, _)| keys.contains(k) == (name == "pick"))
                    .collect(),
            )))
        }
        "dig" => match args {
            [keys @ .., default, Value::Map(m)] => {
                let mut cur = Value::Map(m.clone());
                for k in keys {
                    cur = match &cur {
                        Value::Map(m) => match m.get(&strval(k)) {
                            Some(v) => v.clone(),
                            None => return Some(Ok(default.clone())),
                        },
                        _ => return Some(Ok(default.clone())),
                    };
                }
                Ok(cur)
            }
            _ => Err("dig: wants keys, a default and a dict".into()),
        },
        "append" | "push" => n(2).map(|()| {
            let mut l = list(0);
            l.push(args[1].clone());
            Value::list(l)
        }),
        "prepend" => n(2).map(|()| {
            let mut l = vec![args[1].clone()];
            l.extend(list(0));
            Value::list(l)
        }),
        "concat" => Ok(Value::list(
            (0..args.len()).flat_map(list).collect::<Vec<_>>(),
        )),
        "reverse" => n(1).map(|()| Value::list(list(0).into_iter().rev().collect())),
        "rest" => n(1).map(|()| Value::list(list(0).into_iter().skip(1).collect())),
        "initial" => n(1).map(|()| {
            let mut l = list(0);
            l.pop();
            Value::list(l)
        }),
        "uniq" => n(1).map(|()| {
            let mut out: Vec<Value> = Vec::new();
            for v in list(0) {
                if !out.iter().any(|o| deep_equal(o, &v)) {
                    out.push(v);
                }
            }
            Value::list(out)
        }),
        "without" => Ok(Value::list(
            list(0)
                .into_iter()
                .filter(|v| !args.iter().skip(1).any(|o| deep_equal(o, v)))
                .collect(),
        )),
        "has" => n(2).map(|()| Value::Bool(list(1).iter().any(|v| deep_equal(v, &args[0])))),
        "compact" => n(1).map(|()| Value::list(list(0).into_iter().filter(Value::truth).collect())),
        "sub" => n(2).map(|()| Value::Int64(to_int(&args[0]).wrapping_sub(to_int(&args[1])))),
        "mul" => Ok(Value::Int64(
            args.iter().map(to_int).fold(1i64, i64::wrapping_mul),
        )),
        "div" | "mod" => n(2).and_then(|()| {
            let (a, b) = (to_int(&args[0]), to_int(&args[1]));
            if b == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Value::Int64(if name == "div" {
                a.wrapping_div(b)
            } else {
                a.wrapping_rem(b)
            }))
        }),
        "add1" => n(1).map(|()| Value::Int64(to_int(&args[0]).wrapping_add(1))),
        "round" => match args {
            [v, p, rest @ ..] => {
                let (x, places) = (to_float(v), to_int(p));
                let r = rest.first().map_or(0.5, to_float);
                let pow = 10f64.powi(i32::try_from(places).unwrap_or(0));
                let digit = pow * x;
                // Go's `math.Modf` keeps the sign in the fraction: -2.5 rounds to -3 (floor), as sprig does.
                let rounded = if digit.fract() >= r {
                    digit.ceil()
                } else {
                    digit.floor()
                };
                Ok(Value::Float(rounded / pow))
            }
            _ => Err("wrong number of args for round: want 2 or 3".into()),
        },
        "floor" => n(1).map(|()| Value::Float(to_float(&args[0]).floor())),
        "ceil" => n(1).map(|()| Value::Float(to_float(&args[0]).ceil())),
        "float64" => n(1).map(|()| Value::Float(to_float(&args[0]))),
        "atoi" => n(1).map(|()| Value::Int(s(0).parse::<i64>().unwrap_or(0))),
        "kindOf" => n(1).map(|()| Value::str(kind(&args[0]))),
        "typeOf" => n(1).map(|()| {
            Value::str(match &args[0] {
                Value::Nil | Value::Missing(_) => "<nil>",
                v => v.type_name(),
            })
        }),
        // sprig's `strslice` leaves nil elements out.
        "toStrings" => n(1).map(|()| {
            strs(
                list(0)
                    .iter()
                    .filter(|v| !matches!(v, Value::Nil | Value::Missing(_)))
                    .map(strval)
                    .collect(),
            )
        }),
        "set" => n(3).map(|()| {
            let mut m = map(0);
            m.insert(s(1), args[2].clone());
            Value::Map(Rc::new(m))
        }),
        "unset" => n(2).map(|()| {
            let mut m = map(0);
            m.remove(&s(1));
            Value::Map(Rc::new(m))
        }),
        "deepEqual" => n(2).map(|()| Value::Bool(deep_equal(&args[0], &args[1]))),
        "trimall" => n(2).map(|()| Value::str(s(1).trim_matches(|c| s(0).contains(c)))),
        "cat" => Ok(Value::str(
            args.iter()
                .filter(|a| !matches!(a, Value::Nil | Value::Missing(_)))
                .map(strval)
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "split" => n(2).map(|()| {
            let (sep, text) = (s(0), s(1));
            Value::Map(Rc::new(
                super::text::go_split(&text, &sep)
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                    .collect(),
            ))
        }),
        "fail" => n(1).and_then(|()| Err(s(0))),
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => {
            n(1).map(|()| Value::str(random_string(name, to_int(&args[0]))))
        }
        "randInt" => n(2).and_then(|()| {
            let (lo, hi) = (to_int(&args[0]), to_int(&args[1]));
            if hi <= lo {
                return Err("randInt: invalid argument to Intn".into());
            }
            Ok(Value::Int(rand::Rng::random_range(
                &mut rand::rng(),
                lo..hi,
            )))
        }),
        "uuidv4" => n(0).map(|()| Value::str(uuid_v4())),
        // Go iterates maps in random order; key order is one of the orders it may give.
        "values" => n(1).map(|()| Value::list(map(0).into_values().collect())),
        "merge" => match args.split_first() {
            Some((Value::Map(dst), srcs)) => Ok(Value::Map(Rc::new(srcs.iter().fold(
                (**dst).clone(),
                |acc, s| match s {
                    Value::Map(m) => super::maps::merge(&acc, m),
                    _ => acc,
                },
            )))),
            _ => Err("merge: wants dicts".into()),
        },
        _ => return None,
    })
}

/// Go's `n` argument of `FindAllString`/`Split`: negative means all.
fn limit(mut v: Vec<String>, n: i64) -> Vec<String> {
    if let Ok(n) = usize::try_from(n) {
        v.truncate(n);
    }
    v
}

fn ints(v: Vec<i64>) -> Value {
    Value::list(v.into_iter().map(Value::Int).collect())
}

/// sprig's `untilStep`: from `start` towards `stop` (exclusive) by `step`; nothing for a step going the wrong way.
fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        if v.len() >= 1_000_000 {
            break;
        }
        v.push(i);
        i += step;
    }
    v
}

/// sprig's `seq`, like the Unix command: `seq LAST`, `seq FIRST LAST`, `seq FIRST STEP LAST`.
fn seq(p: &[i64]) -> String {
    let (start, step, end) = match p {
        [end] => (1, if *end < 1 { -1 } else { 1 }, *end),
        [start, end] => (*start, if end < start { -1 } else { 1 }, *end),
        [start, step, end] => (*start, *step, *end),
        _ => return String::new(),
    };
    if step == 0 || (end < start && step > 0) || (end > start && step < 0) {
        return String::new();
    }
    let stop = if step > 0 { end + 1 } else { end - 1 };
    until_step(start, stop, step)
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `cast.ToFloat64`: numbers as they are, strings parsed (0 when they do not parse).
fn to_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(_) | Value::JsonNumber(_) => {
            v.as_str().unwrap_or_default().parse().unwrap_or(0.0)
        }
        _ => 0.0,
    }
}

/// Go's `reflect.Kind` name of a value (sprig's `kindOf`).
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil | Value::Missing(_) => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Float(_) => "float64",
        Value::Str(_) | Value::JsonNumber(_) => "string",
        Value::List(_) | Value::Strings(_) => "slice",
        Value::Map(_) => "map",
        Value::Secret(_) | Value::Scratch(_) => "ptr",
        Value::Object(o) => o.kind(),
    }
}
