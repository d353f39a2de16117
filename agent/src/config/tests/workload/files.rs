//! `template { ... }` inside a workload: every key of a top-level template, in every form, its secrets
//! read with the workload's token, its file owned by the workload (the template's `user`/`group`, else
//! the match's ids or names; neither is an error naming the line).

use super::{MATCH, in_workload, refused};
use crate::config::TemplateConfig;
use crate::config::tests::{invalid, ok};

/// A template body with many of a top-level template's keys.
const BODY: &str = r#"    contents        = "{{ with secret \"secret/data/a\" }}{{ .Data.data.value }}{{ end }}"
    destination     = "/dev/shm/a/value"
    perms           = "0640"
    command         = "true"
    error_fatal     = false
    backup          = true
    left_delimiter  = "[["
    right_delimiter = "]]"
"#;

/// A workload `a` matched by `matcher` (a `match` block) with one template of body `body` (the template
/// at line 9 when `matcher` is three lines long).
fn with_template(matcher: &str, body: &str) -> String {
    format!("{matcher}  policies = [\"a\"]\n  template {{\n{body}  }}\n")
}

/// The one template of `text` (a workload body, see [`in_workload`]).
fn template_of(text: &str) -> TemplateConfig {
    let c = ok("agent.hcl", &in_workload(text));
    assert_eq!(c.templates.len(), 1, "{:?}", c.templates);
    c.templates[0].clone()
}

#[test]
fn a_workload_template_takes_every_key_of_a_top_level_one_and_names_its_workload() {
    let t = template_of(&with_template(MATCH, BODY));
    let top = ok(
        "agent.hcl",
        &format!("template {{\n{BODY}}}\n").replace("\n    ", "\n  "),
    );
    let want = TemplateConfig {
        workload: Some("a".into()),
        // The match's uid owns the file.
        user: Some("1000".into()),
        ..top.templates[0].clone()
    };
    assert_eq!(t, want);
    assert_eq!(t.perms, 0o640);
    assert!(!t.error_fatal);
}

#[test]
fn hcl1_and_json_forms_mean_what_the_hcl2_form_means() {
    let want = template_of(&with_template(MATCH, BODY));
    let hcl1 = r#"workload a {
  match = { uid = 1000 }
  policies = ["a"]
  template {
    contents = "{{ with secret \"secret/data/a\" }}{{ .Data.data.value }}{{ end }}"
    destination = "/dev/shm/a/value", perms = "0640", command = "true", error_fatal = false
    backup = true, left_delimiter = "[[", right_delimiter = "]]"
  }
}
"#;
    let json = r#"{"workload": {"a": {
  "match": {"uid": 1000},
  "policies": ["a"],
  "template": [{
    "contents": "{{ with secret \"secret/data/a\" }}{{ .Data.data.value }}{{ end }}",
    "destination": "/dev/shm/a/value", "perms": "0640", "command": "true", "error_fatal": false,
    "backup": true, "left_delimiter": "[[", "right_delimiter": "]]"
  }]
}}}
"#;
    for (name, text) in [("agent.hcl", hcl1), ("agent.json", json)] {
        let c = ok(name, text);
        assert_eq!(c.templates, std::slice::from_ref(&want), "{name}");
    }
}

#[test]
fn the_file_is_owned_by_the_template_user_and_group_else_by_the_match() {
    let body = "    contents = \"x\"\n    destination = \"/dev/shm/a/x\"\n";
    let owner = |matcher: &str, extra: &str| {
        let t = template_of(&with_template(matcher, &format!("{body}{extra}")));
        (t.user, t.group)
    };
    let some = |s: &str| Some(s.to_string());
    let ids = "  match {\n    uid = 1000\n    gid = 1001\n  }\n";
    assert_eq!(owner(ids, ""), (some("1000"), some("1001")));
    assert_eq!(
        owner(ids, "    user = \"svc\"\n    group = \"svc-g\"\n"),
        (some("svc"), some("svc-g"))
    );
    // Only the key the template leaves out comes from the match.
    assert_eq!(
        owner(ids, "    group = \"readers\"\n"),
        (some("1000"), some("readers"))
    );
    let names = "  match {\n    user = \"app-a\"\n    group = \"app-g\"\n  }\n";
    assert_eq!(owner(names, ""), (some("app-a"), some("app-g")));
    // Matched by unit only: the template names its owner.
    let unit = "  match {\n    unit = \"a.service\"\n  }\n";
    assert_eq!(owner(unit, "    user = \"app-a\"\n"), (some("app-a"), None));
}

#[test]
fn a_workload_matched_by_unit_or_cgroup_only_needs_the_template_user() {
    let body = "    contents = \"x\"\n    destination = \"/dev/shm/a/x\"\n";
    for matcher in [
        "  match {\n    unit = \"a.service\"\n  }\n",
        "  match {\n    cgroup = \"/system.slice/a.service\"\n  }\n",
        "  match {\n    gid = 1000\n  }\n",
    ] {
        let (line, message) = refused(&with_template(matcher, body));
        assert_eq!(line, 9, "{matcher}");
        assert_eq!(
            message,
            "workload.a.template: the file needs an owner, and workload \"a\" is matched by neither uid nor \
             user (a workload matched by unit or cgroup only): give the template user/group, e.g. user = \"app-a\"",
            "{matcher}"
        );
    }
}

#[test]
fn mistakes_in_a_workload_template_are_named_by_line_and_key_path() {
    assert_eq!(
        refused(&with_template(MATCH, "    contents = \"x\"\n")),
        (9, "workload.a.template.destination: required".into())
    );
    assert_eq!(
        refused(&with_template(
            MATCH,
            "    contents = \"x\"\n    destination = \"/dev/shm/x\"\n    perms = \"0999\"\n"
        )),
        (
            12,
            "workload.a.template.perms: \"0999\" is not an octal file mode (write e.g. \"0640\")"
                .into()
        )
    );
}

#[test]
fn a_destination_is_one_template_s_across_workloads_and_the_top_level() {
    let text = format!(
        "template {{\n  contents = \"x\"\n  destination = \"/dev/shm/x\"\n}}\n{}",
        in_workload(&with_template(
            MATCH,
            "    contents = \"y\"\n    destination = \"/dev/shm/x\"\n"
        ))
    );
    let (_, line, message) = invalid("agent.hcl", &text);
    assert_eq!(line, 13);
    assert!(
        message.starts_with(
            "template.destination: \"/dev/shm/x\" is already the destination of the template at "
        ),
        "{message}"
    );
}
