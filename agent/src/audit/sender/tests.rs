use super::*;
use crate::audit::event::{AgentInfo, EventKind, Identity, Outcome, SecretMeta};

/// A `secret.read` event with a path that needs escaping in syslog's structured data.
pub(in crate::audit) fn event(outcome: Outcome) -> Event {
    let mut ev = crate::audit::format::tests::bare(EventKind::SecretRead);
    ev.time = "2026-11-30T14:30:02.114Z".into();
    ev.seq = 12;
    ev.outcome = outcome;
    ev.agent = AgentInfo {
        id: "6f1c0d5e9a2b4c7d".into(),
        host: "web-7d9f".into(),
        pid: 4242,
        version: "0.1.0",
    };
    ev.identity = Some(Identity {
        method: "jwt".into(),
        mount: "auth/jwt".into(),
        role: "app".into(),
        subject: "system:serviceaccount:default:app".into(),
        token_accessor: "hT0bYl0m2kQm".into(),
    });
    ev.secret = Some(SecretMeta {
        path: r#"secret/data/a"b]c\d"#.into(),
        lease_id: "database/creds/app/XyZ".into(),
        ..SecretMeta::default()
    });
    ev
}

#[test]
fn key_fields_name_the_event_and_leave_out_what_it_lacks() {
    let mut ev = event(Outcome::Success);
    let keys = key_fields(&ev);
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "event", "outcome", "seq", "agent_id", "path", "lease_id", "accessor", "subject"
        ]
    );
    assert_eq!(keys[0].1, Key::Str("secret.read".into()));
    assert_eq!(keys[1].1, Key::Str("success".into()));
    assert_eq!(keys[2].1, Key::Int(12));
    ev.secret = None;
    ev.identity = None;
    let names: Vec<&str> = key_fields(&ev).iter().map(|(k, _)| *k).collect();
    assert_eq!(names, ["event", "outcome", "seq", "agent_id"]);
}

#[tokio::test]
#[allow(clippy::panic)] // a thread that fails holding the spool is the case under test
async fn an_event_is_not_counted_as_kept_when_the_spool_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let post = http::Post::new("http://127.0.0.1:1/", None, Duration::from_secs(1)).unwrap();
    let spool = Spool::open(&dir.path().join("http.spool"), 1 << 20).unwrap();
    let s = Sender::start(Transport::Http(post), spool, 10, None);
    let ev = event(Outcome::Success);
    let held = s.spool.clone();
    let _ = std::thread::spawn(move || {
        let _g = held.lock().unwrap();
        panic!("poison the spool");
    })
    .join();
    let err = s.push(&ev, b"{}").unwrap_err();
    assert!(matches!(err, NotKept::Poisoned { sink: "http" }), "{err:?}");
    assert!(err.to_string().contains("http spool unusable"), "{err}");
}
