//! Callers that ask instead of being delivered to (DESIGN.md §10): the `listener "tcp"`/`"unix"` servers,
//! the API proxy that forwards `/v1/...` to the backend, and the cache of leased responses.
//!
//! - [`types`]: a proxied request and response as the proxy and the cache exchange them.
//! - [`cache`]: the cache (`cache {}`): entries keyed by what a request means, renewed by the lease engine.
//! - `proxy`: one request in, one answer out (forwarding, the agent's token, the agent API, audit); split
//!   into `forward`, `answer` and `token`.
//! - `server`: binding the listeners, accepting connections with who calls, draining them.
//! - `unix`: unix socket files: a live one never taken over, a stale one replaced, removed only if ours.
//! - `door`: per-host mode on the unix listeners: callers attested, matched to a workload, served with
//!   its token, or refused.

pub(crate) mod cache;
mod door;
mod proxy;
mod server;
pub(crate) mod types;
mod unix;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use door::Door;
#[cfg(feature = "fuzzing")]
pub(crate) use proxy::fuzz_request;
pub use proxy::{Proxy, Upstream};
pub use server::BindError;
pub(crate) use server::{PRIVATE_MODE, Slots, accept_failed, holding, http1_server};
pub(crate) use unix::{SocketFile, bind_unix};

use crate::config::ApiListener;

/// The running listeners: stopped and drained by [`Listeners::stop`].
pub struct Listeners {
    proxy: Arc<Proxy>,
    running: Vec<ApiListener>,
    /// The unix listeners' socket files, removed at stop.
    files: Vec<SocketFile>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl Listeners {
    /// Bind every listener of `listeners` (all or none) and serve them with `proxy`; with a `door`
    /// (workloads configured), every unix listener serves per caller.
    ///
    /// # Errors
    /// The first [`BindError`], naming the stanza's file:line.
    pub async fn start(
        listeners: &[ApiListener],
        proxy: Proxy,
        door: Option<Door>,
    ) -> Result<Self, BindError> {
        let (mut bound, mut files) = (Vec::new(), Vec::new());
        for l in listeners {
            // On an error, the sockets bound so far go too: nothing serves them.
            let (b, file) = match server::bind(l, door.is_some()).await {
                Ok(b) => b,
                Err(e) => {
                    files.iter().for_each(SocketFile::remove);
                    return Err(e);
                }
            };
            bound.push(b);
            files.extend(file);
        }
        let proxy = Arc::new(proxy);
        let door = door.map(Arc::new);
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        for (b, l) in bound.into_iter().zip(listeners) {
            tracing::info!(listener = ?l.bind, role = ?l.role, "API proxy listening");
            let served = Arc::new(l.clone());
            tokio::spawn(server::serve(
                b,
                served,
                proxy.clone(),
                door.clone(),
                stop.clone(),
                tracker.clone(),
            ));
        }
        Ok(Self {
            proxy,
            running: listeners.to_vec(),
            files,
            stop,
            tracker,
        })
    }

    /// Forward through `u` from now on (a reload started the engine over).
    pub fn set_upstream(&self, u: Upstream) {
        self.proxy.set_upstream(u);
    }

    /// The listeners as configured when they were started.
    pub fn running(&self) -> &[ApiListener] {
        &self.running
    }

    /// Stop accepting, let the requests in progress finish (a few seconds at most).
    pub async fn stop(self) {
        self.stop.cancel();
        server::drain(&self.tracker).await;
        self.files.iter().for_each(SocketFile::remove);
    }
}

/// Whether the server address `node` (a URL) reaches the listener `bind` itself: the same port on the
/// same host, on a loopback name for a listener on a loopback or wildcard address, or the same socket.
/// Forwarding there would send every request back in, until the agent runs out of connections.
pub fn is_own_address(node: &str, bind: &crate::config::ListenerBind) -> bool {
    use crate::config::ListenerBind;
    match bind {
        ListenerBind::Unix { path, .. } => node
            .strip_prefix("unix://")
            .is_some_and(|p| std::path::Path::new(p) == path),
        ListenerBind::Tcp { address, .. } => {
            let Some((lhost, lport)) = address.rsplit_once(':') else {
                return false;
            };
            let Ok(url) = reqwest::Url::parse(node) else {
                return false;
            };
            let (Some(nhost), Some(nport)) = (url.host_str(), url.port_or_known_default()) else {
                return false;
            };
            if lport.parse::<u16>().ok() != Some(nport) {
                return false;
            }
            let strip = |h: &str| {
                h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase()
            };
            let (lhost, nhost) = (strip(lhost), strip(nhost));
            let loopback = |h: &str| {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            };
            let wildcard = lhost.is_empty() || lhost == "0.0.0.0" || lhost == "::";
            lhost == nhost || (loopback(&nhost) && (wildcard || loopback(&lhost)))
        }
    }
}

#[cfg(test)]
mod own_address_tests {
    use super::is_own_address;
    use crate::config::ListenerBind;

    fn tcp(a: &str) -> ListenerBind {
        ListenerBind::Tcp {
            address: a.into(),
            tls: None,
        }
    }

    #[test]
    fn a_server_address_at_the_agents_own_listener_is_found() {
        assert!(is_own_address(
            "http://127.0.0.1:8100",
            &tcp("127.0.0.1:8100")
        ));
        assert!(is_own_address(
            "http://localhost:8100",
            &tcp("127.0.0.1:8100")
        ));
        assert!(is_own_address(
            "https://127.0.0.1:8100/",
            &tcp("0.0.0.0:8100")
        ));
        assert!(is_own_address("http://[::1]:8100", &tcp("[::]:8100")));
        assert!(!is_own_address(
            "http://127.0.0.1:8200",
            &tcp("127.0.0.1:8100")
        ));
        assert!(!is_own_address(
            "https://vault.example:8100",
            &tcp("127.0.0.1:8100")
        ));
        let unix = ListenerBind::Unix {
            path: "/run/agent.sock".into(),
            mode: None,
            user: None,
            group: None,
        };
        assert!(is_own_address("unix:///run/agent.sock", &unix));
        assert!(!is_own_address("http://127.0.0.1:8100", &unix));
    }
}
