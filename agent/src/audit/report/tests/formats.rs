//! What the formats make of the trail: hostile strings stay text, and the HTML timeline's parts.

use serde_json::json;

use super::fixture::{Fixture, secret};

#[test]
fn strings_from_the_trail_stay_text_in_every_format() {
    let hostile = "secret/data/<script>alert(1)</script>";
    let error = "=HYPERLINK(\"http://x\") <img src=x onerror=alert(2)> | [a](b)";
    let mut f = Fixture::new("run-1");
    f.add(0, "secret.read", true, secret(hostile, "", Some(1), 60))
        .add(
            200,
            "secret.read",
            false,
            json!({
            "secret": {"path": hostile, "lease_id": "", "lease_duration_s": 0, "renewable": false},
            "error": error}),
        );
    let r = f.report();
    let html = r.to_html();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("secret/data/&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    // Self-contained: nothing to fetch, and a policy that would refuse it anyway.
    for outside in ["src=\"", "href=\"", "url(", "@import", "<link", "https:"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(html.contains("<svg id=\"timeline\""));
    assert_eq!(html.matches("class=\"mark issuance\"").count(), 1);
    assert_eq!(html.matches("class=\"mark failure\"").count(), 1);
    assert_eq!(html.matches("class=\"overdue\"").count(), 1);

    let md = r.to_markdown();
    assert!(!md.contains("<script>"), "{md}");
    assert!(
        md.contains(r"\<img src=x onerror=alert(2)\> \| \[a\](b)"),
        "{md}"
    );
    let csv = r.to_csv_table(Some("failures")).unwrap();
    assert!(csv.contains(",\"'=HYPERLINK("), "{csv}");
}

#[test]
fn the_timeline_has_an_axis_a_legend_and_a_marker_per_event() {
    let db = "database/creds/app";
    let mut f = Fixture::new("run-1");
    for i in 0..5 {
        f.add(
            i * 30,
            "secret.read",
            true,
            secret(db, &format!("db/l{i}"), None, 3600),
        )
        .add(
            i * 30 + 10,
            "secret.renew",
            true,
            secret(db, &format!("db/l{i}"), None, 3600),
        );
    }
    let html = f.report().to_html();
    assert_eq!(html.matches("class=\"mark rotation\"").count(), 4);
    assert_eq!(html.matches("class=\"mark renewal\"").count(), 5);
    assert!(html.contains("<g class=\"legend\">"));
    for label in [
        "issuance",
        "rotation",
        "renewal",
        "failure",
        "overdue: longer than",
    ] {
        assert!(html.contains(&format!(">{label}")), "legend {label}");
    }
    // 130 s: a tick each 30 s, labelled in UTC.
    assert!(html.contains(">00:00:30</text>"), "{html}");
    assert!(html.contains(">00:02:00</text>"), "{html}");
    assert!(html.contains("<title>rotation: 2026-03-01T00:00:30.000Z</title>"));
}
