//! What a request means, as the cache keys it: the method as Vault reads it (GET with `list=true` is a
//! LIST; PUT and POST are one write), the namespace, the path normalized (duplicate slashes removed, escapes
//! of unreserved characters decoded; a path with `.` or `..` segments is refused, since the server need not
//! resolve them as we would), the query parameters parsed and sorted, the JSON body in canonical form (keys
//! sorted at every level), and the caller's token. The key is a keyed fingerprint of all that: no token,
//! parameter or body is kept in it.

use bytes::Bytes;
use hyper::Method;
use secrecy::SecretString;
use serde_json::Value;

use super::super::types::ProxyRequest;
use crate::lease::proxied::{Fingerprint, ProxyLeases};

/// The operation, as Vault's router reads the method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verb {
    /// GET.
    Read,
    /// LIST, or GET with `list=true`.
    List,
    /// PUT or POST.
    Write,
    /// DELETE.
    Delete,
    /// PATCH.
    Patch,
    /// Anything else (HEAD, OPTIONS...): passed through.
    Other,
}

impl Verb {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Verb::Read => b"read",
            Verb::List => b"list",
            Verb::Write => b"write",
            Verb::Delete => b"delete",
            Verb::Patch => b"patch",
            Verb::Other => b"other",
        }
    }
}

/// A request's meaning (see the module doc). Its `Debug` leaves out the query and the body, which may
/// hold passwords, secret_ids, tokens or KV data.
pub(super) struct Meaning {
    /// The operation.
    pub verb: Verb,
    /// The namespace without surrounding slashes; empty for the root namespace.
    pub namespace: String,
    /// The normalized path below `/v1/`.
    pub path: String,
    /// Query parameters, sorted (`list` left out when it made the verb).
    pub query: Vec<(String, String)>,
    /// The body: canonical JSON text, the raw bytes when it is not JSON, empty when there is none.
    body: Bytes,
    /// The body as JSON, when it is a JSON object.
    pub json: Option<serde_json::Map<String, Value>>,
}

impl std::fmt::Debug for Meaning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meaning")
            .field("verb", &self.verb)
            .field("namespace", &self.namespace)
            .field("path", &crate::backend::loggable_path(&self.path))
            .field("query_params", &self.query.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Meaning {
    /// The meaning of `req`; `None` when its path cannot be normalized safely (it is passed through).
    pub(super) fn of(req: &ProxyRequest) -> Option<Self> {
        let path = normalize_path(&req.path)?;
        let mut query: Vec<(String, String)> = req
            .query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        query.sort();
        let mut verb = match req.method {
            Method::GET => Verb::Read,
            Method::PUT | Method::POST => Verb::Write,
            Method::DELETE => Verb::Delete,
            Method::PATCH => Verb::Patch,
            ref m if m.as_str() == "LIST" => Verb::List,
            _ => Verb::Other,
        };
        if verb == Verb::Read
            && query
                .iter()
                .any(|(k, v)| k == "list" && crate::config::go_bool(v) == Some(true))
        {
            verb = Verb::List;
            query.retain(|(k, _)| k != "list");
        }
        let (body, json) = canonical_body(&req.body);
        Some(Self {
            verb,
            namespace: namespace(req.namespace.as_deref()),
            path,
            query,
            body,
            json,
        })
    }

    /// The value of query parameter `name`, if given once or more (the first).
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the path may be a KV secret: not under the mounts that never are (`sys/`, `auth/`,
    /// `identity/`, `cubbyhole/`), so a read of them costs no mount lookup.
    pub(super) fn may_be_kv(&self) -> bool {
        !["sys/", "auth/", "identity/", "cubbyhole/"]
            .iter()
            .any(|p| self.path.starts_with(p))
    }

    /// A string field of the JSON body.
    pub(super) fn body_str(&self, name: &str) -> Option<&str> {
        self.json.as_ref()?.get(name)?.as_str()
    }

    /// The key of this request made with `token`: two requests have the same key when they mean the same.
    pub(super) fn key(&self, leases: &ProxyLeases, token: Option<&SecretString>) -> Fingerprint {
        let token = token.map(|t| leases.token_print(t));
        let token = token.as_ref().map_or(&[][..], |t| t.as_bytes());
        self.fingerprint(leases, b"request", token)
    }

    /// The key of this request whatever the token: a static secret is stored once per path and
    /// parameters, and served only to tokens that read it themselves.
    pub(super) fn static_key(&self, leases: &ProxyLeases) -> Fingerprint {
        self.fingerprint(leases, b"static", &[])
    }

    fn fingerprint(&self, leases: &ProxyLeases, domain: &[u8], token: &[u8]) -> Fingerprint {
        let mut query = Vec::new();
        for (k, v) in &self.query {
            for part in [k, v] {
                query.extend_from_slice(&(part.len() as u64).to_be_bytes());
                query.extend_from_slice(part.as_bytes());
            }
        }
        leases.fingerprint(&[
            domain,
            self.verb.as_bytes(),
            self.namespace.as_bytes(),
            self.path.as_bytes(),
            &query,
            &self.body,
            token,
        ])
    }
}

/// The namespace header in one spelling: no surrounding slashes, and `root` (or nothing) for the root.
pub(super) fn namespace(header: Option<&str>) -> String {
    let ns = header.unwrap_or_default().trim().trim_matches('/');
    if ns == "root" {
        String::new()
    } else {
        ns.to_string()
    }
}

/// `path` (below `/v1/`, without the query) in one spelling: leading and duplicate slashes removed, a
/// trailing slash kept (it means a listing to Vault), `%XX` escapes of unreserved characters decoded and
/// the others written in upper case. `None` for a `.` or `..` segment or a broken escape.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    let decoded = normalize_escapes(path)?;
    let mut segments = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" => {}
            "." | ".." => return None,
            s => segments.push(s),
        }
    }
    let mut out = segments.join("/");
    if decoded.ends_with('/') && !out.is_empty() {
        out.push('/');
    }
    Some(out)
}

fn normalize_escapes(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let b = u8::from_str_radix(hex, 16).ok()?;
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            let c = path[i..].chars().next()?;
            out.push(c);
            i += c.len_utf8();
        }
    }
    Some(out)
}

/// The body in canonical form, and as a JSON object when it is one. An empty body, `null` and `{}` mean
/// the same: no parameters.
fn canonical_body(body: &Bytes) -> (Bytes, Option<serde_json::Map<String, Value>>) {
    if body.iter().all(u8::is_ascii_whitespace) {
        return (Bytes::new(), None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Null) => (Bytes::new(), None),
        Ok(Value::Object(m)) if m.is_empty() => (Bytes::new(), None),
        Ok(v) => {
            let mut text = String::new();
            canonical(&v, &mut text);
            let json = match v {
                Value::Object(m) => Some(m),
                _ => None,
            };
            (Bytes::from(text), json)
        }
        Err(_) => (body.clone(), None),
    }
}

/// `v` as JSON text with every object's keys sorted.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = m.get(k) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
