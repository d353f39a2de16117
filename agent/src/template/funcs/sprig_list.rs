//! sprig v3.2.3 functions: lists, dicts, float math, JSON, reflection and the `must*` variants of list, dict, regex and JSON functions.

use super::{Env, FResult};
use crate::template::value::Value;

/// The sprig names (without `sprig_`) this file serves.
pub const NAMES: &[&str] = &[];

/// Run `sprig_<name>` (`name` without the prefix), or `None` if it is not one of this file's.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    let _ = (name, args, env);
    None
}
