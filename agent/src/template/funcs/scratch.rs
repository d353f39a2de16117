//! consul-template's `scratch`: a per-render key/value store, used through methods
//! (`{{ scratch.Set "k" "v" }}`, `{{ scratch.Get "k" }}`, `MapSet`, `MapValues`, …).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::FResult;
use crate::template::value::Value;

/// The store of one render. Values are shared, so `Get` of a map sees later `MapSet`s, as in Go.
pub type Scratch = Rc<RefCell<BTreeMap<String, Value>>>;

fn key<'a>(method: &str, v: &'a Value) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| {
        format!(
            "{method}: wrong type for value; expected string; got {}",
            v.type_name()
        )
    })
}

fn want(method: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {method}: want {n} got {}",
            args.len()
        ))
    }
}

/// Call method `name` of the scratch store.
pub fn method(s: &Scratch, name: &str, args: &[Value]) -> FResult {
    match name {
        "Key" => {
            want(name, args, 1)?;
            Ok(Value::Bool(s.borrow().contains_key(key(name, &args[0])?)))
        }
        "Get" => {
            want(name, args, 1)?;
            Ok(s.borrow()
                .get(key(name, &args[0])?)
                .cloned()
                .unwrap_or(Value::Nil))
        }
        "Set" | "SetX" => {
            want(name, args, 2)?;
            let k = key(name, &args[0])?.to_string();
            let mut m = s.borrow_mut();
            if name == "Set" || !m.contains_key(&k) {
                m.insert(k, args[1].clone());
            }
            Ok(Value::str(""))
        }
        "MapSet" | "MapSetX" => {
            want(name, args, 3)?;
            let k = key(name, &args[0])?.to_string();
            let mk = key(name, &args[1])?.to_string();
            let mut m = s.borrow_mut();
            let mut inner = match m.get(&k) {
                Some(Value::Map(map)) => (**map).clone(),
                _ => BTreeMap::new(),
            };
            if name == "MapSet" || !inner.contains_key(&mk) {
                inner.insert(mk, args[2].clone());
            }
            m.insert(k, Value::Map(Rc::new(inner)));
            Ok(Value::str(""))
        }
        "MapValues" => {
            want(name, args, 1)?;
            match s.borrow().get(key(name, &args[0])?) {
                // Sorted by key: BTreeMap order.
                Some(Value::Map(map)) => Ok(Value::list(map.values().cloned().collect())),
                _ => Ok(Value::list(Vec::new())),
            }
        }
        _ => Err(format!(
            "can't evaluate field {name} in type *template.Scratch"
        )),
    }
}
