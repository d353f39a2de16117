//! Functions that read the render context: secrets, environment variables and files.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Env, FResult, arity, str_arg};
use crate::backend::secret::{Secret, SecretRequest};
use crate::template::print::to_v;
use crate::template::value::Value;

/// Run dependency function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &mut Env<'_>) -> Option<FResult> {
    Some(match name {
        "secret" => secret(args, env),
        "secrets" => secrets(args, env),
        "pkiCert" => pki_cert(args, env),
        "writeToFile" => write_to_file(args, env),
        "env" => arity(name, args, 1)
            .and_then(|()| str_arg(name, &args[0], env))
            .map(|n| Value::str(env.ctx.env(n).unwrap_or_default())),
        "mustEnv" => arity(name, args, 1).and_then(|()| {
            let n = str_arg(name, &args[0], env)?;
            match env.ctx.env(n) {
                Some(v) if !v.is_empty() => Ok(Value::str(v)),
                _ => Err(format!("required environment variable {n} is empty")),
            }
        }),
        // Set (even to the empty string) wins over the default, as with Go's os.LookupEnv.
        "envOrDefault" => arity(name, args, 2).and_then(|()| {
            let n = str_arg(name, &args[0], env)?;
            match env.ctx.env(n) {
                Some(v) => Ok(Value::str(v)),
                None => Ok(args[1].clone()),
            }
        }),
        "file" => arity(name, args, 1).and_then(|()| {
            let p = str_arg(name, &args[0], env)?;
            env.ctx
                .file(p)
                .map(Value::str)
                .ok_or_else(|| format!("file: cannot read {p:?}"))
        }),
        _ => return None,
    })
}

/// Record `req` as used (and missing when the context does not have it); return what the context has.
fn fetch(req: SecretRequest, env: &mut Env<'_>) -> Option<Arc<Secret>> {
    if !env.used.contains(&req) {
        env.used.push(req.clone());
    }
    let found = env.ctx.secret(&req);
    if found.is_none() && !env.missing.contains(&req) {
        env.missing.push(req);
    }
    found
}

/// `secret "path"` reads; `secret "path" "k=v"…` (or a map argument) writes.
fn secret(args: &[Value], env: &mut Env<'_>) -> FResult {
    let (path, params) = path_and_params("secret", args, env)?;
    let req = if params.is_empty() {
        SecretRequest::read(path)
    } else {
        SecretRequest::write(path, params)
    };
    let s = fetch(req, env).unwrap_or_default();
    Ok(Value::Secret(s))
}

/// The path and the `k=v` (or map) parameters of `secret` and `pkiCert`.
fn path_and_params(
    name: &str,
    args: &[Value],
    env: &Env<'_>,
) -> Result<(String, BTreeMap<String, String>), String> {
    let Some((path, rest)) = args.split_first() else {
        return Err(format!("{name}: missing path"));
    };
    let path = str_arg(name, path, env)?.to_string();
    if env.ctx.is_secret_value(&path) {
        return Err(format!(
            "{name}: the path is a secret value; refusing to send it to the server"
        ));
    }
    let mut params = BTreeMap::new();
    for a in rest {
        match a {
            Value::Map(m) => {
                for (k, v) in m.iter() {
                    params.insert(k.clone(), to_v(v));
                }
            }
            _ => {
                let kv = str_arg(name, a, env)?;
                if kv.is_empty() {
                    continue;
                }
                let Some((k, v)) = kv.split_once('=') else {
                    return Err(format!(
                        "{name}: invalid parameter for {path}: must be key=value"
                    ));
                };
                params.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    Ok((path, params))
}

/// `pkiCert "pki/issue/role" "common_name=…"…`: issue a certificate (always a write), or take the one still
/// good in the template's destination (the engine decides), exposed as consul-template's `PemEncoded`:
/// `.Cert`, `.Key`, `.CA`, and the same again under `.Data` (its v2-style wrapper).
fn pki_cert(args: &[Value], env: &mut Env<'_>) -> FResult {
    let (path, params) = path_and_params("pkiCert", args, env)?;
    let s = fetch(SecretRequest::issue_cert(path, params), env).unwrap_or_default();
    // consul-template re-encodes each PEM block, which ends it with a newline (the API's values have none).
    let field = |k: &str| {
        let pem = s
            .data
            .0
            .get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        if pem.is_empty() {
            Value::str(String::new())
        } else {
            Value::str(format!("{pem}\n"))
        }
    };
    let pem: BTreeMap<String, Value> = [
        ("Cert".to_string(), field("certificate")),
        ("Key".to_string(), field("private_key")),
        ("CA".to_string(), field("issuing_ca")),
    ]
    .into_iter()
    .collect();
    let mut outer = pem.clone();
    outer.insert("Data".to_string(), Value::Map(std::rc::Rc::new(pem)));
    Ok(Value::Map(std::rc::Rc::new(outer)))
}

/// `writeToFile PATH USER GROUP PERMS [FLAGS] CONTENT` (consul-template; CONTENT usually comes through a
/// pipe): record the write for the output layer and print nothing. `PERMS` is octal; `FLAGS` may contain
/// `append` and `newline`.
fn write_to_file(args: &[Value], env: &mut Env<'_>) -> FResult {
    const NAME: &str = "writeToFile";
    if !(5..=6).contains(&args.len()) {
        return Err(format!(
            "wrong number of args for {NAME}: want 5 or 6 got {}",
            args.len()
        ));
    }
    let path = str_arg(NAME, &args[0], env)?.to_string();
    let user = str_arg(NAME, &args[1], env)?.to_string();
    let group = str_arg(NAME, &args[2], env)?.to_string();
    let perms = str_arg(NAME, &args[3], env)?;
    let mode = u32::from_str_radix(perms, 8)
        .map_err(|_| format!("{NAME}: permissions {perms:?} are not an octal number"))?;
    let flags = if args.len() == 6 {
        str_arg(NAME, &args[4], env)?.to_string()
    } else {
        String::new()
    };
    let mut content =
        zeroize::Zeroizing::new(str_arg(NAME, &args[args.len() - 1], env)?.to_string());
    if flags.contains("newline") {
        content.push('\n');
    }
    if !env.discovering() {
        env.side_writes.push(crate::template::SideWrite {
            path: path.into(),
            user,
            group,
            mode,
            append: flags.contains("append"),
            content,
        });
    }
    Ok(Value::str(String::new()))
}

/// `secrets "path"`: the keys listed below a path, sorted.
fn secrets(args: &[Value], env: &mut Env<'_>) -> FResult {
    arity("secrets", args, 1)?;
    let path = str_arg("secrets", &args[0], env)?.to_string();
    if env.ctx.is_secret_value(&path) {
        return Err(
            "secrets: the path is a secret value; refusing to send it to the server".into(),
        );
    }
    let Some(s) = fetch(SecretRequest::list(path), env) else {
        return Ok(Value::strings(Vec::<String>::new()));
    };
    let mut keys: Vec<String> = match s.data.0.get("keys") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    keys.sort();
    Ok(Value::strings(keys))
}
