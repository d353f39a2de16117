use std::time::Duration;

use secrecy::SecretString;

use super::*;

fn asked(unit: &str, id: &str) -> CredentialMeta {
    CredentialMeta {
        unit: unit.into(),
        id: id.into(),
    }
}

#[test]
fn systemds_address_names_the_unit_and_the_credential() {
    let name = b"adf9d86b6eda275e/unit/app-a.service/db-password";
    assert_eq!(
        requested(Some(name)),
        Ok(asked("app-a.service", "db-password"))
    );
    // Template instances and escaped unit names are units too.
    assert_eq!(
        requested(Some(b"0123/unit/getty@tty1.service/x.pem")),
        Ok(asked("getty@tty1.service", "x.pem"))
    );
    assert_eq!(
        requested(Some(b"0123/unit/mnt-a\\x2db.mount/pw")),
        Ok(asked("mnt-a\\x2db.mount", "pw"))
    );
}

#[test]
fn any_other_address_is_refused() {
    assert_eq!(requested(None), Err(AddressError::NotAbstract));
    assert_eq!(
        requested(Some(b"0123/unit/app\xff.service/pw")),
        Err(AddressError::NotUtf8)
    );
    for (name, why) in [
        (&b"0123/app-a.service/pw"[..], "no \"/unit/\""),
        (
            b"/unit/app-a.service/pw",
            "the random prefix is not alphanumeric",
        ),
        (
            b"01 23/unit/app-a.service/pw",
            "the random prefix is not alphanumeric",
        ),
        (b"0123/unit/app-a.service", "no credential id"),
        (b"0123/unit/app-a.service/", "not a credential id"),
        (b"0123/unit//pw", "not a unit name"),
        (
            b"0123/unit/app-a.service/db/password",
            "not a credential id",
        ),
        (b"0123/unit/app-a.service//pw", "not a credential id"),
        (b"0123/unit/app-a.service/..", "not a credential id"),
        (b"0123/unit/app-a.service/pw\0", "not a credential id"),
        (b"0123/unit/app a.service/pw", "not a unit name"),
        (
            b"01/23/unit/app-a.service/pw",
            "the random prefix is not alphanumeric",
        ),
    ] {
        assert_eq!(
            requested(Some(name)),
            Err(AddressError::Malformed(why)),
            "{}",
            String::from_utf8_lossy(name)
        );
    }
}

/// The template's `env` function, without the process environment.
struct Env;

impl EnvSource for Env {
    fn var(&self, name: &str) -> Option<String> {
        (name == "DB_USER").then(|| "alice".to_string())
    }
    fn vars_os(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        Vec::new()
    }
}

fn origin(line: usize) -> crate::config::Origin {
    crate::config::Origin {
        file: "/etc/sidekey/agent.hcl".into(),
        line,
    }
}

fn workload(name: &str, credentials: &[(&str, &str, &str)]) -> WorkloadConfig {
    WorkloadConfig {
        name: name.into(),
        matcher: crate::config::CallerMatch::default(),
        policies: Vec::new(),
        token_role: None,
        auto_auth: None,
        credentials: credentials
            .iter()
            .enumerate()
            .map(
                |(i, (id, unit, contents))| crate::config::CredentialConfig {
                    id: (*id).into(),
                    unit: (*unit).into(),
                    contents: (*contents).into(),
                    origin: origin(10 + i),
                },
            )
            .collect(),
        origin: origin(1),
    }
}

/// An engine whose table already holds `app-a`'s token (so no server is asked for one), and the
/// workloads' tokens made with it.
fn tokens(auditor: &Auditor) -> (crate::lease::Engine, WorkloadTokens) {
    use crate::lease::proxied::{HeldKind, NewHeld, Parent};
    let engine = crate::lease::Engine::new(
        Arc::new(crate::config::Config::default()),
        Client::plain("http://127.0.0.1:1"),
        Vec::new(),
        Vec::new(),
        auditor.clone(),
        Arc::new(Env),
        false,
    );
    let leases = engine.proxy_leases();
    let held = NewHeld {
        kind: HeldKind::Token {
            accessor: "acc-app-a".into(),
            print: leases.token_print(&SecretString::from("s.app-a".to_string())),
        },
        renew_with: SecretString::from("s.app-a".to_string()),
        parent: Parent::None,
        path: "auth/token/create".into(),
        ttl: Duration::from_secs(3600),
        renewable: true,
    };
    // Made with the settings `workload` gives every workload.
    let settings = crate::workload::tokens::settings_print(&leases, &workload("app-a", &[]));
    leases.lock().hold_workload_token(held, "app-a", settings);
    let tokens = WorkloadTokens::new(&engine, auditor.clone());
    (engine, tokens)
}

/// Start the listener at `l` for `workloads`, published by the engine that comes back with it.
fn start(
    l: &CredentialListener,
    workloads: &[WorkloadConfig],
    auditor: Auditor,
) -> Result<(Credentials, crate::lease::Engine), String> {
    let (engine, tokens) = tokens(&auditor);
    engine.publish_workloads(Workloads::compile(workloads).map_err(|e| e.to_string())?);
    let c = Credentials::start(
        l,
        engine.workloads(),
        engine.proxy_client(),
        tokens,
        auditor,
        Arc::new(Env),
    )
    .map_err(|e| e.to_string())?;
    Ok((c, engine))
}

/// Connect to `path` as systemd does (bound to `\0RANDOM/unit/UNIT/ID` when `from` is given) and read
/// to EOF.
async fn load(path: &std::path::Path, from: Option<&str>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let s = tokio::net::UnixSocket::new_stream().unwrap();
    if let Some(name) = from {
        s.bind(format!("\0{name}")).unwrap();
    }
    let mut conn = s.connect(path).await.unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).await.unwrap();
    got
}

#[tokio::test]
async fn root_gets_the_rendered_credential_anything_else_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = (dir.path().join("creds.sock"), dir.path().join("audit.log"));
    let audit = crate::config::AuditConfig {
        file: Some(log.clone()),
        ..crate::config::AuditConfig::default()
    };
    let l = CredentialListener {
        path: path.clone(),
        origin: origin(5),
    };
    let workloads = [workload(
        "app-a",
        &[("db-user", "app-a.service", "user={{ env \"DB_USER\" }}")],
    )];
    let (c, _engine) = start(&l, &workloads, Auditor::from_config(&audit, None).unwrap()).unwrap();
    let served = load(&path, Some("0f3a9c/unit/app-a.service/db-user")).await;
    assert_eq!(served, b"user=alice");
    assert!(
        load(&path, Some("0f3a9c/unit/app-b.service/db-user"))
            .await
            .is_empty()
    );
    assert!(
        load(&path, Some("0f3a9c/unit/app-a.service/db-pass"))
            .await
            .is_empty()
    );
    assert!(load(&path, None).await.is_empty());
    c.stop().await;
    assert!(!path.exists(), "the socket is removed at stop");

    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 4, "{text}");
    assert!(events.iter().all(|e| e["event"] == "credential.serve"));
    assert!(events.iter().all(|e| e["caller"]["uid"] == 0));
    assert_eq!(events[0]["outcome"], "success");
    assert_eq!(events[0]["credential"]["unit"], "app-a.service");
    assert_eq!(events[0]["credential"]["id"], "db-user");
    assert_eq!(events[0]["caller"]["unit"], "app-a.service");
    assert_eq!(events[0]["caller"]["workload"], "app-a");
    assert_eq!(events[0]["caller"]["token_accessor"], "acc-app-a");
    assert_eq!(events[1]["outcome"], "failure");
    assert_eq!(
        events[1]["error"],
        "no workload has credential \"db-user\" for unit \"app-b.service\""
    );
    assert_eq!(events[2]["credential"]["id"], "db-pass");
    assert_eq!(events[3]["credential"], serde_json::Value::Null);
    assert_eq!(
        events[3]["error"],
        "the peer's address is not an abstract socket name"
    );
    assert!(!text.contains("alice"), "{text}");
}

#[tokio::test]
async fn bad_credential_stanzas_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let l = CredentialListener {
        path: dir.path().join("creds.sock"),
        origin: origin(5),
    };
    let start = |w: &[WorkloadConfig]| start(&l, w, Auditor::disabled()).map(|_| ());
    let e = start(&[workload("a", &[("pw", "a.service", "{{ end }}")])]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/etc/sidekey/agent.hcl:10: credential \"pw\": "),
        "{e}"
    );
    let writes = [workload(
        "a",
        &[(
            "pw",
            "a.service",
            "{{ writeToFile \"/tmp/x\" \"\" \"\" \"0600\" \"x\" }}",
        )],
    )];
    assert!(start(&writes).is_err(), "no side files from a credential");
    std::fs::write(&l.path, "not a socket").unwrap();
    let e = start(&[]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "/etc/sidekey/agent.hcl:5: listener \"credentials\" ({}): a file that is not a socket is in the way",
            l.path.display()
        )
    );
}

#[tokio::test]
async fn a_reload_changes_what_is_served_from_the_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds.sock");
    let l = CredentialListener {
        path: path.clone(),
        origin: origin(5),
    };
    let before = [workload("app-a", &[("db-user", "app-a.service", "old")])];
    let (c, engine) = start(&l, &before, Auditor::disabled()).unwrap();
    let ask = |id: &'static str| load(&path, Some(id));
    assert_eq!(ask("0f3a9c/unit/app-a.service/db-user").await, b"old");
    // What a reload publishes: the contents changed, a credential added.
    let after = [workload(
        "app-a",
        &[
            ("db-user", "app-a.service", "user={{ env \"DB_USER\" }}"),
            ("api-key", "app-a.service", "key"),
        ],
    )];
    engine.publish_workloads(Workloads::compile(&after).unwrap());
    assert_eq!(
        ask("0f3a9c/unit/app-a.service/db-user").await,
        b"user=alice"
    );
    assert_eq!(ask("0f3a9c/unit/app-a.service/api-key").await, b"key");
    // The workload removed: its credentials are not served any more.
    engine.publish_workloads(Workloads::compile(&[]).unwrap());
    assert!(ask("0f3a9c/unit/app-a.service/db-user").await.is_empty());
    c.stop().await;
}
