//! `credential "ID"` stanzas inside a workload and `listener "credentials"`: ids systemd accepts, the
//! required keys, and contents that parse as a template.

use super::{MATCH, in_workload, refused};
use crate::config::tests::{invalid, ok};

/// A workload body with one `credential "ID"` stanza (line 9) of body `text`.
fn credential(id: &str, text: &str) -> String {
    format!("{MATCH}  policies = [\"a\"]\n  credential \"{id}\" {{\n{text}  }}\n")
}

const CREDENTIAL: &str = "    unit = \"a.service\"\n    contents = \"x\"\n";

#[test]
fn credential_ids_are_file_names_systemd_accepts() {
    let named = |why: &str, id: &str| (9, format!("workload.a.credential {id:?}: {why}"));
    let not_a_file = "is not a file name: the id names a file in the unit's $CREDENTIALS_DIRECTORY";
    assert_eq!(
        refused(&credential("", CREDENTIAL)),
        named(
            "needs an id, the ID of the unit's LoadCredential=ID:/run/sidekey/creds.sock",
            ""
        )
    );
    assert_eq!(
        refused(&credential("db/password", CREDENTIAL)),
        named(not_a_file, "db/password")
    );
    assert_eq!(
        refused(&credential("..", CREDENTIAL)),
        named(not_a_file, "..")
    );
    let long = "x".repeat(256);
    assert_eq!(
        refused(&credential(&long, CREDENTIAL)),
        named("is 256 bytes long; systemd takes ids of at most 255", &long)
    );
    let c = ok(
        "agent.hcl",
        &in_workload(&credential(&"x".repeat(255), CREDENTIAL)),
    );
    assert_eq!(c.workloads[0].credentials[0].id.len(), 255);
}

#[test]
fn a_credential_needs_a_unit_and_contents_that_parse_as_a_template() {
    assert_eq!(
        refused(&credential("db", "    contents = \"x\"\n")),
        (9, "workload.a.credential.db.unit: required".into())
    );
    assert_eq!(
        refused(&credential("db", "    unit = \"a.service\"\n")),
        (9, "workload.a.credential.db.contents: required".into())
    );
    assert_eq!(
        refused(&credential(
            "db",
            "    unit = \"a.service\"\n    contents = <<EOT\nok\n{{ nope }}\nEOT\n"
        )),
        (
            9,
            "workload.a.credential.db.contents: not a valid template: line 2, column 4: function \"nope\" not defined".into()
        )
    );
    let (line, message) = refused(&credential(
        "db",
        "    unit = \"a.service\"\n    contents = \"{{ writeToFile \\\"/tmp/x\\\" \\\"\\\" \\\"\\\" \\\"0600\\\" \\\"y\\\" }}\"\n",
    ));
    assert_eq!(line, 9);
    assert_eq!(
        message,
        "workload.a.credential.db.contents: line 1, column 4: writeToFile is not available in a \
         credential: its contents go to systemd, which writes them to the unit's credentials directory"
    );
    assert_eq!(
        refused(&credential(
            "db",
            "    unit = \"a.service\"\n    content = \"x\"\n"
        )),
        (
            11,
            "workload.a.credential.db.content: unknown key (did you mean \"contents\"?)".into()
        )
    );
}

#[test]
fn a_credential_unit_is_a_unit_name_that_can_load_credentials() {
    let unit = |name: &str| format!("    unit = \"{name}\"\n    contents = \"x\"\n");
    for (name, want) in [
        (
            "foo",
            "\"foo\" is not a systemd unit name: expected NAME.TYPE, TYPE one of service, socket, mount, swap, \
             e.g. \"app-a.service\"",
        ),
        (
            "../a.service",
            "\"../a.service\" is not a systemd unit name: '/' is not allowed (a unit name has letters, digits \
             and :-_.\\@ only, no path)",
        ),
        (
            "a.timer",
            "\"a.timer\" is a .timer unit; a unit that can take LoadCredential= is a .service, .socket, .mount, \
             .swap",
        ),
    ] {
        assert_eq!(
            refused(&credential("db", &unit(name))),
            (10, format!("workload.a.credential.db.unit: {want}")),
            "{name}"
        );
    }
    for name in [
        "a.service",
        "getty@tty1.service",
        "a.socket",
        "run-x.mount",
        "dev-sda2.swap",
    ] {
        ok("agent.hcl", &in_workload(&credential("db", &unit(name))));
    }
}

#[test]
fn the_credentials_listener_takes_an_absolute_path_and_nothing_else() {
    let listener = |body: &str| format!("listener \"credentials\" {{\n{body}}}\n");
    for (text, want) in [
        (
            listener("  address = \"creds.sock\"\n"),
            (
                2,
                "listener.address: \"creds.sock\" is not an absolute path (a unit's LoadCredential=ID:PATH names the socket by it)",
            ),
        ),
        (
            listener("  address = \"/c.sock\"\n  socket_mode = \"0600\"\n"),
            (
                3,
                "listener.socket_mode is not supported by sidekey (listener \"credentials\" takes only address)",
            ),
        ),
        (
            listener("  address = \"/a.sock\"\n") + &listener("  address = \"/b.sock\"\n"),
            (4, "listener \"credentials\": given twice"),
        ),
    ] {
        let (_, line, message) = invalid("agent.hcl", &text);
        assert_eq!((line, message.as_str()), want);
    }
}
