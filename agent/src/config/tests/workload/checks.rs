//! Per-host mode across stanzas and files: workload names and (unit, credential id) pairs unique, the
//! auto-auth token refused beside a unix listener that serves workloads, and the warnings `sidekey check`
//! prints: workloads nobody can reach, a credentials listener with nothing to serve, overlapping matches.

use crate::config::Config;
use crate::config::tests::{Files, invalid, invalid_files, ok};

/// An `auto_auth` stanza (lines 1-7), for configs that ask for the auto-auth token.
const AUTO_AUTH: &str = "auto_auth {\n  method \"token_file\" {\n    config = {\n      token_file_path = \"/t\"\n    }\n  }\n}\n";

/// `workload "NAME"` matching `key = value`, with a policy (five lines; its match on the second).
fn workload(name: &str, key: &str, value: &str) -> String {
    format!(
        "workload \"{name}\" {{\n  match {{\n    {key} = {value}\n  }}\n  policies = [\"p\"]\n}}\n"
    )
}

const UNIX: &str = "listener \"unix\" {\n  address = \"/run/sidekey/api.sock\"\n}\n";
const TCP: &str = "listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n  tls_disable = true\n}\n";

/// The warnings of a valid config, as `file:line: message` with files named without their directory.
fn warnings(c: &Config) -> Vec<String> {
    c.warnings
        .iter()
        .map(|w| {
            let dir = w.file.parent().unwrap_or(&w.file).display().to_string();
            format!("{}:{}: {}", w.file.display(), w.line, w.message)
                .replace(&format!("{dir}/"), "")
        })
        .collect()
}

#[test]
fn names_and_unit_credential_pairs_are_unique_across_files() {
    let files = Files::new()
        .add("a.hcl", &format!("{UNIX}{}", workload("app", "uid", "1")))
        .add("b.hcl", &workload("app", "uid", "2"));
    let (file, line, message) = invalid_files(files);
    assert_eq!(
        (file.as_str(), line),
        ("b.hcl", 1),
        "the second definition is named"
    );
    assert!(
        message.starts_with("workload \"app\": already defined at ")
            && message.ends_with("a.hcl:4"),
        "{message}"
    );
    let cred = |name: &str, uid: u32| {
        format!(
            "workload \"{name}\" {{\n  match {{\n    uid = {uid}\n  }}\n  policies = [\"p\"]\n  credential \"db\" {{\n    unit = \"app.service\"\n    contents = \"x\"\n  }}\n}}\n"
        )
    };
    let (_, line, message) = invalid("agent.hcl", &format!("{}{}", cred("a", 1), cred("b", 2)));
    assert_eq!(line, 16);
    assert!(
        message.starts_with(
            "workload \"b\": credential \"db\": unit \"app.service\" already has a credential \"db\" at "
        ) && message.ends_with("agent.hcl:6"),
        "{message}"
    );
    // The same id for another unit is another credential.
    let other_unit = cred("b", 2).replace("app.service", "other.service");
    ok("agent.hcl", &format!("{UNIX}{}{other_unit}", cred("a", 1)));
}

#[test]
fn one_credentials_listener_across_files() {
    let listener = "listener \"credentials\" {\n  address = \"/c.sock\"\n}\n";
    let files = Files::new().add("a.hcl", listener).add("b.hcl", listener);
    let (file, line, message) = invalid_files(files);
    assert_eq!((file.as_str(), line), ("b.hcl", 1));
    assert!(
        message.starts_with("listener \"credentials\": already given in ")
            && message.contains("a.hcl:1;"),
        "{message}"
    );
}

#[test]
fn the_auto_auth_token_beside_a_unix_listener_that_serves_workloads_is_refused_naming_both_lines() {
    for (stanza, key) in [
        ("api_proxy", "api_proxy.use_auto_auth_token"),
        ("cache", "cache.use_auto_auth_token"),
    ] {
        for value in ["true", "\"force\""] {
            let text = format!(
                "{AUTO_AUTH}{UNIX}{stanza} {{\n  use_auto_auth_token = {value}\n}}\n{}",
                workload("a", "uid", "1")
            );
            let (_, line, message) = invalid("agent.hcl", &text);
            assert_eq!(line, 12, "{stanza} {value}");
            assert!(
                message.starts_with(&format!(
                    "{key}: cannot be used with workload stanzas: the listener \"unix\" at "
                )) && message.contains("agent.hcl:8 serves each caller with its workload's token, never the agent's; remove"),
                "{message}"
            );
        }
    }
    // api_proxy's `false` wins over the cache's `true`: nothing asks for the token.
    let text = format!(
        "{AUTO_AUTH}{UNIX}cache {{\n  use_auto_auth_token = true\n}}\napi_proxy {{\n  use_auto_auth_token = false\n}}\n{}",
        workload("a", "uid", "1")
    );
    ok("agent.hcl", &text);
    // Without workloads the unix listener is Vault Agent's API proxy and hands out the token.
    ok(
        "agent.hcl",
        &format!("{AUTO_AUTH}{UNIX}api_proxy {{\n  use_auto_auth_token = true\n}}\n"),
    );
}

#[test]
fn the_auto_auth_token_beside_tcp_listeners_only_is_a_warning() {
    let text = format!(
        "{AUTO_AUTH}{TCP}api_proxy {{\n  use_auto_auth_token = true\n}}\nlistener \"credentials\" {{\n  address = \"/c.sock\"\n}}\n{}",
        workload("a", "uid", "1")
    );
    let c = ok("agent.hcl", &text);
    let w = warnings(&c);
    assert!(
        w.iter().any(|w| w.starts_with("agent.hcl:13: api_proxy.use_auto_auth_token: every local process can use the agent's token through the listener \"tcp\" at ")
            && w.contains(" at agent.hcl:8, whatever its workload")),
        "{w:?}"
    );
}

#[test]
fn workloads_no_caller_can_reach_and_a_credentials_listener_with_nothing_to_serve_are_warned_about()
{
    let c = ok(
        "agent.hcl",
        &format!("{AUTO_AUTH}{TCP}{}", workload("a", "uid", "1")),
    );
    assert_eq!(
        warnings(&c),
        [
            "agent.hcl:12: workload \"a\": no listener \"unix\" or listener \"credentials\" is configured, and it \
          has no template, so it serves nothing; add e.g. listener \"unix\" { address = \"/run/sidekey/api.sock\" }"
        ]
    );
    // A workload with files of its own serves them without any listener.
    let with_files = format!(
        "{AUTO_AUTH}{TCP}workload \"a\" {{\n  match {{\n    uid = 1\n  }}\n  policies = [\"a\"]\n  template {{\n    \
         contents = \"x\"\n    destination = \"/dev/shm/a\"\n  }}\n}}\n"
    );
    assert!(warnings(&ok("agent.hcl", &with_files)).is_empty());
    let c = ok(
        "agent.hcl",
        &format!(
            "{AUTO_AUTH}{}listener \"credentials\" {{\n  address = \"/c.sock\"\n}}\n",
            workload("a", "uid", "1")
        ),
    );
    assert_eq!(
        warnings(&c),
        [
            "agent.hcl:14: listener \"credentials\": no workload has a credential \"ID\" { unit, contents }, so \
          every unit that asks is refused"
        ]
    );
    // A unix listener alone reaches the workloads; so does a credentials listener with a credential.
    assert!(
        warnings(&ok(
            "agent.hcl",
            &format!("{AUTO_AUTH}{UNIX}{}", workload("a", "uid", "1"))
        ))
        .is_empty()
    );
}

#[test]
fn a_credential_without_a_credentials_listener_is_warned_about() {
    let text = format!(
        "{AUTO_AUTH}{UNIX}workload \"a\" {{\n  match {{\n    uid = 1\n  }}\n  policies = [\"a\"]\n  \
         credential \"db\" {{\n    unit = \"a.service\"\n    contents = \"x\"\n  }}\n}}\n"
    );
    assert_eq!(
        warnings(&ok("agent.hcl", &text)),
        [
            "agent.hcl:16: workload \"a\": credential \"db\": no listener \"credentials\" is configured, so no \
             unit can load it; add e.g. listener \"credentials\" { address = \"/run/sidekey/creds.sock\" }"
        ]
    );
}

#[test]
fn enable_quit_on_a_unix_listener_beside_workloads_is_warned_about() {
    let quit = "listener \"unix\" {\n  address = \"/q.sock\"\n  agent_api {\n    enable_quit = true\n  }\n}\n";
    let text = format!("{AUTO_AUTH}{quit}{}", workload("a", "uid", "1"));
    assert_eq!(
        warnings(&ok("agent.hcl", &text)),
        [
            "agent.hcl:8: listener \"unix\": enable_quit: with workload stanzas this listener serves \
             workloads' callers, who are refused /agent/v1/quit (any of them could stop the agent); serve it \
             on a listener \"tcp\" instead"
        ]
    );
    // Without workloads it is the usual key.
    assert!(warnings(&ok("agent.hcl", &format!("{AUTO_AUTH}{quit}"))).is_empty());
}

#[test]
fn workloads_made_with_the_agents_token_without_auto_auth_are_warned_about() {
    let want = [
        "agent.hcl:4: workload \"a\": there is no auto_auth stanza, so workload tokens are created with the \
         agent's token from BAO_TOKEN/VAULT_TOKEN/~/.vault-token; use auto_auth for a token that is renewed and \
         re-obtained",
    ];
    let two = format!(
        "{UNIX}{}{}",
        workload("a", "uid", "1"),
        workload("b", "uid", "2")
    );
    assert_eq!(warnings(&ok("agent.hcl", &two)), want, "one warning");
    // A workload with its own login needs no token of the agent's.
    let own = format!(
        "{UNIX}workload \"a\" {{\n  match {{\n    uid = 1\n  }}\n  auto_auth {{\n    method \"token_file\" {{\n      \
         config = {{\n        token_file_path = \"/t\"\n      }}\n    }}\n  }}\n}}\n"
    );
    assert!(warnings(&ok("agent.hcl", &own)).is_empty());
}

/// The overlap warnings of two workloads matching `a` and `b` (each `key = value`).
fn overlaps(a: (&str, &str), b: (&str, &str)) -> Vec<String> {
    let text = format!(
        "{AUTO_AUTH}{UNIX}{}{}",
        workload("a", a.0, a.1),
        workload("b", b.0, b.1)
    );
    warnings(&ok("agent.hcl", &text))
}

#[test]
fn overlapping_matches_are_warned_about_naming_both_workloads_and_lines() {
    let want = [
        "agent.hcl:18: workload \"b\": its match may accept the same caller as workload \"a\"'s match at \
                 agent.hcl:12; a caller matching both is refused at run time (give both a key that tells them apart, \
                 e.g. different uids or units)",
    ];
    // No key in common: both may take one caller.
    assert_eq!((overlaps(("uid", "1000"), ("unit", "\"b.service\""))), want);
    assert_eq!((overlaps(("uid", "1000"), ("uid", "1000"))), want);
    // The same digest, whatever its case.
    let digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(
        (overlaps(
            ("sha256", &format!("\"{digest}\"")),
            ("sha256", &format!("\"{}\"", digest.to_uppercase()))
        )),
        want
    );
    // `root` is uid 0 on every host.
    assert_eq!((overlaps(("user", "\"root\""), ("uid", "0"))), want);
    // A name this host does not know may be any uid.
    assert_eq!(
        (overlaps(("user", "\"skt-nobody-here\""), ("uid", "1000"))),
        want
    );
    for (a, b) in [
        ("\"/system.slice/*\"", "\"/system.slice/app-b.service\""),
        (
            "\"/kubepods/**/cri-containerd-*.scope\"",
            "\"/kubepods/besteffort/**\"",
        ),
        (
            "\"/system.slice/app-a.service\"",
            "\"/system.slice/app-a.service\"",
        ),
    ] {
        assert_eq!((overlaps(("cgroup", a), ("cgroup", b))), want, "{a} {b}");
    }
}

#[test]
fn matches_a_key_tells_apart_are_not_warned_about() {
    for (a, b) in [
        (("uid", "1000"), ("uid", "1001")),
        (("gid", "10"), ("gid", "11")),
        (("user", "\"app-a\""), ("user", "\"app-b\"")),
        (("group", "\"app-a\""), ("group", "\"app-b\"")),
        (("unit", "\"a.service\""), ("unit", "\"b.service\"")),
        (("exe", "\"/usr/bin/a\""), ("exe", "\"/usr/bin/b\"")),
        (("user", "\"root\""), ("uid", "1000")),
        (("gid", "1000"), ("group", "\"root\"")),
        (
            ("cgroup", "\"/system.slice/app-a.service\""),
            ("cgroup", "\"/system.slice/app-b.service\""),
        ),
        (
            ("cgroup", "\"/kubepods/**\""),
            ("cgroup", "\"/system.slice/*.service\""),
        ),
    ] {
        assert!(
            overlaps(a, b).is_empty(),
            "{a:?} {b:?}: {:?}",
            overlaps(a, b)
        );
    }
    let digest = |c: char| format!("\"{}\"", c.to_string().repeat(64));
    assert!(overlaps(("sha256", &digest('a')), ("sha256", &digest('b'))).is_empty());
    // One key that differs is enough, whatever else the matches share.
    let text = format!(
        "{AUTO_AUTH}{UNIX}workload \"a\" {{\n  match {{\n    uid = 1000\n    unit = \"x.service\"\n  }}\n  policies = [\"p\"]\n}}\n{}",
        workload("b", "uid", "1001")
    );
    assert!(warnings(&ok("agent.hcl", &text)).is_empty());
}
