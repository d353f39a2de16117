//! Values a template computes with: JSON-shaped data, secrets, and Go's "missing" (invalid) value.
//!
//! Strings are held in zeroizing buffers: a secret copied out of a response is wiped when the last
//! reference to it goes away. Values have no `Debug`, so they cannot end up in an error or a log by accident.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::backend::secret::Secret;

/// A template value.
#[derive(Clone)]
pub enum Value {
    /// A map key that does not exist (Go's invalid `reflect.Value`), with the path that named it.
    Missing(Rc<str>),
    /// `nil` / JSON `null`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (Go's `int`: literals, `len`, ...).
    Int(i64),
    /// An `int64`, what consul-template's and sprig's integer functions return (`add`, `parseInt`, `loop`, ...).
    Int64(i64),
    /// A floating-point number.
    Float(f64),
    /// A string (possibly secret).
    Str(Rc<Zeroizing<String>>),
    /// A number from a secret's JSON: Go's `json.Number` (the Vault client decodes with `UseNumber`), a string
    /// type that prints as its text and is written raw by `toJSON`.
    JsonNumber(Rc<str>),
    /// A list (Go's `[]interface {}`).
    List(Rc<Vec<Value>>),
    /// A list of strings made by a function (Go's `[]string`: `split`, `secrets`, ...): what `join` wants.
    Strings(Rc<Vec<Value>>),
    /// A map with string keys; iterated in key order, as Go sorts map keys.
    Map(Rc<BTreeMap<String, Value>>),
    /// The result of `secret`: consul-template's `*dependency.Secret`.
    Secret(Arc<Secret>),
    /// The render's `scratch` store (consul-template's `*Scratch`), used through its methods.
    Scratch(super::funcs::Scratch),
    /// A Go struct or pointer a sprig function made (`time.Time`, `*semver.Version`, ...).
    Object(Rc<dyn super::object::GoObject>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(Rc::new(Zeroizing::new(s.into())))
    }

    /// A list value.
    pub fn list(v: Vec<Value>) -> Self {
        Value::List(Rc::new(v))
    }

    /// A `[]string` value.
    pub fn strings<S: Into<String>>(v: impl IntoIterator<Item = S>) -> Self {
        Value::Strings(Rc::new(v.into_iter().map(Value::str).collect()))
    }

    /// Convert a secret's JSON data: numbers become [`Value::JsonNumber`], as the Vault client gives them.
    pub fn from_secret_json(v: &serde_json::Value) -> Self {
        Self::from_json(v, true)
    }

    /// Convert JSON decoded as Go's `json.Unmarshal` into `interface{}` would (`parseJSON`): numbers are
    /// `float64`.
    pub fn from_plain_json(v: &serde_json::Value) -> Self {
        Self::from_json(v, false)
    }

    fn from_json(v: &serde_json::Value, json_numbers: bool) -> Self {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) if json_numbers => Value::JsonNumber(n.to_string().into()),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::list(
                a.iter()
                    .map(|e| Value::from_json(e, json_numbers))
                    .collect(),
            ),
            serde_json::Value::Object(m) => Value::Map(Rc::new(
                m.iter()
                    .map(|(k, e)| (k.clone(), Value::from_json(e, json_numbers)))
                    .collect(),
            )),
        }
    }

    /// Go's truth: false, 0, nil, missing, and empty strings, lists and maps are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing(_) | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::JsonNumber(n) => !n.is_empty(),
            Value::List(l) | Value::Strings(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            // Go's truth for a struct is always true, and these pointers are never nil.
            Value::Secret(_) | Value::Scratch(_) | Value::Object(_) => true,
        }
    }

    /// The Go type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing(_) => "<no value>",
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::JsonNumber(_) => "json.Number",
            Value::List(_) => "[]interface {}",
            Value::Strings(_) => "[]string",
            Value::Map(_) => "map[string]interface {}",
            Value::Secret(_) => "*dependency.Secret",
            Value::Scratch(_) => "*template.Scratch",
            Value::Object(o) => o.type_name(),
        }
    }

    /// This value with every [`Value::Object`] inside replaced by what Go's encoders see of it (yaml and
    /// toml, which walk plain data).
    pub fn plain_deep(&self) -> Result<Value, String> {
        Ok(match self {
            Value::Object(o) => o.plain()?.plain_deep()?,
            Value::List(l) => Value::List(Rc::new(
                l.iter().map(Value::plain_deep).collect::<Result<_, _>>()?,
            )),
            Value::Map(m) => Value::Map(Rc::new(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), v.plain_deep()?)))
                    .collect::<Result<_, String>>()?,
            )),
            other => other.clone(),
        })
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            Value::JsonNumber(n) => Some(n),
            _ => None,
        }
    }

    /// A field of a secret, as consul-template's struct exposes it.
    pub fn secret_field(s: &Secret, name: &str) -> Option<Value> {
        Some(match name {
            "Data" => match &s.data.0 {
                serde_json::Value::Null => Value::Map(Rc::new(BTreeMap::new())),
                d => Value::from_secret_json(d),
            },
            "LeaseID" => Value::str(s.lease_id.as_str()),
            "LeaseDuration" => Value::Int(i64::try_from(s.lease_duration).unwrap_or(i64::MAX)),
            "Renewable" => Value::Bool(s.renewable),
            "Warnings" => Value::list(s.warnings.iter().map(|w| Value::str(w.as_str())).collect()),
            // Nil pointers in consul-template for a secret read (no token created, no response wrapping).
            "Auth" | "WrapInfo" => Value::Nil,
            _ => return None,
        })
    }
}

/// A Go value of a named integer type (`time.Month`, `time.Duration`): `eq` and `lt` compare its integer.
fn named_int(v: &Value) -> Option<Value> {
    match v {
        Value::Object(o) if matches!(o.kind(), "int" | "int64") => o.plain().ok(),
        _ => None,
    }
}

/// Go's `eq` on two values: an error when the types cannot be compared.
pub fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    if let Some(a) = named_int(a) {
        return equal(&a, b);
    }
    if let Some(b) = named_int(b) {
        return equal(a, &b);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(_) | Value::JsonNumber(_), Value::Str(_) | Value::JsonNumber(_)) => {
            a.as_str() == b.as_str()
        }
        (Value::Nil | Value::Missing(_), Value::Nil | Value::Missing(_)) => true,
        (Value::Nil | Value::Missing(_), _) | (_, Value::Nil | Value::Missing(_)) => false,
        (Value::Secret(x), Value::Secret(y)) => Arc::ptr_eq(x, y),
        (Value::List(_) | Value::Strings(_), Value::List(_) | Value::Strings(_))
        | (Value::Map(_), Value::Map(_)) => {
            return Err(format!("non-comparable type {}", a.type_name()));
        }
        _ => return Err("incompatible types for comparison".into()),
    })
}

/// Deep equality, for `in`/`contains` (no type errors).
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x) | Value::Strings(x), Value::List(y) | Value::Strings(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
        }
        _ => equal(a, b).unwrap_or(false),
    }
}

/// Go's `lt` on basic values.
pub fn less(a: &Value, b: &Value) -> Result<bool, String> {
    if let Some(a) = named_int(a) {
        return less(&a, b);
    }
    if let Some(b) = named_int(b) {
        return less(a, &b);
    }
    match (a, b) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(_) | Value::JsonNumber(_), Value::Str(_) | Value::JsonNumber(_)) => {
            Ok(a.as_str() < b.as_str())
        }
        (
            Value::Int(_)
            | Value::Int64(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::JsonNumber(_),
            Value::Int(_)
            | Value::Int64(_)
            | Value::Float(_)
            | Value::Str(_)
            | Value::JsonNumber(_),
        ) => Err("incompatible types for comparison".into()),
        _ => Err(format!("invalid type for comparison: {}", a.type_name())),
    }
}
