//! Building Vault Agent HCL configs (DESIGN §4) for sidekey's tests.
//!
//! Small string builders, so a test's config reads like the file a user would write.

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

/// `vault { address = "ADDR" }`.
pub fn vault(addr: &str) -> String {
    format!("vault {{\n  address = {}\n}}\n", quote(addr))
}

/// `auto_auth` with `method "jwt"` reading `jwt_path` as role `role`, and a file sink (mode 0600)
/// at `sink` if given.
pub fn jwt_auto_auth(jwt_path: &Path, role: &str, sink: Option<&Path>) -> String {
    let mut s = format!(
        "auto_auth {{\n  method \"jwt\" {{\n    config = {{\n      path = {}\n      role = {}\n    }}\n  }}\n",
        quote_path(jwt_path),
        quote(role)
    );
    if let Some(sink) = sink {
        s.push_str(&format!(
            "  sink \"file\" {{\n    config = {{\n      path = {}\n      mode = 0600\n    }}\n  }}\n",
            quote_path(sink)
        ));
    }
    s.push_str("}\n");
    s
}

/// `auto_auth` with `method "token_file"` reading the token in `token_path`.
pub fn token_file_auto_auth(token_path: &Path) -> String {
    format!(
        "auto_auth {{\n  method \"token_file\" {{\n    config = {{\n      token_file_path = {}\n    }}\n  }}\n}}\n",
        quote_path(token_path)
    )
}

/// `template { contents = ..., destination = ..., <extra lines> }`; `extra` are raw HCL lines
/// such as `perms = "0400"`.
pub fn template(contents: &str, destination: &Path, extra: &[&str]) -> String {
    let mut s = format!(
        "template {{\n  contents    = {}\n  destination = {}\n",
        quote(contents),
        quote_path(destination)
    );
    for line in extra {
        s.push_str(&format!("  {line}\n"));
    }
    s.push_str("}\n");
    s
}

/// `env_template "NAME" { contents = ... }`.
pub fn env_template(name: &str, contents: &str) -> String {
    format!(
        "env_template {} {{\n  contents = {}\n}}\n",
        quote(name),
        quote(contents)
    )
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
}
