//! Config and `writeToFile` behaviour checked against the real `bao agent`: a relative `writeToFile` path
//! lands where `bao agent` puts it (the working directory), a misplaced key `bao agent` skips loads with one
//! warning naming file:line (printed by `sidekey check`) and changes nothing delivered, and a typo is still
//! refused.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::json;
use sidekey_tests::compat::{bao_agent, run_bao_agent, run_sidekey};
use sidekey_tests::hcl::{quote_path, template, token_file_auto_auth, vault};
use sidekey_tests::{Setup, ShmDir, Sidekey};

fn file(dir: &Path, name: &str) -> (String, u32) {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    (text, mode)
}

/// The 1-based line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in the config"))
        + 1
}

#[test]
fn a_relative_write_to_file_path_is_relative_to_the_working_directory_as_in_bao_agent() {
    let fx = Setup::new().start();
    fx.bao
        .write("secret/data/rel", json!({"data": {"a": "A-1", "b": "B-1"}}));
    let token = fx.write_file("rel-token", fx.bao.root_token());
    let contents = "{{- with secret \"secret/data/rel\" -}}\n\
                    {{- .Data.data.a | writeToFile \"rel-a.txt\" \"\" \"\" \"0640\" -}}\n\
                    {{- .Data.data.b | writeToFile \"sub/rel-b.txt\" \"\" \"\" \"0600\" \"newline\" -}}\n\
                    rendered\n\
                    {{- end }}\n";
    // The destination is elsewhere, so a path anchored at it (or at the config file) would show.
    let config = |name: &str, dest: &Path| -> PathBuf {
        let text = vault(&fx.addr())
            + &token_file_auto_auth(&token)
            + &template(contents, &dest.join("main.txt"), &[]);
        fx.write_file(name, &text)
    };

    let (bao_cwd, bao_dest) = (ShmDir::new(), ShmDir::new());
    run_bao_agent(&config("bao.hcl", bao_dest.path()), bao_cwd.path(), &[]);
    let (sk_cwd, sk_dest) = (ShmDir::new(), ShmDir::new());
    run_sidekey(&config("sk.hcl", sk_dest.path()), sk_cwd.path(), &[]);

    for name in ["rel-a.txt", "sub/rel-b.txt"] {
        assert_eq!(
            file(sk_cwd.path(), name),
            file(bao_cwd.path(), name),
            "{name}"
        );
        assert!(
            !sk_dest.join(name).exists(),
            "{name} next to the destination"
        );
        assert!(
            !fx.dir.path().join(name).exists(),
            "{name} next to the config"
        );
    }
    assert_eq!(file(sk_cwd.path(), "rel-a.txt"), ("A-1".into(), 0o640));
    assert_eq!(
        file(sk_cwd.path(), "sub/rel-b.txt"),
        ("B-1\n".into(), 0o600)
    );
    assert_eq!(
        file(sk_dest.path(), "main.txt").0,
        file(bao_dest.path(), "main.txt").0
    );
}

#[test]
fn a_misplaced_key_bao_agent_skips_loads_with_one_warning_and_changes_nothing() {
    let fx = Setup::new().start();
    fx.bao
        .write("secret/data/mis", json!({"data": {"k": "V-1"}}));
    let token = fx.write_file("mis-token", fx.bao.root_token());
    let contents = "{{ with secret \"secret/data/mis\" }}{{ .Data.data.k }}{{ end }}\n";
    // `exit_after_auth` written inside auto_auth, as real configs have it: bao agent skips it there.
    let config = |name: &str, out: &Path| -> (PathBuf, usize) {
        let text = vault(&fx.addr())
            + &format!(
                "auto_auth {{\n  exit_after_auth = true\n  method \"token_file\" {{\n    config = {{\n      token_file_path = {}\n    }}\n  }}\n}}\n",
                quote_path(&token)
            )
            + &template(contents, &out.join("out.txt"), &[]);
        (
            fx.write_file(name, &text),
            line_of(&text, "exit_after_auth"),
        )
    };

    let bao_out = ShmDir::new();
    let (bao_cfg, _) = config("bao.hcl", bao_out.path());
    run_bao_agent(&bao_cfg, fx.dir.path(), &[]);

    let sk_out = ShmDir::new();
    let (sk_cfg, line) = config("sk.hcl", sk_out.path());
    let check = Sidekey::new(["check", "-c"]).args([&sk_cfg]).run();
    assert_eq!(check.code(), 0, "{}", check.stderr);
    let warnings: Vec<&str> = check
        .stderr
        .lines()
        .filter(|l| l.contains("warning:"))
        .collect();
    let want = format!(
        "{}:{line}: auto_auth.exit_after_auth: misplaced, ignored: exit_after_auth belongs at the top level; it has no effect here",
        sk_cfg.display()
    );
    assert_eq!(warnings.len(), 1, "{}", check.stderr);
    assert!(warnings[0].ends_with(&want), "{}", check.stderr);

    let log = run_sidekey(&sk_cfg, fx.dir.path(), &[]);
    assert!(log.contains(&want), "{log}");
    assert_eq!(
        file(sk_out.path(), "out.txt"),
        (String::from("V-1\n"), 0o600)
    );
    assert_eq!(
        file(sk_out.path(), "out.txt").0,
        file(bao_out.path(), "out.txt").0
    );
}

#[test]
fn a_typo_is_refused_by_sidekey_and_bao_agent_alike() {
    let dir = ShmDir::new();
    let token = dir.join("token");
    std::fs::write(&token, "t").unwrap();
    let text = vault("http://127.0.0.1:1")
        + &token_file_auto_auth(&token)
        + &format!(
            "template {{\n  contents   = \"x\"\n  destinaton = {}\n}}\n",
            quote_path(&dir.join("out.txt"))
        );
    let cfg = dir.join("typo.hcl");
    std::fs::write(&cfg, &text).unwrap();
    let line = line_of(&text, "destinaton");

    let check = Sidekey::new(["check", "-c"]).args([&cfg]).run();
    assert_eq!(check.code(), 78, "{}", check.stderr);
    assert!(
        check.stderr.contains(&format!(
            "{}:{line}: template.destinaton: unknown key (did you mean \"destination\"?)",
            cfg.display()
        )),
        "{}",
        check.stderr
    );

    let bao = bao_agent(&cfg, dir.path(), &[], &["-exit-after-auth"]);
    assert_ne!(bao.code(), 0, "bao agent accepted a typo");
    assert!(
        format!("{}{}", bao.stdout, bao.stderr).contains("destinaton"),
        "{}\n{}",
        bao.stdout,
        bao.stderr
    );
}
