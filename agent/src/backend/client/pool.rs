//! Connections: one reqwest pool per part of the agent (`auto-auth`, `templating`) as Vault Agent's
//! `disable_idle_connections` / `disable_keep_alives` ask, TLS, and which redirects are followed.

use std::time::Duration;

use super::super::error::BackendError;
use super::super::redirect::RedirectGuard;
use super::super::tls::{TlsSettings, client_config, unused_config};

/// The most connecting to a node may take (within the request's total timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How one part of the agent reuses backend connections (Vault Agent's `disable_idle_connections` and
/// `disable_keep_alives`). The default keeps idle connections for the next request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reuse {
    /// `disable_idle_connections`: no connection is kept idle; each is closed once its request is done.
    pub no_idle: bool,
    /// `disable_keep_alives`: one connection per request, announced with `Connection: close` (so over
    /// HTTP/1.1, where that header means something).
    pub no_keep_alive: bool,
}

impl Reuse {
    /// The reuse of `part` under `cfg`'s `disable_idle_connections` and `disable_keep_alives`.
    pub(super) fn of(
        cfg: &crate::config::Config,
        part: impl Fn(&crate::config::Parts) -> bool,
    ) -> Self {
        Self {
            no_idle: part(&cfg.disable_idle_connections),
            no_keep_alive: part(&cfg.disable_keep_alives),
        }
    }
}

/// Which part of the agent a call belongs to, for [`Reuse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// Logging in, and the agent's own token.
    AutoAuth,
    /// Secrets and their leases.
    Templating,
}

/// The HTTP client for `nodes` (their parsed `urls`): redirects followed only to one of them, TLS from
/// `tls` when any is https, up to `max` idle connections kept per node unless `reuse` says otherwise.
pub(super) fn http_client(
    nodes: &[String],
    urls: &[reqwest::Url],
    tls: &TlsSettings<'_>,
    max: usize,
    reuse: Reuse,
    timeout: Duration,
) -> Result<reqwest::Client, BackendError> {
    // Redirects are followed only to a configured node: the token goes with them.
    let redirects = RedirectGuard::new(urls.iter());
    // Loading the system's CA roots costs milliseconds at every start: only https needs them.
    let tls = if nodes.iter().any(|n| n.starts_with("https://")) {
        client_config(tls)?
    } else {
        unused_config()?
    };
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .pool_idle_timeout(Duration::from_secs(90))
        // A node that is down is given up on quickly (and the next one tried); the total timeout
        // bounds everything after, a body dripping in included.
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .no_proxy()
        .redirect(redirects.policy());
    b = if reuse.no_idle || reuse.no_keep_alive {
        b.pool_max_idle_per_host(0)
    } else {
        b.pool_max_idle_per_host(max)
    };
    if reuse.no_keep_alive {
        // `Connection: close` has no meaning in HTTP/2: stay on HTTP/1.1, as Go's client does with
        // keep-alives off.
        b = b.http1_only();
    }
    b.build()
        .map_err(|e| BackendError::Setup(format!("HTTP client: {e}")))
}

/// A transport error as text, with its sources (reqwest's top-level message alone is vague).
pub(super) fn transport_reason(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
