//! consul-template's map functions: `explodeMap` (slash-separated keys → nested maps) and `mergeMap` (deep
//! merge where the first map wins, as `mergo.Merge(&dst, src)` does).

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
