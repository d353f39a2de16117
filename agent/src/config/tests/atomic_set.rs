//! `atomic_set` (sidekey): read from HCL and JSON, refused with `backup` and on names the layout uses.

use super::{invalid, ok};

#[test]
fn atomic_set_reads_the_same_from_hcl_and_json() {
    let hcl = ok(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/cert.pem\"\n  atomic_set = true\n}\n",
    );
    let json = ok(
        "agent.json",
        r#"{"template": [{"contents": "x", "destination": "/dev/shm/t/cert.pem", "atomic_set": true}]}"#,
    );
    assert!(hcl.templates[0].atomic_set);
    assert_eq!(hcl.templates, json.templates);
    let plain = ok(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/a\"\n}\n",
    );
    assert!(!plain.templates[0].atomic_set);
}

#[test]
fn atomic_set_with_backup_or_a_dot_dot_name_is_refused_naming_the_line() {
    let (file, line, message) = invalid(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/a\"\n  backup = true\n  atomic_set = true\n}\n",
    );
    assert_eq!((file.as_str(), line), ("agent.hcl", 5), "{message}");
    assert!(
        message.contains("atomic_set") && message.contains("backup"),
        "{message}"
    );
    let (_, line, message) = invalid(
        "agent.hcl",
        "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/..data\"\n  atomic_set = true\n}\n",
    );
    assert_eq!(line, 4, "{message}");
    assert!(message.contains("\"..\""), "{message}");
}

#[test]
fn members_of_one_set_that_differ_in_a_shared_setting_are_refused_naming_both() {
    let first = "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/./a\"\n  atomic_set = true\n}\n";
    let second = "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/b\"\n  atomic_set = true\n  allow_non_tmpfs = true\n  user = \"nobody\"\n}\n";
    let (file, line, message) = invalid("agent.hcl", &format!("{first}{second}"));
    assert_eq!((file.as_str(), line), ("agent.hcl", 6), "{message}");
    assert!(
        message.contains("user, allow_non_tmpfs")
            && message.contains("agent.hcl:1")
            && message.contains("/dev/shm/t"),
        "{message}"
    );
    let elsewhere = second.replace("/dev/shm/t/b", "/dev/shm/u/b");
    ok("agent.hcl", &format!("{first}{elsewhere}"));
    let alike = "template {\n  contents = \"x\"\n  destination = \"/dev/shm/t/b\"\n  atomic_set = true\n}\n";
    ok("agent.hcl", &format!("{first}{alike}"));
}
