//! The consul-template dialect of Go `text/template`: lexer, parser, evaluator and function library.
//!
//! Renderers are pure: a parsed [`Template`] plus a [`RenderContext`] (secrets already fetched, env, files)
//! gives bytes. A secret the context does not have yet is recorded as a missing dependency and rendering goes
//! on, so one pass discovers every secret a template needs; the caller fetches them all concurrently and
//! renders again (as consul-template does).
//!
//! # Layout
//! - `lex`: source → tokens (delimiters, trim markers, comments, literals).
//! - `ast`: the syntax tree.
//! - `parse`: tokens → tree, with Go's parse-time checks (variables, functions, `break`, `else`).
//! - `value`: runtime values, Go truth and comparison; secret strings are zeroized.
//! - `object`: Go structs and pointers sprig functions return (`time.Time`, ...), behind one trait.
//! - `exec`: the evaluator (dot, variables, `if`/`with`/`range`/`template`, missing keys).
//! - `print`: Go's `fmt` rules for `%v` and `Sprint`; `sprintf`: Go's `Sprintf` (`printf`).
//! - `funcs`: Go builtins and consul-template's functions (`secret`, `toJSON`, `split`, …).
//! - `scrub`: the values a function was given, taken out of its error message.

mod ast;
mod exec;
mod funcs;
mod lex;
mod object;
mod parse;
mod print;
pub(crate) mod scrub;
mod sprintf;
mod value;

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::backend::secret::{Secret, SecretRequest};

/// What a template may read while it renders. Implemented by the secret store (and by fixtures in tests).
pub trait RenderContext {
    /// The secret for `req`, or `None` when it has not been fetched yet (a missing dependency).
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>>;
    /// The value of environment variable `name` as the agent sees it (`env` function).
    fn env(&self, name: &str) -> Option<String>;
    /// The content of the file at `path` (`file` function), or `None` if it cannot be read.
    fn file(&self, path: &str) -> Option<String>;
    /// Whether `text` is the value of a fetched secret: such a string must not become a secret path sent to
    /// the backend (and so into audit records and error messages).
    fn is_secret_value(&self, _text: &str) -> bool {
        false
    }
}

/// How printing a missing map key behaves (the template's `error_on_missing_key`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// sidekey's default: a missing key is falsy in `if`/`with`/`and`/`or`, but printing it is an error.
    #[default]
    ErrorOnPrint,
    /// Go's `missingkey=error`: any access of a missing key is an error (`error_on_missing_key = true`).
    Error,
    /// Go's default: a missing key prints `<no value>` (`error_on_missing_key = false`, explicitly).
    NoValue,
}

/// Options fixed when a template is parsed.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Left action delimiter, `{{` by default.
    pub left_delimiter: String,
    /// Right action delimiter, `}}` by default.
    pub right_delimiter: String,
    /// Function names that may not be used (`function_denylist`); using one is a parse error.
    pub function_denylist: Vec<String>,
    /// Whether `writeToFile` may be called (the default, as in consul-template): a file template's calls
    /// are written by the output layer. `false` for an `env_template`, whose output is a variable and whose
    /// calls nobody would write: using it there is a parse error rather than a silent no-op.
    pub allow_write_to_file: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            left_delimiter: "{{".into(),
            right_delimiter: "}}".into(),
            function_denylist: Vec::new(),
            allow_write_to_file: true,
        }
    }
}

/// The result of one render pass.
pub struct RenderOutcome {
    /// The rendered bytes, or the first error. When `missing` is not empty the result is incomplete and
    /// an error may only be a consequence of the missing data: callers fetch and render again.
    pub result: Result<Zeroizing<String>, TemplateError>,
    /// Secrets the template asked for that the context did not have, in first-use order, without duplicates.
    pub missing: Vec<SecretRequest>,
    /// Every secret request the template made in this pass (present or missing), in first-use order.
    pub used: Vec<SecretRequest>,
    /// The files `writeToFile` asked for in this pass, in call order: the output layer writes them.
    pub side_writes: Vec<SideWrite>,
}

/// One `writeToFile PATH USER GROUP PERMS [FLAGS] CONTENT` call (consul-template): the renderer only records
/// it; the engine writes it with the same atomic file rules as a destination.
pub struct SideWrite {
    /// The file to write.
    pub path: std::path::PathBuf,
    /// Owner: a user name or uid; empty keeps sidekey's own.
    pub user: String,
    /// Group: a group name or gid; empty keeps sidekey's own.
    pub group: String,
    /// File mode (from the octal `PERMS` argument, e.g. `"0600"`).
    pub mode: u32,
    /// The `append` flag: add to the file instead of replacing it.
    pub append: bool,
    /// The bytes to write (with the `newline` flag's `\n` already added).
    pub content: Zeroizing<String>,
}

impl std::fmt::Debug for SideWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideWrite")
            .field("path", &self.path)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("append", &self.append)
            .finish_non_exhaustive()
    }
}

/// A template parse or execution error. Carries the template name, line and column; never a secret value.
#[derive(Debug, thiserror::Error)]
#[error("{name}:{line}:{col}: {message}")]
pub struct TemplateError {
    /// The template's name (its source file path, or `destination` for inline `contents`).
    pub name: String,
    /// 1-based line of the action that failed.
    pub line: usize,
    /// 1-based column of the action that failed.
    pub col: usize,
    /// What went wrong, in words; names keys and functions but never prints values.
    pub message: String,
}

/// A parsed template, ready to render any number of times.
pub struct Template {
    name: String,
    tree: parse::Tree,
}

impl Template {
    /// Parse `text` as template `name`.
    ///
    /// # Errors
    /// A [`TemplateError`] with the line and column of the first syntax error.
    pub fn parse(name: &str, text: &str, opts: &ParseOptions) -> Result<Self, TemplateError> {
        let error = |pos: ast::Pos, message: String| TemplateError {
            name: name.into(),
            line: pos.line,
            col: pos.col,
            message,
        };
        if opts.left_delimiter.is_empty() || opts.right_delimiter.is_empty() {
            return Err(error(
                ast::Pos { line: 1, col: 1 },
                "empty template delimiter".into(),
            ));
        }
        let toks = lex::lex(text, &opts.left_delimiter, &opts.right_delimiter)
            .map_err(|e| error(e.pos, e.message))?;
        let tree = parse::parse(toks, &opts.function_denylist, opts.allow_write_to_file)
            .map_err(|e| error(e.pos, e.message))?;
        Ok(Self {
            name: name.into(),
            tree,
        })
    }

    /// Render once against `ctx`.
    pub fn render(&self, ctx: &dyn RenderContext, missing_key: MissingKey) -> RenderOutcome {
        let env = funcs::Env {
            ctx,
            missing_key,
            missing: Vec::new(),
            used: Vec::new(),
            scratch: funcs::Scratch::default(),
            side_writes: Vec::new(),
        };
        let mut ex = exec::Exec::new(&self.tree, env);
        let result = ex
            .run(&value::Value::Missing(".".into()))
            .map_err(|e| TemplateError {
                name: self.name.clone(),
                line: e.pos.line,
                col: e.pos.col,
                message: e.message,
            });
        RenderOutcome {
            result,
            missing: std::mem::take(&mut ex.env.missing),
            used: std::mem::take(&mut ex.env.used),
            side_writes: std::mem::take(&mut ex.env.side_writes),
        }
    }
}

#[cfg(test)]
mod tests;
