//! Regular expressions: `regexReplaceAll` and `regexMatch` (the pattern comes first, the text last, so the
//! text can be piped in). Go's RE2 syntax and `$1`/`${name}` replacements are what the `regex` crate accepts.

use regex::Regex;

use super::{Env, FResult, arity, str_arg};
use crate::template::value::Value;

/// Run pattern function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    Some(match name {
        "regexReplaceAll" => arity(name, args, 3).and_then(|()| {
            let re = compile(name, str_arg(name, &args[0], env)?)?;
            let repl = str_arg(name, &args[1], env)?;
            let s = str_arg(name, &args[2], env)?;
            Ok(Value::str(re.replace_all(s, repl).into_owned()))
        }),
        "regexMatch" => arity(name, args, 2).and_then(|()| {
            let re = compile(name, str_arg(name, &args[0], env)?)?;
            Ok(Value::Bool(re.is_match(str_arg(name, &args[1], env)?)))
        }),
        _ => return None,
    })
}

/// The pattern is template text, not a secret: it may appear in the error.
fn compile(name: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("{name}: invalid pattern {pattern:?}: {e}"))
}
