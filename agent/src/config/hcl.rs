//! HCL reader: parses a file with `hcl-edit` (which keeps byte spans) and turns its body into a [`Node`]
//! tree with line numbers.
//!
//! Vault Agent reads HCL 1, where `${...}` inside a string is plain text; so here an interpolation or
//! directive is kept as its source text, and a leading-zero number (`0640`) keeps its digits for octal modes.
//! Strings and heredocs are read from their source text by HCL 1's rules (`super::hcl1::string`): HCL 2
//! strips `<<-` indentation differently and unescapes `$${` / `%%{`, which would change a template's bytes.

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl_edit::structure::{Body, Structure};

use super::node::{Entry, LineIndex, Node, Problem, Value};

/// Parse HCL `text` into a map node.
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        let loc = e.location();
        Problem::new(
            loc.line(),
            format!(
                "HCL syntax error at column {}: {} (in `{}`)",
                loc.column(),
                e.message(),
                e.line().trim()
            ),
        )
    })?;
    let reader = Reader {
        text,
        lines: LineIndex::new(text),
    };
    Ok(Node {
        value: reader.body(&body)?,
        line: 1,
    })
}

struct Reader<'a> {
    text: &'a str,
    lines: LineIndex,
}

impl Reader<'_> {
    fn line_of(&self, span: &impl Span) -> usize {
        span.span().map_or(0, |r| self.lines.line(r.start))
    }

    fn source(&self, span: &impl Span) -> Option<&str> {
        span.span().and_then(|r| self.text.get(r))
    }

    fn body(&self, body: &Body) -> Result<Value, Problem> {
        let mut entries = Vec::with_capacity(body.len());
        for structure in body.iter() {
            let entry = match structure {
                Structure::Attribute(attr) => Entry {
                    key: attr.key.value().to_string(),
                    labels: Vec::new(),
                    line: self.line_of(attr),
                    node: self.expr(&attr.value)?,
                },
                Structure::Block(block) => {
                    let line = self.line_of(block);
                    Entry {
                        key: block.ident.value().to_string(),
                        labels: block
                            .labels
                            .iter()
                            .map(|l| l.as_str().to_string())
                            .collect(),
                        line,
                        node: Node {
                            value: self.body(&block.body)?,
                            line,
                        },
                    }
                }
            };
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }

    fn expr(&self, expr: &Expression) -> Result<Node, Problem> {
        let line = self.line_of(expr);
        let value = match expr {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => Value::Number(
                self.source(n)
                    .map_or_else(|| n.value().to_string(), |s| s.trim().to_string()),
            ),
            Expression::String(_)
            | Expression::StringTemplate(_)
            | Expression::HeredocTemplate(_) => match self.source(expr) {
                Some(src) => Value::Str(super::hcl1::string(src, line)?),
                None => return Err(Problem::new(line, "could not read a string's text")),
            },
            Expression::Parenthesis(p) => return self.expr(p.inner()),
            Expression::Array(items) => Value::List(
                items
                    .iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(object) => {
                let mut entries = Vec::with_capacity(object.len());
                for (key, value) in object.iter() {
                    let key_line = self.line_of(key);
                    let key = match key {
                        ObjectKey::Ident(ident) => ident.value().to_string(),
                        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                        ObjectKey::Expression(_) => {
                            return Err(Problem::new(
                                key_line,
                                "an object key must be a name or a quoted string",
                            ));
                        }
                    };
                    entries.push(Entry {
                        key,
                        labels: Vec::new(),
                        line: key_line,
                        node: self.expr(value.expr())?,
                    });
                }
                Value::Map(entries)
            }
            Expression::UnaryOp(op)
                if *op.operator.value() == UnaryOperator::Neg
                    && matches!(op.expr, Expression::Number(_)) =>
            {
                match self.expr(&op.expr)?.value {
                    Value::Number(n) => Value::Number(format!("-{n}")),
                    other => other,
                }
            }
            _ => {
                let text = self.source(expr).unwrap_or("this expression").trim();
                return Err(Problem::new(
                    line,
                    format!(
                        "`{text}`: expressions are not supported in agent configs; write a literal value (a quoted string, number, boolean, list or block)"
                    ),
                ));
            }
        };
        Ok(Node { value, line })
    }
}
