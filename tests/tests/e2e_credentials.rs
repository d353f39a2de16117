//! End-to-end test of `listener "credentials"` (issue 15, acceptance 3) against a real OpenBao: the test
//! plays systemd's side of `LoadCredential=ID:/run/sidekey/creds.sock` (bind the abstract address systemd
//! connects from, `\0RANDOM/unit/UNIT/ID`, connect, read to EOF) as root and as another user.

// Test code: a failed expectation is a failed test; wall-clock time is what the user sees here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sidekey_tests::background::{Background, wait_until};
use sidekey_tests::hcl::{self, AutoAuth};
use sidekey_tests::process::{Finished, run_with_timeout};
use sidekey_tests::users::TestUser;
use sidekey_tests::{Setup, ShmDir, random_hex};

/// What systemd does for `LoadCredential=`: a stream socket bound to an abstract name, connected to the
/// credential socket, read to EOF. Prints what it read on stdout and its pid on stderr.
const SYSTEMD: &str = r#"
import os, socket, sys
path, name = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\0" + name.encode())
s.connect(path)
sys.stderr.write(str(os.getpid()))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
"#;

/// `python3` from the system (a user other than root cannot run root's pyenv shims).
const PYTHON: &str = "/usr/bin/python3";

/// Policy `cred-agent`: the agent's token may create the workloads' tokens as its children.
const AGENT_POLICY: &str = r#"path "auth/token/create" { capabilities = ["update"] }"#;

/// Load credential `id` for `unit` from `sock` as `user` (root when `None`): what was read, and the pid
/// that asked.
fn load(sock: &Path, unit: &str, id: &str, user: Option<&TestUser>) -> (String, i64) {
    let name = format!("{}/unit/{unit}/{id}", random_hex(8));
    let mut cmd = match user {
        Some(u) => u.command(PYTHON),
        None => Command::new(PYTHON),
    };
    cmd.args(["-c", SYSTEMD]).arg(sock).arg(&name);
    let out: Finished = run_with_timeout(cmd, Duration::from_secs(10));
    assert_eq!(out.code(), 0, "{}", out.show());
    let pid = out
        .stderr
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}", out.show()));
    (out.stdout, pid)
}

/// Acceptance 3: root asking for `app-a.service`'s `db-password` gets the workload's template rendered
/// with a KV value read from the server with the workload's own token; another user, an unknown unit and
/// an unknown id get nothing; every connection is a `credential.serve` event naming the unit, the id and
/// who asked.
#[test]
fn systemd_loads_a_credential_rendered_for_the_units_workload() {
    let fx = Setup::new().start();
    fx.bao.write(
        "sys/policies/acl/cred-agent",
        json!({ "policy": AGENT_POLICY }),
    );
    // The agent holds `app` so that the workload's child token may have it.
    let created = fx.bao.write(
        "auth/token/create",
        json!({ "policies": ["cred-agent", "app"], "ttl": "1h" }),
    );
    let agent_token = fx.write_file(
        "agent-token",
        created["auth"]["client_token"].as_str().unwrap(),
    );
    let user = TestUser::create("skt-d");
    let out = ShmDir::new();
    // The other user must reach the socket to be refused by sidekey rather than by the directory.
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (sock, audit) = (out.join("creds.sock"), out.join("audit.log"));
    let contents =
        r#"password={{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}"#;
    let credential = hcl::block(
        "credential \"db-password\"",
        &[
            &hcl::attr("unit", "app-a.service"),
            &hcl::attr("contents", contents),
        ],
    );
    let matcher = hcl::block("match", &[&hcl::attr("unit", "app-a.service")]);
    let text = [
        hcl::vault(&fx.addr()),
        AutoAuth::token_file(&agent_token).to_string(),
        hcl::audit(&audit, &[]),
        hcl::block(
            "listener \"credentials\"",
            &[&hcl::attr_path("address", &sock)],
        ),
        hcl::block(
            "workload \"app-a\"",
            &[&matcher, "policies = [\"app\"]\n", &credential],
        ),
    ]
    .concat();
    let cfg = fx.write_config(&text);
    let mut agent = Background::start(&["run", "-c", cfg.to_str().unwrap()], &[], fx.dir.path());
    let logged_in = wait_until(Duration::from_secs(20), || {
        !agent.running()
            || sidekey_tests::audit::events_so_far(&audit)
                .iter()
                .any(|e| e["event"] == "auth.login")
    });
    assert!(
        logged_in && sock.exists(),
        "never ready: {}",
        agent.stderr()
    );
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "the peer's uid is the gate, not the file mode");

    let (served, root_pid) = load(&sock, "app-a.service", "db-password", None);
    assert_eq!(served, format!("password={}", fx.sentinel));
    let (as_user, _) = load(&sock, "app-a.service", "db-password", Some(&user));
    assert_eq!(as_user, "", "a peer that is not root gets nothing");
    assert_eq!(load(&sock, "app-b.service", "db-password", None).0, "");
    assert_eq!(load(&sock, "app-a.service", "api-key", None).0, "");

    let events = sidekey_tests::audit::events_so_far(&audit);
    let serves: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "credential.serve")
        .collect();
    assert_eq!(serves.len(), 4, "{events:#?}");
    let ok = serves[0];
    assert_eq!(ok["outcome"], "success");
    assert_eq!(ok["credential"]["unit"], "app-a.service");
    assert_eq!(ok["credential"]["id"], "db-password");
    assert_eq!(ok["caller"]["pid"], root_pid);
    assert_eq!(ok["caller"]["uid"], 0);
    assert_eq!(ok["caller"]["unit"], "app-a.service");
    assert_eq!(ok["caller"]["workload"], "app-a");
    // The workload's own token, a child of the agent's restricted to its policies, named for it.
    let accessor = ok["caller"]["token_accessor"].as_str().unwrap();
    let token = fx.bao.write(
        "auth/token/lookup-accessor",
        json!({ "accessor": accessor }),
    );
    assert_eq!(token["data"]["meta"]["workload"], "app-a", "{token}");
    assert_eq!(
        token["data"]["policies"],
        json!(["app", "default"]),
        "{token}"
    );
    let refused = serves[1];
    assert_eq!(refused["outcome"], "failure");
    assert_eq!(refused["caller"]["uid"], user.uid);
    assert_eq!(refused["credential"]["id"], "db-password");
    let why = refused["error"].as_str().unwrap();
    assert!(why.contains(&format!("uid {}", user.uid)), "{why}");
    for (e, unit, id) in [
        (serves[2], "app-b.service", "db-password"),
        (serves[3], "app-a.service", "api-key"),
    ] {
        assert_eq!(e["outcome"], "failure");
        assert_eq!(
            e["error"],
            format!("no workload has credential {id:?} for unit {unit:?}")
        );
    }
    // The token's creation and the read the credential caused name the caller too.
    let created = events
        .iter()
        .find(|e| e["event"] == "auth.login" && e["caller"]["workload"] == "app-a")
        .unwrap_or_else(|| panic!("no auth.login for the workload's token: {events:#?}"));
    assert_eq!(created["caller"]["unit"], "app-a.service");
    assert_eq!(created["identity"]["token_accessor"], accessor);
    let read = events
        .iter()
        .find(|e| e["event"] == "secret.read" && e["caller"]["workload"] == "app-a")
        .unwrap_or_else(|| panic!("no secret.read for the credential: {events:#?}"));
    assert_eq!(read["secret"]["path"], "secret/data/app/config");
    assert_eq!(read["caller"]["unit"], "app-a.service");
    assert_eq!(read["identity"]["token_accessor"], accessor);
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        !log.contains(&fx.sentinel),
        "a secret value in the audit log"
    );
    assert!(!agent.stderr().contains(&fx.sentinel));

    assert_eq!(agent.stop(), Some(0), "{}", agent.stderr());
    assert!(!sock.exists(), "the socket is removed at stop");
}
