//! Go's `encoding/json` output (`toJSON`, `toJSONPretty`, `toUnescapedJSON[Pretty]`) and `parseJSON`.

use super::{Env, FResult, arity, str_arg};
use crate::template::value::Value;

/// Run JSON function `name`, or `None` if it is not one.
pub fn call(name: &str, args: &[Value], env: &Env<'_>) -> Option<FResult> {
    let enc = |escape_html: bool, pretty: bool| -> FResult {
        arity(name, args, 1)?;
        if let Value::Missing(path) = &args[0]
            && !env.discovering()
        {
            return Err(format!("{name}: map has no entry for key {path}"));
        }
        let mut out = String::new();
        encode(
            &mut out,
            &args[0],
            escape_html,
            if pretty { Some(0) } else { None },
        )
        .map_err(|e| format!("{name}: {e}"))?;
        Ok(Value::str(out))
    };
    Some(match name {
        "toJSON" => enc(true, false),
        "toJSONPretty" => enc(true, true),
        "toUnescapedJSON" => enc(false, false),
        "toUnescapedJSONPretty" => enc(false, true),
        "parseJSON" => arity(name, args, 1).and_then(|()| {
            let s = str_arg(name, &args[0], env)?;
            if s.is_empty() {
                return Ok(Value::Map(Default::default()));
            }
            let v: serde_json::Value = serde_json::from_str(s).map_err(|e| {
                format!(
                    "{name}: invalid JSON at line {} column {}",
                    e.line(),
                    e.column()
                )
            })?;
            Ok(Value::from_plain_json(&v))
        }),
        _ => return None,
    })
}

fn newline(out: &mut String, depth: Option<usize>) {
    if let Some(d) = depth {
        out.push('\n');
        for _ in 0..d {
            out.push_str("  ");
        }
    }
}

/// Encode `v` as Go's `json.Marshal` (or `MarshalIndent(v, "", "  ")` when `depth` is given) would.
pub fn encode(
    out: &mut String,
    v: &Value,
    escape_html: bool,
    depth: Option<usize>,
) -> Result<(), String> {
    let inner = depth.map(|d| d + 1);
    match v {
        Value::Missing(_) | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::JsonNumber(n) => out.push_str(n),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err("json: unsupported float value".into());
            }
            let abs = f.abs();
            if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
                out.push_str(&e_notation(*f));
            } else {
                out.push_str(&f.to_string());
            }
        }
        Value::Str(s) => quote(out, s, escape_html),
        Value::List(l) | Value::Strings(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                encode(out, e, escape_html, inner)?;
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Map(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            object(
                out,
                m.iter().map(|(k, v)| (k.as_str(), v)),
                escape_html,
                depth,
                inner,
            )?;
        }
        // Only unexported fields: Go's encoder writes an empty object.
        Value::Scratch(_) => out.push_str("{}"),
        Value::Object(o) => encode(out, &o.plain()?, escape_html, depth)?,
        Value::Secret(s) => {
            // consul-template's Secret struct has no JSON tags: Go field names, in declaration order.
            let mut fields = vec![("RequestID".to_string(), Value::str(""))];
            for f in ["LeaseID", "LeaseDuration", "Renewable", "Data", "Warnings"] {
                if let Some(v) = Value::secret_field(s, f) {
                    fields.push((f.to_string(), v));
                }
            }
            fields.push(("Auth".into(), Value::Nil));
            fields.push(("WrapInfo".into(), Value::Nil));
            object(
                out,
                fields.iter().map(|(k, v)| (k.as_str(), v)),
                escape_html,
                depth,
                inner,
            )?;
        }
    }
    Ok(())
}

/// A JSON object of `fields` in the given order (indented when `depth` is set, as MarshalIndent does).
fn object<'a>(
    out: &mut String,
    fields: impl Iterator<Item = (&'a str, &'a Value)>,
    escape_html: bool,
    depth: Option<usize>,
    inner: Option<usize>,
) -> Result<(), String> {
    out.push('{');
    for (i, (k, e)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, inner);
        quote(out, k, escape_html);
        out.push(':');
        if depth.is_some() {
            out.push(' ');
        }
        encode(out, e, escape_html, inner)?;
    }
    newline(out, depth);
    out.push('}');
    Ok(())
}

/// Go's shortest `'e'` format as `encoding/json` cleans it: `1e+21`, `1.5e-7`.
fn e_notation(f: f64) -> String {
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    if e < 0 {
        format!("{m}e-{}", e.unsigned_abs())
    } else {
        format!("{m}e+{e:02}")
    }
}

/// A JSON string as Go writes it.
fn quote(out: &mut String, s: &str, escape_html: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                out.push_str("\\u00");
                let b = c as u8;
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
