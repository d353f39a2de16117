//! The listeners: sidekey's `listener "admin" { address }` (health and metrics), its
//! `listener "credentials"` (read in `workload`), and Vault Agent's
//! `listener "tcp"` / `listener "unix"` (the API proxy), and `api_proxy { ... }`. The listener keys Vault
//! knows that sidekey does not act on load with one warning each; a client-certificate requirement is
//! refused (serving callers it would have turned away is not harmless).

use std::path::PathBuf;

use super::Located;
use super::unserved::{self, LISTENER};
use crate::config::field::Field;
use crate::config::node::{Problem, Value};
use crate::config::section::{Labels, Section};
use crate::config::types::{
    AdminListener, ApiListener, ApiProxyConfig, AutoAuthToken, CredentialListener,
    DEFAULT_MAX_REQUEST_DURATION, DEFAULT_MAX_REQUEST_SIZE, ListenerBind, ListenerRole,
    ListenerTls, Origin, TlsVersion, WhenInconsistent,
};
use crate::config::values;

/// The listener keys sidekey acts on (the rest of [`LISTENER`]'s are warned about).
const SERVED: &[&str] = &[
    "type",
    "address",
    "role",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "tls_min_version",
    "require_request_header",
    "max_request_size",
    "max_request_duration",
    "socket_mode",
    "socket_user",
    "socket_group",
];

/// Keys that ask for client certificates: refused, never ignored.
const CLIENT_CERTS: &[&str] = &["tls_require_and_verify_client_cert", "tls_client_ca_file"];

/// Every listener of one file.
#[derive(Default)]
pub(crate) struct Listeners {
    /// `listener "admin"`.
    pub admin: Option<Located<AdminListener>>,
    /// `listener "tcp"` / `"unix"`, their origins' files still empty (the merge fills them in).
    pub api: Vec<ApiListener>,
    /// `listener "credentials"` (systemd's `LoadCredential=` socket).
    pub credentials: Option<Located<CredentialListener>>,
}

/// `api_proxy { ... }` as given: `token_given` when it sets `use_auto_auth_token` (which then wins over
/// the cache's).
#[derive(Clone, Copy)]
pub(crate) struct ApiProxyStanza {
    pub config: ApiProxyConfig,
    pub token_given: bool,
}

/// Every `listener` block of the file.
pub(super) fn listeners(
    s: &mut Section<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<Listeners, Problem> {
    let mut found = Listeners::default();
    for block in s.blocks("listener", Labels::Optional(&["address", "type"]))? {
        let line = block.line;
        let mut b = block.section;
        let label = match block.label {
            Some(l) => l,
            None => b.get("type", Field::string)?.unwrap_or_default(),
        };
        match label.as_str() {
            "admin" => {
                if found.admin.is_some() {
                    return Err(Problem::new(line, "listener \"admin\": given twice"));
                }
                found.admin = Some((admin(b)?, line));
            }
            "credentials" => {
                if found.credentials.is_some() {
                    return Err(Problem::new(line, "listener \"credentials\": given twice"));
                }
                found.credentials = Some((super::workload::credential_listener(b, line)?, line));
            }
            "tcp" | "unix" => found.api.push(api(&label, line, b, warnings)?),
            _ => {
                return Err(Problem::new(
                    line,
                    format!(
                        "listener {label:?}: unknown listener type; Vault Agent's are \"tcp\" and \"unix\" (the \
                         API proxy), sidekey's are listener \"admin\" {{ address = \"127.0.0.1:8300\" }} for health and metrics \
                         and listener \"credentials\" {{ address = \"/run/sidekey/creds.sock\" }} for systemd's LoadCredential="
                    ),
                ));
            }
        }
    }
    Ok(found)
}

/// `listener "admin" { address = "127.0.0.1:8300" | "unix:/path" | "/path" }`.
fn admin(mut b: Section<'_>) -> Result<AdminListener, Problem> {
    let address = b.require("address", |f| {
        let a = f.non_empty()?;
        parse_admin_address(&a).ok_or_else(|| {
            f.problem(format!(
                "{a:?} is neither HOST:PORT (e.g. \"127.0.0.1:8300\") nor a unix socket path (\"unix:/run/sidekey/admin.sock\")"
            ))
        })
    })?;
    b.finish(&[
        ("tls_disable", ""),
        ("tls_cert_file", ""),
        ("tls_key_file", ""),
    ])?;
    Ok(address)
}

fn parse_admin_address(a: &str) -> Option<AdminListener> {
    if let Some(p) = a.strip_prefix("unix:") {
        return p
            .starts_with('/')
            .then(|| AdminListener::Unix(PathBuf::from(p)));
    }
    if a.starts_with('/') {
        return Some(AdminListener::Unix(PathBuf::from(a)));
    }
    a.parse().ok().map(AdminListener::Tcp)
}

/// A Vault API `listener` (`kind` is `tcp` or `unix`).
fn api(
    kind: &str,
    line: usize,
    mut s: Section<'_>,
    warnings: &mut Vec<Problem>,
) -> Result<ApiListener, Problem> {
    // A missing certificate is reported after the unknown keys: `tls_disabled = true` is a typo first.
    let mut missing_tls = None;
    let bind = if kind == "tcp" {
        tcp(&mut s, warnings, &mut missing_tls)?
    } else {
        unix(&mut s)?
    };
    let role = match s.field("role")? {
        Some(f) => match f.string()?.to_ascii_lowercase().as_str() {
            "default" => ListenerRole::Default,
            "metrics_only" => ListenerRole::MetricsOnly,
            other => {
                return Err(f.problem(format!("{other:?} is not \"default\" or \"metrics_only\"")));
            }
        },
        None => ListenerRole::Default,
    };
    let max_request_size = match s.get("max_request_size", Field::signed)? {
        None | Some(0) => Some(DEFAULT_MAX_REQUEST_SIZE),
        Some(n) => u64::try_from(n).ok(),
    };
    let max_request_duration = match s.get("max_request_duration", Field::duration)? {
        Some(d) if !d.is_zero() => d,
        _ => DEFAULT_MAX_REQUEST_DURATION,
    };
    let mut enable_quit = false;
    for key in ["agent_api", "proxy_api"] {
        if let Some(mut api) = s.block(key)? {
            enable_quit |= api.get("enable_quit", Field::bool)?.unwrap_or(false);
            api.finish(&[])?;
        }
    }
    let listener = ApiListener {
        bind,
        role,
        require_request_header: s
            .get("require_request_header", Field::bool)?
            .unwrap_or(false),
        max_request_size,
        max_request_duration,
        enable_quit,
        origin: Origin {
            file: PathBuf::new(),
            line,
        },
    };
    unserved_keys(&mut s, warnings)?;
    s.finish(&[])?;
    match missing_tls {
        Some(p) => Err(p),
        None => Ok(listener),
    }
}

/// `listener "tcp"`: `address`, and TLS unless `tls_disable` (a missing certificate or key goes to
/// `missing`).
fn tcp(
    s: &mut Section<'_>,
    warnings: &mut Vec<Problem>,
    missing: &mut Option<Problem>,
) -> Result<ListenerBind, Problem> {
    let address = match s.field("address")? {
        Some(f) => {
            let a = f.non_empty()?;
            let port = a.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(f.problem(format!("{a:?} is not HOST:PORT (e.g. \"127.0.0.1:8100\")")));
            }
            a
        }
        None => "127.0.0.1:8200".to_string(),
    };
    for key in ["socket_mode", "socket_user", "socket_group"] {
        if let Some(f) = s.field(key)? {
            warnings.push(f.problem("ignored: it sets a unix socket's owner and mode"));
        }
    }
    let disabled = s.get("tls_disable", Field::bool)?.unwrap_or(false);
    let cert = s.field("tls_cert_file")?;
    let key = s.field("tls_key_file")?;
    let min = s.field("tls_min_version")?;
    if disabled {
        return Ok(ListenerBind::Tcp { address, tls: None });
    }
    let min_version = match &min {
        Some(f) => match f.string()?.to_ascii_lowercase().as_str() {
            "tls12" => TlsVersion::Tls12,
            "tls13" => TlsVersion::Tls13,
            "tls10" | "tls11" => {
                warnings.push(f.problem("TLS 1.0 and 1.1 are not offered: the minimum is tls12"));
                TlsVersion::Tls12
            }
            other => {
                return Err(f.problem(format!("{other:?} is not \"tls12\" or \"tls13\"")));
            }
        },
        None => TlsVersion::Tls12,
    };
    let (Some(cert), Some(key)) = (cert, key) else {
        *missing = Some(s.problem(
            "tls_cert_file and tls_key_file are required unless tls_disable = true (the listener \
             serves https by default, as Vault's does)",
        ));
        return Ok(ListenerBind::Tcp { address, tls: None });
    };
    let tls = ListenerTls {
        cert_file: cert.path_buf()?,
        key_file: key.path_buf()?,
        min_version,
    };
    Ok(ListenerBind::Tcp {
        address,
        tls: Some(tls),
    })
}

/// `listener "unix"`: the socket's path, mode and owner.
fn unix(s: &mut Section<'_>) -> Result<ListenerBind, Problem> {
    let path = s.require("address", Field::path_buf)?;
    for key in [
        "tls_disable",
        "tls_cert_file",
        "tls_key_file",
        "tls_min_version",
    ] {
        // A unix socket carries no TLS in Vault either: accepted, nothing to do.
        s.skip(key);
    }
    Ok(ListenerBind::Unix {
        path,
        mode: s.get("socket_mode", Field::mode)?,
        user: s.get("socket_user", Field::string_or_number)?,
        group: s.get("socket_group", Field::string_or_number)?,
    })
}

/// The listener keys and blocks Vault knows that sidekey does not act on: one warning each, their
/// contents still checked; client certificates refused.
fn unserved_keys(s: &mut Section<'_>, warnings: &mut Vec<Problem>) -> Result<(), Problem> {
    for key in CLIENT_CERTS {
        if let Some(f) = s.field(key)? {
            let asks = match &f.node.value {
                Value::Bool(b) => *b,
                Value::Str(v) => values::go_bool(v) != Some(false),
                _ => true,
            };
            if asks {
                return Err(f.problem(
                    "client certificates are not supported on sidekey's listeners: use a unix \
                     listener (callers identified by the kernel) or a loopback address",
                ));
            }
        }
    }
    for key in LISTENER.keys {
        if SERVED.contains(key) || CLIENT_CERTS.contains(key) {
            continue;
        }
        if let Some(f) = s.field(key)? {
            warnings.push(f.problem("ignored: sidekey's listener does not implement it"));
        }
    }
    for (key, inner) in unserved::LISTENER_BLOCKS {
        let body_keys = inner.map_or(&[][..], |k| k.keys);
        for block in s.blocks(key, Labels::Optional(body_keys))? {
            warnings.push(Problem::new(
                block.line,
                format!(
                    "{}: ignored: sidekey's listener does not implement it",
                    s.key_path(key)
                ),
            ));
            if let Some(inner) = inner {
                unserved::check(block.section, inner)?;
            }
        }
    }
    Ok(())
}

/// `api_proxy { use_auto_auth_token, enforce_consistency, when_inconsistent }`, its
/// `use_auto_auth_token` already read as `token`.
pub(super) fn api_proxy(
    mut s: Section<'_>,
    token: Option<Located<AutoAuthToken>>,
) -> Result<ApiProxyStanza, Problem> {
    let enforce_consistency = match s.field("enforce_consistency")? {
        Some(f) => match f.string()?.to_ascii_lowercase().as_str() {
            "always" => true,
            "never" => false,
            other => return Err(f.problem(format!("{other:?} is not \"always\" or \"never\""))),
        },
        None => false,
    };
    let when_inconsistent = match s.field("when_inconsistent")? {
        Some(f) => match f.string()?.to_ascii_lowercase().as_str() {
            "fail" => WhenInconsistent::Fail,
            "retry" => WhenInconsistent::Retry,
            "forward" => WhenInconsistent::Forward,
            other => {
                return Err(f.problem(format!(
                    "{other:?} is not \"fail\", \"retry\" or \"forward\""
                )));
            }
        },
        None => WhenInconsistent::Fail,
    };
    s.finish(&[])?;
    Ok(ApiProxyStanza {
        config: ApiProxyConfig {
            use_auto_auth_token: token.map(|(t, _)| t).unwrap_or_default(),
            enforce_consistency,
            when_inconsistent,
        },
        token_given: token.is_some(),
    })
}

/// `use_auto_auth_token` of `s`, if given: `true`/`false` (or a string Go's `ParseBool` reads) or
/// `"force"`, with its line.
pub(super) fn use_auto_auth_token(
    s: &mut Section<'_>,
) -> Result<Option<Located<AutoAuthToken>>, Problem> {
    let Some(f) = s.field("use_auto_auth_token")? else {
        return Ok(None);
    };
    let parsed = match &f.node.value {
        Value::Bool(true) => Some(AutoAuthToken::Add),
        Value::Bool(false) => Some(AutoAuthToken::No),
        Value::Str(v) if v.eq_ignore_ascii_case("force") => Some(AutoAuthToken::Force),
        Value::Str(v) => values::go_bool(v).map(|b| {
            if b {
                AutoAuthToken::Add
            } else {
                AutoAuthToken::No
            }
        }),
        _ => None,
    };
    match parsed {
        Some(t) => Ok(Some((t, f.line))),
        None => Err(f.problem("expected true, false or \"force\"")),
    }
}
