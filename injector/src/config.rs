//! [`InjectionSpec`] → the agent config: Vault Agent's JSON form, shaped as vault-k8s generates it (the same
//! stanzas, keys, defaults and template texts), so that the real Vault/OpenBao agent accepts it as well and
//! sidekey reads it unchanged.
//!
//! Two configs per pod: the init container's (`exit_after_auth: true`: authenticate, render once, exit) and
//! the sidecar's (keeps rendering).

use serde_json::{Map, Value, json};

use crate::spec::{DefaultTemplate, InjectionSpec, SecretSpec};

/// The agent's pid file, as vault-k8s (in the agent's private `/home/vault` volume).
pub const PID_FILE: &str = "/home/vault/.pid";
/// The token sink every vault-k8s config has (in the agent's private `/home/vault` volume).
pub const TOKEN_FILE: &str = "/home/vault/.vault-token";

/// The file mode of a rendered secret without `agent-inject-perms-<name>` (Vault Agent's default).
pub const VAULT_AGENT_PERMS: &str = "0644";

/// The agent config for the init container (`init: true`) or the sidecar, as a JSON object.
pub fn agent_config(spec: &InjectionSpec, init: bool) -> Value {
    let mut config = Map::new();
    config.insert("auto_auth".into(), auto_auth(spec));
    config.insert("exit_after_auth".into(), Value::Bool(init));
    config.insert("pid_file".into(), PID_FILE.into());
    config.insert("vault".into(), vault(spec));
    let templates: Vec<Value> = spec.secrets.iter().map(|s| template(spec, s)).collect();
    if !templates.is_empty() {
        config.insert("template".into(), Value::Array(templates));
    }
    let mut template_config = Map::new();
    template_config.insert(
        "exit_on_retry_failure".into(),
        spec.exit_on_retry_failure.into(),
    );
    if let Some(interval) = &spec.static_secret_render_interval {
        template_config.insert(
            "static_secret_render_interval".into(),
            interval.clone().into(),
        );
    }
    if spec.revoke_on_shutdown && !init {
        // sidekey's own key (Vault Agent has no such setting; vault-k8s runs `vault token revoke -self` in a
        // preStop hook instead): only present when the pod asks for it.
        template_config.insert("revoke_on_shutdown".into(), true.into());
    }
    config.insert("template_config".into(), Value::Object(template_config));
    Value::Object(config)
}

/// The default template vault-k8s writes for a secret without `agent-inject-template-<name>`.
pub fn default_template(kind: DefaultTemplate, path: &str) -> String {
    match kind {
        DefaultTemplate::Map => format!(
            "{{{{ with secret \"{path}\" }}}}{{{{ range $k, $v := .Data }}}}{{{{ $k }}}}: {{{{ $v }}}}\n{{{{ end }}}}{{{{ end }}}}"
        ),
        DefaultTemplate::Json => {
            format!("{{{{ with secret \"{path}\" }}}}{{{{ .Data | toJSON }}}}\n{{{{ end }}}}")
        }
    }
}

fn auto_auth(spec: &InjectionSpec) -> Value {
    let mut method = Map::new();
    method.insert("type".into(), spec.auth.kind.as_str().into());
    method.insert("mount_path".into(), spec.auth.mount_path.clone().into());
    if let Some(ns) = &spec.vault.namespace {
        method.insert("namespace".into(), ns.clone().into());
    }
    let config: Map<String, Value> = spec
        .auth
        .config
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    method.insert("config".into(), Value::Object(config));
    let mut sinks = vec![json!({ "type": "file", "config": { "path": TOKEN_FILE } })];
    if spec.inject_token {
        sinks.push(json!({
            "type": "file",
            "config": { "path": format!("{}/token", spec.secret_volume_path) }
        }));
    }
    json!({ "method": method, "sink": sinks })
}

fn vault(spec: &InjectionSpec) -> Value {
    let v = &spec.vault;
    let mut out = Map::new();
    out.insert("address".into(), v.address.clone().into());
    let optional = [
        ("ca_cert", &v.ca_cert),
        ("ca_path", &v.ca_path),
        ("client_cert", &v.client_cert),
        ("client_key", &v.client_key),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out.insert(key.into(), value.clone().into());
        }
    }
    if v.tls_skip_verify {
        out.insert("tls_skip_verify".into(), true.into());
    }
    if let Some(name) = &v.tls_server_name {
        out.insert("tls_server_name".into(), name.clone().into());
    }
    Value::Object(out)
}

fn template(spec: &InjectionSpec, secret: &SecretSpec) -> Value {
    let contents = secret
        .template
        .clone()
        .unwrap_or_else(|| default_template(spec.default_template, &secret.path));
    let destination = match &secret.file {
        Some(file) => join(&secret.mount_path, file),
        None => format!("{}/{}", secret.mount_path, secret.name),
    };
    let mut t = Map::new();
    t.insert("destination".into(), destination.into());
    t.insert("contents".into(), contents.into());
    t.insert("left_delimiter".into(), "{{".into());
    t.insert("right_delimiter".into(), "}}".into());
    if let Some(command) = &secret.command {
        t.insert("command".into(), command.clone().into());
    }
    if secret.error_on_missing_key {
        t.insert("error_on_missing_key".into(), true.into());
    }
    // Vault Agent's default mode, which vault-k8s pods rely on: the agent runs as its own user (100) and the
    // app containers as theirs, so sidekey's stricter 0600 default would leave the files unreadable to the app.
    // The secrets volume is only mounted in this pod's containers.
    let perms = secret.perms.as_deref().unwrap_or(VAULT_AGENT_PERMS);
    t.insert("perms".into(), perms.into());
    Value::Object(t)
}

/// Go's `filepath.Join(dir, file)` for the cases that matter here: one slash between, `.` and `..` resolved.
fn join(dir: &str, file: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let absolute = dir.starts_with('/');
    for p in dir.split('/').chain(file.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn join_is_go_filepath_join() {
        assert_eq!(join("/vault/secrets", "db.txt"), "/vault/secrets/db.txt");
        assert_eq!(
            join("/vault/secrets/", "/sub/db.txt"),
            "/vault/secrets/sub/db.txt"
        );
        assert_eq!(join("/vault/secrets", "./a/../b"), "/vault/secrets/b");
    }
}
