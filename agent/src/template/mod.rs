//! The consul-template dialect of Go `text/template`: lexer, parser, evaluator and function library.
//!
//! Renderers are pure: a parsed [`Template`] plus a [`RenderContext`] (secrets already fetched, env, files)
//! gives bytes. A secret the context does not have yet is recorded as a missing dependency and rendering goes
//! on, so one pass discovers every secret a template needs; the caller fetches them all concurrently and
//! renders again (as consul-template does).
//!
//! INTERFACE STUB: the implementation is being written; the signatures below are the contract.

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
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            left_delimiter: "{{".into(),
            right_delimiter: "}}".into(),
            function_denylist: Vec::new(),
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
    _private: (),
}

impl Template {
    /// Parse `text` as template `name`.
    ///
    /// # Errors
    /// A [`TemplateError`] with the line and column of the first syntax error.
    pub fn parse(name: &str, text: &str, opts: &ParseOptions) -> Result<Self, TemplateError> {
        let _ = (text, opts);
        Err(TemplateError {
            name: name.into(),
            line: 1,
            col: 1,
            message: "not implemented".into(),
        })
    }

    /// Render once against `ctx`.
    pub fn render(&self, ctx: &dyn RenderContext, missing_key: MissingKey) -> RenderOutcome {
        let _ = (ctx, missing_key);
        RenderOutcome {
            result: Ok(Zeroizing::new(String::new())),
            missing: Vec::new(),
            used: Vec::new(),
        }
    }
}
