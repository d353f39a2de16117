//! Differential tests: the real `bao agent` is the oracle. Every template of the corpus in
//! `tests/fixtures/compat/templates/` is rendered by `bao agent -exit-after-auth` and by `sidekey run --once`
//! against the same dev server and data, and the bytes must be identical.
//!
//! Corpus conventions (in the file name): `*.nokey.tpl` gets `error_on_missing_key = false` in both agents (it
//! prints missing keys, which sidekey refuses by default); `*.strict.tpl` gets `error_on_missing_key = true` in
//! both (Go's `missingkey=error`); `*.delims.tpl` uses `[[` `]]` as delimiters. A template may write
//! files beside its destination with `writeToFile` into `env "COMPAT_OUT"` (each agent's output
//! directory): every file either agent wrote is compared. Outputs
//! that differ by nature (database passwords, issued certificates) are only printed by structure in the
//! templates (lengths, prefixes, fixed fields), so the bytes can still be compared.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use sidekey_tests::compat::{self, differences, files_under, fixtures, seed};
use sidekey_tests::hcl;
use sidekey_tests::process::Finished;
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// Environment both agents get (the `env` fixtures read it).
const ENV: &[(&str, &str)] = &[("COMPAT_VAR", "compat-value")];

/// The corpus: (output name, template path), sorted.
fn corpus() -> Vec<(String, PathBuf)> {
    templates_in("templates")
}

/// The `.tpl` files of a fixture directory: (output name, template path), sorted.
fn templates_in(dir: &str) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures().join(dir))
        .unwrap_or_else(|e| panic!("read the fixture directory {dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tpl"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, p)
        })
        .collect();
    v.sort();
    v
}

/// One `template` stanza per corpus file, rendering into `out`.
fn template_stanzas(out: &Path, extra: &str) -> String {
    corpus()
        .iter()
        .map(|(name, path)| stanza(name, path, out, extra))
        .collect()
}

/// The `template` stanza rendering `path` into `out/name`, with the options its name asks for.
fn stanza(name: &str, path: &Path, out: &Path, extra: &str) -> String {
    let mut opts = vec![extra];
    if name.contains(".nokey") {
        opts.push("error_on_missing_key = false");
    }
    if name.contains(".strict") {
        opts.push("error_on_missing_key = true");
    }
    if name.contains(".delims") {
        opts.extend(["left_delimiter = \"[[\"", "right_delimiter = \"]]\""]);
    }
    hcl::template_file(path, &out.join(name), &opts)
}

/// The common head of both configs: server address and a token file holding the root token.
fn head(fx: &Fixture) -> String {
    let token = fx.write_file("compat-token", fx.bao.root_token());
    hcl::vault(&fx.addr()) + &hcl::token_file_auto_auth(&token)
}

/// What only `bao agent`'s config has: exit once rendered, and on a template error instead of retrying.
fn bao_one_shot() -> String {
    "exit_after_auth = true\n".to_owned() + &hcl::template_config(&["exit_on_retry_failure = true"])
}

/// Run `bao agent -exit-after-auth` with the corpus environment, whatever the outcome.
fn bao_agent(config: &Path, cwd: &Path) -> Finished {
    compat::bao_agent(config, cwd, ENV, &["-exit-after-auth"])
}

/// Run `sidekey run --once` with the corpus environment, whatever the outcome.
fn sidekey_once(config: &Path, cwd: &Path) -> Finished {
    compat::sidekey_once(config, cwd, ENV)
}

#[test]
fn corpus_renders_byte_for_byte_like_bao_agent() {
    let fx = Setup::new().database().pki().start();
    seed(&fx);
    let names: Vec<String> = corpus().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.len() >= 200,
        "the corpus has {} templates",
        names.len()
    );
    let work = fixtures();

    // bao agent writes 0644 files anywhere; sidekey only to tmpfs. Contents are compared, not modes.
    let bao_out = tempfile::tempdir().expect("temp dir");
    let bao_cfg = fx.write_file(
        "bao-agent.hcl",
        &[
            head(&fx),
            bao_one_shot(),
            template_stanzas(bao_out.path(), ""),
        ]
        .concat(),
    );
    let bao_dir = bao_out.path().display().to_string();
    compat::run_bao_agent(&bao_cfg, &work, &with_out(&bao_dir));

    let sk_out = ShmDir::new();
    let sk_cfg = fx.write_file(
        "sidekey.hcl",
        &format!("{}{}", head(&fx), template_stanzas(sk_out.path(), "")),
    );
    let sk_dir = sk_out.path().display().to_string();
    compat::run_sidekey(&sk_cfg, &work, &with_out(&sk_dir));

    // Destinations and what `writeToFile` wrote beside them: the same files, the same bytes.
    let written = files_under(bao_out.path());
    assert!(
        names.iter().all(|n| written.contains(n)),
        "bao agent did not render every template: {written:?}"
    );
    let mut diffs = differences(&written, bao_out.path(), sk_out.path());
    for extra in files_under(sk_out.path()) {
        if !written.contains(&extra) {
            diffs.push(format!("{extra}: sidekey wrote it, bao agent did not"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} files differ:\n\n{}",
        diffs.len(),
        written.len(),
        diffs.join("\n\n")
    );
}

/// [`ENV`] plus `COMPAT_OUT`: the agent's output directory, where `writeToFile` templates write.
fn with_out(out: &str) -> Vec<(&str, &str)> {
    let mut env = ENV.to_vec();
    env.push(("COMPAT_OUT", out));
    env
}

/// Templates `bao agent` refuses (`tests/fixtures/compat/errors/`: parse errors, unknown functions, fields of
/// missing keys or of non-maps, `mustEnv` of an unset variable, bad `index`, json.Number where Go wants a string
/// or a number, ...) make sidekey fail too, and neither agent writes the destination. Only the error-ness is
/// compared: the messages are each agent's own.
#[test]
fn templates_bao_agent_rejects_fail_in_sidekey_and_write_nothing() {
    let fx = Setup::new().start();
    seed(&fx);
    let cases = templates_in("errors");
    assert!(cases.len() >= 40, "{} error templates", cases.len());
    let work = fixtures();
    let mut wrong = Vec::new();
    for (name, path) in &cases {
        let bao_out = tempfile::tempdir().expect("temp dir");
        let bao_cfg = fx.write_file(
            "bao-error.hcl",
            &[
                head(&fx),
                bao_one_shot(),
                stanza(name, path, bao_out.path(), ""),
            ]
            .concat(),
        );
        let bao = bao_agent(&bao_cfg, &work);
        let sk_out = ShmDir::new();
        let sk_cfg = fx.write_file(
            "sidekey-error.hcl",
            &format!("{}{}", head(&fx), stanza(name, path, sk_out.path(), "")),
        );
        let sk = sidekey_once(&sk_cfg, &work);
        let bao_wrote = bao_out.path().join(name).exists();
        let sk_wrote = sk_out.path().join(name).exists();
        if bao.code() == 0 || bao_wrote {
            wrong.push(format!(
                "{name}: bao agent accepted it (the fixture is wrong)"
            ));
        } else if sk.code() == 0 || sk_wrote {
            wrong.push(format!(
                "{name}: sidekey exit {} wrote {sk_wrote}; bao agent failed with:\n{}",
                sk.code(),
                bao.stderr
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// A syntax error on line 7 is reported with the template's name, line 7 and the column, before anything
/// is fetched or written: the other (valid) template of the same config is not rendered either.
#[test]
fn a_syntax_error_names_line_and_column_and_writes_nothing() {
    let fx = Setup::new().start();
    let bad = fx.write_file(
        "bad.tpl",
        "# app config\n{{ with secret \"kv/app\" }}\napi_key={{ .Data.api_key }}\nregion={{ .Data.region }}\n{{ end }}\n\nbroken={{ .Data.region ) }}\n",
    );
    let good = fx.write_file(
        "good.tpl",
        "{{ with secret \"kv/app\" }}{{ .Data.region }}{{ end }}\n",
    );
    let out = ShmDir::new();
    let cfg = fx.write_file(
        "syntax.hcl",
        &[
            head(&fx),
            hcl::template_file(&good, &out.join("good"), &[]),
            hcl::template_file(&bad, &out.join("bad"), &[]),
        ]
        .concat(),
    );
    let want = format!("{}:7:24: unexpected right paren", bad.display());
    for cmd in [vec!["check", "-c"], vec!["run", "--once", "-c"]] {
        let done = Sidekey::new(cmd.clone()).args([&cfg]).run();
        assert_eq!(done.code(), 78, "{cmd:?}: {}", done.stderr);
        assert!(done.stderr.contains(&want), "{cmd:?}: {}", done.stderr);
    }
    assert!(out.entries().is_empty(), "written: {:?}", out.entries());
}
