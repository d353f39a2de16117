//! Properties of the engine over generated templates: printing a parsed template and parsing the text
//! again gives the same tree (so the parser keeps every part of a template's meaning, and reads its own
//! spelling of it back), and no input, well-formed or not, makes parse or render panic.

use std::fmt::Write as _;

use proptest::prelude::*;

use super::super::ast::{Arg, Branch, Cmd, List, Node, Number, Pipe};
use super::super::parse::Tree;
use super::super::print::quote;
use super::*;

// === printing a tree ===

/// The template text of `tree`: Go's `Tree.String()` spelling, defined templates last in name order.
/// Positions are not printed, so two trees print alike when they differ only in where things were.
fn print_tree(tree: &Tree) -> String {
    let mut out = String::new();
    list(&mut out, &tree.root);
    let mut names: Vec<&String> = tree.defines.keys().collect();
    names.sort();
    for name in names {
        let _ = write!(out, "{{{{define {}}}}}", quote(name));
        list(&mut out, &tree.defines[name]);
        out.push_str("{{end}}");
    }
    out
}

fn list(out: &mut String, nodes: &List) {
    for n in nodes {
        node(out, n);
    }
}

fn node(out: &mut String, n: &Node) {
    match n {
        Node::Text(t) => out.push_str(t),
        Node::Action(p) => {
            out.push_str("{{");
            pipe(out, p);
            out.push_str("}}");
        }
        Node::If(b) => branch(out, "if", b),
        Node::With(b) => branch(out, "with", b),
        Node::Range(b) => branch(out, "range", b),
        Node::Template { name, pipe: p, .. } => {
            let _ = write!(out, "{{{{template {}", quote(name));
            if let Some(p) = p {
                out.push(' ');
                pipe(out, p);
            }
            out.push_str("}}");
        }
        Node::Break => out.push_str("{{break}}"),
        Node::Continue => out.push_str("{{continue}}"),
    }
}

fn branch(out: &mut String, word: &str, b: &Branch) {
    let _ = write!(out, "{{{{{word} ");
    pipe(out, &b.pipe);
    out.push_str("}}");
    list(out, &b.list);
    if let Some(e) = &b.else_list {
        out.push_str("{{else}}");
        list(out, e);
    }
    out.push_str("{{end}}");
}

fn pipe(out: &mut String, p: &Pipe) {
    if !p.decl.is_empty() {
        out.push_str(&p.decl.join(", "));
        out.push_str(if p.is_assign { " = " } else { " := " });
    }
    for (i, c) in p.cmds.iter().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        cmd(out, c);
    }
}

fn cmd(out: &mut String, c: &Cmd) {
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        arg(out, a);
    }
}

fn arg(out: &mut String, a: &Arg) {
    let fields = |out: &mut String, names: &[String]| {
        for f in names {
            let _ = write!(out, ".{f}");
        }
    };
    match a {
        Arg::Field(_, names) => fields(out, names),
        Arg::Var(_, name, names) => {
            out.push_str(name);
            fields(out, names);
        }
        Arg::Dot(_) => out.push('.'),
        Arg::Nil(_) => out.push_str("nil"),
        Arg::Bool(_, b) => {
            let _ = write!(out, "{b}");
        }
        Arg::Number(_, Number::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        // Rust's shortest round-trip spelling; always with a `.` or an `e`, so it reads back as a float.
        Arg::Number(_, Number::Float(f)) => {
            let _ = write!(out, "{f:?}");
        }
        Arg::Str(_, s) => out.push_str(&quote(s)),
        Arg::Func(_, name) => out.push_str(name),
        Arg::Chain(_, base, names) => {
            arg(out, base);
            fields(out, names);
        }
        Arg::Pipe(_, p) => {
            out.push('(');
            pipe(out, p);
            out.push(')');
        }
    }
}

fn parsed(src: &str) -> Result<Template, TemplateError> {
    Template::parse("t", src, &ParseOptions::default())
}

// === generating templates ===

/// Text between actions: no braces, so it never opens an action.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("Z9"),
            Just(" "),
            Just("\n"),
            Just(":"),
            Just("=")
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
}

/// A string literal's content: quotes, backslashes and control characters included.
fn string_content() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just(' '),
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('\t'),
            Just('\u{1}'),
            Just('é'),
        ],
        0..6,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// An operand that is not a function.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".".to_string()),
        Just(".Data".to_string()),
        Just(".Data.password".to_string()),
        Just("$".to_string()),
        Just("$.Data".to_string()),
        Just("$a".to_string()),
        Just("$a.x".to_string()),
        Just("true".to_string()),
        Just("nil".to_string()),
        Just("'x'".to_string()),
        Just("0x1F".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        Just(i64::MIN.to_string()),
        (-1.0e6f64..1.0e6).prop_map(|f| format!("{f:?}")),
        string_content().prop_map(|s| quote(&s)),
    ]
}

/// Functions with any number of arguments (a wrong count is a render error, not a parse error).
const FUNCS: &[&str] = &[
    "len",
    "index",
    "printf",
    "print",
    "and",
    "or",
    "not",
    "eq",
    "lt",
    "toUpper",
    "base64Encode",
    "toJSON",
    "sprig_default",
    "split",
    "join",
    "contains",
    "sprig_trim",
];

/// A pipeline, with parenthesized pipelines inside it up to `depth` deep.
fn pipeline(depth: u32) -> BoxedStrategy<String> {
    let operand = if depth == 0 {
        value().boxed()
    } else {
        prop_oneof![
            3 => value(),
            1 => pipeline(depth - 1).prop_map(|p| format!("({p})")),
            1 => pipeline(depth - 1).prop_map(|p| format!("({p}).Data")),
        ]
        .boxed()
    };
    let call = (
        proptest::sample::select(FUNCS),
        proptest::collection::vec(operand.clone(), 0..3),
    )
        .prop_map(|(f, args)| {
            std::iter::once(f.to_string())
                .chain(args)
                .collect::<Vec<_>>()
                .join(" ")
        });
    let first = prop_oneof![operand, call.clone()];
    (first, proptest::collection::vec(call, 0..2))
        .prop_map(|(first, rest)| {
            std::iter::once(first)
                .chain(rest)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .boxed()
}

/// The body of a template: text and actions, control structures nested up to three deep.
fn body() -> impl Strategy<Value = String> {
    // Trim markers and spacing inside the delimiters vary; the tree must not.
    let open = prop_oneof![Just("{{"), Just("{{ "), Just("{{- ")];
    let close = prop_oneof![Just("}}"), Just(" }}"), Just(" -}}")];
    let leaf = prop_oneof![
        text(),
        (open.clone(), pipeline(2), close.clone()).prop_map(|(o, p, c)| format!("{o}{p}{c}")),
        pipeline(1).prop_map(|p| format!("{{{{$a = {p}}}}}")),
        pipeline(1).prop_map(|p| format!("{{{{template \"t1\" {p}}}}}")),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        let items = proptest::collection::vec(inner, 0..4).prop_map(|v| v.concat());
        (
            proptest::sample::select(&["if", "with", "range", "range $i, $e :=", "if $x :="][..]),
            pipeline(1),
            items.clone(),
            proptest::option::of(items),
            open.clone(),
            close.clone(),
        )
            .prop_map(|(word, p, list, else_list, o, c)| {
                let else_part = else_list
                    .map(|e| format!("{{{{else}}}}{e}"))
                    .unwrap_or_default();
                let stop = if word.starts_with("range") {
                    "{{break}}"
                } else {
                    ""
                };
                format!("{o}{word} {p}{c}{list}{stop}{else_part}{{{{end}}}}")
            })
    })
}

/// Template-like noise: pieces of the syntax in any order, most of it malformed.
fn noise() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{{"),
            Just("}}"),
            Just("{{-"),
            Just("-}}"),
            Just("if"),
            Just("else"),
            Just("end"),
            Just("range"),
            Just("with"),
            Just("define \"x\""),
            Just("template \"x\" ."),
            Just("block \"b\" ."),
            Just("$"),
            Just("$x :="),
            Just("="),
            Just("."),
            Just(".Data"),
            Just("|"),
            Just("("),
            Just(")"),
            Just("\""),
            Just("'"),
            Just("`raw`"),
            Just("/*"),
            Just("*/"),
            Just("printf \"%v\""),
            Just("len"),
            Just("index"),
            Just("1"),
            Just("-2.5e3"),
            Just("0x"),
            Just(" "),
            Just("\n"),
            Just("nil"),
            Just("break"),
            Just("continue"),
            Just("secret \"secret/data/app\""),
            Just("toJSON"),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    /// print ∘ parse is a fixed point: the printed tree parses again, to a tree that prints the same.
    #[test]
    fn a_printed_template_parses_to_the_same_tree(b in body()) {
        let src = format!("{{{{$a := .}}}}{{{{define \"t1\"}}}}x{{{{end}}}}{b}");
        let first = match parsed(&src) {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("{src:?} does not parse: {e}"))),
        };
        let printed = print_tree(&first.tree);
        let again = match parsed(&printed) {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("printed {printed:?} does not parse: {e}"))),
        };
        prop_assert_eq!(print_tree(&again.tree), printed);
    }

    /// Parse and render answer any text with output or an error.
    #[test]
    fn parse_and_render_never_panic(src in prop_oneof![noise(), body(), any::<String>()]) {
        if let Ok(t) = parsed(&src) {
            for mk in [MissingKey::ErrorOnPrint, MissingKey::Error, MissingKey::NoValue] {
                let _ = t.render(&kv(), mk).result;
            }
        }
    }
}
