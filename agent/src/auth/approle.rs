//! The `approle` method: role_id and secret_id read from files.

use std::path::Path;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use super::AuthError;

fn read(path: &Path) -> Result<Option<SecretString>, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(SecretString::from(s.trim().to_string()))),
        Ok(_) => Err(AuthError::Credential {
            method: "approle",
            path: path.to_path_buf(),
            reason: "file is empty".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuthError::Credential {
            method: "approle",
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// `{"role_id": .., "secret_id": ..}`. A secret_id file removed after reading (Vault Agent's default) is
/// remembered in memory so re-authentication still works.
pub(super) fn login_body(
    role_id_file: &Path,
    secret_id_file: Option<&Path>,
    remove_secret_id: bool,
    cache: &Mutex<Option<SecretString>>,
) -> Result<serde_json::Value, AuthError> {
    let role_id = read(role_id_file)?.ok_or_else(|| AuthError::Credential {
        method: "approle",
        path: role_id_file.to_path_buf(),
        reason: "file not found".into(),
    })?;
    let mut body = serde_json::json!({ "role_id": role_id.expose_secret() });
    if let Some(path) = secret_id_file {
        let mut cached = cache.lock().map_err(|_| AuthError::Credential {
            method: "approle",
            path: path.to_path_buf(),
            reason: "internal lock poisoned".into(),
        })?;
        if let Some(fresh) = read(path)? {
            if remove_secret_id {
                let _ = std::fs::remove_file(path);
            }
            *cached = Some(fresh);
        }
        let secret_id = cached.as_ref().ok_or_else(|| AuthError::Credential {
            method: "approle",
            path: path.to_path_buf(),
            reason: "file not found".into(),
        })?;
        body["secret_id"] = serde_json::Value::String(secret_id.expose_secret().to_string());
    }
    Ok(body)
}
