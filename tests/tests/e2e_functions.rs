//! Every function name `bao agent` accepts in a template, sidekey accepts: Go's builtins, openbao-template's
//! own function map (`tests/fixtures/compat/functions/`), and every `sprig_*` name of sprig v3.2.3's map,
//! read from its Go source (Debian's `golang-github-masterminds-sprig-dev`, which `tests/run.sh` installs).
//! The only exceptions are refused by name: `plugin` (runs a program), `sockaddr` and the `spew_*` dumps.
//! The real `bao agent` renders the same list, which proves the list is what it accepts.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sidekey_tests::compat::{self, fixtures};
use sidekey_tests::hcl;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// Where Debian's package puts sprig's source.
const SPRIG_SOURCE: &str = "/usr/share/gocode/src/github.com/Masterminds/sprig/functions.go";

/// Go text/template's builtin functions.
const GO_BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Names consul-template has that sidekey refuses by name, on purpose.
const REFUSED: &[&str] = &[
    "plugin",
    "sockaddr",
    "spew_dump",
    "spew_printf",
    "spew_sdump",
    "spew_sprintf",
];

/// The keys of sprig's `genericMap` in its Go source: every `"name":` outside comments.
fn sprig_names() -> BTreeSet<String> {
    let src = std::fs::read_to_string(SPRIG_SOURCE).unwrap_or_else(|e| {
        panic!("read {SPRIG_SOURCE} ({e}): install golang-github-masterminds-sprig-dev (tests/run.sh does)")
    });
    let start = src
        .find("var genericMap = map[string]interface{}{")
        .expect("sprig's functions.go has genericMap");
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").expect("genericMap ends")];
    let mut names = BTreeSet::new();
    for line in body.lines().skip(1) {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(open) = rest.find('"') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('"') else { break };
            let word = &after[..close];
            let tail = &after[close + 1..];
            if tail.starts_with(':')
                && !word.is_empty()
                && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                names.insert(word.to_string());
            }
            rest = tail;
        }
    }
    names
}

/// openbao-template's function map, from the fixture.
fn openbao_template_names() -> BTreeSet<String> {
    let path = fixtures().join("functions/openbao-template-v1.0.1.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every name `bao agent` accepts, minus the ones sidekey refuses on purpose.
fn accepted() -> Vec<String> {
    let mut all: BTreeSet<String> = GO_BUILTINS.iter().map(|s| (*s).to_string()).collect();
    all.extend(openbao_template_names());
    all.extend(sprig_names().into_iter().map(|n| format!("sprig_{n}")));
    all.into_iter()
        .filter(|n| !REFUSED.contains(&n.as_str()))
        .collect()
}

/// A template that names each function once, in a branch never taken: Go checks function names when it
/// parses, so rendering it proves each name is defined without calling anything.
fn naming_template(names: &[String]) -> String {
    let mut t = String::new();
    for n in names {
        t.push_str(&format!("{{{{ if false }}}}{{{{ {n} }}}}{{{{ end }}}}"));
    }
    t.push_str("every name parsed\n");
    t
}

/// The config both agents render `template` with, into `out/functions`.
fn config(fx: &Fixture, template: &Path, out: &Path, bao: bool) -> PathBuf {
    let token = fx.write_file("functions-token", fx.bao.root_token());
    let mut text = hcl::vault(&fx.addr()) + &hcl::token_file_auto_auth(&token);
    if bao {
        text.push_str("exit_after_auth = true\n");
    }
    text.push_str(&hcl::template_file(template, &out.join("functions"), &[]));
    fx.write_file(
        if bao {
            "bao-functions.hcl"
        } else {
            "sidekey-functions.hcl"
        },
        &text,
    )
}

#[test]
fn the_sprig_source_lists_sprig_v3_2_3s_210_functions() {
    let names = sprig_names();
    assert_eq!(names.len(), 210, "{names:?}");
    for n in [
        "date",
        "semverCompare",
        "urlJoin",
        "genCA",
        "mustToRawJson",
        "push",
        "mustPush",
    ] {
        assert!(names.contains(n), "{n} missing from {names:?}");
    }
}

#[test]
fn every_function_bao_agent_accepts_sidekey_accepts() {
    let fx = Setup::new().start();
    let names = accepted();
    assert!(names.len() > 280, "{} names", names.len());
    let template = fx.write_file("functions.tpl", &naming_template(&names));
    let work = fixtures();

    let bao_out = tempfile::tempdir().expect("temp dir");
    compat::run_bao_agent(&config(&fx, &template, bao_out.path(), true), &work, &[]);
    let bao_text = std::fs::read_to_string(bao_out.path().join("functions")).expect("bao rendered");

    let sk_out = ShmDir::new();
    let sk_cfg = config(&fx, &template, sk_out.path(), false);
    let done = compat::sidekey_once(&sk_cfg, &work, &[]);
    if done.code() != 0 {
        // Name every refused function, not only the first one the parser met.
        let refused: Vec<&String> = names
            .iter()
            .filter(|n| {
                let one = fx.write_file("one.tpl", &naming_template(std::slice::from_ref(n)));
                let cfg = config(&fx, &one, sk_out.path(), false);
                Sidekey::new(["check", "-c"]).args([&cfg]).run().code() != 0
            })
            .collect();
        panic!(
            "sidekey refuses {} function(s) bao agent accepts: {refused:?}\n{}",
            refused.len(),
            done.stderr
        );
    }
    let sk_text =
        std::fs::read_to_string(sk_out.path().join("functions")).expect("sidekey rendered");
    assert_eq!(sk_text, bao_text);
}

#[test]
fn the_functions_sidekey_leaves_out_are_refused_by_name() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    for name in REFUSED {
        let one = fx.write_file("refused.tpl", &naming_template(&[(*name).to_string()]));
        let cfg = config(&fx, &one, out.path(), false);
        let done = Sidekey::new(["check", "-c"]).args([&cfg]).run();
        assert_eq!(done.code(), 78, "{name}: {}", done.stderr);
        assert!(done.stderr.contains(name), "{name}: {}", done.stderr);
    }
}
