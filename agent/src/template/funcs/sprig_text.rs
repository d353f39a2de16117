//! Helpers of the `sprig_*` string functions: xstrings-style case conversion, Go's `path` functions and
//! random strings.

/// Go's `path.Base`, `path.Dir`, `path.Ext` and `path.Clean`.
pub(super) fn path_fn(name: &str, p: &str) -> String {
    match name {
        "ext" => p
            .rfind(['.', '/'])
            .filter(|&i| p.as_bytes()[i] == b'.')
            .map_or(String::new(), |i| p[i..].to_string()),
        "base" => {
            if p.is_empty() {
                return ".".into();
            }
            let t = p.trim_end_matches('/');
            if t.is_empty() {
                return "/".into();
            }
            t.rsplit('/').next().unwrap_or(t).to_string()
        }
        "dir" => {
            let cut = p.rfind('/').map_or(0, |i| i + 1);
            clean(&p[..cut])
        }
        _ => clean(p),
    }
}

/// Go's `path.Clean`.
fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Split into words the way xstrings does for case conversion: on non-alphanumerics, at lower→upper and
/// digit→upper boundaries, keeping acronyms together (`HTTPServer` → `HTTP`, `Server`; `id2FA` → `id2`, `FA`).
fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&prev) = cur.chars().last().as_ref() {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next_lower)
                || (prev.is_numeric() && c.is_uppercase());
            if boundary {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(super) fn delimited(s: &str, sep: char) -> String {
    words(s)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(&sep.to_string())
}

/// xstrings' `ToCamelCase`: `_`-separated words joined, each capitalised; leading underscores stay.
pub(super) fn camel(s: &str) -> String {
    let body = s.trim_start_matches('_');
    let lead = &s[..s.len() - body.len()];
    let camel: String = body
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{lead}{camel}")
}

pub(super) fn map_words(s: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in s.chars() {
        if c.is_whitespace() {
            out.push_str(&f(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&f(&word));
    out
}

pub(super) fn lower_first(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// sprig's random strings (from a cryptographic source): letters and digits, letters, digits or printable
/// ASCII.
pub(super) fn random_string(name: &str, len: i64) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let set: &[u8] = match name {
        "randAlpha" => &ALNUM[..52],
        "randNumeric" => &ALNUM[52..],
        "randAscii" => b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
        _ => ALNUM,
    };
    let mut rng = rand::rng();
    (0..usize::try_from(len).unwrap_or(0).min(1_000_000))
        .map(|_| char::from(set[rand::Rng::random_range(&mut rng, 0..set.len())]))
        .collect()
}

/// A random (version 4) UUID in its canonical lowercase form.
pub(super) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
