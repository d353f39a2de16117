//! `lease_check_interval`: the period of the engine's revocation check (sidekey, top level); 5 minutes when
//! absent, `0` turns it off, a period under a second is refused.

use std::time::Duration;

use super::{Files, invalid, invalid_files, ok};
use crate::config::LeaseCheck;

#[test]
fn absent_means_every_five_minutes() {
    let c = ok("agent.hcl", "pid_file = \"/run/p\"\n");
    assert_eq!(
        c.lease_check_interval,
        LeaseCheck(Some(Duration::from_secs(300)))
    );
}

#[test]
fn a_duration_or_seconds_sets_the_period_and_zero_turns_it_off() {
    for (text, want) in [
        (
            "lease_check_interval = \"2s\"\n",
            Some(Duration::from_secs(2)),
        ),
        (
            "lease_check_interval = \"1h30m\"\n",
            Some(Duration::from_secs(5400)),
        ),
        ("lease_check_interval = 90\n", Some(Duration::from_secs(90))),
        ("lease_check_interval = \"0\"\n", None),
        ("lease_check_interval = 0\n", None),
        ("lease_check_interval = \"0s\"\n", None),
    ] {
        let c = ok("agent.hcl", text);
        assert_eq!(c.lease_check_interval, LeaseCheck(want), "{text}");
    }
    let c = ok("agent.json", r#"{"lease_check_interval": "10m"}"#);
    assert_eq!(
        c.lease_check_interval,
        LeaseCheck(Some(Duration::from_secs(600)))
    );
}

#[test]
fn bad_values_name_the_key_and_line() {
    for (value, says) in [
        (
            "\"500ms\"",
            "shorter than 1s; give 1s or more, or 0 to turn the check off",
        ),
        ("\"-5s\"", "negative"),
        ("\"soon\"", "is not a duration"),
        ("true", "a duration"),
    ] {
        let text = format!("pid_file = \"/run/p\"\nlease_check_interval = {value}\n");
        let (file, line, message) = invalid("agent.hcl", &text);
        assert_eq!((file.as_str(), line), ("agent.hcl", 2), "{message}");
        assert!(message.starts_with("lease_check_interval: "), "{message}");
        assert!(message.contains(says), "{value}: {message}");
    }
}

#[test]
fn a_typo_gets_a_suggestion_and_a_misplaced_key_is_refused() {
    let (_, line, message) = invalid("agent.hcl", "\nlease_check_intervall = \"1m\"\n");
    assert_eq!(line, 2);
    assert_eq!(
        message,
        r#"lease_check_intervall: unknown key (did you mean "lease_check_interval"?)"#
    );
    let text = "template_config {\n  lease_check_interval = \"1m\"\n}\n";
    let (_, line, message) = invalid("agent.hcl", text);
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "template_config.lease_check_interval: misplaced: lease_check_interval belongs at the top level; move it there"
    );
}

#[test]
fn given_once_across_the_files() {
    let files = Files::new()
        .add("a.hcl", "lease_check_interval = \"1m\"\n")
        .add("b.hcl", "\nlease_check_interval = \"2m\"\n");
    let (file, line, message) = invalid_files(files);
    assert_eq!((file.as_str(), line), ("b.hcl", 2));
    assert!(
        message.starts_with("lease_check_interval: already given in ")
            && message.contains("a.hcl:1"),
        "{message}"
    );
}
