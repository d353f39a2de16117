//! The `jwt` and `kubernetes` methods: a (projected service-account) JWT read from a file at every login.

use std::path::Path;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::AuthError;

/// Read the JWT file; an empty file is an error (a projected token being rotated is never empty).
pub(super) fn read_jwt(
    method: &'static str,
    path: &Path,
    remove: bool,
) -> Result<SecretString, AuthError> {
    let err = |reason: String| AuthError::Credential {
        method,
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let jwt = raw.trim();
    if jwt.is_empty() {
        return Err(err("file is empty".into()));
    }
    let jwt = SecretString::from(jwt.to_string());
    if remove {
        let _ = std::fs::remove_file(path);
    }
    Ok(jwt)
}

/// `{"role": .., "jwt": ..}`.
pub(super) fn login_body(role: &str, jwt: &SecretString) -> serde_json::Value {
    serde_json::json!({ "role": role, "jwt": jwt.expose_secret() })
}

/// The JWT's `sub` claim, read without verification (only for audit; the backend verifies).
pub(super) fn subject(jwt: &SecretString) -> String {
    let Some(payload) = jwt.expose_secret().split('.').nth(1) else {
        return String::new();
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return String::new();
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("sub").and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"system:serviceaccount:ns:app"}"#);
        let jwt = SecretString::from(format!("h.{payload}.s"));
        assert_eq!(subject(&jwt), "system:serviceaccount:ns:app");
        assert_eq!(subject(&SecretString::from("garbage".to_string())), "");
    }

    #[test]
    fn empty_file_is_an_error() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let e = read_jwt("jwt", f.path(), false).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
