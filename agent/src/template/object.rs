//! Go values that are neither plain data nor consul-template's own types: what sprig functions return as
//! structs or pointers (`time.Time`, `*semver.Version`, a generated certificate). Each kind lives beside the
//! functions that make it and implements [`GoObject`]; the evaluator, the printers and the encoders only see
//! the trait, so adding a kind touches no shared code.

use std::any::Any;

use super::value::Value;

/// A Go struct or pointer value a template can print, encode, and use through fields and methods.
pub trait GoObject {
    /// Go's type name as `printf "%T"` and error messages show it (`time.Time`, `*semver.Version`).
    fn type_name(&self) -> &'static str;

    /// Go's `reflect.Kind` name (`struct`, `ptr`), for `sprig_kindOf`/`kindIs`.
    fn kind(&self) -> &'static str;

    /// Field `name`, or the result of method `name` called without arguments (Go templates call both as
    /// `.Name`); `None` when the type has neither.
    fn field(&self, name: &str) -> Option<Result<Value, String>>;

    /// Method `name` called with arguments; `None` when the type has no such method.
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    /// Append Go's `%v` rendering (what `{{ . }}` prints; a `String()` method wins, as in Go).
    fn write_v(&self, out: &mut String);

    /// The value as Go's encoders see it (`encoding/json` through `MarshalJSON`/struct fields, yaml, toml):
    /// a plain value (string, map, ...), or an error naming why it cannot be encoded.
    fn plain(&self) -> Result<Value, String>;

    /// For the functions that made this kind, to get their type back.
    fn as_any(&self) -> &dyn Any;
}
