//! The evaluator: walks the syntax tree with a dot and variables, as Go's `text/template` executes.

use zeroize::Zeroizing;

use super::MissingKey;
use super::ast::{Arg, Branch, Cmd, Node, Number, Pipe, Pos};
use super::funcs::{self, Env};
use super::parse::Tree;
use super::print::write_v;
use super::value::Value;

/// How deep `{{template}}` calls may nest.
const MAX_DEPTH: usize = 100;

/// An execution error at a position.
pub struct ExecError {
    /// Where.
    pub pos: Pos,
    /// What (never a value).
    pub message: String,
}

type XResult<T> = Result<T, ExecError>;

/// Most iterations of `range` over integers in one render, all such ranges together.
pub const MAX_INT_RANGE: i64 = 1_000_000;

mod fields;

fn err<T>(pos: Pos, message: impl Into<String>) -> XResult<T> {
    Err(ExecError {
        pos,
        message: message.into(),
    })
}

/// `message` (a function's error) without what the function was given from data: `vals` are the
/// evaluated `args` (then, past their end, the value piped in). Literals of the template text are its
/// author's words and stay.
fn data_scrub(message: &str, args: &[Arg], vals: &[Value]) -> String {
    use super::scrub::Scrub;
    let from_data = vals.iter().enumerate().filter_map(|(i, v)| {
        let literal = matches!(
            args.get(i),
            Some(Arg::Str(..) | Arg::Number(..) | Arg::Bool(..) | Arg::Nil(..))
        );
        (!literal).then_some(v)
    });
    super::scrub::Index::of_values(from_data).scrub(message)
}

/// What a walked list asks of the enclosing `range`.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution of a tree.
pub struct Exec<'a> {
    tree: &'a Tree,
    /// The function environment (context and dependency lists).
    pub env: Env<'a>,
    vars: Vec<(String, Value)>,
    out: Zeroizing<String>,
    depth: usize,
    /// Iterations of `range` over integers asked for so far in this render (see [`MAX_INT_RANGE`]).
    counted: i64,
    /// The path of the root data (Go's invalid value): fields of it are invalid too, never an error, while a
    /// field of a missing map key (Go's nil interface) is.
    root: std::rc::Rc<str>,
}

impl<'a> Exec<'a> {
    /// Prepare to execute `tree`.
    pub fn new(tree: &'a Tree, env: Env<'a>) -> Self {
        Self {
            tree,
            env,
            vars: Vec::new(),
            out: Zeroizing::new(String::new()),
            depth: 0,
            counted: 0,
            root: ".".into(),
        }
    }

    /// Execute the main body with `dot` and return the output. consul-template executes with nil data, which Go
    /// sees as an invalid value: pass `Value::Missing(".")` for the same behaviour.
    pub fn run(&mut self, dot: &Value) -> XResult<Zeroizing<String>> {
        if let Value::Missing(p) = dot {
            self.root = p.clone();
        }
        self.vars = vec![("$".into(), dot.clone())];
        let tree = self.tree;
        self.walk(dot, &tree.root)?;
        Ok(std::mem::take(&mut self.out))
    }

    fn missing_key(&self) -> MissingKey {
        self.env.missing_key
    }

    fn walk(&mut self, dot: &Value, list: &'a [Node]) -> XResult<Flow> {
        for node in list {
            let flow = match node {
                Node::Text(s) => {
                    self.emit(s);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(pipe.pos, &v)?;
                    }
                    Flow::Normal
                }
                Node::If(b) => self.if_with(dot, b, false)?,
                Node::With(b) => self.if_with(dot, b, true)?,
                Node::Range(b) => self.range(dot, b)?,
                Node::Template { pos, name, pipe } => {
                    self.template(dot, *pos, name, pipe.as_ref())?
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// Append to the output. The buffer is grown by hand so that no reallocation leaves an unzeroed copy of
    /// rendered secrets behind.
    fn emit(&mut self, s: &str) {
        let need = self.out.len() + s.len();
        if need > self.out.capacity() {
            let mut bigger = Zeroizing::new(String::with_capacity(
                need.max(2 * self.out.capacity()).max(256),
            ));
            bigger.push_str(&self.out);
            self.out = bigger;
        }
        self.out.push_str(s);
    }

    fn print(&mut self, pos: Pos, v: &Value) -> XResult<()> {
        match v {
            Value::Missing(path) => match self.missing_key() {
                MissingKey::NoValue => self.emit("<no value>"),
                _ if self.env.discovering() => {}
                // Under missingkey=error a map miss has already failed; what is left is the nil root data
                // (`{{ . }}` in a template called without data), which Go prints as <no value>.
                MissingKey::Error => self.emit("<no value>"),
                _ => {
                    return err(
                        pos,
                        format!("missing key: {path} has no value (map has no entry for key)"),
                    );
                }
            },
            // Go prints a nil value as `<no value>` in every mode; only sidekey's default refuses it.
            Value::Nil => match self.missing_key() {
                MissingKey::NoValue | MissingKey::Error => self.emit("<no value>"),
                _ if self.env.discovering() => {}
                _ => return err(pos, "the value printed is nil (Go would print <no value>)"),
            },
            v => {
                let mut s = Zeroizing::new(String::new());
                write_v(&mut s, v);
                self.emit(&s);
            }
        }
        Ok(())
    }

    fn if_with(&mut self, dot: &Value, b: &'a Branch, with: bool) -> XResult<Flow> {
        let mark = self.vars.len();
        let res = (|| {
            let v = self.pipeline(dot, &b.pipe)?;
            if v.truth() {
                self.walk(if with { &v } else { dot }, &b.list)
            } else if let Some(e) = &b.else_list {
                self.walk(dot, e)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        res
    }

    fn range(&mut self, dot: &Value, b: &'a Branch) -> XResult<Flow> {
        let mark = self.vars.len();
        let res = self.range_inner(dot, b, mark);
        self.vars.truncate(mark);
        res.map(|()| Flow::Normal)
    }

    fn range_inner(&mut self, dot: &Value, b: &'a Branch, mark: usize) -> XResult<()> {
        let v = self.pipeline_value(dot, &b.pipe)?;
        // Lists and maps are snapshotted (cheap clones of shared values); integers are counted lazily.
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match &v {
            Value::List(l) | Value::Strings(l) => {
                let l = l.clone();
                Box::new((0..l.len()).filter_map(move |i| {
                    let e = l.get(i)?.clone();
                    Some((Value::Int(i64::try_from(i).unwrap_or(i64::MAX)), e))
                }))
            }
            Value::Map(m) => {
                let pairs: Vec<(Value, Value)> = m
                    .iter()
                    .map(|(k, e)| (Value::str(k.as_str()), e.clone()))
                    .collect();
                Box::new(pairs.into_iter())
            }
            Value::Int(n) | Value::Int64(n) => {
                if b.pipe.decl.len() > 1 {
                    return err(b.pos, "can't use two variables with range over an integer");
                }
                Box::new((0..*n).map(|i| (Value::Int(i), Value::Int(i))))
            }
            Value::Missing(_) | Value::Nil => Box::new(std::iter::empty()),
            other => {
                return err(
                    b.pos,
                    format!(
                        "range can't iterate over value of type {}",
                        other.type_name()
                    ),
                );
            }
        };
        let counting = matches!(v, Value::Int(_) | Value::Int64(_));
        let mut any = false;
        for (k, e) in items {
            any = true;
            // Go counts to any integer; here a render stops after MAX_INT_RANGE such iterations in all, so
            // a typo like `range 9000000000000` fails its template instead of freezing every render.
            if counting {
                self.counted += 1;
                if self.counted > MAX_INT_RANGE {
                    return err(
                        b.pos,
                        format!(
                            "range over an integer: more than {MAX_INT_RANGE} iterations in one render"
                        ),
                    );
                }
            }
            self.vars.truncate(mark);
            match b.pipe.decl.as_slice() {
                [] => {}
                [v] => self.bind(b.pos, v, e.clone(), b.pipe.is_assign)?,
                [kv, v, ..] => {
                    self.bind(b.pos, kv, k, b.pipe.is_assign)?;
                    self.bind(b.pos, v, e.clone(), b.pipe.is_assign)?;
                }
            }
            if let Flow::Break = self.walk(&e, &b.list)? {
                break;
            }
        }
        if !any && let Some(e) = &b.else_list {
            self.walk(dot, e)?;
        }
        Ok(())
    }

    fn template(
        &mut self,
        dot: &Value,
        pos: Pos,
        name: &str,
        pipe: Option<&'a Pipe>,
    ) -> XResult<Flow> {
        let tree = self.tree;
        let Some(body) = tree.defines.get(name) else {
            return err(pos, format!("no such template {name:?}"));
        };
        let new_dot = match pipe {
            Some(p) => self.pipeline(dot, p)?,
            None => Value::Missing(self.root.clone()),
        };
        self.run_define(pos, body, new_dot)
    }

    /// Run a defined template's body with `new_dot` and fresh variables, appending to the output.
    fn run_define(&mut self, pos: Pos, body: &'a [Node], new_dot: Value) -> XResult<Flow> {
        if self.depth >= MAX_DEPTH {
            return err(
                pos,
                format!("exceeded maximum template depth ({MAX_DEPTH})"),
            );
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let res = self.walk(&new_dot, body);
        self.vars = saved;
        self.depth -= 1;
        res.map(|_| Flow::Normal)
    }

    fn bind(&mut self, pos: Pos, name: &str, v: Value, assign: bool) -> XResult<()> {
        if !assign {
            self.vars.push((name.to_string(), v));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => err(pos, format!("undefined variable: {name}")),
        }
    }

    fn var(&self, pos: Pos, name: &str) -> XResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => err(pos, format!("undefined variable: {name}")),
        }
    }

    /// Evaluate a pipeline and bind its declarations.
    fn pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> XResult<Value> {
        let v = self.pipeline_value(dot, pipe)?;
        for name in &pipe.decl {
            self.bind(pipe.pos, name, v.clone(), pipe.is_assign)?;
        }
        Ok(v)
    }

    /// Evaluate a pipeline's commands, each result fed as the last argument of the next.
    fn pipeline_value(&mut self, dot: &Value, pipe: &'a Pipe) -> XResult<Value> {
        let mut val = None;
        for cmd in &pipe.cmds {
            val = Some(self.command(dot, cmd, val)?);
        }
        Ok(val.unwrap_or(Value::Nil))
    }

    fn command(&mut self, dot: &Value, cmd: &'a Cmd, fin: Option<Value>) -> XResult<Value> {
        let Some(first) = cmd.args.first() else {
            return err(cmd.pos, "empty command");
        };
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match first {
            Arg::Field(pos, chain) => {
                self.chain_call(dot, *pos, dot.clone(), String::new(), chain, cmd, fin)
            }
            Arg::Var(pos, name, chain) if !chain.is_empty() => {
                let base = self.var(*pos, name)?;
                self.chain_call(dot, *pos, base, name.clone(), chain, cmd, fin)
            }
            Arg::Chain(pos, node, chain) => {
                let base = self.arg(dot, node)?;
                self.chain_call(dot, *pos, base, String::new(), chain, cmd, fin)
            }
            Arg::Func(pos, name) => self.call(dot, *pos, name, &cmd.args[1..], fin),
            other => {
                if let Arg::Nil(p) = other {
                    return err(*p, "nil is not a command");
                }
                if has_args {
                    return err(other.pos(), "can't give argument to non-function");
                }
                self.arg(dot, other)
            }
        }
    }

    /// Evaluate an operand used as an argument.
    fn arg(&mut self, dot: &Value, arg: &'a Arg) -> XResult<Value> {
        Ok(match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Value::Nil,
            Arg::Bool(_, b) => Value::Bool(*b),
            Arg::Number(_, Number::Int(i)) => Value::Int(*i),
            Arg::Number(_, Number::Float(f)) => Value::Float(*f),
            Arg::Str(_, s) => Value::str(s.as_str()),
            Arg::Field(pos, chain) => self.chain(*pos, dot.clone(), String::new(), chain, false)?,
            Arg::Var(pos, name, chain) => {
                let base = self.var(*pos, name)?;
                self.chain(*pos, base, name.clone(), chain, false)?
            }
            Arg::Chain(pos, node, chain) => {
                let base = self.arg(dot, node)?;
                self.chain(*pos, base, String::new(), chain, false)?
            }
            Arg::Pipe(_, p) => self.pipeline(dot, p)?,
            Arg::Func(pos, name) => self.call(dot, *pos, name, &[], None)?,
        })
    }

    fn call(
        &mut self,
        dot: &Value,
        pos: Pos,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> XResult<Value> {
        if name == "and" || name == "or" {
            return self.and_or(dot, pos, name == "and", args, fin);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(fin);
        if name == "executeTemplate" {
            return self.execute_template(pos, &vals).map_err(|e| ExecError {
                pos: e.pos,
                message: data_scrub(&e.message, args, &vals),
            });
        }
        let out = funcs::call(name, &vals, &mut self.env).map_err(|m| {
            let m = data_scrub(&m, args, &vals);
            // Some builtins already word their errors as Go does ("error calling index: ...").
            let prefix = format!("error calling {name}: ");
            ExecError {
                pos,
                message: if m.starts_with(&prefix) {
                    m
                } else {
                    prefix + &m
                },
            }
        })?;
        // sprig's set/unset/merge change the dict in place (Go maps are references); values here are
        // immutable, so the variable that named the dict gets the result (`{{ $_ := sprig_set $d "k" "v" }}`).
        if matches!(
            name,
            "sprig_set"
                | "sprig_unset"
                | "sprig_merge"
                | "sprig_mergeOverwrite"
                | "sprig_mustMerge"
                | "sprig_mustMergeOverwrite"
        ) && let (Some(Arg::Var(vpos, var, chain)), Value::Map(_)) = (args.first(), &out)
            && chain.is_empty()
        {
            self.bind(*vpos, var, out.clone(), true)?;
        }
        Ok(out)
    }

    /// `executeTemplate "name" [data]`: a defined template's output as a string.
    fn execute_template(&mut self, pos: Pos, vals: &[Value]) -> XResult<Value> {
        let (name, data) = match vals {
            [n] => (n, Value::Nil),
            [n, d] => (n, d.clone()),
            _ => {
                return err(
                    pos,
                    format!(
                        "error calling executeTemplate: want 1 or 2 args, got {}",
                        vals.len()
                    ),
                );
            }
        };
        let Some(name) = name.as_str() else {
            return err(pos, "error calling executeTemplate: name must be a string");
        };
        let tree = self.tree;
        let Some(body) = tree.defines.get(name) else {
            return err(
                pos,
                format!("error calling executeTemplate: no such template {name:?}"),
            );
        };
        let saved = std::mem::take(&mut self.out);
        let res = self.run_define(pos, body, data);
        let produced = std::mem::replace(&mut self.out, saved);
        res?;
        Ok(Value::str(produced.as_str()))
    }

    /// `and`/`or`: evaluate left to right, stop at the deciding value and return it.
    fn and_or(
        &mut self,
        dot: &Value,
        pos: Pos,
        is_and: bool,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> XResult<Value> {
        let total = args.len() + usize::from(fin.is_some());
        if total == 0 {
            let name = if is_and { "and" } else { "or" };
            return err(
                pos,
                format!("wrong number of args for {name}: want at least 1 got 0"),
            );
        }
        let mut last = Value::Nil;
        for a in args {
            last = self.arg(dot, a)?;
            if last.truth() != is_and {
                return Ok(last);
            }
        }
        if let Some(f) = fin {
            last = f;
        }
        Ok(last)
    }
}
