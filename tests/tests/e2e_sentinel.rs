//! End to end: no secret in any message (issue 16). Distinctive sentinel values sit in every kind of
//! secret the real server gives (KV v1, KV v2 nested fields, lists and numbers, a PKI private key, a
//! database password, a token from `auth/token/create`, a wrapped token); every template function that
//! can fail on secret data is driven with each of them, in `run` and in `exec`'s env_templates, beside a
//! failing template `command`. Then every byte sidekey writes outside its destinations (stdout, stderr,
//! the log file, the audit file, the `STATUS=` lines on `NOTIFY_SOCKET`, `/metrics` on the admin
//! listener) is searched for any 8-character piece of any sentinel.

// Test helpers: a failed expectation is a failed test, and wall-clock time is what a user sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sidekey_tests::background::wait_until;
use sidekey_tests::hcl;
use sidekey_tests::notify::NotifySocket;
use sidekey_tests::setup::str_at;
use sidekey_tests::{Fixture, Setup, ShmDir, random_hex};

/// The length of the pieces of a sentinel searched for.
const WINDOW: usize = 8;

/// The KV v1 secret, under the `app` policy's `kv/*`.
const KV1: &str = "kv/sentinel";
/// The KV v2 secret, under the `app` policy's `secret/data/app/*` (read as consul-template users write it).
const KV2: &str = "secret/app/sentinel";

/// A secret value as a template reaches it: the `with` that fetches it, and the expression inside.
struct Kind {
    name: &'static str,
    with: String,
    expr: &'static str,
}

/// Every kind of secret value the templates feed to failing functions.
fn kinds() -> Vec<Kind> {
    let kv1 = format!("with secret {KV1:?}");
    let kv2 = format!("with secret {KV2:?}");
    let k = |name, with: &String, expr| Kind {
        name,
        with: with.clone(),
        expr,
    };
    vec![
        k("kv1", &kv1, ".Data.value"),
        k("kv2-nested", &kv2, ".Data.data.nested.deep.value"),
        k("kv2-list", &kv2, ".Data.data.list"),
        k("kv2-list-item", &kv2, "index .Data.data.list 1"),
        k("kv2-map", &kv2, ".Data.data.nested"),
        k("kv2-number", &kv2, ".Data.data.pin"),
        k(
            "pki",
            &r#"with secret "pki/issue/app" "common_name=sentinel.example.test""#.to_owned(),
            ".Data.private_key",
        ),
        k(
            "db",
            &r#"with secret "database/creds/app""#.to_owned(),
            ".Data.password",
        ),
    ]
}

/// Every use of a value `$x` that can fail on secret data (type conversions, decoders, parsers, regular
/// expressions, lookups by a secret name, sprig's conversions and crypto), one template each.
const USES: &[&str] = &[
    "parseInt $x",
    "parseUint $x",
    "parseFloat $x",
    "parseBool $x",
    "parseJSON $x",
    "parseYAML $x",
    "base64Decode $x",
    "base64URLDecode $x",
    "toTOML $x",
    "toJSON $x",
    "toJSONPretty $x",
    "toYAML $x",
    "range $x",
    "index $x 99",
    r#"index $x "no-such-key""#,
    "slice $x 100 200",
    "len $x",
    "call $x",
    "eq $x 1",
    "lt $x (sprig_list)",
    "add $x 1",
    "multiply $x 2",
    "divide $x 0",
    "modulo $x 0",
    "loop $x",
    r#"in $x "a""#,
    "containsAny $x $x",
    "explodeMap $x",
    "mergeMap $x $x",
    r#"splitToMap $x "=" "&""#,
    r#"regexReplaceAll $x "a" "b""#,
    r#"regexMatch $x "a""#,
    "file $x",
    "executeTemplate $x",
    "secret $x",
    r#"secret (printf "kv/%s" $x)"#,
    r#"secret "pki/issue/app" (printf "common_name=%s" $x)"#,
    r#"writeToFile (printf "/nonexistent-sentinel-dir/%s" $x) "" "" "0600" "x""#,
    r#"writeToFile "/dev/shm/sidekey-sentinel-side" $x "" "0600" "x""#,
    r#"writeToFile "/dev/shm/sidekey-sentinel-side" "" $x "0600" "x""#,
    "mustEnv $x",
    "timestamp $x",
    "sprig_fail $x",
    "sprig_int $x",
    "sprig_int64 $x",
    "sprig_float64 $x",
    "sprig_toDecimal $x",
    "sprig_mustFromJson $x",
    "sprig_mustToJson $x",
    "sprig_mustToRawJson $x",
    "sprig_b64dec $x",
    "sprig_b32dec $x",
    r#"sprig_mustRegexMatch $x "a""#,
    r#"sprig_mustRegexFind $x "a""#,
    r#"sprig_mustRegexReplaceAll $x "a" "b""#,
    r#"sprig_mustRegexSplit $x "a" -1"#,
    r#"sprig_mustToDate "2006-01-02" $x"#,
    r#"sprig_toDate "2006-01-02" $x"#,
    "sprig_mustDateModify $x sprig_now",
    "sprig_durationRound $x",
    "sprig_semver $x",
    r#"sprig_semverCompare $x "1.0.0""#,
    "sprig_urlParse $x",
    "sprig_mustFirst $x",
    "sprig_mustUniq $x",
    "sprig_mustMerge $x",
    r#"sprig_dig "a" "b" $x"#,
    "sprig_keys $x",
    r#"sprig_decryptAES $x "key""#,
    r#"sprig_buildCustomCert $x $x"#,
    r#"sprig_genCAWithKey "ca" 1 $x"#,
    r#"sprig_genSelfSignedCertWithKey "a" nil nil 1 $x"#,
];

/// The sentinels: distinctive, at least 24 characters, and hostile to parsers (`(`, `[` and `:` break
/// regular expressions, JSON and YAML alike).
struct Sentinels {
    kv1: String,
    kv2_nested: String,
    kv2_list: [String; 2],
    pin: String,
}

impl Sentinels {
    fn new() -> Sentinels {
        let s = |kind: &str| format!("sk-{kind}-{}-(x[: ", random_hex(12));
        Sentinels {
            kv1: s("kv1"),
            kv2_nested: s("kv2n"),
            kv2_list: [s("kv2l0"), s("kv2l1")],
            // A JSON number (a PIN): 24 digits.
            pin: format!(
                "9{}",
                random_hex(12)
                    .chars()
                    .skip(1)
                    .filter_map(|c| c.to_digit(16).and_then(|d| char::from_digit(d % 10, 10)))
                    .collect::<String>()
            ),
        }
    }

    fn all(&self) -> Vec<String> {
        let mut v = vec![self.kv1.clone(), self.kv2_nested.clone(), self.pin.clone()];
        v.extend(self.kv2_list.iter().cloned());
        v
    }
}

/// Put the sentinels into the server.
fn store(fx: &Fixture, s: &Sentinels) {
    fx.bao.write(KV1, json!({ "value": s.kv1 }));
    let pin: serde_json::Value = serde_json::from_str(&s.pin).unwrap();
    fx.bao.write(
        "secret/data/app/sentinel",
        json!({ "data": {
            "nested": { "deep": { "value": s.kv2_nested } },
            "list": s.kv2_list,
            "pin": pin,
        } }),
    );
}

/// One template per (use, kind), each failing (or not) on its own, plus the captures: templates that
/// deliver the server-made values (the key, the password) so the test knows what to search for.
fn templates(out: &Path) -> (String, Vec<PathBuf>) {
    let mut t = String::new();
    for (i, u) in USES.iter().enumerate() {
        for k in kinds() {
            let u = if u.starts_with("range") {
                format!("{u} }}}}{{{{ . }}}}{{{{ end")
            } else {
                (*u).to_owned()
            };
            let body = format!(
                "{{{{ {} }}}}{{{{ $x := {} }}}}{{{{ {u} }}}}{{{{ end }}}}",
                k.with, k.expr
            );
            t.push_str(&hcl::template(
                &body,
                &out.join(format!("use{i}-{}", k.name)),
                &[],
            ));
        }
    }
    let captures = ["pki", "db"].map(|name| out.join(format!("capture-{name}")));
    for (k, dest) in kinds()
        .iter()
        .filter(|k| k.name == "pki" || k.name == "db")
        .zip(&captures)
    {
        let body = format!("{{{{ {} }}}}{{{{ {} }}}}{{{{ end }}}}", k.with, k.expr);
        t.push_str(&hcl::template(&body, dest, &[]));
    }
    (t, captures.to_vec())
}

/// Every `WINDOW`-character piece of `secret` found in `text`, with where (for the failure message).
fn leaks(text: &str, secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    let mut found = Vec::new();
    for w in chars.windows(WINDOW.min(chars.len())) {
        let piece: String = w.iter().collect();
        if piece.trim().len() < WINDOW {
            continue;
        }
        if let Some(at) = text.find(&piece) {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            let line = format!("{piece:?} in: {}", &text[line_start..line_end]);
            // One report per line: the first piece found in it.
            if !found
                .iter()
                .any(|f: &String| f.ends_with(&text[line_start..line_end]))
            {
                found.push(line);
            }
        }
    }
    found
}

/// The lines of a PEM key's body, each searched on its own (the `-----BEGIN` armour is not secret).
fn secret_parts(value: &str) -> Vec<String> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= WINDOW)
        .map(str::to_owned)
        .collect()
}

/// Assert that no sentinel (nor any piece of one) is in `outputs` (name, text).
fn assert_no_leak(outputs: &[(&str, String)], sentinels: &[String]) {
    let mut all = Vec::new();
    for (name, text) in outputs {
        for s in sentinels {
            for l in leaks(text, s) {
                all.push(format!("{name}: {l}"));
            }
        }
    }
    assert!(
        all.is_empty(),
        "{} secret pieces outside destinations, the first:\n{}",
        all.len(),
        all.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn no_secret_piece_reaches_logs_audit_status_or_metrics_whatever_function_fails() {
    let fx = Setup::new().database().pki().start();
    let sentinels = Sentinels::new();
    store(&fx, &sentinels);
    let out = ShmDir::new();
    let logs = ShmDir::new();
    // A token from auth/token/create is the auto-auth token; the sink also holds a wrapped one.
    let created = fx.bao.write(
        "auth/token/create",
        json!({ "policies": ["app"], "ttl": "1h" }),
    );
    let token = str_at(&created, "/auth/client_token");
    let token_file = fx.write_file("token", &token);
    let (wrapped, plain) = (out.join("wrapped-sink"), out.join("plain-sink"));
    let admin = format!("127.0.0.1:{}", sidekey_tests::ports::free_port());
    let (templates, captures) = templates(out.path());
    let failing_command = hcl::template(
        &format!("{{{{ with secret {KV1:?} }}}}{{{{ .Data.value }}}}{{{{ end }}}}"),
        &out.join("with-command"),
        &[&hcl::command(&["sh", "-c", "exit 3"])],
    );
    let cfg = fx.write_config(
        &[
            hcl::vault(&fx.addr()),
            hcl::AutoAuth::token_file(&token_file)
                .sink_with(&wrapped, &[], &["wrap_ttl = \"5m\""])
                .sink(&plain, &[])
                .to_string(),
            hcl::audit(&logs.join("audit.log"), &[]),
            hcl::attr_path("log_file", &logs.join("sidekey.log")),
            hcl::admin_listener(&admin),
            templates,
            failing_command,
        ]
        .concat(),
    );
    let notify = NotifySocket::bind(&[]);
    let mut agent = fx
        .agent()
        .args(["run", "-c"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", notify.path())
        .env("SIDEKEY_LOG", "debug")
        .start();
    // The first pass is over when the failing command has failed and the captures are written.
    let done = wait_until(Duration::from_secs(10), || {
        captures.iter().all(|c| c.exists())
            && wrapped.exists()
            && read(&logs.join("sidekey.log")).contains("exit status 3")
    });
    assert!(done, "first pass not over in 10 s:\n{}", agent.stderr());
    let metrics = sidekey_tests::bao::http_client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(!metrics.is_empty(), "no /metrics from {admin}");
    agent.stop();
    let (stdout, stderr) = (agent.stdout(), agent.stderr());
    let wrapped_sink: serde_json::Value = serde_json::from_str(&read(&wrapped)).unwrap();
    let mut secrets = sentinels.all();
    secrets.push(token);
    secrets.push(str_at(&wrapped_sink, "/token"));
    for c in &captures {
        let v = read(c);
        assert!(!v.is_empty(), "{} is empty", c.display());
        if v.starts_with("-----") {
            secrets.extend(secret_parts(&v));
        } else {
            secrets.push(v);
        }
    }
    // Every (use, kind) ran: its destination was written, or its failure was reported.
    for (i, _) in USES.iter().enumerate() {
        for k in kinds() {
            let dest = out.join(&format!("use{i}-{}", k.name));
            let name = format!("{}:", dest.display());
            assert!(
                dest.exists() || stderr.contains(&name),
                "{} neither written nor reported:\n{stderr}",
                dest.display()
            );
        }
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_no_leak(
        &[
            ("stdout", stdout),
            ("stderr", stderr),
            ("log_file", read(&logs.join("sidekey.log"))),
            ("audit", read(&logs.join("audit.log"))),
            (
                "NOTIFY_SOCKET",
                notify
                    .notes()
                    .into_iter()
                    .map(|n| n.text)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            ("/metrics", metrics),
        ],
        &secrets,
    );
}

/// The uses whose errors quote most (their input, a fragment of it, or its own text): `exec` reports
/// only the first env_template that fails, so each (use, kind) is one `sidekey exec` run.
const EXEC_USES: &[&str] = &[
    "parseInt $x",
    "parseJSON $x",
    "base64Decode $x",
    "sprig_fail $x",
    "executeTemplate $x",
    "file $x",
    r#"regexReplaceAll $x "a" "b""#,
    r#"sprig_mustToDate "2006-01-02" $x"#,
];

#[test]
fn no_secret_piece_reaches_exec_output_when_env_templates_fail() {
    let fx = Setup::new().start();
    let sentinels = Sentinels::new();
    store(&fx, &sentinels);
    let (token, _) = fx.app_token();
    let logs = ShmDir::new();
    // The server makes the key and the password anew for each run and nothing delivers them, so only
    // the values the test put in are used here (`run` covers the others).
    let kinds: Vec<Kind> = kinds()
        .into_iter()
        .filter(|k| k.name != "pki" && k.name != "db")
        .collect();
    let mut agents = Vec::new();
    for (i, u) in EXEC_USES.iter().enumerate() {
        for k in &kinds {
            let body = format!(
                "{{{{ {} }}}}{{{{ $x := {} }}}}{{{{ {u} }}}}{{{{ end }}}}",
                k.with, k.expr
            );
            let log = logs.join(&format!("sidekey-{i}-{}.log", k.name));
            let cfg = fx.write_config(
                &[
                    hcl::vault(&fx.addr()),
                    hcl::attr_path("log_file", &log),
                    hcl::env_template("VALUE", &body),
                ]
                .concat(),
            );
            let agent = fx
                .agent()
                .args(["exec", "-c"])
                .arg(&cfg)
                .args(["--", "env"])
                .env("BAO_TOKEN", &token)
                .start();
            agents.push((format!("{u} on {}", k.name), log, agent));
        }
    }
    let mut outputs = Vec::new();
    for (what, log, mut agent) in agents {
        let failed = wait_until(Duration::from_secs(10), || {
            agent.stderr().contains("env_template not rendered")
        });
        agent.stop();
        assert!(
            failed,
            "{what}: no env_template failure:\n{}",
            agent.stderr()
        );
        assert!(agent.stdout().is_empty(), "{what}: the child ran");
        outputs.push((format!("{what}: stderr"), agent.stderr()));
        outputs.push((format!("{what}: log_file"), read(&log)));
    }
    let outputs: Vec<(&str, String)> = outputs
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect();
    let mut secrets = sentinels.all();
    secrets.push(token);
    assert_no_leak(&outputs, &secrets);
}
