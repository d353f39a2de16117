//! The state file's settings: Vault Agent's `cache { persist "kubernetes" }` in its HCL and JSON forms,
//! sidekey's `persist "file"`, and `lease_state_file` / `lease_state_key_file`; one of them at most.

use std::path::Path;

use super::{Files, invalid, invalid_files, ok};
use crate::config::PersistKind;

#[test]
fn vault_agents_persist_kubernetes_is_a_directory_with_vaults_defaults() {
    let c = ok(
        "agent.hcl",
        "cache {\n  persist \"kubernetes\" {\n    path = \"/vault/agent-cache\"\n    key_file = \"/vault/key/key\"\n  }\n}\n",
    );
    let p = c.persist.expect("persist");
    assert_eq!(p.kind, PersistKind::Kubernetes);
    assert_eq!(p.path, Path::new("/vault/agent-cache/sidekey-state"));
    assert_eq!(p.key_file.as_deref(), Some(Path::new("/vault/key/key")));
    assert!(!p.keep_after_import && !p.exit_on_err && !p.allow_non_tmpfs);
    assert_eq!(p.origin.line, 2);
    assert!(p.origin.file.ends_with("agent.hcl"));
    assert_eq!(p.key_origin.map(|o| o.line), Some(4));
}

#[test]
fn the_type_may_be_a_key_and_the_block_json() {
    let c = ok(
        "agent.hcl",
        "cache {\n  persist {\n    type = \"kubernetes\"\n    path = \"/c\"\n    keep_after_import = true\n    exit_on_err = true\n  }\n}\n",
    );
    let p = c.persist.expect("persist");
    assert_eq!(p.kind, PersistKind::Kubernetes);
    assert!(p.keep_after_import && p.exit_on_err);
    let c = ok(
        "agent.json",
        r#"{"cache": {"persist": {"type": "file", "path": "/dev/shm/s", "key_file": "/k", "allow_non_tmpfs": true}}}"#,
    );
    let p = c.persist.expect("persist");
    assert_eq!(p.kind, PersistKind::File);
    assert_eq!(p.path, Path::new("/dev/shm/s"));
    assert!(p.allow_non_tmpfs);
}

#[test]
fn persist_file_keeps_its_file_by_default() {
    let c = ok(
        "agent.hcl",
        "cache {\n  persist \"file\" {\n    path = \"/run/sidekey/state\"\n    key_file = \"/etc/sidekey/state.key\"\n  }\n}\n",
    );
    let p = c.persist.expect("persist");
    assert_eq!(p.path, Path::new("/run/sidekey/state"));
    assert!(p.keep_after_import);
}

#[test]
fn service_account_token_file_loads_with_a_warning() {
    let c = ok(
        "agent.hcl",
        "cache {\n  persist \"kubernetes\" {\n    path = \"/c\"\n    service_account_token_file = \"/var/run/sa\"\n  }\n}\n",
    );
    let w: Vec<_> = c.warnings.iter().filter(|w| w.line == 4).collect();
    assert_eq!(w.len(), 1, "{:?}", c.warnings);
    assert!(
        w[0].message
            .starts_with("cache.persist.service_account_token_file: not used"),
        "{}",
        w[0].message
    );
}

#[test]
fn bad_persist_blocks_are_errors_naming_the_line() {
    for (text, line, start) in [
        (
            "cache {\n  persist {\n    path = \"/c\"\n  }\n}\n",
            2,
            "cache.persist: give the type",
        ),
        (
            "cache {\n  persist \"bolt\" {\n    path = \"/c\"\n  }\n}\n",
            2,
            "cache.persist: persist type \"bolt\" is not supported",
        ),
        (
            "cache {\n  persist \"kubernetes\" {\n    type = \"file\"\n    path = \"/c\"\n  }\n}\n",
            3,
            "cache.persist.type: \"file\" contradicts the block's label \"kubernetes\"",
        ),
        (
            "cache {\n  persist \"file\" {\n    key_file = \"/k\"\n  }\n}\n",
            2,
            "cache.persist.path: required",
        ),
        (
            "cache {\n  persist \"file\" {\n    path = \"/c\"\n    key_fille = \"/k\"\n  }\n}\n",
            4,
            "cache.persist.key_fille: unknown key (did you mean \"key_file\"?)",
        ),
        (
            "cache {\n  persist \"file\" {\n    path = \"/c\"\n  }\n  persist \"file\" {\n    path = \"/d\"\n  }\n}\n",
            5,
            "cache.persist: given twice (lines 2 and 5)",
        ),
        (
            "cache {\n  persist \"file\" {\n    path = \"/c\"\n    exit_on_err = \"maybe\"\n  }\n}\n",
            4,
            "cache.persist.exit_on_err:",
        ),
    ] {
        let (_, got_line, message) = invalid("agent.hcl", text);
        assert!(message.starts_with(start), "{message}");
        assert_eq!(got_line, line, "{message}");
    }
}

#[test]
fn lease_state_file_is_the_same_store_with_its_key_from_any_file() {
    let c = ok("agent.hcl", "lease_state_file = \"/dev/shm/state.json\"\n");
    let p = c.persist.expect("persist");
    assert_eq!(p.kind, PersistKind::LeaseStateFile);
    assert!(p.keep_after_import && p.key_file.is_none() && p.may_be_plain());
    let files = Files::new()
        .add("a.hcl", "lease_state_file = \"/dev/shm/state.json\"\n")
        .add(
            "b.hcl",
            "\nlease_state_key_file = \"/etc/sidekey/state.key\"\n",
        );
    let p = files.load().expect("valid").persist.expect("persist");
    assert_eq!(
        p.key_file.as_deref(),
        Some(Path::new("/etc/sidekey/state.key"))
    );
    let at = p.key_origin.expect("key origin");
    assert!(at.file.ends_with("b.hcl") && at.line == 2, "{at:?}");
    assert!(p.origin.file.ends_with("a.hcl"));
}

#[test]
fn one_state_file_at_most() {
    let (_, line, message) = invalid(
        "agent.hcl",
        "cache {\n  persist \"file\" {\n    path = \"/c\"\n    key_file = \"/k\"\n  }\n}\nlease_state_file = \"/s\"\n",
    );
    assert_eq!(line, 7);
    assert!(
        message.starts_with(
            "lease_state_file: the state file is already configured by cache.persist \"file\" at "
        ) && message.ends_with("agent.hcl:2; give one of them"),
        "{message}"
    );
    let (name, line, message) = invalid_files(
        Files::new()
            .add("a.hcl", "lease_state_key_file = \"/k\"\n")
            .add(
                "b.hcl",
                "template {\n  contents = \"x\"\n  destination = \"/dev/shm/x\"\n}\n",
            ),
    );
    assert_eq!((name.as_str(), line), ("a.hcl", 1));
    assert!(
        message.starts_with("lease_state_key_file: has no effect without lease_state_file"),
        "{message}"
    );
    let (_, _, message) = invalid(
        "agent.hcl",
        "lease_state_key_file = \"/k\"\nlease_state_key_file = \"/j\"\n",
    );
    assert!(message.contains("given twice"), "{message}");
}
