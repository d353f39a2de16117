//! The syntax tree of a parsed template (Go's `text/template/parse` nodes, reduced to what executes).

/// A 1-based line and column in the template source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

/// A sequence of nodes.
pub type List = Vec<Node>;

/// One node of a template body.
#[derive(Debug)]
pub enum Node {
    /// Text copied to the output.
    Text(String),
    /// `{{pipeline}}`: evaluate and print (unless it declares a variable).
    Action(Pipe),
    /// `{{if}}`.
    If(Branch),
    /// `{{with}}`.
    With(Branch),
    /// `{{range}}`.
    Range(Branch),
    /// `{{template "name" pipeline}}` (also the call half of `{{block}}`).
    Template {
        /// Where the action is.
        pos: Pos,
        /// The template invoked.
        name: String,
        /// The new dot, if given.
        pipe: Option<Pipe>,
    },
    /// `{{break}}` inside a range.
    Break,
    /// `{{continue}}` inside a range.
    Continue,
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug)]
pub struct Branch {
    /// Where the action is.
    pub pos: Pos,
    /// The controlling pipeline.
    pub pipe: Pipe,
    /// The body.
    pub list: List,
    /// The `{{else}}` body, if any (an `else if` chain is a single nested node).
    pub else_list: Option<List>,
}

/// A pipeline, optionally declaring or assigning variables.
#[derive(Debug)]
pub struct Pipe {
    /// Where the pipeline starts.
    pub pos: Pos,
    /// Variables declared (or assigned) with the result.
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// The commands, separated by `|`.
    pub cmds: Vec<Cmd>,
}

/// A command: a function call, or a single operand.
#[derive(Debug)]
pub struct Cmd {
    /// Where the command starts.
    pub pos: Pos,
    /// Its operands; the first is the function or value.
    pub args: Vec<Arg>,
}

/// A literal number, typed as Go types an untyped constant.
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// An integer constant.
    Int(i64),
    /// A floating-point constant.
    Float(f64),
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.A.B` on dot.
    Field(Pos, Vec<String>),
    /// `$x.A.B` (the chain may be empty).
    Var(Pos, String, Vec<String>),
    /// `.`
    Dot(Pos),
    /// `nil`
    Nil(Pos),
    /// `true` / `false`
    Bool(Pos, bool),
    /// A number or character constant.
    Number(Pos, Number),
    /// A string constant.
    Str(Pos, String),
    /// A function name.
    Func(Pos, String),
    /// `(pipeline).A.B` or another operand followed by fields.
    Chain(Pos, Box<Arg>, Vec<String>),
    /// `(pipeline)`
    Pipe(Pos, Box<Pipe>),
}

impl Arg {
    /// Where the operand is.
    pub fn pos(&self) -> Pos {
        match self {
            Arg::Field(p, _)
            | Arg::Var(p, _, _)
            | Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Number(p, _)
            | Arg::Str(p, _)
            | Arg::Func(p, _)
            | Arg::Chain(p, _, _)
            | Arg::Pipe(p, _) => *p,
        }
    }
}
