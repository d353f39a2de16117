//! Building Vault Agent HCL configs (DESIGN §4) for sidekey's tests.
//!
//! Small string builders, so a test's config reads like the file a user would write: every builder
//! returns whole lines, and a [`block`] indents what it is given, nested blocks included.
//!
//! ```
//! use std::path::Path;
//! use sidekey_tests::hcl::{self, AutoAuth};
//!
//! let config = [
//!     hcl::vault("http://127.0.0.1:8200"),
//!     AutoAuth::jwt(Path::new("/var/run/jwt"), "app").sink(Path::new("/dev/shm/token"), &[]).to_string(),
//!     hcl::template_config(&["static_secret_render_interval = \"1s\""]),
//!     hcl::template("{{ .Data }}", Path::new("/dev/shm/out"), &[&hcl::attr("command", "true")]),
//! ]
//! .concat();
//! assert!(config.contains("  static_secret_render_interval = \"1s\"\n"));
//! ```

use std::fmt;
use std::path::Path;

/// `s` as an HCL quoted string: escapes `\`, `"`, newlines, and the `${` / `%{` template sequences.
pub fn quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace("${", "$${")
        .replace("%{", "%%{");
    format!("\"{escaped}\"")
}

/// A path as an HCL quoted string.
pub fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

/// `key = "value"`, one line, `value` quoted.
pub fn attr(key: &str, value: &str) -> String {
    format!("{key} = {}\n", quote(value))
}

/// `key = "path"`, one line, the path quoted.
pub fn attr_path(key: &str, path: &Path) -> String {
    format!("{key} = {}\n", quote_path(path))
}

/// `HEADER { BODY }`: each line of `body` (attributes as [`attr`] or raw lines such as
/// `batch_max = 3`, and nested blocks) indented by two spaces.
pub fn block(header: &str, body: &[&str]) -> String {
    let mut s = format!("{header} {{\n");
    for line in body.iter().flat_map(|part| part.lines()) {
        if !line.is_empty() {
            s.push_str("  ");
            s.push_str(line);
        }
        s.push('\n');
    }
    s.push_str("}\n");
    s
}

/// `key = ["a", "b"]`, one line, each item quoted.
pub fn list(key: &str, items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|w| quote(w)).collect();
    format!("{key} = [{}]\n", quoted.join(", "))
}

/// `command = ["a", "b"]`, one line: a template's or an `exec`'s command, each word quoted.
pub fn command(words: &[&str]) -> String {
    list("command", words)
}

/// `pid_file = "PATH"`.
pub fn pid_file(path: &Path) -> String {
    attr_path("pid_file", path)
}

/// `vault { address = "ADDR" }`.
pub fn vault(addr: &str) -> String {
    block("vault", &[&attr("address", addr)])
}

/// `auto_auth` with `method "jwt"` reading `jwt_path` as role `role`, and a file sink (mode 0600)
/// at `sink` if given.
pub fn jwt_auto_auth(jwt_path: &Path, role: &str, sink: Option<&Path>) -> String {
    let auth = AutoAuth::jwt(jwt_path, role);
    match sink {
        Some(sink) => auth.sink(sink, &["mode = 0600"]),
        None => auth,
    }
    .to_string()
}

/// `auto_auth` with `method "token_file"` reading the token in `token_path`.
pub fn token_file_auto_auth(token_path: &Path) -> String {
    AutoAuth::token_file(token_path).to_string()
}

/// An `auto_auth` stanza: one method with its `config`, and file sinks. Written out by `Display`.
#[derive(Debug, Clone)]
pub struct AutoAuth {
    method: String,
    options: Vec<String>,
    config: Vec<String>,
    sinks: Vec<String>,
}

impl AutoAuth {
    /// `method "jwt"` reading the JWT in `path` and logging in as `role`.
    pub fn jwt(path: &Path, role: &str) -> AutoAuth {
        AutoAuth::method("jwt", &[&attr_path("path", path), &attr("role", role)])
    }

    /// `method "token_file"` reading the token in `path`.
    pub fn token_file(path: &Path) -> AutoAuth {
        AutoAuth::method("token_file", &[&attr_path("token_file_path", path)])
    }

    /// `method "cert"` logging in to the cert role `name` with the client certificate and key files.
    pub fn cert(name: &str, client_cert: &Path, client_key: &Path) -> AutoAuth {
        AutoAuth::method(
            "cert",
            &[
                &attr("name", name),
                &attr_path("client_cert", client_cert),
                &attr_path("client_key", client_key),
            ],
        )
    }

    fn method(kind: &str, config: &[&str]) -> AutoAuth {
        AutoAuth {
            method: kind.to_owned(),
            options: Vec::new(),
            config: config.iter().map(|l| (*l).to_owned()).collect(),
            sinks: Vec::new(),
        }
    }

    /// The method's `min_backoff` and `max_backoff` (durations such as `"1s"`).
    pub fn backoff(mut self, min: &str, max: &str) -> AutoAuth {
        self.options.push(attr("min_backoff", min));
        self.options.push(attr("max_backoff", max));
        self
    }

    /// One more line of the method block itself (beside its `config`), such as `exit_on_err = true`.
    pub fn option(mut self, line: &str) -> AutoAuth {
        self.options.push(line.to_owned());
        self
    }

    /// One more line of the method's `config`, such as `remove_jwt_after_reading = false`.
    pub fn config(mut self, line: &str) -> AutoAuth {
        self.config.push(line.to_owned());
        self
    }

    /// A `sink "file"` writing the token to `path`; `extra` are more lines of its `config` (`mode = 0600`).
    pub fn sink(self, path: &Path, extra: &[&str]) -> AutoAuth {
        self.sink_with(path, extra, &[])
    }

    /// A `sink "file"` as [`AutoAuth::sink`], with `options`: lines of the sink block itself, beside its
    /// `config` (`wrap_ttl = "5m"`, `dh_type = "curve25519"`, ...).
    pub fn sink_with(mut self, path: &Path, extra: &[&str], options: &[&str]) -> AutoAuth {
        let mut config = vec![attr_path("path", path)];
        config.extend(extra.iter().map(|l| (*l).to_owned()));
        let config = block("config =", &strs(&config));
        let mut body: Vec<&str> = options.to_vec();
        body.push(&config);
        self.sinks.push(block("sink \"file\"", &body));
        self
    }
}

impl fmt::Display for AutoAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = block("config =", &strs(&self.config));
        let mut method = strs(&self.options);
        method.push(&config);
        let method = block(&format!("method {}", quote(&self.method)), &method);
        let mut body = vec![method.as_str()];
        body.extend(strs(&self.sinks));
        f.write_str(&block("auto_auth", &body))
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `template { contents = ..., destination = ..., <extra lines> }`; `extra` are raw HCL lines
/// such as `perms = "0400"` (or [`attr`]s).
pub fn template(contents: &str, destination: &Path, extra: &[&str]) -> String {
    let mut body = vec![
        format!("contents    = {}", quote(contents)),
        format!("destination = {}", quote_path(destination)),
    ];
    body.extend(extra.iter().map(|l| (*l).to_owned()));
    block("template", &strs(&body))
}

/// The two outputs most tests render: the password of `secret/app/config` (KV v2) into `<dir>/kv` and
/// a `database/creds/app` username into `<dir>/db`.
pub fn kv_and_db_templates(dir: &Path) -> String {
    template(
        r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#,
        &dir.join("kv"),
        &[],
    ) + &template(
        r#"{{ with secret "database/creds/app" }}{{ .Data.username }}{{ end }}"#,
        &dir.join("db"),
        &[],
    )
}

/// `template { source = ..., destination = ..., <extra lines> }`: a template read from a file.
pub fn template_file(source: &Path, destination: &Path, extra: &[&str]) -> String {
    let mut body = vec![
        attr_path("source", source),
        attr_path("destination", destination),
    ];
    body.extend(extra.iter().map(|l| (*l).to_owned()));
    block("template", &strs(&body))
}

/// `template_config { <options> }`, e.g. `static_secret_render_interval = "1s"`.
pub fn template_config(options: &[&str]) -> String {
    block("template_config", options)
}

/// `env_template "NAME" { contents = ... }`.
pub fn env_template(name: &str, contents: &str) -> String {
    env_template_with(name, contents, &[])
}

/// `env_template "NAME" { contents = ..., <extra lines> }`; `extra` are raw HCL lines such as
/// `error_on_missing_key = true`.
pub fn env_template_with(name: &str, contents: &str, extra: &[&str]) -> String {
    let contents = attr("contents", contents);
    let mut body = vec![contents.as_str()];
    body.extend(extra);
    block(&format!("env_template {}", quote(name)), &body)
}

/// `exec { command = [...], <options> }`; no `command` line when `command` is empty (the child is then
/// given after `sidekey exec --`).
pub fn exec(command: &[&str], options: &[&str]) -> String {
    let mut body = Vec::new();
    if !command.is_empty() {
        body.push(self::command(command));
    }
    body.extend(options.iter().map(|l| (*l).to_owned()));
    block("exec", &strs(&body))
}

/// `audit { file { path = ... } <more> }`; `more` are further blocks such as `metadata { ... }` or
/// `http { ... }`.
pub fn audit(file: &Path, more: &[&str]) -> String {
    let file = block("file", &[&attr_path("path", file)]);
    let mut body = vec![file.as_str()];
    body.extend(more);
    block("audit", &body)
}

/// `listener "unix" { address = "PATH" }`: the API on a unix socket (per caller when the config has
/// workloads).
pub fn unix_listener(path: &Path) -> String {
    block("listener \"unix\"", &[&attr_path("address", path)])
}

/// `workload "NAME" { match { MATCHER } policies = [...] EXTRA }`: `matcher` are lines of the `match`
/// block (`unit = "w1.service"`), `extra` more lines of the stanza (`token_role = "per-host"`).
pub fn workload(name: &str, matcher: &[&str], policies: &[&str], extra: &[&str]) -> String {
    let matcher = block("match", matcher);
    let policies = list("policies", policies);
    let mut body = vec![matcher.as_str(), policies.as_str()];
    body.extend(extra);
    block(&format!("workload {}", quote(name)), &body)
}

/// `listener "admin" { address = ... }`: the health, readiness and metrics endpoints.
pub fn admin_listener(address: &str) -> String {
    block("listener \"admin\"", &[&attr("address", address)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_hcl_specials() {
        assert_eq!(
            quote(r#"{{ with secret "a" }}${x}%{y}\"#),
            r#""{{ with secret \"a\" }}$${x}%%{y}\\""#
        );
    }

    #[test]
    fn blocks_nest_and_indent() {
        let auth = AutoAuth::jwt(Path::new("/j"), "app")
            .backoff("1s", "2s")
            .option("exit_on_err = true")
            .sink(Path::new("/t"), &["mode = 0600"]);
        assert_eq!(
            auth.to_string(),
            r#"auto_auth {
  method "jwt" {
    min_backoff = "1s"
    max_backoff = "2s"
    exit_on_err = true
    config = {
      path = "/j"
      role = "app"
    }
  }
  sink "file" {
    config = {
      path = "/t"
      mode = 0600
    }
  }
}
"#
        );
        assert_eq!(
            exec(&["sh", "-c", "echo \"hi\""], &["kill_timeout = \"1s\""]),
            "exec {\n  command = [\"sh\", \"-c\", \"echo \\\"hi\\\"\"]\n  kill_timeout = \"1s\"\n}\n"
        );
    }
}
