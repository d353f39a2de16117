//! Unit tests of `sprig_more`; the expected bytes are what `bao agent` 2.7.2 renders (the differential corpus
//! `tests/fixtures/compat/templates/sprig-more-*.tpl` checks the same against the real agent).

#![allow(clippy::panic)] // a failed test panics

use std::sync::Arc;

use crate::backend::secret::{Secret, SecretRequest};
use crate::template::{MissingKey, ParseOptions, RenderContext, Template};

/// No secrets; one environment variable.
struct Ctx;

impl RenderContext for Ctx {
    fn secret(&self, _: &SecretRequest) -> Option<Arc<Secret>> {
        None
    }
    fn env(&self, name: &str) -> Option<String> {
        (name == "COMPAT_VAR").then(|| "compat-value".to_string())
    }
    fn file(&self, _: &str) -> Option<String> {
        None
    }
}

fn try_render(src: &str) -> Result<String, String> {
    let t = Template::parse("t", src, &ParseOptions::default()).map_err(|e| e.to_string())?;
    t.render(&Ctx, MissingKey::ErrorOnPrint)
        .result
        .map(|s| s.to_string())
        .map_err(|e| e.to_string())
}

fn render(src: &str) -> String {
    try_render(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn strings() {
    assert_eq!(
        render(
            r#"{{ sprig_hello }}|{{ sprig_abbrevboth 5 10 "1234 5678 9123" }}|{{ sprig_abbrevboth 0 4 "abcdefgh" }}|{{ sprig_abbrevboth 1 6 "abcdefghij" }}|{{ sprig_abbrevboth 10 7 "abcdefghijklmnopqrstuvwxyz" }}|{{ sprig_abbrevboth 100 7 "abcdefghijklmnopqrstuvwxyz" }}|{{ sprig_abbrevboth -5 8 "abcdefghijklmnopqrstuvwxyz" }}|{{ sprig_abbrevboth 3 7 "abcdefghijklmnopqrstuvwxyz" }}"#
        ),
        "Hello!|...5678...|a...|abcdefghij|...k...|...wxyz|abcde...|abcd..."
    );
    assert_eq!(
        render(
            r#"{{ sprig_wrap 5 "Hello World" }}|{{ sprig_wrapWith 5 "\t" "Hello World" }}|{{ sprig_wrap 0 "ab cd" }}|{{ sprig_wrap -3 "ab" }}|{{ sprig_wrap 3 "abcdefg hi jklmnop" }}|{{ sprig_wrapWith 3 "<br>" "abcdefg hi jklmnop" }}|{{ sprig_wrap 10 "  lead   spaces   here  " }}|{{ sprig_wrapWith 4 "" "abcdefgh" }}|{{ sprig_wrap 5.0 "" }}"#
        ),
        "Hello\nWorld|Hello\tWorld|ab\ncd|ab|abcdefg\nhi\njklmnop|abc<br>def<br>g<br>hi<br>jkl<br>mno<br>p|lead  \nspaces  \nhere  |abcd\nefgh|"
    );
    assert_eq!(
        render(
            r#"{{ sprig_splitn "$" 2 "foo$bar$baz" }}|{{ sprig_splitn "$" 0 "a$b" }}|{{ sprig_splitn "$" -1 "a$b$c" }}|{{ sprig_splitn "" 3 "abcd" }}|{{ sprig_splitn "x" 5 "" }}|{{ (sprig_splitn "$" 2 "foo$bar$baz")._1 }}"#
        ),
        "map[_0:foo _1:bar$baz]|map[]|map[_0:a _1:b _2:c]|map[_0:a _1:b _2:cd]|map[_0:]|bar$baz"
    );
    assert_eq!(
        render(r#"{{ sprig_regexQuoteMeta "1.2.3 a+b*c?(d)|[e]{f}^$\\ -#&~ü" }}"#),
        r"1\.2\.3 a\+b\*c\?\(d\)\|\[e\]\{f\}\^\$\\ -#&~ü"
    );
    let shuffled = render(r#"{{ sprig_shuffle "Hello Wörld" }}"#);
    let mut got: Vec<char> = shuffled.chars().collect();
    got.sort_unstable();
    let mut want: Vec<char> = "Hello Wörld".chars().collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn int_parameters_take_ints_only() {
    for bad in [
        r#"{{ sprig_wrap "5" "x" }}"#,
        r#"{{ sprig_wrap (sprig_add 5) "x" }}"#,
        r#"{{ sprig_wrap 5 1 }}"#,
        r#"{{ sprig_wrap 5 nil }}"#,
        r#"{{ sprig_sha1sum 1 }}"#,
        r#"{{ sprig_splitn "," 2.5 "a,b" }}"#,
        r#"{{ sprig_hello 1 }}"#,
    ] {
        assert!(try_render(bad).is_err(), "{bad}");
    }
}

#[test]
fn hashes_and_encodings() {
    assert_eq!(
        render(
            r#"{{ sprig_sha1sum "" }}|{{ sprig_sha1sum "abc" }}|{{ sprig_adler32sum "" }}|{{ sprig_adler32sum "Wikipedia" }}|{{ sprig_adler32sum "ü" }}"#
        ),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709|a9993e364706816aba3e25717850c26c9cd0d89d|1|300286872|38011264"
    );
    assert_eq!(
        render(
            r#"{{ sprig_b32enc "coffee" }}|{{ sprig_b32enc "" }}|{{ sprig_b32enc "a" }}|{{ sprig_b32dec "MNXWMZTFMU======" }}|{{ sprig_b32dec "" }}|{{ sprig_b32dec "mnxw" }}|{{ sprig_b32dec "MNXW" }}|{{ sprig_b32dec "MNXWMZTFMU" }}|{{ sprig_b32dec "ME======" }}|{{ sprig_b32dec "ME=====" }}|{{ sprig_b32dec "ME======X" }}|{{ sprig_b32dec "M=======" }}|{{ sprig_b32dec "MN\nXW\r\nMZTFMU======" }}|{{ sprig_b32dec "ME=A====" }}|{{ sprig_b32dec "MEZDG===" }}|{{ sprig_b32dec "MEZDG=======" }}|{{ sprig_b32dec "========" }}|{{ sprig_b32dec "MFRGGZDFMZTWQ2LK" }}|{{ sprig_b32dec "MFRGGZDFMZTWQ2L=" }}"#
        ),
        "MNXWMZTFMU======||ME======|coffee||illegal base32 data at input byte 0|illegal base32 data at input byte 0|illegal base32 data at input byte 8|a|illegal base32 data at input byte 7|a|illegal base32 data at input byte 1|coffee|illegal base32 data at input byte 2|a23|a23|illegal base32 data at input byte 0|abcdefghij|abcdefghi"
    );
    for s in [
        "",
        "a",
        "ab",
        "abc",
        "abcd",
        "abcde",
        "abcdef",
        "\u{1F600} x",
    ] {
        let src = format!("{{{{ sprig_b32enc {s:?} | sprig_b32dec }}}}");
        assert_eq!(render(&src), s);
    }
}

#[test]
fn environment_and_paths() {
    assert_eq!(
        render(
            r#"{{ sprig_env "COMPAT_VAR" }}|{{ sprig_env "NOPE" }}|{{ sprig_expandenv "a $COMPAT_VAR ${COMPAT_VAR} $ ${} ${ $1 ${1} $$ ${COMPAT_VAR x $COMPAT_VAR_x $-x ${!} $@@ end$" }}|"#
        ),
        "compat-value||a compat-value compat-value $     @ end$|"
    );
    assert_eq!(
        render(
            r#"{{ sprig_expandenv "x${" }}|{{ sprig_expandenv "${COMPAT_VAR" }}|{{ sprig_expandenv "$" }}|{{ sprig_expandenv "${}" }}|{{ sprig_expandenv "${*}" }}|{{ sprig_expandenv "${*x}" }}|{{ sprig_expandenv "$*x" }}|{{ sprig_expandenv "${COMPAT_VAR}}" }}|{{ sprig_expandenv "$ü" }}"#
        ),
        "x|COMPAT_VAR|$||||x|compat-value}|$ü"
    );
    assert_eq!(
        render(
            r#"{{ sprig_isAbs "/a" }}|{{ sprig_isAbs "a" }}|{{ sprig_isAbs "" }}|{{ sprig_osBase "/a/b.txt" }}|{{ sprig_osBase "" }}|{{ sprig_osBase "///" }}|{{ sprig_osClean "a//b/../c/." }}|{{ sprig_osClean "" }}|{{ sprig_osDir "/a/b/c" }}|{{ sprig_osDir "abc" }}|{{ sprig_osDir "" }}|{{ sprig_osDir "/" }}|{{ sprig_osExt "a/b.tar.gz" }}|{{ sprig_osExt "a.b/c" }}|{{ sprig_osIsAbs "/x" }}|{{ sprig_osIsAbs "x/y" }}"#
        ),
        "true|false|false|b.txt|.|/|a/c|.|/a/b|.|.|/|.gz||true|false"
    );
}

#[test]
fn url_parse_follows_go() {
    let cases = [
        (
            "proto://auth@host:80/path?query#fragment",
            r#"{"fragment":"fragment","host":"host:80","hostname":"host","opaque":"","path":"/path","query":"query","scheme":"proto","userinfo":"auth"}"#,
        ),
        (
            "HTTP://User:P%40ss@Example.COM:8080/a%2Fb/c%20d?x=1&y=%20#frag%20ment",
            r#"{"fragment":"frag ment","host":"Example.COM:8080","hostname":"Example.COM","opaque":"","path":"/a/b/c d","query":"x=1\u0026y=%20","scheme":"http","userinfo":"User:P%40ss"}"#,
        ),
        (
            "mailto:joe@example.com",
            r#"{"fragment":"","host":"","hostname":"","opaque":"joe@example.com","path":"","query":"","scheme":"mailto","userinfo":""}"#,
        ),
        (
            "http://[fe80::1%25en0]:8080/p",
            r#"{"fragment":"","host":"[fe80::1%en0]:8080","hostname":"fe80::1%en0","opaque":"","path":"/p","query":"","scheme":"http","userinfo":""}"#,
        ),
        (
            "postgres://a:1,b:2/db",
            r#"{"fragment":"","host":"a:1,b:2","hostname":"a:1,b","opaque":"","path":"/db","query":"","scheme":"postgres","userinfo":""}"#,
        ),
        (
            "http://h/p??",
            r#"{"fragment":"","host":"h","hostname":"h","opaque":"","path":"/p","query":"?","scheme":"http","userinfo":""}"#,
        ),
        (
            "///p",
            r#"{"fragment":"","host":"","hostname":"","opaque":"","path":"///p","query":"","scheme":"","userinfo":""}"#,
        ),
        (
            "http://h%C3%BC/#a#b",
            r#"{"fragment":"a#b","host":"hü","hostname":"hü","opaque":"","path":"/","query":"","scheme":"http","userinfo":""}"#,
        ),
        (
            "http://:80/",
            r#"{"fragment":"","host":":80","hostname":"","opaque":"","path":"/","query":"","scheme":"http","userinfo":""}"#,
        ),
        (
            "*",
            r#"{"fragment":"","host":"","hostname":"","opaque":"","path":"*","query":"","scheme":"","userinfo":""}"#,
        ),
    ];
    for (url, want) in cases {
        assert_eq!(
            render(&format!("{{{{ sprig_urlParse {url:?} | toJSON }}}}")),
            want,
            "{url}"
        );
    }
    for bad in [
        "http://a:1:2/",
        "http://host:abc/",
        ":foo",
        "http://x/%zz",
        "http://ü@h/",
        "http://h%41/",
        "http://[1.2.3.4]/",
        "http://[::1/",
        "a:b\tc",
    ] {
        let src = format!("{{{{ sprig_urlParse {bad:?} }}}}");
        assert!(try_render(&src).is_err(), "{bad}");
    }
}

#[test]
fn url_join_follows_go() {
    let cases = [
        (r#""scheme" "http" "host" "h" "path" "p""#, "http://h/p"),
        (
            r#""scheme" "http" "host" "h:80" "path" "/a b?c" "query" "x= y" "fragment" "f g#h!*'()""#,
            "http://h:80/a%20b%3Fc?x= y#f%20g%23h!*%27()",
        ),
        (r#""path" "a:b/c""#, "./a:b/c"),
        (r#""host" "hü" "path" "/ü""#, "//h%C3%BC/%C3%BC"),
        (r#""host" "h<>\"{}|""#, "//h<>\"%7B%7D%7C"),
        (r#""userinfo" "u:p@x" "host" "h""#, "//u:p%40x@h"),
        (r#""userinfo" "u%40:p%3A" "host" "h""#, "//u%40:p%3A@h"),
        (r#""userinfo" "u/p" "host" "h""#, "//h"),
        (
            r#""scheme" "mailto" "opaque" "joe@x" "query" "q" "fragment" "f""#,
            "mailto:joe@x?q#f",
        ),
        (r#""scheme" "http" "path" "*""#, "http://*"),
        (r#""scheme" "http""#, "http:"),
        (r#""scheme" "http" "path" "p""#, "http://p"),
        (r#""scheme" "x" "host" "" "userinfo" "u""#, "x://u@"),
        (
            r#""scheme" "http" "host" "h" "path" "/p" "extra" 1"#,
            "http://h/p",
        ),
    ];
    for (dict, want) in cases {
        assert_eq!(
            render(&format!("{{{{ sprig_urlJoin (sprig_dict {dict}) }}}}")),
            want,
            "{dict}"
        );
    }
    assert_eq!(
        render(
            r#"{{ sprig_urlParse "HTTP://User:P%40ss@Example.COM:8080/a%2Fb/c%20d?x=1&y=%20#frag%20ment" | sprig_urlJoin }}"#
        ),
        "http://User:P%40ss@Example.COM:8080/a/b/c%20d?x=1&y=%20#frag%20ment"
    );
    for bad in [
        r#"{{ sprig_urlJoin (sprig_dict "host" 1) }}"#,
        r#"{{ sprig_urlJoin (sprig_dict "userinfo" "u p" "host" "h") }}"#,
        r#"{{ sprig_urlJoin "x" }}"#,
    ] {
        assert!(try_render(bad).is_err(), "{bad}");
    }
}

#[test]
fn semver_objects() {
    assert_eq!(
        render(
            r#"{{ $v := sprig_semver "v1.2.3-b+m" }}{{ $v.Major }} {{ $v.Minor }} {{ $v.Patch }} {{ $v.Prerelease }} {{ $v.Metadata }} {{ $v.Original }} {{ $v.String }} {{ $v }} {{ $v.Compare (sprig_semver "1.2.3") }} {{ $v.LessThan (sprig_semver "1.2.3") }}"#
        ),
        "1 2 3 b m v1.2.3-b+m 1.2.3-b+m 1.2.3-b+m -1 true"
    );
    assert_eq!(
        render(
            r#"{{ sprig_semver "v1.2" }}|{{ (sprig_semver "v1.2").Original }}|{{ printf "%T" (sprig_semver "1.2.3") }}|{{ (sprig_semver "1.2.3").IncMajor }}|{{ printf "%T" (sprig_semver "1.2.3").IncMajor }}|{{ (sprig_semver "v1.2.3-b+m").IncPatch.String }}|{{ ((sprig_semver "v1.2.3-b+m").SetPrerelease "rc.1") }}"#
        ),
        "1.2.0|v1.2|*semver.Version|2.0.0|semver.Version|1.2.3|1.2.3-rc.1+m"
    );
    assert_eq!(
        render(
            r#"{{ sprig_semver "1.2.3" | sprig_toJson }} {{ sprig_list (sprig_semver "1.2.3") }} {{ sprig_semver "1.2.3" | toJSON }} {{ sprig_semver "1.2.3" | sprig_kindOf }} {{ sprig_semver "1.2.3" | sprig_typeOf }} {{ (sprig_semver "1.2.3").IncMinor | sprig_kindOf }}"#
        ),
        r#""1.2.3" [1.2.3] "1.2.3" ptr *semver.Version struct"#
    );
    assert_eq!(
        render(
            r#"{{ (sprig_semver "1.2.3").MarshalJSON }} {{ (sprig_semver "1.2.3").Value }} {{ (sprig_semver "1.2.3").MarshalText }}"#
        ),
        "[34 49 46 50 46 51 34] 1.2.3 [49 46 50 46 51]"
    );
    for bad in [
        r#"{{ (sprig_semver "1.2.3").IncMajor.Original }}"#,
        r#"{{ sprig_semver "1.2.3.4" }}"#,
        r#"{{ sprig_semver "" }}"#,
        r#"{{ sprig_semver "1.2.3-01" }}"#,
        r#"{{ (sprig_semver "1.2.3").Compare }}"#,
        r#"{{ (sprig_semver "1.2.3").Compare (sprig_semver "1.2.3").IncMajor }}"#,
    ] {
        assert!(try_render(bad).is_err(), "{bad}");
    }
}

#[test]
fn semver_compare() {
    let cases: &[(&str, &str, bool)] = &[
        ("1.2.3", "1.2.3", true),
        ("^1.2.0", "1.2.3", true),
        ("^1.2.0", "2.2.3", false),
        (">= 1.2, < 3.0.0 || >= 4.2.3", "4.3.0", true),
        ("1.2 - 1.4.5", "1.4.5", true),
        ("1.2 - 1.4.5", "1.4.6", false),
        ("~1.2.3", "1.2.9", true),
        ("~1.2.3", "1.3.0", false),
        ("~1", "1.9.9", true),
        ("1.x", "1.9.0", true),
        ("*", "1.0.0-alpha", false),
        (">=1.0.0-0", "1.0.0-alpha", true),
        ("!=1.2.x", "1.2.7", false),
        (">1.2", "1.2.9", false),
        (">1.2", "1.3.0", true),
        ("<=1.2", "1.2.9", true),
        ("^0.2.3", "0.3.0", false),
        ("^0.0.3", "0.0.4", false),
        ("^0", "0.9.0", true),
        ("=>1.0, =<2", "2.5.0", true),
        ("~>2.1", "2.1.7", true),
    ];
    for (c, v, want) in cases {
        let src = format!("{{{{ sprig_semverCompare {c:?} {v:?} }}}}");
        assert_eq!(render(&src), want.to_string(), "{c} {v}");
    }
    for bad in [
        r#"{{ sprig_semverCompare "abc" "1.2.3" }}"#,
        r#"{{ sprig_semverCompare "" "1.2.3" }}"#,
        r#"{{ sprig_semverCompare "1.2.3" "x" }}"#,
        r#"{{ sprig_semverCompare ">=1.2 ||" "1.2.3" }}"#,
    ] {
        assert!(try_render(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_refused_missing_value_does_not_stop_discovery() {
    let src = r#"{{ with secret "secret/data/x" }}{{ sprig_semverCompare ">=1" .Data.data.v }}{{ sprig_urlParse .Data.data.u }}{{ end }}{{ with secret "secret/data/y" }}{{ end }}"#;
    let t = Template::parse("t", src, &ParseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let out = t.render(&Ctx, MissingKey::ErrorOnPrint);
    assert_eq!(out.missing.len(), 2);
}
