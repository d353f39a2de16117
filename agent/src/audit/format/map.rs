//! Moving members between sidekey's event and another schema's record, by JSON pointer, both ways: the
//! same table encodes a line and maps it back, so the two directions cannot disagree.

use serde_json::{Map, Value};

/// One member of sidekey's event that has a home in the other schema.
pub(super) struct Move {
    /// Where it is in sidekey's event (`/secret/path`).
    pub from: &'static str,
    /// Where it goes in the record (`/resources/0/uid`; a number is an array index).
    pub to: &'static str,
    /// How its value changes on the way.
    pub conv: Conv,
}

/// A move that keeps the value as it is.
pub(super) const fn mv(from: &'static str, to: &'static str) -> Move {
    Move {
        from,
        to,
        conv: Conv::Same,
    }
}

/// A move that converts the value.
pub(super) const fn conv(from: &'static str, to: &'static str, conv: Conv) -> Move {
    Move { from, to, conv }
}

/// How a value changes between the schemas.
#[derive(Clone, Copy, Debug)]
pub(super) enum Conv {
    /// As it is.
    Same,
    /// RFC 3339 UTC with milliseconds ↔ milliseconds since the epoch (OCSF `time`).
    EpochMs,
    /// `success` / `failure` ↔ OCSF `status_id` 1 / 2.
    StatusId,
    /// A value ↔ a list of that one value (ECS `user.roles`).
    List,
    /// `ip:port` ↔ an OCSF endpoint `{ip, port}`; anything else ↔ `{name}`.
    Endpoint,
}

impl Conv {
    fn encode(self, v: Value) -> Value {
        match self {
            Self::Same => v,
            Self::EpochMs => v
                .as_str()
                .and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
                .map_or(v, Value::from),
            Self::StatusId => Value::from(if v == "success" { 1 } else { 2 }),
            Self::List => Value::Array(vec![v]),
            Self::Endpoint => {
                let text = v.as_str().unwrap_or_default();
                match text.parse::<std::net::SocketAddr>() {
                    Ok(a) => serde_json::json!({"ip": a.ip().to_string(), "port": a.port()}),
                    Err(_) => serde_json::json!({ "name": v }),
                }
            }
        }
    }

    /// The sidekey value back; `None` for a record member that was derived, not moved.
    fn decode(self, v: Value) -> Option<Value> {
        Some(match self {
            Self::Same => v,
            Self::EpochMs => {
                let ms = v.as_i64()?;
                let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                    .ok()?;
                Value::String(rfc3339_ms(t))
            }
            Self::StatusId => Value::from(if v == 1 { "success" } else { "failure" }),
            Self::List => match v {
                Value::Array(mut a) if a.len() == 1 => a.pop()?,
                other => other,
            },
            Self::Endpoint => match (v.get("ip"), v.get("port"), v.get("name")) {
                (Some(Value::String(ip)), Some(port), _) if ip.contains(':') => {
                    Value::String(format!("[{ip}]:{port}"))
                }
                (Some(Value::String(ip)), Some(port), _) => Value::String(format!("{ip}:{port}")),
                (_, _, Some(name)) => name.clone(),
                _ => return None,
            },
        })
    }
}

/// RFC 3339 UTC with milliseconds, as sidekey writes `time`.
pub(crate) fn rfc3339_ms(t: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// Move every member of `moves` that `ev` has into `rec`; what stays in `ev` has no home there.
pub(super) fn encode(ev: &mut Map<String, Value>, rec: &mut Map<String, Value>, moves: &[Move]) {
    for m in moves {
        if let Some(v) = take(ev, m.from) {
            put(rec, m.to, m.conv.encode(v));
        }
    }
}

/// The reverse of [`encode`]: every member of `moves` that `rec` has back into `ev`.
pub(super) fn decode(rec: &mut Map<String, Value>, ev: &mut Map<String, Value>, moves: &[Move]) {
    for m in moves {
        if let Some(v) = take(rec, m.to).and_then(|v| m.conv.decode(v)) {
            put(ev, m.from, v);
        }
    }
}

/// The value at `ptr` in `m`, read.
pub(super) fn get<'a>(m: &'a Map<String, Value>, ptr: &str) -> Option<&'a Value> {
    let (head, rest) = split(ptr);
    let v = m.get(head)?;
    match rest {
        None => Some(v),
        Some(rest) => v.pointer(rest),
    }
}

/// The value at `ptr` in `m`, removed; objects and arrays left empty by that are removed too.
pub(super) fn take(m: &mut Map<String, Value>, ptr: &str) -> Option<Value> {
    let (head, rest) = split(ptr);
    let Some(rest) = rest else {
        return m.shift_remove(head);
    };
    let child = m.get_mut(head)?;
    let v = take_in(child, rest)?;
    if is_empty(child) {
        m.shift_remove(head);
    }
    Some(v)
}

fn take_in(v: &mut Value, ptr: &str) -> Option<Value> {
    match v {
        Value::Object(m) => take(m, ptr),
        Value::Array(a) => {
            let (head, rest) = split(ptr);
            let i = head.parse::<usize>().ok()?;
            let item = a.get_mut(i)?;
            let taken = take_in(item, rest?)?;
            if is_empty(item) {
                a.remove(i);
            }
            Some(taken)
        }
        _ => None,
    }
}

/// Set `ptr` in `m` to `val`, making the objects (and arrays, for a numeric step) on the way.
pub(super) fn put(m: &mut Map<String, Value>, ptr: &str, val: Value) {
    let (head, rest) = split(ptr);
    match rest {
        None => {
            m.insert(head.to_string(), val);
        }
        Some(rest) => {
            let child = m
                .entry(head.to_string())
                .or_insert_with(|| container_for(rest));
            put_in(child, rest, val);
        }
    }
}

fn put_in(v: &mut Value, ptr: &str, val: Value) {
    match v {
        Value::Object(m) => put(m, ptr, val),
        Value::Array(a) => {
            let (head, rest) = split(ptr);
            let Ok(i) = head.parse::<usize>() else { return };
            while a.len() <= i {
                a.push(rest.map_or(Value::Null, container_for));
            }
            if let Some(item) = a.get_mut(i) {
                match rest {
                    None => *item = val,
                    Some(rest) => put_in(item, rest, val),
                }
            }
        }
        _ => {}
    }
}

/// `"/a/b/c"` → `("a", Some("/b/c"))`; `"/a"` → `("a", None)`.
fn split(ptr: &str) -> (&str, Option<&str>) {
    let ptr = ptr.strip_prefix('/').unwrap_or(ptr);
    match ptr.find('/') {
        Some(i) => (&ptr[..i], Some(&ptr[i..])),
        None => (ptr, None),
    }
}

/// An empty array when the next step of `rest` is an index, else an empty object.
fn container_for(rest: &str) -> Value {
    let (head, _) = split(rest);
    if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
        Value::Array(Vec::new())
    } else {
        Value::Object(Map::new())
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `m` with the members named in `order` first, in that order, then the others as they were.
pub(super) fn ordered(mut m: Map<String, Value>, order: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for k in order {
        if let Some(v) = m.shift_remove(*k) {
            out.insert((*k).to_string(), v);
        }
    }
    out.extend(m);
    out
}

/// `rec` in `order`, then what is left of the event as its last member `key`, ending with `chain`.
pub(super) fn seal_rest(
    rec: Map<String, Value>,
    order: &[&str],
    key: &str,
    mut rest: Map<String, Value>,
    chain: impl IntoIterator<Item = (&'static str, Value)>,
) -> Map<String, Value> {
    let mut rec = ordered(rec, order);
    rest.extend(chain.into_iter().map(|(k, v)| (k.to_string(), v)));
    rec.insert(key.into(), Value::Object(rest));
    rec
}

/// The reverse of [`seal_rest`]: `rec`'s `key` object, and the members `chain` taken out of it.
pub(super) fn open_rest(
    rec: &mut Map<String, Value>,
    key: &str,
    chain: &[&str],
) -> (Map<String, Value>, Map<String, Value>) {
    let mut rest = match rec.shift_remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let taken = chain
        .iter()
        .filter_map(|k| rest.shift_remove(*k).map(|v| ((*k).to_string(), v)))
        .collect();
    (rest, taken)
}
