//! The lexer: template text → tokens, as Go's `text/template/parse` lexes (delimiters, trim markers,
//! comments, and the tokens inside actions).

use super::ast::Pos;

/// How deeply parentheses may nest (the parser recurses on them).
pub const MAX_NESTING: usize = 100;

/// Keywords recognised inside actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    /// `block`
    Block,
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// `define`
    Define,
    /// `else`
    Else,
    /// `end`
    End,
    /// `if`
    If,
    /// `range`
    Range,
    /// `template`
    Template,
    /// `with`
    With,
}

/// One lexical token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Plain text between actions (already trimmed by trim markers).
    Text(String),
    /// The left delimiter that opens an action.
    LeftDelim,
    /// The right delimiter that closes an action.
    RightDelim,
    /// A run of spaces inside an action.
    Space,
    /// A function name.
    Ident(String),
    /// `.Name` (the name, without the dot).
    Field(String),
    /// `$name` (with the `$`), or `$` alone.
    Variable(String),
    /// A string literal, unquoted.
    Str(String),
    /// A character constant (its code point).
    Char(char),
    /// A number literal, as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `.` alone.
    Dot,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// A keyword.
    Keyword(Keyword),
    /// End of input.
    Eof,
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its position in the source.
    pub pos: Pos,
}

/// A lexing error at a position.
pub struct LexError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    left: &'a str,
    right: &'a str,
    line_starts: Vec<usize>,
    out: Vec<Token>,
    paren_depth: usize,
}

/// Lex `src` with the given delimiters.
pub fn lex(src: &str, left: &str, right: &str) -> Result<Vec<Token>, LexError> {
    let mut line_starts = vec![0];
    line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
    let mut lx = Lexer {
        src,
        pos: 0,
        left,
        right,
        line_starts,
        out: Vec::new(),
        paren_depth: 0,
    };
    lx.run()?;
    Ok(lx.out)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Lexer<'_> {
    fn pos_of(&self, off: usize) -> Pos {
        let line = self.line_starts.partition_point(|&s| s <= off);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let col = self
            .src
            .get(start..off)
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, col }
    }

    fn err<T>(&self, off: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos: self.pos_of(off),
            message: message.into(),
        })
    }

    fn emit(&mut self, off: usize, tok: Tok) {
        let pos = self.pos_of(off);
        self.out.push(Token { tok, pos });
    }

    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let rest = self.rest();
            let Some(idx) = rest.find(self.left) else {
                if !rest.is_empty() {
                    let text = rest.to_string();
                    self.emit(self.pos, Tok::Text(text));
                }
                self.pos = self.src.len();
                self.emit(self.pos, Tok::Eof);
                return Ok(());
            };
            let after_left = &rest[idx + self.left.len()..];
            let trim_left = after_left.starts_with('-') && after_left[1..].starts_with(is_space);
            let mut text = &rest[..idx];
            if trim_left {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                let text = text.to_string();
                self.emit(self.pos, Tok::Text(text));
            }
            let action_start = self.pos + idx;
            self.pos = action_start + self.left.len() + if trim_left { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.comment(action_start)?;
                continue;
            }
            self.emit(action_start, Tok::LeftDelim);
            self.inside_action(action_start)?;
        }
    }

    /// At a right delimiter (possibly with a trim marker)? Returns (length to skip, trims).
    fn at_right_delim(&self) -> Option<(usize, bool)> {
        let rest = self.rest();
        if rest.starts_with(is_space)
            && rest[1..].starts_with('-')
            && rest[2..].starts_with(self.right)
        {
            return Some((2 + self.right.len(), true));
        }
        if rest.starts_with(self.right) {
            return Some((self.right.len(), false));
        }
        None
    }

    fn skip_trimmed_space(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches(is_space);
        self.pos += rest.len() - trimmed.len();
    }

    fn comment(&mut self, start: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let Some(end) = rest.find("*/") else {
            return self.err(start, "unclosed comment");
        };
        self.pos += end + 2;
        match self.at_right_delim() {
            Some((n, trim)) => {
                self.pos += n;
                if trim {
                    self.skip_trimmed_space();
                }
                Ok(())
            }
            None => self.err(start, "comment ends before closing delimiter"),
        }
    }

    fn inside_action(&mut self, start: usize) -> Result<(), LexError> {
        loop {
            if let Some((n, trim)) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                if trim {
                    self.emit(self.pos + 1, Tok::RightDelim);
                } else {
                    self.emit(self.pos, Tok::RightDelim);
                }
                self.pos += n;
                if trim {
                    self.skip_trimmed_space();
                }
                return Ok(());
            }
            let off = self.pos;
            let Some(c) = self.rest().chars().next() else {
                return self.err(start, "unclosed action");
            };
            let next = self.rest()[c.len_utf8()..].chars().next();
            match c {
                c if is_space(c) => {
                    let rest = self.rest();
                    let mut n = 0;
                    for (i, ch) in rest.char_indices() {
                        // Stop before a right trim marker so it is recognised.
                        if !is_space(ch)
                            || (rest[i + 1..].starts_with('-')
                                && rest[i + 2..].starts_with(self.right))
                        {
                            break;
                        }
                        n = i + ch.len_utf8();
                    }
                    if n == 0 {
                        n = 1;
                        // A lone space that begins a trim marker: emit nothing, loop sees the marker.
                        if rest[1..].starts_with('-') && rest[2..].starts_with(self.right) {
                            continue;
                        }
                    }
                    self.pos += n;
                    self.emit(off, Tok::Space);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(off, Tok::Assign);
                }
                ':' => {
                    if next != Some('=') {
                        return self.err(off, "expected :=");
                    }
                    self.pos += 2;
                    self.emit(off, Tok::Declare);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(off, Tok::Pipe);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(off, Tok::Comma);
                }
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    if self.paren_depth > MAX_NESTING {
                        return self
                            .err(off, format!("parentheses nested deeper than {MAX_NESTING}"));
                    }
                    self.emit(off, Tok::LParen);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.err(off, "unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.pos += 1;
                    self.emit(off, Tok::RParen);
                }
                '"' => self.quoted(off)?,
                '`' => {
                    let rest = &self.rest()[1..];
                    let Some(end) = rest.find('`') else {
                        return self.err(off, "unterminated raw quoted string");
                    };
                    let s = rest[..end].replace('\r', "");
                    self.pos += end + 2;
                    self.emit(off, Tok::Str(s));
                }
                '\'' => self.char_const(off)?,
                '$' => {
                    let n = self.word_len(1);
                    let name = self.rest()[..1 + n].to_string();
                    self.pos += 1 + n;
                    self.emit(off, Tok::Variable(name));
                    self.check_terminator(off)?;
                }
                '.' => match next {
                    Some(d) if d.is_ascii_digit() => self.number(off)?,
                    Some(a) if is_alnum(a) => {
                        let n = self.word_len(1);
                        let name = self.rest()[1..1 + n].to_string();
                        self.pos += 1 + n;
                        self.emit(off, Tok::Field(name));
                        self.check_terminator(off)?;
                    }
                    _ => {
                        self.pos += 1;
                        self.emit(off, Tok::Dot);
                    }
                },
                '0'..='9' => self.number(off)?,
                '+' | '-' => self.number(off)?,
                c if is_alnum(c) => {
                    let n = self.word_len(0);
                    let word = &self.rest()[..n];
                    let tok = match word {
                        "block" => Tok::Keyword(Keyword::Block),
                        "break" => Tok::Keyword(Keyword::Break),
                        "continue" => Tok::Keyword(Keyword::Continue),
                        "define" => Tok::Keyword(Keyword::Define),
                        "else" => Tok::Keyword(Keyword::Else),
                        "end" => Tok::Keyword(Keyword::End),
                        "if" => Tok::Keyword(Keyword::If),
                        "range" => Tok::Keyword(Keyword::Range),
                        "template" => Tok::Keyword(Keyword::Template),
                        "with" => Tok::Keyword(Keyword::With),
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => Tok::Ident(w.to_string()),
                    };
                    self.pos += n;
                    self.emit(off, tok);
                    self.check_terminator(off)?;
                }
                _ => return self.err(off, format!("unrecognized character in action: {c:?}")),
            }
        }
    }

    /// Length in bytes of the identifier characters starting `skip` bytes into the rest.
    fn word_len(&self, skip: usize) -> usize {
        let rest = &self.rest()[skip..];
        rest.find(|c: char| !is_alnum(c)).unwrap_or(rest.len())
    }

    fn check_terminator(&self, start: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let ok = match rest.chars().next() {
            None => true,
            Some(c) => {
                is_space(c)
                    || matches!(c, '.' | ',' | '|' | ':' | ')' | '(' | '=')
                    || rest.starts_with(self.right)
            }
        };
        if ok {
            Ok(())
        } else {
            self.err(start, "bad character after identifier")
        }
    }

    fn quoted(&mut self, off: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let mut it = rest[1..].chars();
        let mut out = String::new();
        loop {
            match it.next() {
                Some('"') => break,
                None | Some('\n') => return self.err(off, "unterminated quoted string"),
                Some('\\') => match unescape(&mut it, '"') {
                    Some(ch) => out.push(ch),
                    None => return self.err(off, "invalid syntax in quoted string"),
                },
                Some(c) => out.push(c),
            }
        }
        self.pos += rest.len() - it.as_str().len();
        self.emit(off, Tok::Str(out));
        Ok(())
    }

    fn char_const(&mut self, off: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let mut it = rest[1..].chars();
        let value = match it.next() {
            Some('\\') => unescape(&mut it, '\''),
            Some('\'') | Some('\n') | None => None,
            Some(c) => Some(c),
        };
        match (value, it.next()) {
            (Some(v), Some('\'')) => {
                self.pos += rest.len() - it.as_str().len();
                self.emit(off, Tok::Char(v));
                Ok(())
            }
            _ => self.err(off, "malformed character constant"),
        }
    }

    fn number(&mut self, off: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let mut n = 0;
        let bytes = rest.as_bytes();
        if matches!(bytes.first(), Some(b'+' | b'-')) {
            n += 1;
        }
        let mut exp_chars: &[u8] = b"eE";
        if bytes.get(n) == Some(&b'0') && matches!(bytes.get(n + 1), Some(b'x' | b'X')) {
            exp_chars = b"pP";
        }
        while n < bytes.len() {
            let b = bytes[n];
            let sign_in_exponent =
                (b == b'+' || b == b'-') && n > 0 && exp_chars.contains(&bytes[n - 1]);
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || sign_in_exponent {
                n += 1;
            } else {
                break;
            }
        }
        let text = rest[..n].to_string();
        if !text.contains(|c: char| c.is_ascii_digit()) {
            return self.err(off, format!("bad number syntax: {text:?}"));
        }
        self.pos += n;
        self.emit(off, Tok::Number(text));
        Ok(())
    }
}

/// Decode one escape sequence (after the backslash) as Go's `strconv.Unquote` does.
fn unescape(chars: &mut impl Iterator<Item = char>, quote: char) -> Option<char> {
    let c = chars.next()?;
    let hex = |chars: &mut dyn Iterator<Item = char>, n: usize| -> Option<char> {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.to_digit(16)?;
        }
        char::from_u32(v)
    };
    Some(match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        'x' => hex(chars, 2)?,
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        '0'..='7' => {
            let mut v = c.to_digit(8)?;
            for _ in 0..2 {
                v = v * 8 + chars.next()?.to_digit(8)?;
            }
            char::from_u32(v).filter(|_| v < 256)?
        }
        c if c == quote => c,
        _ => return None,
    })
}
