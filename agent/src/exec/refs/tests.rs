#![allow(clippy::panic)] // a failed test panics

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::backend::secret::{Secret, SecretData, SecretRequest};
use crate::lease::jobs::missing_key;
use crate::template::{ParseOptions, Template};

#[test]
fn parses_path_field_and_version() {
    let r = EnvRef::parse("DB", "sidekey:secret/data/app/db#password@3")
        .unwrap()
        .unwrap();
    assert_eq!(r.path, "secret/data/app/db");
    assert_eq!(r.field, "password");
    assert_eq!(r.version, Some(3));
    let r = EnvRef::parse("DB", "sidekey:database/creds/app#user-name")
        .unwrap()
        .unwrap();
    assert_eq!((r.field.as_str(), r.version), ("user-name", None));
    assert_eq!(EnvRef::parse("X", "plain value").unwrap(), None);
}

#[test]
fn malformed_references_name_the_variable() {
    for bad in [
        "sidekey:secret/data/app/db",
        "sidekey:#password",
        "sidekey:secret/data/app/db#",
        "sidekey:secret/data/app/db#password@x",
        "sidekey:secret/data/app/db#password@0",
        "sidekey:secret/da ta#password",
    ] {
        let e = EnvRef::parse("DB_PASSWORD", bad).unwrap_err().to_string();
        assert!(e.starts_with("environment variable DB_PASSWORD:"), "{e}");
        assert!(!e.contains("password@"), "value leaked: {e}");
    }
}

/// A store with one secret, for rendering the generated template.
struct One(SecretRequest, Arc<Secret>);

impl crate::template::RenderContext for One {
    fn secret(&self, req: &SecretRequest) -> Option<Arc<Secret>> {
        (req == &self.0).then(|| self.1.clone())
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    fn file(&self, _: &str) -> Option<String> {
        None
    }
}

fn render(reference: &str, path: &str, data: serde_json::Value) -> Result<String, String> {
    let r = EnvRef::parse("DB", reference).unwrap().unwrap();
    let t = r.env_template();
    let TemplateSource::Inline(contents) = &t.source else {
        panic!("a reference renders inline text")
    };
    let tpl = Template::parse("env DB", contents, &ParseOptions::default()).unwrap();
    let secret = Secret {
        data: SecretData(data),
        ..Secret::default()
    };
    let ctx = One(SecretRequest::read(path), Arc::new(secret));
    let out = tpl.render(&ctx, missing_key(None));
    out.result.map(|s| s.to_string()).map_err(|e| e.to_string())
}

#[test]
fn renders_kv2_and_plain_fields_and_versions() {
    let kv2 =
        json!({ "data": { "password": "p1", "user-name": "u" }, "metadata": { "version": 3 } });
    assert_eq!(
        render(
            "sidekey:secret/data/app/db#password",
            "secret/data/app/db",
            kv2.clone()
        ),
        Ok("p1".into())
    );
    assert_eq!(
        render(
            "sidekey:secret/data/app/db#user-name@3",
            "secret/data/app/db?version=3",
            kv2
        ),
        Ok("u".into())
    );
    assert_eq!(
        render(
            "sidekey:database/creds/app#password",
            "database/creds/app",
            json!({ "password": "d" })
        ),
        Ok("d".into())
    );
}

#[test]
fn a_missing_field_is_an_error() {
    let kv2 = json!({ "data": { "other": "x" }, "metadata": { "version": 1 } });
    let e = render(
        "sidekey:secret/data/app/db#password",
        "secret/data/app/db",
        kv2,
    );
    assert!(e.is_err(), "{e:?}");
}
