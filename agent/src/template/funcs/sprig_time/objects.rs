//! The Go values sprig's date functions put in a template: `time.Time` and what its methods return
//! (`time.Month`, `time.Weekday`, `time.Duration`, `*time.Location`), as [`GoObject`]s.

use std::any::Any;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::duration;
use super::gotime::{GoTime, Loc, NANOS};
use super::layout::{format, month_name, weekday_name};
use super::zone;
use crate::template::object::GoObject;
use crate::template::value::Value;

/// Wrap a Go value.
pub fn obj(o: impl GoObject + 'static) -> Value {
    Value::Object(Rc::new(o))
}

/// The `time.Time` inside `v`, if it is one.
pub fn as_time(v: &Value) -> Option<&GoTime> {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<GoTime>(),
        _ => None,
    }
}

/// What Go's text/template says when a method gets the wrong number of arguments.
fn want_args(name: &str, want: usize, got: usize) -> String {
    format!("wrong number of args for {name}: want {want} got {got}")
}

/// Go text/template's check of an argument against a parameter type `want`: nil where no nil is allowed is
/// "invalid", another type is "wrong type".
fn wrong_type(want: &str, v: &Value) -> String {
    match v {
        Value::Nil | Value::Missing(_) => format!("invalid value; expected {want}"),
        _ => format!(
            "wrong type for value; expected {want}; got {}",
            v.type_name()
        ),
    }
}

/// A `time.Time` argument.
fn time_arg(v: &Value) -> Result<&GoTime, String> {
    as_time(v).ok_or_else(|| wrong_type("time.Time", v))
}

/// A `time.Duration` argument: a duration, or an integer constant (Go converts an untyped constant to the
/// parameter's type; an `int64` value it refuses).
fn duration_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Object(o) => o
            .as_any()
            .downcast_ref::<Duration>()
            .map(|d| d.0)
            .ok_or_else(|| wrong_type("time.Duration", v)),
        _ => Err(wrong_type("time.Duration", v)),
    }
}

/// An `int` argument.
fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(wrong_type("int", v)),
    }
}

// === impl GoTime ===

impl GoObject for GoTime {
    fn type_name(&self) -> &'static str {
        "time.Time"
    }

    fn kind(&self) -> &'static str {
        "struct"
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        let c = || self.fields().0;
        let int = |v: u8| Value::Int(i64::from(v));
        Some(Ok(match name {
            "Unix" => Value::Int64(self.unix),
            "UnixNano" => Value::Int64(self.unix_nano()),
            "UnixMilli" => Value::Int64(self.unix_sub(1_000)),
            "UnixMicro" => Value::Int64(self.unix_sub(1_000_000)),
            "Year" => Value::Int(c().year),
            "Month" => obj(Month(i64::from(c().month))),
            "Day" => int(c().day),
            "Hour" => int(c().hour),
            "Minute" => int(c().min),
            "Second" => int(c().sec),
            "Nanosecond" => Value::Int(i64::from(self.nsec)),
            "YearDay" => Value::Int(i64::from(c().yday)),
            "Weekday" => obj(Weekday(i64::from(c().weekday))),
            "String" => Value::str(self.string()),
            "UTC" => obj(self.in_loc(Loc::Utc)),
            "Local" => obj(self.in_loc(zone::local())),
            "Location" => obj(Location(self.loc.clone())),
            "IsZero" => Value::Bool(self.is_zero()),
            "IsDST" => Value::Bool(self.is_dst()),
            "Format" | "Add" | "Sub" | "Before" | "After" | "Equal" | "Compare" | "Truncate"
            | "Round" | "In" => return Some(Err(want_args(name, 1, 0))),
            "AddDate" => return Some(Err(want_args(name, 3, 0))),
            // Methods with several results cannot be called from a template.
            "Date" | "Clock" => {
                return Some(Err(format!(
                    "function {name} has 3 return values; should be 1 or 2"
                )));
            }
            "Zone" | "ISOWeek" | "ZoneBounds" => {
                let second = if name == "ZoneBounds" {
                    "time.Time"
                } else {
                    "int"
                };
                return Some(Err(format!(
                    "invalid function signature for {name}: second return value should be error; is {second}"
                )));
            }
            _ => return None,
        }))
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let one = |want: usize| {
            if args.len() == want {
                Ok(())
            } else {
                Err(want_args(name, want, args.len()))
            }
        };
        let r = match name {
            "Format" => one(1).and_then(|()| match &args[0] {
                Value::Str(l) => Ok(Value::str(format(self, l))),
                v => Err(wrong_type("string", v)),
            }),
            "Add" => one(1).and_then(|()| Ok(obj(self.add(duration_arg(&args[0])?)))),
            "AddDate" => one(3).and_then(|()| {
                let (y, m, d) = (int_arg(&args[0])?, int_arg(&args[1])?, int_arg(&args[2])?);
                Ok(obj(self.add_date(y, m, d)))
            }),
            "Sub" => one(1).and_then(|()| Ok(obj(Duration(self.sub(time_arg(&args[0])?))))),
            "Before" | "After" | "Equal" | "Compare" => one(1).and_then(|()| {
                let ord = self.cmp(time_arg(&args[0])?);
                Ok(match name {
                    "Before" => Value::Bool(ord == Ordering::Less),
                    "After" => Value::Bool(ord == Ordering::Greater),
                    "Equal" => Value::Bool(ord == Ordering::Equal),
                    _ => Value::Int(ord as i64),
                })
            }),
            "Truncate" | "Round" => {
                one(1).and_then(|()| Ok(obj(self.round(duration_arg(&args[0])?, name == "Round"))))
            }
            "In" => one(1).and_then(|()| match &args[0] {
                Value::Object(o) => o
                    .as_any()
                    .downcast_ref::<Location>()
                    .map(|l| obj(self.in_loc(l.0.clone())))
                    .ok_or_else(|| wrong_type("*time.Location", &args[0])),
                // A nil *Location: Go's `In` panics.
                Value::Nil | Value::Missing(_) => {
                    Err("time: missing Location in call to Time.In".into())
                }
                v => Err(wrong_type("*time.Location", v)),
            }),
            // A method without parameters, given arguments.
            _ => {
                return self
                    .field(name)
                    .map(|_| Err(want_args(name, 0, args.len())));
            }
        };
        Some(r)
    }

    fn write_v(&self, out: &mut String) {
        out.push_str(&self.string());
    }

    fn plain(&self) -> Result<Value, String> {
        // Go's MarshalJSON: RFC 3339 with nanoseconds, for years 0 through 9999 only.
        let year = self.fields().0.year;
        if !(0..=9999).contains(&year) {
            return Err(
                "json: error calling MarshalJSON for type time.Time: Time.MarshalJSON: year outside of range [0,9999]"
                    .into(),
            );
        }
        Ok(Value::str(format(
            self,
            "2006-01-02T15:04:05.999999999Z07:00",
        )))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// === impl Month, Weekday ===

/// A `time.Month` (an `int` that prints its English name).
pub struct Month(pub i64);

/// A `time.Weekday` (an `int`, Sunday = 0, that prints its English name).
pub struct Weekday(pub i64);

impl GoObject for Month {
    fn type_name(&self) -> &'static str {
        "time.Month"
    }

    fn kind(&self) -> &'static str {
        "int"
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        (name == "String").then(|| Ok(Value::str(month_name(self.0))))
    }

    fn write_v(&self, out: &mut String) {
        out.push_str(&month_name(self.0));
    }

    fn plain(&self) -> Result<Value, String> {
        Ok(Value::Int(self.0))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl GoObject for Weekday {
    fn type_name(&self) -> &'static str {
        "time.Weekday"
    }

    fn kind(&self) -> &'static str {
        "int"
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        (name == "String").then(|| Ok(Value::str(weekday_name(self.0))))
    }

    fn write_v(&self, out: &mut String) {
        out.push_str(&weekday_name(self.0));
    }

    fn plain(&self) -> Result<Value, String> {
        Ok(Value::Int(self.0))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// === impl Duration ===

/// A `time.Duration`: nanoseconds, printed as `1h2m3s`.
pub struct Duration(pub i64);

impl GoObject for Duration {
    fn type_name(&self) -> &'static str {
        "time.Duration"
    }

    fn kind(&self) -> &'static str {
        "int64"
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        let d = self.0;
        Some(Ok(match name {
            "String" => Value::str(duration::string(d)),
            "Hours" => Value::Float(duration::in_units(d, 3600 * NANOS)),
            "Minutes" => Value::Float(duration::in_units(d, 60 * NANOS)),
            "Seconds" => Value::Float(duration::in_units(d, NANOS)),
            "Milliseconds" => Value::Int64(d / 1_000_000),
            "Microseconds" => Value::Int64(d / 1_000),
            "Nanoseconds" => Value::Int64(d),
            "Abs" => obj(Duration(if d == i64::MIN { i64::MAX } else { d.abs() })),
            "Round" | "Truncate" => return Some(Err(want_args(name, 1, 0))),
            _ => return None,
        }))
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let f = match name {
            "Round" => duration::round,
            "Truncate" => duration::truncate,
            _ => {
                return self
                    .field(name)
                    .map(|_| Err(want_args(name, 0, args.len())));
            }
        };
        Some(match args {
            [m] => duration_arg(m).map(|m| obj(Duration(f(self.0, m)))),
            _ => Err(want_args(name, 1, args.len())),
        })
    }

    fn write_v(&self, out: &mut String) {
        out.push_str(&duration::string(self.0));
    }

    fn plain(&self) -> Result<Value, String> {
        Ok(Value::Int64(self.0))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// === impl Location ===

/// A `*time.Location`, for `.Location` and `.In`.
pub struct Location(pub Loc);

impl GoObject for Location {
    fn type_name(&self) -> &'static str {
        "*time.Location"
    }

    fn kind(&self) -> &'static str {
        "ptr"
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        (name == "String").then(|| Ok(Value::str(self.0.name())))
    }

    fn write_v(&self, out: &mut String) {
        out.push_str(self.0.name());
    }

    fn plain(&self) -> Result<Value, String> {
        // Its fields are unexported: encoding/json writes an empty object.
        Ok(Value::Map(Rc::new(BTreeMap::new())))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
