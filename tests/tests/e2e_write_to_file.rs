//! consul-template's `writeToFile`: on by default as in Vault Agent (the same config file for both agents),
//! the files it writes have the same bytes and mode as those `bao agent` writes, nothing is appended twice
//! when the data has not changed, and `function_denylist = ["writeToFile"]` turns it off with an error naming
//! the line.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;
use sidekey_tests::compat::run_bao_agent;
use sidekey_tests::hcl::{template, token_file_auto_auth, vault};
use sidekey_tests::{Fixture, Setup, ShmDir, Sidekey};

/// A bundle split the way PKI users do it: the key alone, then cert + CA appended with newlines.
fn contents(out: &Path) -> String {
    let o = out.display();
    format!(
        "{{{{- with secret \"secret/data/wtf\" -}}}}\n\
         {{{{- .Data.data.key | writeToFile \"{o}/key.pem\" \"\" \"\" \"0600\" -}}}}\n\
         {{{{- .Data.data.cert | writeToFile \"{o}/bundle.pem\" \"\" \"\" \"0644\" -}}}}\n\
         {{{{- .Data.data.ca | writeToFile \"{o}/bundle.pem\" \"\" \"\" \"0640\" \"append,newline\" -}}}}\n\
         rendered {{{{ .Data.metadata.version }}}}\n\
         {{{{- end }}}}\n"
    )
}

fn config(fx: &Fixture, name: &str, out: &Path, extra: &[&str]) -> std::path::PathBuf {
    let token = fx.write_file("wtf-token", fx.bao.root_token());
    let text = vault(&fx.addr())
        + &token_file_auto_auth(&token)
        + &template(&contents(out), &out.join("main.txt"), extra);
    fx.write_file(name, &text)
}

fn file(dir: &Path, name: &str) -> (String, u32) {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    (text, mode)
}

#[test]
fn function_denylist_turns_write_to_file_off() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    let cfg = config(
        &fx,
        "off.hcl",
        out.path(),
        &[r#"function_denylist = ["writeToFile"]"#],
    );
    let done = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_eq!(done.code(), 78, "{}", done.stderr);
    assert!(
        done.stderr.contains(":2:") && done.stderr.contains("function writeToFile is denied"),
        "{}",
        done.stderr
    );
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

#[test]
fn allow_write_to_file_still_loads_with_a_warning() {
    let fx = Setup::new().start();
    fx.bao.write(
        "secret/data/wtf",
        json!({"data": {"key": "KEY-1", "cert": "CERT-1\n", "ca": "CA-1"}}),
    );
    let out = ShmDir::new();
    let cfg = config(&fx, "old.hcl", out.path(), &["allow_write_to_file = true"]);
    let done = Sidekey::new(["check", "-c"]).args([&cfg]).run();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert!(
        done.stderr.contains("old.hcl:")
            && done
                .stderr
                .contains("template.allow_write_to_file: ignored: writeToFile is on by default"),
        "{}",
        done.stderr
    );
    let done = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert_eq!(file(out.path(), "key.pem").0, "KEY-1");
}

#[test]
fn write_to_file_writes_what_bao_agent_writes() {
    let fx = Setup::new().start();
    fx.bao.write(
        "secret/data/wtf",
        json!({"data": {"key": "KEY-1", "cert": "CERT-1\n", "ca": "CA-1"}}),
    );
    let bao_out = ShmDir::new();
    let bao_cfg = config(&fx, "bao.hcl", bao_out.path(), &[]);
    run_bao_agent(&bao_cfg, fx.dir.path(), &[]);

    let sk_out = ShmDir::new();
    let sk_cfg = config(&fx, "sk.hcl", sk_out.path(), &[]);
    let run = || {
        let done = Sidekey::new(["run", "--once", "-c"]).args([&sk_cfg]).run();
        assert_eq!(done.code(), 0, "{}", done.stderr);
    };
    run();
    // The destination's mode differs by design (sidekey's default is 0600); writeToFile's are the template's.
    assert_eq!(
        file(sk_out.path(), "main.txt").0,
        file(bao_out.path(), "main.txt").0
    );
    for name in ["key.pem", "bundle.pem"] {
        assert_eq!(
            file(sk_out.path(), name),
            file(bao_out.path(), name),
            "{name}"
        );
    }
    assert_eq!(file(sk_out.path(), "bundle.pem").0, "CERT-1\nCA-1\n");

    // The same data again: nothing grows.
    run();
    assert_eq!(file(sk_out.path(), "bundle.pem").0, "CERT-1\nCA-1\n");

    // New data: the files follow it.
    fx.bao.write(
        "secret/data/wtf",
        json!({"data": {"key": "KEY-2", "cert": "CERT-2\n", "ca": "CA-2"}}),
    );
    run();
    assert_eq!(file(sk_out.path(), "key.pem").0, "KEY-2");
    assert_eq!(file(sk_out.path(), "bundle.pem").0, "CERT-2\nCA-2\n");
    assert_eq!(file(sk_out.path(), "main.txt").0, "rendered 2\n");
}

/// A `writeToFile` that cannot write fails its template before the destination is written, as in
/// consul-template (where the function runs while the template renders).
#[test]
fn a_failing_write_to_file_leaves_the_destination_unwritten() {
    let fx = Setup::new().start();
    let out = ShmDir::new();
    // A regular file where writeToFile needs a directory.
    std::fs::write(out.join("afile"), "x").unwrap();
    let o = out.path().display();
    let text =
        format!("{{{{ \"hello\" | writeToFile \"{o}/afile/n.txt\" \"\" \"\" \"0600\" }}}}x\n");
    let token = fx.write_file("wtf-token", fx.bao.root_token());
    let cfg = fx.write_file(
        "fail.hcl",
        &(vault(&fx.addr())
            + &token_file_auto_auth(&token)
            + &template(&text, &out.join("dest.txt"), &[])),
    );
    let done = Sidekey::new(["run", "--once", "-c"]).args([&cfg]).run();
    assert_ne!(done.code(), 0, "{}", done.stderr);
    assert!(done.stderr.contains("writeToFile"), "{}", done.stderr);
    assert!(
        !out.join("dest.txt").exists(),
        "the destination was written"
    );
}
