use super::*;

fn s(v: &str) -> Texts {
    vec![Zeroizing::new(v.to_owned())]
}

fn scrub(message: &str, texts: &[Zeroizing<String>]) -> String {
    Index::new(texts).scrub(message)
}

#[test]
fn a_whole_value_and_a_quoted_fragment_are_replaced() {
    assert_eq!(
        scrub("fail: hunter2-secret", &s("hunter2-secret")),
        "fail: [REDACTED]"
    );
    let pem =
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIAbcdefghijklmnop\n-----END EC PRIVATE KEY-----";
    assert_eq!(
        scrub("bad line \"MHcCAQEEIAbcdefgh\" at 2", &s(pem)),
        "bad line \"[REDACTED]\" at 2"
    );
}

#[test]
fn words_of_the_message_itself_stay() {
    let msg = "error calling parseInt: parseInt: invalid syntax";
    assert_eq!(scrub(msg, &s("s3cr3t-value-0123456789")), msg);
    assert_eq!(scrub("short", &s("abc")), "short");
}

#[test]
fn numbers_are_found_in_their_float_form_too() {
    let mut t = Vec::new();
    texts(
        &Value::JsonNumber("123456789012345678901234".into()),
        &mut t,
    );
    let out = scrub("no such template \"1.2345678901234569e+23\"", &t);
    assert!(!out.contains("23456789"), "{out}");
}

#[test]
fn a_short_pin_is_found_as_a_float() {
    let idx = Index::of_json(&serde_json::json!({ "pin": 1234567, "code": 4711 }));
    assert_eq!(
        idx.scrub("bad value 1.234567e+06 and 4711"),
        "bad value [REDACTED] and [REDACTED]"
    );
}

#[test]
fn a_text_inside_another_leaves_no_piece_of_either() {
    let texts = vec![
        Zeroizing::new("admin".to_owned()),
        Zeroizing::new("admin-Xy7Q2z".to_owned()),
        Zeroizing::new("Q2z".to_owned()),
    ];
    // Whichever order they come in, the longer one is hidden whole, not cut around the shorter.
    for order in [texts.clone(), texts.iter().rev().cloned().collect()] {
        assert_eq!(
            scrub("user \"admin-Xy7Q2z\" and admin", &order),
            "user \"[REDACTED]\" and [REDACTED]"
        );
    }
}

#[test]
fn keys_of_secret_data_are_hidden_but_not_the_response_shape() {
    let data = serde_json::json!({
        "data": { "alice-the-admin": "pw-of-alice-1", "nested": { "value": "x" } },
        "metadata": { "version": 3, "custom_metadata": null }
    });
    let idx = Index::of_json(&data);
    assert_eq!(
        idx.scrub("secret/data/app: no key alice-the-admin in nested value (custom_metadata)"),
        "secret/data/app: no key [REDACTED] in nested value (custom_metadata)"
    );
}

#[test]
fn non_ascii_text_is_cut_at_character_boundaries() {
    let idx = Index::new(&s("pässwörd-geheim"));
    assert_eq!(idx.scrub("x: \"pässwörd-geheim\" ü"), "x: \"[REDACTED]\" ü");
}
