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
pub(super) fn compile(name: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(&ascii_classes(&quote_literals(pattern)))
        .map_err(|e| format!("{name}: invalid pattern {pattern:?}: {e}"))
}

/// RE2's `\Q...\E` (everything between is literal; a missing `\E` runs to the end), which the `regex`
/// crate does not read: the text between is escaped instead.
fn quote_literals(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    loop {
        // A `\Q` preceded by an escaping backslash is a literal `\` then `Q`; count them.
        let Some(at) = find_unescaped_q(rest) else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        let body = &rest[at + 2..];
        let (lit, after) = match body.find("\\E") {
            Some(e) => (&body[..e], &body[e + 2..]),
            None => (body, ""),
        };
        out.push_str(&regex::escape(lit));
        rest = after;
    }
}

/// The byte offset of the first `\Q` whose backslash is not itself escaped.
fn find_unescaped_q(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' {
            if b[i + 1] == b'Q' {
                return Some(i);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    None
}

/// Go's `\d`, `\w` and `\s` are ASCII-only; the `regex` crate's are Unicode-aware. Spell them out so
/// `regexReplaceAll "\\W" "_"` treats `é` as Go does. (Inside `[...]`, only the positive forms are rewritten.)
fn ascii_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                let rewrite = match (n, in_class) {
                    ('d', false) => Some("[0-9]"),
                    ('D', false) => Some("[^0-9]"),
                    ('w', false) => Some("[0-9A-Za-z_]"),
                    ('W', false) => Some("[^0-9A-Za-z_]"),
                    ('s', false) => Some("[\\t\\n\\f\\r ]"),
                    ('S', false) => Some("[^\\t\\n\\f\\r ]"),
                    ('d', true) => Some("0-9"),
                    ('w', true) => Some("0-9A-Za-z_"),
                    ('s', true) => Some("\\t\\n\\f\\r "),
                    _ => None,
                };
                match rewrite {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push(c);
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal member, not the end of the class.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ascii_classes;

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert_eq!(ascii_classes(r"\w+\s\D"), r"[0-9A-Za-z_]+[\t\n\f\r ][^0-9]");
        assert_eq!(ascii_classes(r"[\d.]\.x"), r"[0-9.]\.x");
        assert_eq!(ascii_classes(r"[]\w]"), r"[]0-9A-Za-z_]");
    }
}
