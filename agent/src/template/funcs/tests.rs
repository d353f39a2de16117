//! Unit tests of the consul-template functions added for compatibility; the expected bytes are what
//! `bao agent` 2.7.2 renders (the end-to-end differential suite checks the same against the real agent).

#![allow(clippy::panic)] // a failed test panics

use std::sync::Arc;

use crate::backend::secret::{Secret, SecretData, SecretRequest};
use crate::template::{MissingKey, ParseOptions, RenderContext, Template};

/// One KV v2-shaped secret at `secret/data/x`, whose JSON keeps the server's number text.
struct Ctx(Arc<Secret>);

impl RenderContext for Ctx {
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
        (req.path == "secret/data/x").then(|| self.0.clone())
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    fn file(&self, _: &str) -> Option<String> {
        None
    }
}

fn render(src: &str) -> String {
    let data: serde_json::Value = serde_json::from_str(
        r#"{"data": {"ratio": 1.50, "big": 12345678901234567890, "neg": -0, "name": "a <b>",
            "multi": "l1\nl2\n", "off": "off", "n": "12", "lead": " x", "path/a": "1", "path/b": "2",
            "k10": 1, "k9": 2, "list": [1, {"k": "v"}], "m": {"z": [], "a": {}}}}"#,
    )
    .unwrap_or_default();
    let ctx = Ctx(Arc::new(Secret {
        data: SecretData(data),
        ..Secret::default()
    }));
    let t = match Template::parse("t", src, &ParseOptions::default()) {
        Ok(t) => t,
        Err(e) => panic!("parse: {e}"),
    };
    match t.render(&ctx, MissingKey::NoValue).result {
        Ok(s) => s.to_string(),
        Err(e) => panic!("render: {e}"),
    }
}

const W: &str = r#"{{ with secret "secret/data/x" }}"#;

#[test]
fn secret_numbers_keep_the_servers_text() {
    assert_eq!(
        render(&format!(
            "{W}{{{{ .Data.data.ratio }}}} {{{{ .Data.data.big }}}} {{{{ .Data.data.neg }}}}{{{{ end }}}}"
        )),
        "1.50 12345678901234567890 -0"
    );
}

#[test]
fn to_yaml_follows_yaml_v2() {
    let out = render(&format!("{W}{{{{ .Data.data | toYAML }}}}{{{{ end }}}}"));
    let want = "big: 1.2345678901234567e+19\nk9: 2\nk10: 1\nlead: ' x'\nlist:\n- 1\n- k: v\nm:\n  a: {}\n  z: []\nmulti: |\n  l1\n  l2\n\"n\": \"12\"\nname: a <b>\nneg: 0\n\"off\": \"off\"\npath/a: \"1\"\npath/b: \"2\"\nratio: 1.5";
    assert_eq!(out, want);
}

#[test]
fn to_toml_puts_tables_last() {
    let out = render(
        r#"{{ parseJSON "{\"t\": {\"x\": 1}, \"a\": \"s\", \"l\": [1, {\"k\": \"v\"}]}" | toTOML }}"#,
    );
    assert_eq!(out, "a = \"s\"\nl = [1.0, {k = \"v\"}]\n\n[t]\n  x = 1.0");
}

#[test]
fn parse_yaml_decodes_like_parse_json() {
    assert_eq!(
        render(
            r#"{{ $y := parseYAML "a: 1\nb: [x, 2.5]\n" }}{{ $y.a }} {{ $y.b }} {{ $y | toJSON }}"#
        ),
        r#"1 [x 2.5] {"a":1,"b":["x",2.5]}"#
    );
}

#[test]
fn maps_hashes_and_patterns() {
    assert_eq!(
        render(&format!(
            "{W}{{{{ explodeMap .Data.data | toJSON | regexReplaceAll \".*(\\\"path\\\":[^}}]*}}).*\" \"$1\" }}}}{{{{ end }}}}"
        )),
        r#""path":{"a":"1","b":"2"}"#
    );
    assert_eq!(
        render(
            r#"{{ mergeMap (parseJSON "{\"a\": 1, \"m\": {\"x\": 1}}") (parseJSON "{\"a\": 2, \"b\": 3, \"m\": {\"y\": 2}}") | toJSON }}"#
        ),
        r#"{"a":1,"b":3,"m":{"x":1,"y":2}}"#
    );
    assert_eq!(
        render(r#"{{ md5sum "abc" }} {{ regexMatch "^a.c$" "abc" }}"#),
        "900150983cd24fb0d6963f7d28e17f72 true"
    );
}

#[test]
fn scratch_and_execute_template() {
    assert_eq!(
        render(
            r#"{{ scratch.Set "a" 1 }}{{ scratch.SetX "a" 2 }}{{ scratch.MapSet "m" "b" "2" }}{{ scratch.MapSet "m" "a" "1" }}{{ scratch.Get "a" }} {{ scratch.Key "z" }} {{ scratch.MapValues "m" }}"#
        ),
        "1 false [1 2]"
    );
    assert_eq!(
        render(r#"{{ define "x" }}<{{ . }}>{{ end }}{{ executeTemplate "x" "v" | toUpper }}"#),
        "<V>"
    );
}

#[test]
fn sprig_basics() {
    assert_eq!(
        render(
            r#"{{ sprig_default "d" "" }} {{ sprig_quote "q" 1 }} {{ sprig_trunc 2 "abc" }} {{ sprig_dict "b" 1 "a" 2 | sprig_toJson }} {{ "x" | sprig_nindent 2 }}"#
        ),
        "d \"q\" \"1\" ab {\"a\":2,\"b\":1} \n  x"
    );
}

/// sprig's `camelcase`, `snakecase` and `kebabcase` are huandu/xstrings v1.4.0's (what `bao agent` 2.7.2
/// links): `-`, `_` and white space are all connectors, and numbers split words by their own rules.
#[test]
fn sprig_case_conversion_is_xstrings() {
    use super::sprig_text::{camel, delimited};
    // (input, camelcase, snakecase); kebabcase is snakecase with `-`.
    let cases = [
        ("orders-api", "OrdersApi", "orders_api"),
        ("OrdersAPI", "OrdersAPI", "orders_api"),
        ("HTTPServer", "HTTPServer", "http_server"),
        ("with space here", "WithSpaceHere", "with_space_here"),
        (
            "mixed_Case-and spaces",
            "MixedCaseAndSpaces",
            "mixed_case_and_spaces",
        ),
        ("ALLOWED_ORIGINS", "ALLOWEDORIGINS", "allowed_origins"),
        ("a1b2C3", "A1b2C3", "a_1b2_c3"),
        ("http2xx", "Http2xx", "http_2xx"),
        ("HTTP20xOK", "HTTP20xOK", "http_20x_ok"),
        ("Duration2m3s", "Duration2m3s", "duration_2m3s"),
        ("Bld4Floor3rd", "Bld4Floor3rd", "bld4_floor_3rd"),
        ("k8s_pod_UID", "K8sPodUID", "k_8s_pod_uid"),
        ("ID2FA", "ID2FA", "id2_fa"),
        ("_complex__case_", "_Complex_Case_", "_complex__case_"),
        ("__", "___", "__"),
        ("-", "--", "_"),
        ("", "", ""),
        ("x", "X", "x"),
        ("a.b-c", "A.bC", "a.b_c"),
        ("x$y+z", "X$y+z", "x_$_y_+_z"),
        ("v1.2.3-rc1", "V1.2.3Rc1", "v1.2.3_rc1"),
        ("naïve Ünïcode", "NaïveÜnïcode", "naïve_ünïcode"),
        ("日本語テスト", "日本語テスト", "日本語_テスト"),
        ("ß-straße", "ßStraße", "ß_straße"),
        ("tab\tsep", "TabSep", "tab_sep"),
    ];
    for (input, want_camel, want_snake) in cases {
        assert_eq!(camel(input), want_camel, "camelcase {input:?}");
        assert_eq!(delimited(input, '_'), want_snake, "snakecase {input:?}");
        assert_eq!(
            delimited(input, '-'),
            want_snake.replace('_', "-"),
            "kebabcase {input:?}"
        );
    }
}

/// Case functions map rune by rune as Go does (simple mappings: `ß` is kept, `ǆ` title-cases to `ǅ`, `İ`
/// lowers to `i`), except consul-template's `toTitle`, which is x/text/cases' full title case (`ß` → `Ss`).
#[test]
fn case_functions_map_runes_as_go() {
    let f = |name: &str, s: &str| render(&format!("{{{{ {name} {s:?} }}}}"));
    assert_eq!(
        f("sprig_title", "ß-straße ǆemal ŉ ﬁne"),
        "ß-Straße ǅemal ŉ ﬁne"
    );
    assert_eq!(
        f("toTitle", "ß-straße ǆemal ŉ ﬁne"),
        "Ss-Straße ǅemal ʼN Fine"
    );
    assert_eq!(f("toTitle", "ᾳ ᾲ ᾈ ა"), "ᾼ Ὰͅ ᾈ ა");
    assert_eq!(f("sprig_swapcase", "ß İx ǆ ﬁ ⓐ"), "ß iX ǅ ﬁ ⓐ");
    assert_eq!(f("sprig_untitle", "İstanbul Ünï"), "istanbul ünï");
    assert_eq!(f("toUpper", "ᾀᾳ ß"), "ᾈᾼ ß");
    assert_eq!(f("sprig_snakecase", "İstanbul ırmak"), "istanbul_ırmak");
    assert_eq!(f("sprig_camelcase", "ა_ბ"), "ᲐᲑ");
}

/// sprig's `trunc`, `substr` and `abbrev` cut by bytes as Go does: out-of-range bounds are Go's runtime
/// error, and a cut inside a character (Go would write part of its bytes) is refused, as `slice` refuses it.
#[test]
fn sprig_byte_cuts_follow_go() {
    assert_eq!(
        render(
            r#"{{ sprig_trunc 3 "abcdef" }} {{ sprig_trunc -2 "abcdef" }} {{ sprig_substr 1 3 "abcdef" }} {{ sprig_substr -1 2 "abcdef" }} {{ sprig_substr 4 99 "abcdef" }} {{ sprig_abbrev 5 "abcdefgh" }} {{ sprig_trunc 3 "héllo" }}"#
        ),
        "abc ef bc ab ef ab... hé"
    );
    let fails = |src: &str, want: &str| {
        let t = Template::parse("t", src, &ParseOptions::default())
            .unwrap_or_else(|e| panic!("parse: {e}"));
        let ctx = Ctx(Arc::new(Secret::default()));
        match t.render(&ctx, MissingKey::NoValue).result {
            Ok(s) => panic!("{src}: rendered {:?}", s.to_string()),
            Err(e) => assert!(e.to_string().contains(want), "{src}: {e}"),
        }
    };
    fails(
        r#"{{ sprig_substr 3 1 "abcdef" }}"#,
        "slice bounds out of range [3:1]",
    );
    fails(
        r#"{{ sprig_substr -1 99 "abc" }}"#,
        "slice bounds out of range [0:99]",
    );
    fails(
        r#"{{ sprig_substr 9 -1 "abc" }}"#,
        "slice bounds out of range [9:3]",
    );
    fails(
        r#"{{ sprig_trunc 2 "héllo" }}"#,
        "not on a character boundary",
    );
    fails(
        r#"{{ sprig_abbrev 5 "héllo wörld" }}"#,
        "not on a character boundary",
    );
}

/// Render `src`, expecting it to fail; the error text.
fn render_err(src: &str) -> String {
    let ctx = Ctx(Arc::new(Secret::default()));
    let t = match Template::parse("t", src, &ParseOptions::default()) {
        Ok(t) => t,
        Err(e) => return e.to_string(),
    };
    match t.render(&ctx, MissingKey::NoValue).result {
        Ok(s) => panic!("rendered {:?}", s.to_string()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn base64_with_line_breaks_decodes_as_go_does() {
    assert_eq!(
        render(
            "{{ base64Decode \"Zm9v\\nYmFy\" }} {{ sprig_b64dec \"Zm9v\\r\\nYmFy\" }} {{ sprig_b32dec \"MZXW6===\\n\" }}"
        ),
        "foobar foobar foo"
    );
}

#[test]
fn binary_decoded_values_fail_instead_of_being_corrupted() {
    for f in ["base64Decode", "sprig_b64dec"] {
        let e = render_err(&format!("{{{{ {f} \"/wABgA==\" }}}}"));
        assert!(e.contains("binary"), "{f}: {e}");
    }
}

#[test]
fn sprig_round_and_to_strings_follow_sprig() {
    assert_eq!(
        render(
            "{{ sprig_round -2.5 0 }} {{ sprig_round -1.25 1 }} {{ sprig_round 2.5 0 }} {{ sprig_toStrings (sprig_list 1 nil \"a\") }}"
        ),
        "-3 -1.3 3 [1 a]"
    );
}

#[test]
fn re2_quoted_literals_are_read() {
    assert_eq!(
        render(
            r#"{{ sprig_regexMatch "^\\Qa.b\\E$" "a.b" }} {{ sprig_regexMatch "^\\Qa.b\\E$" "axb" }} {{ regexReplaceAll "\\Q(x)\\E" "y" "a(x)" }}"#
        ),
        "true false ay"
    );
}
