//! Go's `net/url` (as of Go 1.27, which `bao agent` is built with), as far as sprig's `urlParse` and
//! `urlJoin` use it: `url.Parse` and `URL.String`. The `url` crate follows the WHATWG standard instead
//! (it lowercases hosts, normalizes paths, rejects what Go keeps), so this is Go's algorithm on bytes.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use crate::template::value::Value;

/// Which part of a URL is escaped or unescaped: Go's `encoding` modes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    QueryComponent,
    Fragment,
}

/// Go's `url.Userinfo`.
struct User {
    name: Vec<u8>,
    password: Option<Vec<u8>>,
}

/// The fields of Go's `url.URL` that sprig reads or sets.
#[derive(Default)]
struct GoUrl {
    scheme: Vec<u8>,
    opaque: Vec<u8>,
    user: Option<User>,
    host: Vec<u8>,
    path: Vec<u8>,
    raw_path: Vec<u8>,
    omit_host: bool,
    force_query: bool,
    raw_query: Vec<u8>,
    fragment: Vec<u8>,
    raw_fragment: Vec<u8>,
}

/// sprig's `urlParse`: the parts of `raw` as a dict. A URL Go refuses is an error (sprig panics), whose
/// message leaves the URL out since it may hold credentials.
pub(super) fn parse_to_dict(raw: &str) -> Result<Value, String> {
    let u = parse(raw.as_bytes()).map_err(|e| format!("unable to parse url: {e}"))?;
    let text = |b: &[u8]| Value::str(String::from_utf8_lossy(b).into_owned());
    let userinfo = u.user.as_ref().map(user_string).unwrap_or_default();
    let fields = [
        ("scheme", text(&u.scheme)),
        ("host", text(&u.host)),
        ("hostname", text(hostname(&u.host))),
        ("path", text(&u.path)),
        ("query", text(&u.raw_query)),
        ("opaque", text(&u.opaque)),
        ("fragment", text(&u.fragment)),
        ("userinfo", text(&userinfo)),
    ];
    Ok(Value::Map(Rc::new(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )))
}

/// sprig's `urlJoin`: a URL built from the dict's string fields (missing ones are empty), printed by Go's
/// `URL.String`. `userinfo` is parsed as Go parses the userinfo of `proto://USERINFO@host`.
pub(super) fn join_dict(d: &BTreeMap<String, Value>) -> Result<String, String> {
    let field = |key: &str| -> Result<Vec<u8>, String> {
        match d.get(key) {
            None => Ok(Vec::new()),
            Some(v @ (Value::Str(_) | Value::JsonNumber(_))) => {
                Ok(v.as_str().unwrap_or_default().as_bytes().to_vec())
            }
            Some(Value::Nil) => Err(format!("unable to parse {key} key: it is nil")),
            Some(other) => Err(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                kind(other)
            )),
        }
    };
    let mut u = GoUrl {
        scheme: field("scheme")?,
        host: field("host")?,
        path: field("path")?,
        raw_query: field("query")?,
        opaque: field("opaque")?,
        fragment: field("fragment")?,
        ..GoUrl::default()
    };
    let userinfo = field("userinfo")?;
    if !userinfo.is_empty() {
        let probe = [b"proto://".as_slice(), &userinfo, b"@host"].concat();
        u.user = parse(&probe)
            .map_err(|e| format!("unable to parse userinfo in dict: {e}"))?
            .user;
    }
    Ok(String::from_utf8_lossy(&to_string(&u)).into_owned())
}

/// Go's `reflect.Kind` name of a dict value, for `urlJoin`'s error.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Float(_) => "float64",
        Value::List(_) | Value::Strings(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(o) => o.kind(),
        _ => "ptr",
    }
}

// === parsing ===

/// Go's `url.Parse`: the fragment is cut off first, then the rest parsed as a URL reference.
fn parse(raw: &[u8]) -> Result<GoUrl, String> {
    let (rest, frag) = cut(raw, b'#');
    let mut u = parse_reference(rest)?;
    if let Some(frag) = frag
        && !frag.is_empty()
    {
        u.fragment = unescape(frag, Mode::Fragment)?;
        u.raw_fragment = if escape(&u.fragment, Mode::Fragment) == frag {
            Vec::new()
        } else {
            frag.to_vec()
        };
    }
    Ok(u)
}

/// Go's `parse(rawURL, viaRequest=false)`.
fn parse_reference(raw: &[u8]) -> Result<GoUrl, String> {
    if raw.iter().any(|&b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut u = GoUrl::default();
    if raw == b"*" {
        u.path = b"*".to_vec();
        return Ok(u);
    }
    let (scheme, mut rest) = scheme(raw)?;
    u.scheme = scheme.to_ascii_lowercase();
    let questions = rest.iter().filter(|&&b| b == b'?').count();
    if rest.ends_with(b"?") && questions == 1 {
        u.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else {
        let (r, q) = cut(rest, b'?');
        rest = r;
        u.raw_query = q.unwrap_or_default().to_vec();
    }
    if !rest.starts_with(b"/") {
        if !u.scheme.is_empty() {
            // A rootless path after a scheme is opaque (RFC 3986).
            u.opaque = rest.to_vec();
            return Ok(u);
        }
        // A first segment with a colon would read as a scheme.
        if cut(rest, b'/').0.contains(&b':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
        let authority = &rest[2..];
        let (authority, path) = match authority.iter().position(|&b| b == b'/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, &b""[..]),
        };
        let (user, host) = parse_authority(&u.scheme, authority)?;
        u.user = user;
        u.host = host;
        rest = path;
    } else if !u.scheme.is_empty() && rest.starts_with(b"/") {
        u.omit_host = true;
    }
    u.path = unescape(rest, Mode::Path)?;
    u.raw_path = if escape(&u.path, Mode::Path) == rest {
        Vec::new()
    } else {
        rest.to_vec()
    };
    Ok(u)
}

/// Go's `getScheme`: `[a-zA-Z][a-zA-Z0-9+.-]*` before a colon, or no scheme.
fn scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), String> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok((&[], raw)),
        }
    }
    Ok((&[], raw))
}

/// Go's `parseAuthority`: `[userinfo@]host`, split at the last `@`.
fn parse_authority(scheme: &[u8], authority: &[u8]) -> Result<(Option<User>, Vec<u8>), String> {
    let at = authority.iter().rposition(|&b| b == b'@');
    let host = parse_host(scheme, &authority[at.map_or(0, |i| i + 1)..])?;
    let Some(at) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..at];
    if !valid_userinfo(userinfo) {
        return Err("net/url: invalid userinfo".into());
    }
    let user = match cut(userinfo, b':') {
        (name, None) => User {
            name: unescape(name, Mode::UserPassword)?,
            password: None,
        },
        (name, Some(password)) => User {
            name: unescape(name, Mode::UserPassword)?,
            password: Some(unescape(password, Mode::UserPassword)?),
        },
    };
    Ok((Some(user), host))
}

/// Go's `parseHost`: `host[:port]`, or `[IPv6[%25zone]][:port]`.
fn parse_host(scheme: &[u8], host: &[u8]) -> Result<Vec<u8>, String> {
    // The port text is left out: with a `/` in a password, it is part of the password.
    let invalid_port = || "invalid port after host".to_string();
    match host.iter().rposition(|&b| b == b'[') {
        Some(i) if i > 0 => return Err("invalid IP-literal".into()),
        Some(_) => {
            let close = host
                .iter()
                .rposition(|&b| b == b']')
                .ok_or("missing ']' in host")?;
            let colon_port = &host[close + 1..];
            if !valid_optional_port(colon_port) {
                return Err(invalid_port());
            }
            let colon_port = unescape(colon_port, Mode::Host)?;
            let name = &host[1..close];
            let unescaped = match find(name, b"%25") {
                Some(z) => [
                    unescape(&name[..z], Mode::Host)?,
                    unescape(&name[z..], Mode::Zone)?,
                ]
                .concat(),
                None => unescape(name, Mode::Host)?,
            };
            // Only an IPv6 address may be bracketed; IPv4 (not IPv4-mapped IPv6) may not.
            if is_ipv4(&unescaped)? {
                return Err("invalid IP-literal".into());
            }
            return Ok([b"[".as_slice(), &unescaped, b"]", &colon_port].concat());
        }
        None => {
            if let Some(first) = host.iter().position(|&b| b == b':') {
                let last = host.iter().rposition(|&b| b == b':').unwrap_or(first);
                // Go allows more colons (host lists) except for http and https.
                let i = if last != first && scheme != b"http" && scheme != b"https" {
                    last
                } else {
                    first
                };
                if !valid_optional_port(&host[i..]) {
                    return Err(invalid_port());
                }
            }
        }
    }
    unescape(host, Mode::Host)
}

/// Go's `netip.ParseAddr` on a bracketed host, reduced to what `parseHost` asks: is it IPv4 (`Ok(true)`),
/// IPv6 with an optional non-empty zone (`Ok(false)`), or not an address (an error).
fn is_ipv4(addr: &[u8]) -> Result<bool, String> {
    let bad = || Err("invalid host: not an IP address".to_string());
    let Ok(text) = std::str::from_utf8(addr) else {
        return bad();
    };
    if !text.contains(':') {
        return if text.parse::<Ipv4Addr>().is_ok() {
            Ok(true)
        } else {
            bad()
        };
    }
    let (ip, zone) = match text.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (text, None),
    };
    if zone == Some("") || ip.parse::<Ipv6Addr>().is_err() {
        return bad();
    }
    Ok(false)
}

/// Go's `validOptionalPort`: empty, or `:` and digits.
fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// Go's `validUserinfo` (RFC 3986 §3.2.1, plus `@`), over characters: anything not ASCII is refused.
fn valid_userinfo(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c))
}

/// Go's `URL.Hostname`: the host without a valid port and without IPv6 brackets.
fn hostname(host: &[u8]) -> &[u8] {
    let mut h = host;
    if let Some(colon) = h.iter().rposition(|&b| b == b':')
        && valid_optional_port(&h[colon..])
    {
        h = &h[..colon];
    }
    if h.len() >= 2 && h.starts_with(b"[") && h.ends_with(b"]") {
        h = &h[1..h.len() - 1];
    }
    h
}

// === printing ===

/// Go's `URL.String`.
fn to_string(u: &GoUrl) -> Vec<u8> {
    let mut buf = Vec::new();
    if !u.scheme.is_empty() {
        buf.extend_from_slice(&u.scheme);
        buf.push(b':');
    }
    if !u.opaque.is_empty() {
        buf.extend_from_slice(&u.opaque);
    } else {
        let authority = !u.scheme.is_empty() || !u.host.is_empty() || u.user.is_some();
        let omit = u.omit_host && u.host.is_empty() && u.user.is_none();
        if authority && !omit {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                buf.extend_from_slice(b"//");
            }
            if let Some(user) = &u.user {
                buf.extend_from_slice(&user_string(user));
                buf.push(b'@');
            }
            buf.extend_from_slice(&escape(&u.host, Mode::Host));
        }
        let path = escaped_path(u);
        if !path.is_empty() && path[0] != b'/' && !u.host.is_empty() {
            buf.push(b'/');
        }
        // A first segment with a colon would read as a scheme (RFC 3986 §4.2).
        if buf.is_empty() && cut(&path, b'/').0.contains(&b':') {
            buf.extend_from_slice(b"./");
        }
        buf.extend_from_slice(&path);
    }
    if u.force_query || !u.raw_query.is_empty() {
        buf.push(b'?');
        buf.extend_from_slice(&u.raw_query);
    }
    if !u.fragment.is_empty() {
        buf.push(b'#');
        buf.extend_from_slice(&escaped_hint(&u.raw_fragment, &u.fragment, Mode::Fragment));
    }
    buf
}

/// Go's `URL.EscapedPath`.
fn escaped_path(u: &GoUrl) -> Vec<u8> {
    escaped_hint(&u.raw_path, &u.path, Mode::Path)
}

/// The raw form when it is a valid escaping of the decoded one (Go's `EscapedPath`/`EscapedFragment`),
/// else the decoded one escaped (a path of just `*` stays as it is).
fn escaped_hint(raw: &[u8], decoded: &[u8], mode: Mode) -> Vec<u8> {
    if !raw.is_empty()
        && valid_encoded(raw, mode)
        && unescape(raw, mode).is_ok_and(|p| p == decoded)
    {
        return raw.to_vec();
    }
    if mode == Mode::Path && decoded == b"*" {
        return b"*".to_vec();
    }
    escape(decoded, mode)
}

/// Go's `validEncoded`.
fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter()
        .all(|&c| b"!$&'()*+,;=:@[]%".contains(&c) || !should_escape(c, mode))
}

/// Go's `URL.User.String()`: the user name and password escaped for userinfo.
fn user_string(u: &User) -> Vec<u8> {
    let mut s = escape(&u.name, Mode::UserPassword);
    if let Some(p) = &u.password {
        s.push(b':');
        s.extend_from_slice(&escape(p, Mode::UserPassword));
    }
    s
}

// === escaping ===

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::QueryComponent => true,
            Mode::Fragment => false,
            // Reached only for bytes the host modes did not allow above.
            Mode::Host | Mode::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Mode::Fragment => false,
        _ => true,
    }
}

/// Go's `escape`.
fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c == b' ' && mode == Mode::QueryComponent {
            out.push(b'+');
        } else if should_escape(c, mode) {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `unescape`: `%XX` decoded (in a host only for non-ASCII bytes, or `%25`), `+` a space in a query
/// component; a bad escape or a byte a host may not hold is an error.
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, String> {
    let hex = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    s.get(i + 1).copied().and_then(hex),
                    s.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err("invalid URL escape".into());
                };
                let is_25 = &s[i..i + 3] == b"%25";
                if mode == Mode::Host && hi < 8 && !is_25 {
                    return Err("invalid URL escape".into());
                }
                let v = hi << 4 | lo;
                if mode == Mode::Zone && !is_25 && v != b' ' && should_escape(v, Mode::Host) {
                    return Err("invalid URL escape".into());
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err("invalid character in host name".into());
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                // Checked above: two hex digits follow.
                let d = |c: u8| hex(c).unwrap_or(0);
                out.push(d(s[i + 1]) << 4 | d(s[i + 2]));
                i += 3;
            }
            b'+' if mode == Mode::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

// === bytes ===

/// Go's `strings.Cut` on one byte.
fn cut(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == sep) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Where `needle` first occurs in `s`.
fn find(s: &[u8], needle: &[u8]) -> Option<usize> {
    s.windows(needle.len()).position(|w| w == needle)
}
