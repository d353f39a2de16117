//! Template tests: a fixture context and one test per construct; expected output is Go's where known.

#![allow(clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::backend::secret::{Secret, SecretData, SecretRequest};

mod properties;

#[derive(Default)]
struct Fixture {
    secrets: HashMap<SecretRequest, Arc<Secret>>,
    env: HashMap<String, String>,
    files: HashMap<String, String>,
}

impl Fixture {
    fn with(mut self, req: SecretRequest, data: serde_json::Value) -> Self {
        let s = Secret {
            data: SecretData(data),
            lease_id: "lease/123".into(),
            lease_duration: 3600,
            renewable: true,
            warnings: Vec::new(),
            request_id: String::new(),
        };
        self.secrets.insert(req, Arc::new(s));
        self
    }

    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }
}

impl RenderContext for Fixture {
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
        self.secrets.get(req).cloned()
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn file(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }
}

fn kv() -> Fixture {
    Fixture::default().with(
        SecretRequest::read("secret/data/app"),
        json!({
            "data": {"password": "s3cr3t", "user": "app", "port": 5432, "ratio": 1.5, "big": 1e21,
                     "tags": ["a", "b", "c"], "nested": {"z": 1, "a": "x"}, "empty": "", "zero": 0, "null": null,
                     "flag": true, "html": "<a&b>"},
            "metadata": {"version": 3}
        }),
    )
}

fn parse(src: &str) -> Template {
    match Template::parse("t", src, &ParseOptions::default()) {
        Ok(t) => t,
        Err(e) => panic!("parse failed: {e}"),
    }
}

fn render_with(src: &str, ctx: &Fixture, mk: MissingKey) -> Result<String, TemplateError> {
    parse(src).render(ctx, mk).result.map(|s| s.to_string())
}

fn render(src: &str) -> String {
    match render_with(src, &kv(), MissingKey::default()) {
        Ok(s) => s,
        Err(e) => panic!("render failed: {e}"),
    }
}

fn render_err(src: &str) -> TemplateError {
    match render_with(src, &kv(), MissingKey::default()) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e,
    }
}

fn parse_err(src: &str) -> TemplateError {
    match Template::parse("t", src, &ParseOptions::default()) {
        Ok(_) => panic!("expected a parse error"),
        Err(e) => e,
    }
}

const W: &str = r#"{{ with secret "secret/data/app" }}"#;

// === text, actions, comments, trimming ===

#[test]
fn plain_text_and_literals() {
    assert_eq!(render("hello"), "hello");
    assert_eq!(
        render(r#"{{ "a\tb" }}|{{ `raw\n` }}|{{ 42 }}|{{ -7 }}|{{ 1.5 }}|{{ true }}|{{ 'a' }}"#),
        "a\tb|raw\\n|42|-7|1.5|true|97"
    );
    assert_eq!(
        render("{{ 0x1F }} {{ 0o17 }} {{ 1_000 }} {{ 1e3 }}"),
        "31 15 1000 1000"
    );
}

#[test]
fn comments_and_trim_markers() {
    assert_eq!(render("a {{/* note */}} b"), "a  b");
    assert_eq!(render("a {{- /* note */ -}} b"), "ab");
    assert_eq!(render("x  \n  {{- 1 -}}  \n  y"), "x1y");
    assert_eq!(render("x {{-1}}"), "x -1");
    assert_eq!(render("{{ 3 -}}\n\n{{- 4 }}"), "34");
}

#[test]
fn custom_delimiters() {
    let opts = ParseOptions {
        left_delimiter: "[[".into(),
        right_delimiter: "]]".into(),
        ..ParseOptions::default()
    };
    let t = match Template::parse(
        "t",
        "{{ keep }} [[- with secret \"secret/data/app\" -]] [[ .Data.data.user ]][[ end ]]",
        &opts,
    ) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        t.render(&kv(), MissingKey::default())
            .result
            .map(|s| s.to_string())
            .ok()
            .as_deref(),
        Some("{{ keep }}app")
    );
}

// === fields, variables, scoping ===

#[test]
fn field_chains_and_secret_struct() {
    assert_eq!(
        render(&format!("{W}{{{{ .Data.data.password }}}}{{{{ end }}}}")),
        "s3cr3t"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ .LeaseID }}}} {{{{ .LeaseDuration }}}} {{{{ .Renewable }}}} {{{{ .Warnings }}}}{{{{ end }}}}"
        )),
        "lease/123 3600 true []"
    );
    assert_eq!(
        render(r#"{{ (secret "secret/data/app").Data.data.user }}"#),
        "app"
    );
    assert_eq!(
        render(r#"{{ $s := secret "secret/data/app" }}{{ $s.Data.metadata.version }}"#),
        "3"
    );
    let e = render_err(&format!("{W}{{{{ .Nope }}}}{{{{ end }}}}"));
    assert!(e.message.contains("can't evaluate field Nope"), "{e}");
    let e = render_err(&format!("{W}{{{{ .Data.data.user.x }}}}{{{{ end }}}}"));
    assert!(
        e.message.contains("can't evaluate field x in type string"),
        "{e}"
    );
}

#[test]
fn variables_and_scoping() {
    assert_eq!(render("{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}"), "12");
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"),
        "21"
    );
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
        "2"
    );
    assert_eq!(render("{{ with $y := 5 }}{{ $y }}{{ . }}{{ end }}"), "55");
    let e = parse_err("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}");
    assert!(e.message.contains("undefined variable \"$x\""), "{e}");
    assert_eq!(e.line, 1);
    assert_eq!(
        render("{{ define \"d\" }}{{ $ }}{{ end }}{{ template \"d\" 7 }}"),
        "7"
    );
}

// === control structures ===

#[test]
fn if_else_chains() {
    let t = "{{ if eq .x 1 }}one{{ else if eq .x 2 }}two{{ else }}other{{ end }}";
    let t = t.replace(".x", "$x");
    for (x, want) in [(1, "one"), (2, "two"), (3, "other")] {
        assert_eq!(render(&format!("{{{{ $x := {x} }}}}{t}")), want);
    }
    assert_eq!(
        render("{{ if 0 }}a{{ else }}b{{ end }}{{ if \"\" }}c{{ else }}d{{ end }}"),
        "bd"
    );
    assert!(
        render_err("{{ if nil }}e{{ end }}")
            .message
            .contains("nil is not a command")
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ if .Data.data.empty }}}}x{{{{ else }}}}empty{{{{ end }}}}{{{{ end }}}}"
        )),
        "empty"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ if .Data.data.tags }}}}tags{{{{ end }}}}{{{{ end }}}}"
        )),
        "tags"
    );
}

#[test]
fn with_else_with() {
    let src = format!(
        "{W}{{{{ with .Data.data.nope }}}}a{{{{ else with .Data.data.user }}}}{{{{ . }}}}{{{{ else }}}}c{{{{ end }}}}{{{{ end }}}}"
    );
    assert_eq!(render(&src), "app");
    assert_eq!(render("{{ with \"\" }}x{{ else }}y{{ end }}"), "y");
}

#[test]
fn range_lists_maps_break_continue_else() {
    assert_eq!(
        render(&format!(
            "{W}{{{{ range .Data.data.tags }}}}{{{{ . }}}},{{{{ end }}}}{{{{ end }}}}"
        )),
        "a,b,c,"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ range $i, $v := .Data.data.tags }}}}{{{{ $i }}}}={{{{ $v }}}} {{{{ end }}}}{{{{ end }}}}"
        )),
        "0=a 1=b 2=c "
    );
    // Maps iterate in sorted key order.
    assert_eq!(
        render(&format!(
            "{W}{{{{ range $k, $v := .Data.data.nested }}}}{{{{ $k }}}}:{{{{ $v }}}};{{{{ end }}}}{{{{ end }}}}"
        )),
        "a:x;z:1;"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ range .Data.data.tags }}}}{{{{ if eq . \"b\" }}}}{{{{ continue }}}}{{{{ end }}}}{{{{ if eq . \"c\" }}}}{{{{ break }}}}{{{{ end }}}}{{{{ . }}}}{{{{ end }}}}{{{{ end }}}}"
        )),
        "a"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ range .Data.data.nope }}}}x{{{{ else }}}}none{{{{ end }}}}{{{{ end }}}}"
        )),
        "none"
    );
    assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
    // A huge count is iterated lazily: break leaves at once.
    assert_eq!(
        render("{{ range 9000000000000 }}{{ . }}{{ break }}{{ end }}"),
        "0"
    );
    // ... but a render stops after a million iterations over integers in all, nested ones included.
    let e = render_err("{{ range 9000000000000 }}{{ end }}");
    assert!(
        e.to_string().contains("more than 1000000 iterations"),
        "{e}"
    );
    let e = render_err("{{ range 1001 }}{{ range 1000 }}{{ end }}{{ end }}");
    assert!(
        e.to_string().contains("more than 1000000 iterations"),
        "{e}"
    );
    assert_eq!(
        render("{{ range 999 }}{{ range 1000 }}{{ end }}{{ end }}x"),
        "x"
    );
    assert_eq!(render("{{ range 0 }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(render("{{ range $i := loop 2 4 }}{{ $i }}{{ end }}"), "23");
    let e = parse_err("{{ break }}");
    assert!(e.message.contains("outside"), "{e}");
}

#[test]
fn define_template_block() {
    let src = r#"{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" "a" }}{{ template "x" }}"#;
    assert_eq!(
        render_with(src, &kv(), MissingKey::NoValue).ok().as_deref(),
        Some("[a][<no value>]")
    );
    assert_eq!(render(r#"{{ block "b" 5 }}<{{ . }}>{{ end }}"#), "<5>");
    let e = render_err(r#"{{ template "nope" }}"#);
    assert!(e.message.contains("no such template"), "{e}");
}

// === printing as Go's fmt ===

#[test]
fn go_printing() {
    assert_eq!(
        render(&format!(
            "{W}{{{{ .Data.data.port }}}} {{{{ .Data.data.ratio }}}} {{{{ .Data.data.big }}}}{{{{ end }}}}"
        )),
        "5432 1.5 1e+21"
    );
    assert_eq!(
        render(&format!("{W}{{{{ .Data.data.tags }}}}{{{{ end }}}}")),
        "[a b c]"
    );
    assert_eq!(
        render(&format!("{W}{{{{ .Data.data.nested }}}}{{{{ end }}}}")),
        "map[a:x z:1]"
    );
    assert_eq!(
        render(&format!("{W}{{{{ .Data.data.flag }}}}{{{{ end }}}}")),
        "true"
    );
    // Computed float64 values print as Go's %v: shortest, e-notation from exponent 21… no: from 6.
    assert_eq!(
        render(
            r#"{{ parseFloat "1000000" }} {{ parseFloat "123456.5" }} {{ parseFloat "0.0001" }} {{ parseFloat "0.00001" }}"#
        ),
        "1e+06 123456.5 0.0001 1e-05"
    );
    assert_eq!(
        render(r#"{{ (parseJSON "{\"a\":[1,2.5,null],\"b\":{\"c\":true}}") }}"#),
        "map[a:[1 2.5 <nil>] b:map[c:true]]"
    );
    assert_eq!(
        render(
            r#"{{ print 1 2 "a" "b" 3 }}|{{ println 1 "a" }}|{{ printf "%s=%d %5.2f %q %v %x %-4s|" "k" 7 3.14159 "q" true 255 "ab" }}"#
        ),
        "1 2ab3|1 a\n|k=7  3.14 \"q\" true ff ab  |"
    );
    assert_eq!(
        render(r#"{{ printf "%d %s" 1 }}|{{ printf "%d" "x" }}|{{ printf "%05d" -42 }}"#),
        "1 %!s(MISSING)|%!d(string=x)|-0042"
    );
}

#[test]
fn go_escapers() {
    assert_eq!(
        render(r#"{{ html "<a href='x'>&\"" }}"#),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"
    );
    assert_eq!(
        render(r#"{{ js "a'b\"<=>" }}"#),
        "a\\'b\\\"\\u003C\\u003D\\u003E"
    );
    assert_eq!(
        render(r#"{{ urlquery "a b&c=d/é" }}"#),
        "a+b%26c%3Dd%2F%C3%A9"
    );
}

// === builtins ===

#[test]
fn and_or_not_short_circuit() {
    assert_eq!(
        render(r#"{{ and 1 "x" 0 }}|{{ and 1 "x" }}|{{ or 0 "" "y" }}|{{ or 0 "" }}|{{ not 0 }}"#),
        "0|x|y||true"
    );
    // The second argument would fail if evaluated.
    assert_eq!(
        render(r#"{{ or 1 (index nil 1) }}|{{ and 0 (index nil 1) }}"#),
        "1|0"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ if and .Data.data.user .Data.data.nope }}}}y{{{{ else }}}}n{{{{ end }}}}{{{{ end }}}}"
        )),
        "n"
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ or .Data.data.nope \"dflt\" }}}}{{{{ end }}}}"
        )),
        "dflt"
    );
}

#[test]
fn comparisons() {
    assert_eq!(
        render(
            r#"{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }}"#
        ),
        "true true true true true true false"
    );
    let e = render_err(r#"{{ eq 1 "a" }}"#);
    assert!(e.message.contains("incompatible types"), "{e}");
    let e = render_err(r#"{{ lt 1 1.5 }}"#);
    assert!(e.message.contains("incompatible types"), "{e}");
    // A missing key compares unequal without error, as in Go.
    assert_eq!(
        render(&format!(
            "{W}{{{{ eq .Data.data.nope \"x\" }}}}{{{{ end }}}}"
        )),
        "false"
    );
    // JSON numbers are Go json.Number: a string type.
    assert_eq!(
        render(&format!(
            "{W}{{{{ eq .Data.data.port \"5432\" }}}}{{{{ end }}}}"
        )),
        "true"
    );
}

#[test]
fn len_index_slice() {
    assert_eq!(
        render(&format!(
            "{W}{{{{ len .Data.data.tags }}}} {{{{ index .Data.data.tags 1 }}}} {{{{ index .Data \"data\" \"user\" }}}} {{{{ slice .Data.data.tags 1 }}}} {{{{ slice \"hello\" 1 3 }}}}{{{{ end }}}}"
        )),
        "3 b app [b c] el"
    );
    let e = render_err(&format!(
        "{W}{{{{ index .Data.data.tags 5 }}}}{{{{ end }}}}"
    ));
    assert!(e.message.contains("index out of range"), "{e}");
}

// === missing keys ===

#[test]
fn missing_key_modes() {
    let src = format!("{W}[{{{{ .Data.data.pasword }}}}]{{{{ end }}}}");
    let e = match render_with(&src, &kv(), MissingKey::ErrorOnPrint) {
        Ok(s) => panic!("{s}"),
        Err(e) => e,
    };
    assert!(e.message.contains(".Data.data.pasword"), "{e}");
    assert!(!e.message.contains("s3cr3t"));
    assert_eq!((e.line, e.col), (1, 40));
    assert_eq!(
        render_with(&src, &kv(), MissingKey::NoValue)
            .ok()
            .as_deref(),
        Some("[<no value>]")
    );
    let e = match render_with(
        &format!("{W}{{{{ if .Data.data.pasword }}}}x{{{{ end }}}}{{{{ end }}}}"),
        &kv(),
        MissingKey::Error,
    ) {
        Ok(s) => panic!("{s}"),
        Err(e) => e,
    };
    assert!(
        e.message.contains("map has no entry for key \"pasword\""),
        "{e}"
    );
    // Falsy in if/with/not under the default mode; a field of a missing key is Go's "nil pointer evaluating
    // interface {}" error (consul-template runs with missingkey=zero), while fields of the nil root stay empty.
    assert_eq!(
        render(&format!(
            "{W}{{{{ if .Data.data.a }}}}x{{{{ else }}}}y{{{{ end }}}}{{{{ not .Data.nope }}}}{{{{ end }}}}{{{{ if .Foo.Bar }}}}z{{{{ end }}}}"
        )),
        "ytrue"
    );
    for mode in [MissingKey::ErrorOnPrint, MissingKey::NoValue] {
        let e = render_with(
            &format!("{W}{{{{ if .Data.data.a.b.c }}}}x{{{{ end }}}}{{{{ end }}}}"),
            &kv(),
            mode,
        )
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
        assert!(e.contains("nil pointer evaluating interface {}.b"), "{e}");
    }
    // print would turn a missing key into <nil>: an error too by default.
    assert!(
        render_with(
            &format!("{W}{{{{ print .Data.nope }}}}{{{{ end }}}}"),
            &kv(),
            MissingKey::default()
        )
        .is_err()
    );
    assert_eq!(
        render_with(
            &format!("{W}{{{{ .Data.data.null }}}}{{{{ end }}}}"),
            &kv(),
            MissingKey::NoValue
        )
        .ok()
        .as_deref(),
        Some("<no value>")
    );
}

// === dependencies ===

#[test]
fn missing_dependencies_are_discovered_in_one_pass() {
    let src = r#"{{ with secret "db/creds/app" }}{{ .Data.username }}{{ end }}
{{ with secret "pki/issue/app" "common_name=a.example" "ttl=1h" }}{{ .Data.certificate }}{{ with secret "nested/x" }}{{ .Data.y | toUpper }}{{ end }}{{ end }}
{{ with secret "db/creds/app" }}{{ .Data.password }}{{ end }}{{ (secret "secret/data/app").Data.data.user }}"#;
    let out = parse(src).render(&kv(), MissingKey::default());
    let mut params = BTreeMap::new();
    params.insert("common_name".to_string(), "a.example".to_string());
    params.insert("ttl".to_string(), "1h".to_string());
    assert_eq!(
        out.missing,
        vec![
            SecretRequest::read("db/creds/app"),
            SecretRequest::write("pki/issue/app", params.clone()),
            SecretRequest::read("nested/x")
        ]
    );
    assert_eq!(out.used.len(), 4);
    assert_eq!(out.used[3], SecretRequest::read("secret/data/app"));
    // Once everything is there, the same template renders.
    let ctx = kv()
        .with(
            SecretRequest::read("db/creds/app"),
            json!({"username": "u", "password": "p"}),
        )
        .with(
            SecretRequest::write("pki/issue/app", params),
            json!({"certificate": "CERT"}),
        )
        .with(SecretRequest::read("nested/x"), json!({"y": "why"}));
    let out = parse(src).render(&ctx, MissingKey::default());
    assert!(out.missing.is_empty());
    assert_eq!(
        out.result.map(|s| s.to_string()).ok().as_deref(),
        Some("u\nCERTWHY\npapp")
    );
}

#[test]
fn secret_map_params_and_list() {
    let ctx = Fixture::default().with(
        SecretRequest::list("secret/metadata/apps"),
        json!({"keys": ["b", "a/"]}),
    );
    let out = render_with(
        r#"{{ range secrets "secret/metadata/apps" }}{{ . }} {{ end }}"#,
        &ctx,
        MissingKey::default(),
    );
    assert_eq!(out.ok().as_deref(), Some("a/ b "));
    let t =
        parse(r#"{{ with secret "pki/issue/r" (parseJSON "{\"common_name\":\"x\"}") }}{{ end }}"#);
    let out = t.render(&Fixture::default(), MissingKey::default());
    assert_eq!(
        out.missing[0].params.get("common_name").map(String::as_str),
        Some("x")
    );
    let e = render_err(r#"{{ secret "a" "novalue" }}"#);
    assert!(e.message.contains("key=value"), "{e}");
}

#[test]
fn env_and_file() {
    let mut ctx = kv().env("HOME", "/home/x");
    ctx.files.insert("/etc/x".into(), "file!".into());
    assert_eq!(
        render_with(r#"{{ env "HOME" }}|{{ env "NOPE" }}|{{ envOrDefault "NOPE" "d" }}|{{ mustEnv "HOME" }}|{{ file "/etc/x" }}"#, &ctx, MissingKey::default()).ok().as_deref(),
        Some("/home/x||d|/home/x|file!")
    );
    assert!(render_with(r#"{{ mustEnv "NOPE" }}"#, &ctx, MissingKey::default()).is_err());
    let ctx = ctx.env("EMPTY", "");
    assert_eq!(
        render_with(
            r#"[{{ envOrDefault "EMPTY" "d" }}]"#,
            &ctx,
            MissingKey::default()
        )
        .ok()
        .as_deref(),
        Some("[]")
    );
    assert!(render_with(r#"{{ mustEnv "EMPTY" }}"#, &ctx, MissingKey::default()).is_err());
}

// === consul-template functions ===

#[test]
fn json_functions() {
    assert_eq!(
        render(&format!(
            "{W}{{{{ .Data.data.nested | toJSON }}}}{{{{ end }}}}"
        )),
        r#"{"a":"x","z":1}"#
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ .Data.data.html | toJSON }}}} {{{{ .Data.data.html | toUnescapedJSON }}}}{{{{ end }}}}"
        )),
        r#""\u003ca\u0026b\u003e" "<a&b>""#
    );
    assert_eq!(
        render(&format!(
            "{W}{{{{ .Data.data.nested | toJSONPretty }}}}{{{{ end }}}}"
        )),
        "{\n  \"a\": \"x\",\n  \"z\": 1\n}"
    );
    assert_eq!(
        render(r#"{{ toJSONPretty (parseJSON "{\"l\":[1,[]],\"m\":{}}") }}"#),
        "{\n  \"l\": [\n    1,\n    []\n  ],\n  \"m\": {}\n}"
    );
    assert_eq!(
        render(r#"{{ (parseJSON "[1e21, 0.0000001, 1.5]") | toJSON }}"#),
        "[1e+21,1e-7,1.5]"
    );
    assert_eq!(
        render(r#"{{ with parseJSON "{\"a\":{\"b\":\"c\"}}" }}{{ .a.b }}{{ end }}"#),
        "c"
    );
}

#[test]
fn string_functions() {
    assert_eq!(
        render(r#"{{ range split "," "a,b,c" }}{{ . }};{{ end }}|{{ split "," "" | len }}"#),
        "a;b;c;|0"
    );
    assert_eq!(render(r#"{{ split "," "x,y" | join "-" }}"#), "x-y");
    assert_eq!(
        render(
            r#"{{ trimSpace "  a \n" }}|{{ trim "xy" "xyaxy" }}|{{ trimPrefix "pre" "prefix" }}|{{ trimSuffix "fix" "prefix" }}"#
        ),
        "a|a|fix|pre"
    );
    assert_eq!(
        render(
            r#"{{ "a.b.c" | replaceAll "." "/" }}|{{ toUpper "ab" }}|{{ toLower "AB" }}|{{ toTitle "hello wide-world" }}"#
        ),
        "a/b/c|AB|ab|Hello Wide-World"
    );
    assert_eq!(
        render(r#"{{ "foobar" | contains "oba" }} {{ contains "z" "foobar" }}"#),
        "true false"
    );
    assert_eq!(render(r#"{{ indent 2 "a\n\nb" }}"#), "  a\n\n  b");
    assert_eq!(
        render(
            r#"{{ base64Encode "hi?>" }} {{ base64Decode "aGk/Pg==" }} {{ base64URLEncode "hi?>" }} {{ base64URLDecode "aGk_Pg==" }}"#
        ),
        "aGk/Pg== hi?> aGk_Pg== hi?>"
    );
    assert_eq!(
        render(r#"{{ sha256Hex "abc" }}"#),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// Found while writing the print ∘ parse property: the smallest int64 was read as a float.
#[test]
fn integer_constants_cover_the_whole_int64_range() {
    assert_eq!(
        render("{{ -9223372036854775808 }} {{ 9223372036854775807 }} {{ -0x8000000000000000 }}"),
        "-9223372036854775808 9223372036854775807 -9223372036854775808"
    );
}

#[test]
fn number_and_list_functions() {
    assert_eq!(
        render(
            r#"{{ add 1 2 }} {{ 5 | subtract 2 }} {{ multiply 3 4 }} {{ 10 | divide 4 }} {{ 10 | modulo 4 }} {{ minimum 1 2 }} {{ maximum 1 2 }} {{ add 1.5 1 }}"#
        ),
        "3 3 12 2 2 1 2 2.5"
    );
    assert!(
        render_err(r#"{{ 1 | divide 0 }}"#)
            .message
            .contains("division by zero")
    );
    assert_eq!(
        render(r#"{{ parseInt "-12" }} {{ parseBool "T" }} {{ parseFloat "2.50" }}"#),
        "-12 true 2.5"
    );
    let e = render_err(r#"{{ parseInt "s3cr3t" }}"#);
    assert!(!e.message.contains("s3cr3t"), "{e}");
    assert_eq!(
        render(&format!(
            "{W}{{{{ in .Data.data.tags \"b\" }}}} {{{{ .Data.data.tags | contains \"z\" }}}}{{{{ end }}}}"
        )),
        "true false"
    );
    // Secret numbers are json.Number, a string kind: consul-template's math and Go's string parameters refuse it.
    for f in ["add 1", "parseInt", "toUpper"] {
        let e = render_err(&format!("{W}{{{{ .Data.data.port | {f} }}}}{{{{ end }}}}"));
        assert!(e.message.contains("json.Number"), "{e}");
    }
    // consul-template's contains* want a []interface {}: a decoded list, not split's []string.
    let l = "(parseJSON \"[\\\"a\\\",\\\"b\\\"]\")";
    assert_eq!(
        render(&format!(
            "{W}{{{{ containsAny {l} .Data.data.tags }}}} {{{{ containsAll {l} .Data.data.tags }}}} {{{{ containsNone {l} .Data.data.tags }}}} {{{{ containsNotAll (sprig_list \"a\" \"z\") .Data.data.tags }}}}{{{{ end }}}}"
        )),
        "true true false true"
    );
    assert!(
        render_err(r#"{{ containsAny (split "," "a") (split "," "a") }}"#)
            .message
            .contains("expected []interface {}; got []string")
    );
}

#[test]
fn timestamp_layouts() {
    let t = ::time::macros::datetime!(2024-03-05 07:08:09.120 UTC);
    assert_eq!(
        funcs::time_format_for_tests(t, "2006-01-02T15:04:05Z07:00"),
        "2024-03-05T07:08:09Z"
    );
    assert_eq!(
        funcs::time_format_for_tests(t, "Mon Jan _2 3:04PM .000 -0700 MST"),
        "Tue Mar  5 7:08AM .120 +0000 UTC"
    );
    let now = render(r#"{{ timestamp }}"#);
    assert_eq!(now.len(), 20, "{now}");
    assert!(render(r#"{{ timestamp "unix" }}"#).parse::<i64>().is_ok());
}

// === errors ===

#[test]
fn parse_errors_report_line_and_column() {
    let e = parse_err("line1\nline2\nline3\nline4\nline5\nline6\n  {{ if }}\n{{ end }}");
    assert_eq!((e.line, e.col), (7, 9), "{e}");
    assert!(e.message.contains("missing value for if"), "{e}");
    let e = parse_err("a\n{{ nosuchfunc 1 }}");
    assert_eq!((e.line, e.col), (2, 4));
    assert!(e.message.contains("nosuchfunc"), "{e}");
    let e = parse_err("{{ if true }}x");
    assert!(e.message.contains("EOF"), "{e}");
    let e = parse_err("x\n\n{{ .a");
    assert_eq!(e.line, 3, "{e}");
    let e = parse_err("{{ end }}");
    assert!(e.message.contains("end"), "{e}");
    let e = parse_err("{{ \"abc }}");
    assert!(e.message.contains("unterminated"), "{e}");
    assert_eq!(
        parse_err("{{ 1 | 2 }}").message,
        "non executable command in pipeline stage 2"
    );
}

#[test]
fn exec_errors_report_position_and_name() {
    let e = render_err("ok\n  {{ index 1 2 }}");
    assert_eq!((e.name.as_str(), e.line, e.col), ("t", 2, 6));
    assert!(e.message.starts_with("error calling index"), "{e}");
}

#[test]
fn denylist_and_unsupported() {
    let opts = ParseOptions {
        function_denylist: vec!["env".into()],
        ..ParseOptions::default()
    };
    let e = match Template::parse("t", "x\n{{ env \"HOME\" }}", &opts) {
        Ok(_) => panic!("denied"),
        Err(e) => e,
    };
    assert_eq!(e.message, "function env is denied");
    assert_eq!((e.line, e.col), (2, 4));
    assert!(
        parse_err(r#"{{ plugin "a" }}"#)
            .message
            .contains("not supported")
    );
}

#[test]
fn write_to_file_is_off_only_when_denied_or_in_an_env_template() {
    let src = "x\n{{ \"k\" | writeToFile \"a\" \"\" \"\" \"0600\" }}";
    let denied = ParseOptions {
        function_denylist: vec!["writeToFile".into()],
        ..ParseOptions::default()
    };
    let e = Template::parse("t", src, &denied).err().expect("denied");
    assert_eq!(e.message, "function writeToFile is denied");
    assert_eq!((e.line, e.col), (2, 10));
    let env = ParseOptions {
        allow_write_to_file: false,
        ..ParseOptions::default()
    };
    let e = Template::parse("t", src, &env).err().expect("refused");
    assert!(
        e.message.contains("not available in an env_template"),
        "{e}"
    );
}

#[test]
fn write_to_file_keeps_a_relative_path_as_given() {
    // consul-template opens the path as given, so a relative one is relative to the agent's working
    // directory when it is written; the renderer must not anchor it anywhere else (e.g. the destination).
    let t = Template::parse(
        "t",
        r#"{{ "k" | writeToFile "certs/key.pem" "" "" "0600" }}"#,
        &ParseOptions::default(),
    )
    .unwrap();
    let out = t.render(&kv(), MissingKey::ErrorOnPrint);
    let paths: Vec<_> = out.side_writes.iter().map(|w| w.path.clone()).collect();
    assert_eq!(paths, [std::path::PathBuf::from("certs/key.pem")]);
}

#[test]
fn write_to_file_is_recorded_not_written() {
    // No option needed: writeToFile is on by default, as in consul-template.
    let t = Template::parse(
        "t",
        r#"a{{ "k1" | writeToFile "/x/f" "" "" "0640" }}{{ "k2" | writeToFile "/x/f" "" "" "0600" "append,newline" }}b"#,
        &ParseOptions::default(),
    )
    .unwrap();
    let out = t.render(&kv(), MissingKey::ErrorOnPrint);
    assert_eq!(out.result.unwrap().as_str(), "ab");
    let w: Vec<_> = out
        .side_writes
        .iter()
        .map(|w| {
            (
                w.path.display().to_string(),
                w.mode,
                w.append,
                w.content.to_string(),
            )
        })
        .collect();
    assert_eq!(
        w,
        [
            ("/x/f".to_string(), 0o640, false, "k1".to_string()),
            ("/x/f".to_string(), 0o600, true, "k2\n".to_string()),
        ]
    );
    let bad = Template::parse(
        "t",
        r#"{{ "k" | writeToFile "/x" "" "" "rw" }}"#,
        &ParseOptions::default(),
    )
    .unwrap()
    .render(&kv(), MissingKey::ErrorOnPrint);
    assert!(
        bad.result
            .unwrap_err()
            .message
            .contains("not an octal number")
    );
}

#[test]
fn top_level_dot_is_go_nil_data() {
    assert_eq!(
        render_with("[{{ .Foo.Bar }}][{{ . }}]", &kv(), MissingKey::NoValue)
            .ok()
            .as_deref(),
        Some("[<no value>][<no value>]")
    );
    let e = render_with("{{ .Foo }}", &kv(), MissingKey::Error)
        .err()
        .map(|e| e.message);
    assert!(e.is_some_and(|m| m.contains("no entry for key \"Foo\"")));
    assert!(render_with("{{ .Foo }}", &kv(), MissingKey::ErrorOnPrint).is_err());
    // A JSON null inside data is a nil value: a field on it is an error, as in Go.
    let e = render_err(&format!("{W}{{{{ .Data.data.null.x }}}}{{{{ end }}}}"));
    assert!(e.message.contains("nil pointer evaluating"), "{e}");
}

#[test]
fn range_scoping_and_assignment() {
    assert_eq!(
        render("{{ $n := 0 }}{{ range loop 4 }}{{ $n = add $n . }}{{ $t := . }}{{ end }}{{ $n }}"),
        "6"
    );
    assert!(
        parse_err("{{ range loop 2 }}{{ $t := . }}{{ end }}{{ $t }}")
            .message
            .contains("undefined variable")
    );
    assert_eq!(
        render("{{ range $i, $e := split \",\" \"a,b\" }}{{ $i }}{{ $e }}{{ end }}"),
        "0a1b"
    );
    assert!(
        parse_err("{{ range $a, $b, $c := loop 1 }}{{ end }}")
            .message
            .contains("declarations")
    );
}

#[test]
fn duplicate_definitions() {
    // As in Go, a block and a define of the same name in one text collide (only an empty body may repeat).
    assert!(
        parse_err(r#"{{ block "b" . }}default{{ end }}{{ define "b" }}custom{{ end }}"#)
            .message
            .contains("multiple definition")
    );
    assert_eq!(
        render(r#"{{ define "e" }}x{{ end }}{{ define "e" }} {{ end }}{{ template "e" }}"#),
        "x"
    );
    assert!(
        parse_err(r#"{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}"#)
            .message
            .contains("multiple definition")
    );
}

#[test]
fn else_misuse_is_a_parse_error() {
    assert!(parse_err("{{ else }}").message.contains("else"));
    assert!(
        parse_err("{{ if 1 }}{{ else }}{{ else }}{{ end }}")
            .message
            .contains("expected end")
    );
    assert!(
        parse_err("{{ range 1 }}{{ else if 1 }}{{ end }}")
            .message
            .contains("if")
    );
}

#[test]
fn empty_inputs_as_consul_template() {
    assert_eq!(
        render(
            r#"{{ parseInt "" }} {{ parseFloat "" }} {{ parseBool "" }} {{ parseJSON "" | len }} {{ loop "3" | len }}"#
        ),
        "0 0 false 0 3"
    );
    let t = parse(r#"{{ secret "pki/issue/r" " common_name = x " "" }}"#);
    let out = t.render(&Fixture::default(), MissingKey::default());
    assert!(out.result.is_ok(), "{:?}", out.result.err());
    assert_eq!(
        out.missing[0].params.get("common_name").map(String::as_str),
        Some("x")
    );
}

#[test]
fn compact_syntax_and_parenthesized_pipelines() {
    assert_eq!(render(r#"{{"a"}}{{1}} {{- "b" -}} c"#), "a1bc");
    assert_eq!(
        render(
            r#"{{ (print 1 | printf "%s!") }}|{{ (index (secret "secret/data/app").Data "data").user }}|{{ ((secret "secret/data/app").Data.data.tags | len) }}"#
        ),
        "1!|app|3"
    );
    assert!(parse_err(r#"{{-"b"}}"#).message.contains("number"));
    assert!(parse_err("{{ (1 }}").message.contains("paren"));
    assert!(
        parse_err("{{ /* not a comment */ }}")
            .message
            .contains("unrecognized")
    );
    assert_eq!(render("{{ \"}}\" }}"), "}}");
}

#[test]
fn long_output_is_complete() {
    let out = render("{{ range loop 3000 }}{{ printf \"%04d\" . }}{{ end }}");
    assert_eq!(out.len(), 12000);
    assert!(out.ends_with("2999"));
}

#[test]
fn parsed_templates_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<TemplateError>();
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(200), ")".repeat(200));
    assert!(parse_err(&deep).message.contains("nested"));
    let deep = format!("{}{}", "{{ if 1 }}".repeat(300), "{{ end }}".repeat(300));
    assert!(parse_err(&deep).message.contains("nested"));
    let ok = format!("{{{{ {}1{} }}}}", "(".repeat(50), ")".repeat(50));
    assert_eq!(render(&ok), "1");
}

#[test]
fn an_unclosed_block_is_reported_where_it_opens() {
    let e = parse_err("a\nb\n  {{ range split \",\" \"x\" }}\n{{ . }}\n\n");
    assert_eq!((e.line, e.col), (3, 3), "{e}");
    assert!(e.message.contains("{{range}} has no {{end}}"), "{e}");
    assert!(e.message.contains("EOF at 6:1"), "{e}");
}
