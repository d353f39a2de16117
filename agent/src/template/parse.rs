//! The parser: tokens → syntax tree, with Go's checks done at parse time (undefined variables, unknown or
//! denied functions, `break` outside `range`, misplaced `else`/`end`).

use std::collections::HashMap;

use super::ast::{Arg, Branch, Cmd, List, Node, Number, Pipe, Pos};
use super::funcs;
use super::lex::{Keyword, MAX_NESTING, Tok, Token};

/// A parse error at a position.
pub struct ParseError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

/// A parsed template: its main body and the templates it defines.
pub struct Tree {
    /// The main body.
    pub root: List,
    /// `{{define}}` and `{{block}}` bodies, by name.
    pub defines: HashMap<String, List>,
}

type PResult<T> = Result<T, ParseError>;

/// How an item list ended.
enum Stop {
    Eof(Pos),
    End(Pos),
    Else(Pos),
}

struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    nesting: usize,
    defines: HashMap<String, List>,
    denylist: &'a [String],
    allow_write_to_file: bool,
}

/// Parse a token stream.
pub fn parse(toks: Vec<Token>, denylist: &[String], allow_write_to_file: bool) -> PResult<Tree> {
    let mut p = Parser {
        toks,
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        nesting: 0,
        defines: HashMap::new(),
        denylist,
        allow_write_to_file,
    };
    let (root, stop) = p.item_list(true)?;
    match stop {
        Stop::Eof(_) => Ok(Tree {
            root,
            defines: p.defines,
        }),
        Stop::End(pos) => Err(ParseError {
            pos,
            message: "unexpected {{end}}".into(),
        }),
        Stop::Else(pos) => Err(ParseError {
            pos,
            message: "unexpected {{else}}".into(),
        }),
    }
}

fn err<T>(pos: Pos, message: impl Into<String>) -> PResult<T> {
    Err(ParseError {
        pos,
        message: message.into(),
    })
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "left delimiter".into(),
        Tok::RightDelim => "right delimiter".into(),
        Tok::Space => "space".into(),
        Tok::Ident(n) => format!("identifier {n:?}"),
        Tok::Field(n) => format!("field .{n}"),
        Tok::Variable(n) => format!("variable {n}"),
        Tok::Str(_) => "string".into(),
        Tok::Char(_) => "character constant".into(),
        Tok::Number(_) => "number".into(),
        Tok::Bool(b) => format!("{b}"),
        Tok::Nil => "nil".into(),
        Tok::Dot => "\".\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Keyword(k) => format!("<{}>", format!("{k:?}").to_lowercase()),
        Tok::Eof => "end of input".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.i.min(last)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn expect_right(&mut self, context: &str) -> PResult<()> {
        let t = self.next_non_space();
        if t.tok == Tok::RightDelim {
            Ok(())
        } else {
            err(
                t.pos,
                format!("unexpected {} in {context}", describe(&t.tok)),
            )
        }
    }

    /// Parse nodes until `{{end}}`, `{{else}}` or end of input (the stop token's action is consumed up to the
    /// keyword; for `else` the rest of its action is left to the caller).
    fn item_list(&mut self, top: bool) -> PResult<(List, Stop)> {
        let mut list = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => return Ok((list, Stop::Eof(t.pos))),
                Tok::Text(s) => list.push(Node::Text(s)),
                Tok::LeftDelim => {
                    let kw = self.peek_non_space().clone();
                    match kw.tok {
                        Tok::Keyword(Keyword::End) => {
                            self.next();
                            self.expect_right("end")?;
                            return Ok((list, Stop::End(t.pos)));
                        }
                        Tok::Keyword(Keyword::Else) => {
                            self.next();
                            return Ok((list, Stop::Else(t.pos)));
                        }
                        Tok::Keyword(Keyword::Define) => {
                            if !top {
                                return err(t.pos, "unexpected <define> in command");
                            }
                            self.next();
                            self.define(t.pos)?;
                        }
                        _ => list.push(self.action(t.pos)?),
                    }
                }
                other => return err(t.pos, format!("unexpected {}", describe(&other))),
            }
        }
    }

    fn template_name(&mut self, context: &str) -> PResult<(Pos, String)> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Str(s) => Ok((t.pos, s)),
            other => err(
                t.pos,
                format!("unexpected {} in {context}", describe(&other)),
            ),
        }
    }

    fn add_define(&mut self, pos: Pos, name: String, body: List) -> PResult<()> {
        let empty = body
            .iter()
            .all(|n| matches!(n, Node::Text(s) if s.trim().is_empty()));
        match self.defines.get(&name) {
            Some(old) if !old.is_empty() && !empty => err(
                pos,
                format!("template: multiple definition of template {name:?}"),
            ),
            Some(_) if empty => Ok(()),
            _ => {
                self.defines.insert(name, body);
                Ok(())
            }
        }
    }

    fn define(&mut self, pos: Pos) -> PResult<()> {
        let (_, name) = self.template_name("define clause")?;
        self.expect_right("define clause")?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (body, stop) = self.item_list(false)?;
        self.vars = saved_vars;
        match stop {
            Stop::End(_) => self.add_define(pos, name, body),
            Stop::Else(p) => err(p, "unexpected {{else}} in define clause"),
            Stop::Eof(p) => err(p, "unexpected EOF in define clause"),
        }
    }

    fn action(&mut self, pos: Pos) -> PResult<Node> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Keyword(Keyword::If) => {
                self.next();
                Ok(Node::If(self.control(pos, "if")?))
            }
            Tok::Keyword(Keyword::With) => {
                self.next();
                Ok(Node::With(self.control(pos, "with")?))
            }
            Tok::Keyword(Keyword::Range) => {
                self.next();
                self.range_depth += 1;
                let r = self.control(pos, "range");
                self.range_depth -= 1;
                Ok(Node::Range(r?))
            }
            Tok::Keyword(Keyword::Template) => {
                self.next();
                let (_, name) = self.template_name("template clause")?;
                let pipe = if self.peek_non_space().tok == Tok::RightDelim {
                    self.next();
                    None
                } else {
                    Some(self.pipeline("template clause", &Tok::RightDelim)?)
                };
                Ok(Node::Template { pos, name, pipe })
            }
            Tok::Keyword(Keyword::Block) => {
                self.next();
                let (_, name) = self.template_name("block clause")?;
                let pipe = self.pipeline("block clause", &Tok::RightDelim)?;
                let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
                let saved_depth = std::mem::replace(&mut self.range_depth, 0);
                let res = self.item_list(false);
                self.vars = saved_vars;
                self.range_depth = saved_depth;
                let (body, stop) = res?;
                match stop {
                    Stop::End(_) => {}
                    Stop::Else(p) => return err(p, "unexpected {{else}} in block clause"),
                    Stop::Eof(p) => return err(p, "unexpected EOF in block clause"),
                }
                self.add_define(pos, name.clone(), body)?;
                Ok(Node::Template {
                    pos,
                    name,
                    pipe: Some(pipe),
                })
            }
            Tok::Keyword(k @ (Keyword::Break | Keyword::Continue)) => {
                self.next();
                let word = if k == Keyword::Break {
                    "break"
                } else {
                    "continue"
                };
                if self.range_depth == 0 {
                    return err(pos, format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                self.expect_right(word)?;
                Ok(if k == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                })
            }
            Tok::Keyword(k) => err(
                t.pos,
                format!("unexpected <{}>", format!("{k:?}").to_lowercase()),
            ),
            _ => Ok(Node::Action(self.pipeline("command", &Tok::RightDelim)?)),
        }
    }

    /// `if`, `with`, `range` after the keyword: pipeline, body, optional else, end.
    fn control(&mut self, pos: Pos, context: &str) -> PResult<Branch> {
        if self.nesting >= MAX_NESTING {
            return err(
                pos,
                format!("control structures nested deeper than {MAX_NESTING}"),
            );
        }
        self.nesting += 1;
        let mark = self.vars.len();
        let res = self.control_inner(pos, context);
        self.vars.truncate(mark);
        self.nesting -= 1;
        res
    }

    fn control_inner(&mut self, pos: Pos, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        let (list, stop) = self.item_list(false)?;
        let else_list = match stop {
            Stop::End(_) => None,
            Stop::Eof(p) => return Err(unclosed(pos, p, context)),
            Stop::Else(epos) => {
                let t = self.peek_non_space().clone();
                let chained = matches!(
                    (context, &t.tok),
                    ("if", Tok::Keyword(Keyword::If)) | ("with", Tok::Keyword(Keyword::With))
                );
                if chained {
                    // `{{else if …}}`: a nested if that consumes the shared {{end}}.
                    let vars = self.vars.clone();
                    let node = self.action(epos)?;
                    self.vars = vars;
                    Some(vec![node])
                } else {
                    self.expect_right("else")?;
                    let (else_list, stop) = self.item_list(false)?;
                    match stop {
                        Stop::End(_) => {}
                        Stop::Else(p) => {
                            return err(
                                p,
                                format!("expected end; found {{{{else}}}} in {context}"),
                            );
                        }
                        Stop::Eof(p) => return Err(unclosed(pos, p, context)),
                    }
                    Some(else_list)
                }
            }
        };
        Ok(Branch {
            pos,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let start = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos: start,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let t = self.next_non_space();
            if &t.tok == end {
                if pipe.cmds.is_empty() {
                    return err(t.pos, format!("missing value for {context}"));
                }
                break;
            }
            match t.tok {
                Tok::Eof | Tok::RightDelim | Tok::RParen => {
                    return err(
                        t.pos,
                        format!("unexpected {} in {context}", describe(&t.tok)),
                    );
                }
                _ => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
            }
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str(..),
            ) = c.args.first()
            {
                return err(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(pipe)
    }

    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> PResult<()> {
        loop {
            let save = self.i;
            let v = self.peek_non_space().clone();
            let Tok::Variable(name) = v.tok else {
                self.i = save;
                return Ok(());
            };
            self.next();
            let next = self.peek_non_space().clone();
            match next.tok {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    pipe.is_assign = next.tok == Tok::Assign;
                    if pipe.is_assign && !self.vars.contains(&name) {
                        return err(v.pos, format!("undefined variable {name:?}"));
                    }
                    pipe.decl.push(name.clone());
                    if !pipe.is_assign {
                        self.vars.push(name);
                    }
                    return Ok(());
                }
                Tok::Comma if context == "range" && pipe.decl.is_empty() => {
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    match self.peek_non_space().tok {
                        Tok::Variable(_) => continue,
                        _ => return err(next.pos, "range can only initialize variables"),
                    }
                }
                Tok::Comma => return err(next.pos, format!("too many declarations in {context}")),
                _ if !pipe.decl.is_empty() => {
                    return err(next.pos, "range can only initialize variables");
                }
                _ => {
                    self.i = save;
                    return Ok(());
                }
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let t = self.peek().clone();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => break,
                Tok::Pipe => {
                    self.next();
                    break;
                }
                other => return err(t.pos, format!("unexpected {} in operand", describe(&other))),
            }
        }
        if args.is_empty() {
            return err(pos, "empty command");
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut chain = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            chain.push(f.clone());
            self.i += 1;
        }
        if chain.is_empty() {
            return Ok(Some(term));
        }
        Ok(Some(match term {
            Arg::Field(p, mut c) => {
                c.extend(chain);
                Arg::Field(p, c)
            }
            Arg::Var(p, n, mut c) => {
                c.extend(chain);
                Arg::Var(p, n, c)
            }
            Arg::Bool(p, _) | Arg::Str(p, _) | Arg::Number(p, _) | Arg::Nil(p) | Arg::Dot(p) => {
                return err(p, "unexpected . after term");
            }
            other => Arg::Chain(other.pos(), Box::new(other), chain),
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.tok {
            Tok::Ident(name) => {
                if self.denylist.iter().any(|d| d == &name) {
                    return err(pos, format!("function {name} is denied"));
                }
                if name == "writeToFile" && !self.allow_write_to_file {
                    return err(
                        pos,
                        "function writeToFile is not available in an env_template: sidekey writes no files for the child's environment (call it from a template stanza)",
                    );
                }
                if funcs::UNSUPPORTED.contains(&name.as_str()) {
                    return err(pos, format!("function {name} is not supported by sidekey"));
                }
                if !funcs::is_known(&name) {
                    return err(pos, format!("function {name:?} not defined"));
                }
                Arg::Func(pos, name)
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return err(pos, format!("undefined variable {name:?}"));
                }
                Arg::Var(pos, name, Vec::new())
            }
            Tok::Field(name) => Arg::Field(pos, vec![name]),
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Char(c) => Arg::Number(pos, Number::Int(i64::from(u32::from(c)))),
            Tok::Number(text) => match parse_number(&text) {
                Some(n) => Arg::Number(pos, n),
                None => return err(pos, format!("bad number syntax: {text:?}")),
            },
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RParen)?;
                Arg::Pipe(pos, Box::new(pipe))
            }
            Tok::Str(s) => Arg::Str(pos, s),
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

/// Parse a Go number literal into the constant Go's template would use.
fn parse_number(text: &str) -> Option<Number> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') {
            return parse_hex_float(h).map(|f| Number::Float(if neg { -f } else { f }));
        }
        i128::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if lower.contains(['.', 'e']) {
        let f: f64 = lower.parse().ok()?;
        return Some(Number::Float(if neg { -f } else { f }));
    } else if lower.len() > 1 && lower.starts_with('0') {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else {
        match lower
            .parse::<i128>()
            .ok()
            .filter(|v| signed(*v, neg).is_some())
        {
            Some(v) => Some(v),
            None => {
                let f: f64 = lower.parse().ok()?;
                return Some(Number::Float(if neg { -f } else { f }));
            }
        }
    };
    int.and_then(|v| signed(v, neg)).map(Number::Int)
}

/// The magnitude `v` with its sign, if that is an i64: read wider than i64, so `-9223372036854775808`
/// (i64::MIN) is an int, as in Go.
fn signed(v: i128, neg: bool) -> Option<i64> {
    i64::try_from(if neg { v.checked_neg()? } else { v }).ok()
}

fn parse_hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = match h.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (h, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in ip.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in fp.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// An `if`/`with`/`range` left open: reported where it was opened (the line the user has to fix), with the
/// end of the template where Go notices it.
fn unclosed(open: Pos, eof: Pos, context: &str) -> ParseError {
    ParseError {
        pos: open,
        message: format!(
            "unexpected EOF at {}:{}: this {{{{{context}}}}} has no {{{{end}}}}",
            eof.line, eof.col
        ),
    }
}
