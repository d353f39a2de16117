//! The HCL 1 lexer: source text → tokens with their 1-based lines. Whitespace (newlines included: HCL 1
//! is not line-oriented) and comments (`#`, `//`, `/* */`) are dropped.

use crate::config::node::Problem;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    /// A bare name (`vault`, `true`, `auth-method.x`).
    Ident(String),
    /// A quoted string or heredoc, escapes resolved, `${...}` kept as written.
    Str(String),
    /// A number as written (`0640`, `-1`, `1.5e3`).
    Number(String),
    /// `=`, `{`, `}`, `[`, `]` or `,`.
    Punct(char),
}

/// Tokenize `text`; an unterminated string or comment, or a stray character, is an error at its line.
pub(super) fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, Problem> {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    while let Some(tok) = lx.next()? {
        out.push(tok);
    }
    Ok(out)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn next(&mut self) -> Result<Option<(Tok, usize)>, Problem> {
        self.skip_blank()?;
        let line = self.line;
        let Some(c) = self.peek(0) else {
            return Ok(None);
        };
        let tok = match c {
            '=' | '{' | '}' | '[' | ']' | ',' => {
                self.bump();
                Tok::Punct(c)
            }
            '"' => Tok::Str(self.string()?),
            '<' if self.peek(1) == Some('<') => Tok::Str(self.heredoc()?),
            '-' | '+' | '0'..='9' => Tok::Number(self.number()),
            c if c.is_alphabetic() || c == '_' => Tok::Ident(self.ident()),
            other => {
                return Err(Problem::new(
                    line,
                    format!("HCL syntax error: unexpected character {other:?}"),
                ));
            }
        };
        Ok(Some((tok, line)))
    }

    fn skip_blank(&mut self) -> Result<(), Problem> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let line = self.line;
                    self.pos += 2;
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some('*'), Some('/')) => {
                                self.pos += 2;
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => {
                                return Err(Problem::new(
                                    line,
                                    "HCL syntax error: unterminated /* comment",
                                ));
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn ident(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self
            .peek(0)
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn number(&mut self) -> String {
        let mut s = String::new();
        if let Some(sign) = self.peek(0).filter(|c| matches!(c, '-' | '+')) {
            s.push(sign);
            self.pos += 1;
        }
        while let Some(c) = self.peek(0).filter(|c| {
            c.is_ascii_alphanumeric()
                || *c == '.'
                || (matches!(c, '-' | '+') && s.ends_with(['e', 'E']))
        }) {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    /// `"..."`: escapes resolved, `${ ... }` kept as written (its quotes included).
    fn string(&mut self) -> Result<String, Problem> {
        let line = self.line;
        let unterminated = || Problem::new(line, "HCL syntax error: unterminated string");
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump().ok_or_else(unterminated)? {
                '"' => return Ok(out),
                '\n' => return Err(unterminated()),
                '\\' => out.push(self.escape(line)?),
                '$' if self.peek(0) == Some('{') => self.interpolation(&mut out, line)?,
                c => out.push(c),
            }
        }
    }

    /// The `{ ... }` after a `$`, copied as written (nested braces and quoted strings included).
    fn interpolation(&mut self, out: &mut String, line: usize) -> Result<(), Problem> {
        out.push('$');
        let mut depth = 0usize;
        let mut quoted = false;
        loop {
            let c = self
                .bump()
                .ok_or_else(|| Problem::new(line, "HCL syntax error: unterminated ${"))?;
            out.push(c);
            match c {
                '\\' if quoted => {
                    if let Some(next) = self.bump() {
                        out.push(next);
                    }
                }
                '"' => quoted = !quoted,
                '{' if !quoted => depth += 1,
                '}' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn escape(&mut self, line: usize) -> Result<char, Problem> {
        let bad =
            |what: &str| Problem::new(line, format!("HCL syntax error: invalid escape {what}"));
        let c = self.bump().ok_or_else(|| bad("at the end"))?;
        Ok(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '"' | '\\' => c,
            'u' | 'U' => {
                let len = if c == 'u' { 4 } else { 8 };
                let hex: String = (0..len).filter_map(|_| self.bump()).collect();
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| bad(&format!("\\{c}{hex}")))?
            }
            other => return Err(bad(&format!("\\{other}"))),
        })
    }

    /// `<<EOT` or `<<-EOT` ... a line holding only `EOT`. The text is raw (no escapes, `${` and `%{`
    /// as written). `<<-` removes the closing line's indentation from every line, but only when every
    /// line starts with it (an empty line does not): otherwise the text stays as written, as in HCL 1.
    /// `<<EOT` ends with the closing line's indentation (HCL 1 reads up to the marker itself).
    fn heredoc(&mut self) -> Result<String, Problem> {
        let line = self.line;
        self.pos += 2;
        let indented = self.peek(0) == Some('-');
        if indented {
            self.pos += 1;
        }
        let marker = self.ident();
        if marker.is_empty() || self.bump() != Some('\n') {
            return Err(Problem::new(
                line,
                "HCL syntax error: a heredoc starts with <<NAME and a newline",
            ));
        }
        let mut lines = Vec::new();
        loop {
            if self.peek(0).is_none() {
                return Err(Problem::new(
                    line,
                    format!("HCL syntax error: heredoc without its closing {marker}"),
                ));
            }
            let mut text = String::new();
            while let Some(c) = self.peek(0).filter(|c| *c != '\n') {
                text.push(c);
                self.pos += 1;
            }
            if text.trim() == marker {
                let indent = &text[..text.len() - text.trim_start().len()];
                let strip = indented && lines.iter().all(|l: &String| l.starts_with(indent));
                let mut body: String = lines
                    .iter()
                    .map(|l| match l.strip_prefix(indent) {
                        Some(rest) if strip => format!("{rest}\n"),
                        _ => format!("{l}\n"),
                    })
                    .collect();
                // HCL 1 keeps the closing marker's indentation as the text's last line in `<<EOT`
                // (`bao agent` renders it), and drops it in `<<-EOT`.
                if !indented {
                    body.push_str(indent);
                }
                return Ok(body);
            }
            self.bump();
            lines.push(text);
        }
    }
}
