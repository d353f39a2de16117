//! Field chains (`.a.b.c`, `$x.a`) and method calls on the receivers that have methods (`scratch.Set`).

use super::super::MissingKey;
use super::super::ast::{Cmd, Pos};
use super::super::funcs;
use super::super::value::Value;
use super::{Exec, ExecError, XResult, data_scrub, err};

impl<'a> Exec<'a> {
    /// A chain that starts a command: `.a.b`, or a method call with arguments when the receiver of the last
    /// name has methods (`scratch.Set "k" "v"`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn chain_call(
        &mut self,
        dot: &Value,
        pos: Pos,
        base: Value,
        prefix: String,
        chain: &[String],
        cmd: &'a Cmd,
        fin: Option<Value>,
    ) -> XResult<Value> {
        let has_args = cmd.args.len() > 1 || fin.is_some();
        if let Some((last, init)) = chain.split_last().filter(|_| has_args) {
            let recv = self.chain(pos, base.clone(), prefix.clone(), init, false)?;
            if let Value::Scratch(s) = &recv {
                let mut vals = Vec::with_capacity(cmd.args.len());
                for a in &cmd.args[1..] {
                    vals.push(self.arg(dot, a)?);
                }
                vals.extend(fin);
                return funcs::scratch_method(s, last, &vals).map_err(|m| ExecError {
                    pos,
                    message: format!(
                        "error calling {last}: {}",
                        data_scrub(&m, &cmd.args[1..], &vals)
                    ),
                });
            }
            if let Value::Object(o) = &recv {
                let mut vals = Vec::with_capacity(cmd.args.len());
                for a in &cmd.args[1..] {
                    vals.push(self.arg(dot, a)?);
                }
                vals.extend(fin);
                return match o.method(last, &vals) {
                    Some(r) => r.map_err(|m| ExecError {
                        pos,
                        message: format!(
                            "error calling {last}: {}",
                            data_scrub(&m, &cmd.args[1..], &vals)
                        ),
                    }),
                    None => err(pos, format!("{last} is not a method but has arguments")),
                };
            }
        }
        self.chain(pos, base, prefix, chain, has_args)
    }

    /// Follow `.a.b.c` from `base`; `prefix` names the base in messages (`$x`, or empty for dot).
    pub(super) fn chain(
        &mut self,
        pos: Pos,
        base: Value,
        prefix: String,
        chain: &[String],
        has_args: bool,
    ) -> XResult<Value> {
        let mut path = prefix;
        let mut v = base;
        for (i, name) in chain.iter().enumerate() {
            path.push('.');
            path.push_str(name);
            let last = i + 1 == chain.len();
            v = self.field(pos, v, name, &path, has_args && last)?;
        }
        Ok(v)
    }

    /// The field or map entry `name` of `recv`, reached by `path`.
    fn field(
        &mut self,
        pos: Pos,
        recv: Value,
        name: &str,
        path: &str,
        has_args: bool,
    ) -> XResult<Value> {
        let strict = self.missing_key() == MissingKey::Error && !self.env.discovering();
        match recv {
            Value::Map(m) => {
                if has_args {
                    return err(pos, format!("{name} is not a method but has arguments"));
                }
                match m.get(name) {
                    Some(v) => Ok(v.clone()),
                    None if strict => {
                        err(pos, format!("map has no entry for key {name:?} ({path})"))
                    }
                    // consul-template's `missingkey=zero`: the map's zero value, a nil interface.
                    None if self.missing_key() == MissingKey::NoValue => Ok(Value::Nil),
                    None => Ok(Value::Missing(path.into())),
                }
            }
            Value::Secret(s) => {
                if has_args {
                    return err(pos, format!("{name} is not a method but has arguments"));
                }
                match Value::secret_field(&s, name) {
                    Some(v) => Ok(v),
                    None => err(
                        pos,
                        format!("can't evaluate field {name} in type *dependency.Secret"),
                    ),
                }
            }
            Value::Object(o) => match o.field(name) {
                Some(r) => r.map_err(|m| ExecError {
                    pos,
                    message: format!("error calling {name}: {m}"),
                }),
                None => err(
                    pos,
                    format!("can't evaluate field {name} in type {}", o.type_name()),
                ),
            },
            Value::Missing(_) if self.env.discovering() => Ok(Value::Missing(path.into())),
            Value::Missing(_) if strict => {
                err(pos, format!("nil data; no entry for key {name:?} ({path})"))
            }
            Value::Missing(p) if std::rc::Rc::ptr_eq(&p, &self.root) => {
                Ok(Value::Missing(self.root.clone()))
            }
            Value::Nil if self.env.discovering() => Ok(Value::Missing(path.into())),
            Value::Nil | Value::Missing(_) => err(
                pos,
                format!("nil pointer evaluating interface {{}}.{name} ({path})"),
            ),
            other => err(
                pos,
                format!(
                    "can't evaluate field {name} in type {} ({path})",
                    other.type_name()
                ),
            ),
        }
    }
}
