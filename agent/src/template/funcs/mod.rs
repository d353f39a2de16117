//! The function library: Go's builtins and consul-template's functions.
//!
//! - [`builtin`]: `len index slice print printf println eq ne lt le gt ge not html js urlquery call`
//!   (`and`/`or` short-circuit, so the evaluator runs them).
//! - [`deps`]: functions that read the render context: `secret secrets env mustEnv envOrDefault file`.
//! - [`text`]: strings and encodings.
//! - [`math`]: arithmetic, parsing, `loop`, `in` and `contains*`.
//! - [`json`]: Go's `encoding/json` output for `toJSON` and friends.
//! - [`time`]: `timestamp` and Go's time layouts.
//! - [`sprig`], [`sprig_ext`] (helpers in [`sprig_text`]), [`sprig_time`], [`sprig_list`],
//!   [`sprig_more`], [`sprig_crypto`]:
//!   the `sprig_*` functions (sprig v3.2.3, as consul-template ships them).

mod builtin;
mod deps;
mod digest;
mod gocase;
mod json;
mod maps;
mod math;
mod pattern;
mod scratch;
mod sprig;
mod sprig_crypto;
mod sprig_ext;
mod sprig_list;
mod sprig_more;
mod sprig_text;
mod sprig_time;
mod text;
mod time;
mod toml;
mod yaml;

#[cfg(test)]
mod tests;

pub use scratch::{Scratch, method as scratch_method};

use super::value::Value;
use super::{MissingKey, RenderContext};
use crate::backend::secret::SecretRequest;

/// Every function name a template may call.
const NAMES: &[&str] = &[
    // Go builtins
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "call",
    // consul-template: dependencies
    "secret",
    "secrets",
    "pkiCert",
    "env",
    "mustEnv",
    "envOrDefault",
    "file",
    "writeToFile",
    // consul-template: JSON
    "toJSON",
    "toJSONPretty",
    "toUnescapedJSON",
    "toUnescapedJSONPretty",
    "parseJSON",
    // consul-template: text
    "base64Encode",
    "base64Decode",
    "base64URLEncode",
    "base64URLDecode",
    "split",
    "join",
    "trimSpace",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "replaceAll",
    "toUpper",
    "toLower",
    "toTitle",
    "contains",
    "indent",
    "sha256Hex",
    "timestamp",
    // consul-template: numbers and lists
    "parseInt",
    "parseUint",
    "parseBool",
    "parseFloat",
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "minimum",
    "maximum",
    "in",
    "containsAny",
    "containsAll",
    "containsNone",
    "containsNotAll",
    "loop",
    // consul-template: maps, hashes, patterns, templates
    "explodeMap",
    "md5sum",
    "hmacSHA256Hex",
    "regexReplaceAll",
    "regexMatch",
    "toYAML",
    "parseYAML",
    "toTOML",
    "mergeMap",
    "mergeMapWithOverride",
    "splitToMap",
    "scratch",
    "executeTemplate",
];

/// consul-template functions sidekey does not provide: `plugin` (runs a program from a template), Go
/// debugging dumps, go-sockaddr, and the Consul and Nomad API functions (sidekey talks to OpenBao/Vault only).
/// Using one is a parse error naming it, not "not defined".
pub const UNSUPPORTED: &[&str] = &[
    "plugin",
    "sockaddr",
    "spew_dump",
    "spew_printf",
    "spew_sdump",
    "spew_sprintf",
    "spew_sprint",
    "spew_sprintln",
    "byKey",
    "byMeta",
    "byTag",
    "caLeaf",
    "caRoots",
    "connect",
    "datacenters",
    "explode",
    "exportedServices",
    "key",
    "keyExists",
    "keyOrDefault",
    "ls",
    "node",
    "nodes",
    "partitions",
    "peerings",
    "safeLs",
    "safeTree",
    "service",
    "services",
    "tree",
    "nomadService",
    "nomadServices",
    "nomadVarExists",
    "nomadVarGet",
    "nomadVarGetOrDefault",
    "nomadVarList",
    "nomadVarListSafe",
];

/// Whether `name` is a function templates may call.
pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name) || name.strip_prefix("sprig_").is_some_and(sprig::is_known)
}

/// What a function call may touch: the render context and the pass's dependency lists.
pub struct Env<'a> {
    /// Secrets, env and files.
    pub ctx: &'a dyn RenderContext,
    /// The missing-key mode, for `print` and friends.
    pub missing_key: MissingKey,
    /// Secrets asked for and not in the context, in first-use order.
    pub missing: Vec<SecretRequest>,
    /// Every secret asked for, in first-use order.
    pub used: Vec<SecretRequest>,
    /// The render's `scratch` store.
    pub scratch: Scratch,
    /// `writeToFile` calls of this pass, for the output layer.
    pub side_writes: Vec<super::SideWrite>,
}

impl Env<'_> {
    /// True once a dependency is missing: the pass is only discovering dependencies, so values that are
    /// absent because of it are tolerated instead of stopping the render.
    pub fn discovering(&self) -> bool {
        !self.missing.is_empty()
    }
}

/// One sprig file's entry point: run `sprig_<name>` (name without the prefix), or `None` if not its own.
type SprigFn = fn(&str, &[Value], &mut Env<'_>) -> Option<FResult>;

/// A function's error message (the evaluator adds the position).
pub type FResult = Result<Value, String>;

/// Call function `name` with evaluated arguments.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> FResult {
    if let Some(r) = builtin::call(name, args, env) {
        return r;
    }
    if let Some(r) = deps::call(name, args, env) {
        return r;
    }
    if let Some(r) = text::call(name, args, env) {
        return r;
    }
    if let Some(r) = math::call(name, args, env) {
        return r;
    }
    if let Some(r) = json::call(name, args, env) {
        return r;
    }
    if let Some(r) = time::call(name, args, env) {
        return r;
    }
    if let Some(r) = digest::call(name, args, env) {
        return r;
    }
    if let Some(r) = pattern::call(name, args, env) {
        return r;
    }
    if let Some(short) = name.strip_prefix("sprig_") {
        let more: [SprigFn; 4] = [
            sprig_time::call,
            sprig_list::call,
            sprig_more::call,
            sprig_crypto::call,
        ];
        for f in more {
            if let Some(r) = f(short, args, env) {
                return r;
            }
        }
    }
    if let Some(r) = sprig::call(name, args) {
        return r;
    }
    if let Some(r) = yaml::call(name, args, env) {
        return r;
    }
    if let Some(r) = toml::call(name, args) {
        return r;
    }
    if let Some(r) = maps::call(name, args) {
        return r;
    }
    if name == "scratch" {
        return arity(name, args, 0).map(|()| Value::Scratch(env.scratch.clone()));
    }
    Err(format!("function {name:?} not defined"))
}

/// Go layout formatting, for tests.
#[cfg(test)]
pub fn time_format_for_tests(t: ::time::OffsetDateTime, layout: &str) -> String {
    time::format_go(t, layout)
}

/// Check the argument count.
fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

/// A string argument. A missing value is an error, unless the pass is discovering dependencies.
fn str_arg<'v>(name: &str, v: &'v Value, env: &Env<'_>) -> Result<&'v str, String> {
    match v {
        Value::Missing(path) if env.discovering() => {
            let _ = path;
            Ok("")
        }
        Value::Missing(path) => Err(format!("{name}: invalid value for {path}; expected string")),
        Value::Nil if env.discovering() => Ok(""),
        // json.Number is a named string type: Go does not pass it where a `string` parameter is declared.
        Value::Str(s) => Ok(s.as_str()),
        _ => Err(format!(
            "wrong type for value; expected string; got {}",
            v.type_name()
        )),
    }
}

/// An integer argument.
fn int_arg(name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(*i),
        _ => Err(format!(
            "{name}: wrong type for value; expected int; got {}",
            v.type_name()
        )),
    }
}

/// A missing value passed where Go takes `interface{}` becomes nil; printing-style functions must not turn a
/// missing key into `<nil>` silently unless the missing-key mode allows it.
fn check_printable(name: &str, args: &[Value], env: &Env<'_>) -> Result<(), String> {
    if env.missing_key == MissingKey::NoValue || env.discovering() {
        return Ok(());
    }
    for a in args {
        if let Value::Missing(path) = a {
            return Err(format!("{name}: map has no entry for key {path}"));
        }
    }
    Ok(())
}
