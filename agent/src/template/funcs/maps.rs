//! consul-template's map functions: `explodeMap` (slash-separated keys → nested maps), `mergeMap` (deep
//! merge where the first map wins, as `mergo.Merge(&dst, src)` does), `mergeMapWithOverride` (the second map
//! wins) and `splitToMap` (`"k:v,k2:v2"` → a map).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::{FResult, arity};
use crate::template::value::Value;

type Map = BTreeMap<String, Value>;

/// Run map function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value]) -> Option<FResult> {
    Some(match name {
        "explodeMap" => arity(name, args, 1)
            .and_then(|()| map_arg(name, &args[0]))
            .map(|m| Value::Map(Rc::new(explode(m)))),
        "mergeMap" => arity(name, args, 2).and_then(|()| {
            let dst = map_arg(name, &args[0])?;
            let src = map_arg(name, &args[1])?;
            Ok(Value::Map(Rc::new(merge(dst, src))))
        }),
        "mergeMapWithOverride" => arity(name, args, 2).and_then(|()| {
            let dst = map_arg(name, &args[0])?;
            let src = map_arg(name, &args[1])?;
            Ok(Value::Map(Rc::new(merge_override(dst, src))))
        }),
        "splitToMap" => arity(name, args, 3).and_then(|()| {
            let [sep, kv_sep, text] = [&args[0], &args[1], &args[2]].map(Value::as_str);
            match (sep, kv_sep, text) {
                (Some(sep), Some(kv_sep), Some(text)) => {
                    Ok(Value::Map(Rc::new(split_to_map(sep, kv_sep, text))))
                }
                _ => Err(format!("{name}: wrong type for value; expected string")),
            }
        }),
        _ => return None,
    })
}

fn map_arg<'v>(name: &str, v: &'v Value) -> Result<&'v Map, String> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(format!(
            "{name}: wrong type for value; expected map[string]interface {{}}; got {}",
            v.type_name()
        )),
    }
}

/// Keys in sorted order, each split on `/` into nested maps; a later key never replaces a map by a leaf.
fn explode(m: &Map) -> Map {
    let mut out = Map::new();
    for (k, v) in m {
        insert_path(&mut out, k.split('/').collect::<Vec<_>>().as_slice(), v);
    }
    out
}

fn insert_path(out: &mut Map, path: &[&str], v: &Value) {
    match path {
        // consul-template drops a value whose last path segment is empty (`a/` leaves an empty map at `a`).
        [] | [""] => {}
        [leaf] => {
            out.insert((*leaf).to_string(), v.clone());
        }
        [head, rest @ ..] => {
            let mut inner = match out.get(*head) {
                Some(Value::Map(m)) => (**m).clone(),
                _ => Map::new(),
            };
            insert_path(&mut inner, rest, v);
            out.insert((*head).to_string(), Value::Map(Rc::new(inner)));
        }
    }
}

/// Deep merge where `src` wins (`mergo.WithOverride`): even an empty `src` value replaces `dst`'s; maps
/// present on both sides are merged.
fn merge_override(dst: &Map, src: &Map) -> Map {
    let mut out = dst.clone();
    for (k, s) in src {
        let merged = match (out.get(k), s) {
            (Some(Value::Map(d)), Value::Map(sm)) => Value::Map(Rc::new(merge_override(d, sm))),
            _ => s.clone(),
        };
        out.insert(k.clone(), merged);
    }
    out
}

/// `text` split on `sep`; each part split once on `kv_sep` into key and value (nothing trimmed); a part
/// without `kv_sep` is dropped.
fn split_to_map(sep: &str, kv_sep: &str, text: &str) -> Map {
    let mut out = Map::new();
    if text.is_empty() {
        return out;
    }
    for part in text.split(sep) {
        if let Some((k, v)) = part.split_once(kv_sep) {
            out.insert(k.to_string(), Value::str(v));
        }
    }
    out
}

/// Deep merge: `dst`'s values win, except empty ones; maps present on both sides are merged.
pub(super) fn merge(dst: &Map, src: &Map) -> Map {
    let mut out = dst.clone();
    for (k, s) in src {
        let merged = match out.get(k) {
            Some(Value::Map(d)) if !d.is_empty() => match s {
                Value::Map(sm) => Value::Map(Rc::new(merge(d, sm))),
                _ => continue,
            },
            // mergo keeps a destination value unless it is Go's zero value (the template falsy set).
            Some(d) if d.truth() => continue,
            _ => s.clone(),
        };
        out.insert(k.clone(), merged);
    }
    out
}
