//! `workload "NAME" { auto_auth { method "TYPE" { ... } } }`: the workload logs in with a method of its
//! own. The method is read as the top-level `auto_auth`'s is; what only makes sense for the agent's own
//! token is refused: sinks (the token serves the socket's callers, it is never written to a file),
//! `wrap_ttl` (sidekey must use the token itself), and `token_role` or `policies` beside it (the method's
//! role decides the token's policies; sidekey creates nothing).

use crate::config::node::Problem;
use crate::config::section::{Labels, Section};
use crate::config::types::MethodConfig;
use crate::config::validate::auto_auth::{SINK_KEYS, one_method};

/// Why a key cannot be beside a workload's own auto_auth.
const BESIDE: &[(&str, &str)] = &[
    (
        "token_role",
        "the workload's token is its own auto_auth login, not created from a token role",
    ),
    (
        "policies",
        "the role of the workload's auto_auth method decides the token's policies (sidekey creates no \
         token it could restrict); set them on that role",
    ),
];

/// The workload's own `auto_auth`, if it has one; `s` is the workload's section.
pub(super) fn auto_auth(s: &mut Section<'_>) -> Result<Option<MethodConfig>, Problem> {
    let Some(mut a) = s.block("auto_auth")? else {
        return Ok(None);
    };
    let at = a.line();
    for key in ["sink", "sinks"] {
        if let Some(sink) = a.blocks(key, Labels::Optional(SINK_KEYS))?.first() {
            return Err(Problem::new(
                sink.line,
                format!(
                    "{}: not allowed inside a workload: the workload's token is given only to its callers \
                     through the sockets, never written to a file",
                    a.key_path(key)
                ),
            ));
        }
    }
    let (method, wrap_line) = one_method(&mut a)?;
    if let Some(line) = wrap_line {
        return Err(Problem::new(
            line,
            format!(
                "{}.method.wrap_ttl: not allowed inside a workload: sidekey uses the workload's token \
                 itself for its callers, so the login response cannot be wrapped",
                a.path()
            ),
        ));
    }
    a.finish(&[])?;
    for (key, why) in BESIDE {
        if let Some(f) = s.field(key)? {
            return Err(f.problem(format!(
                "cannot be used with the workload's auto_auth (line {at}): {why}"
            )));
        }
    }
    Ok(Some(method))
}
