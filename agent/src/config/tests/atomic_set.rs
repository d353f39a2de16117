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
