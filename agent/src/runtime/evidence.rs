//! The evidence side of a long-running agent: the admin listener, SIGHUP reopening of the audit file,
//! and draining the HTTP audit sink at exit.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, DropGuard};

use crate::admin::{self, Telemetry};
use crate::audit::{Auditor, reopen_on_hup};
use crate::config::Config;
use crate::listen::SocketFile;

/// How long to wait at exit for the HTTP collector to take the last events.
const DRAIN: Duration = Duration::from_secs(5);

/// Running evidence tasks; dropping it stops the admin listener.
pub(super) struct Evidence {
    auditor: Auditor,
    /// The admin listener's socket file (`unix:` address), removed at the end.
    admin_socket: Option<SocketFile>,
    _stop: DropGuard,
}

impl Evidence {
    /// Bind the admin listener (if configured and `serve`) and start serving, handing refresh requests to
    /// `refresh`; reopen the audit file on SIGHUP.
    ///
    /// # Errors
    /// The bind error, a configuration problem.
    pub(super) async fn start(
        cfg: &Config,
        auditor: Auditor,
        telemetry: Arc<Telemetry>,
        refresh: Arc<tokio::sync::Notify>,
        serve: bool,
    ) -> Result<Self, admin::BindError> {
        let stop = CancellationToken::new();
        let mut admin_socket = None;
        if let Some(addr) = cfg.admin_listener.as_ref().filter(|_| serve) {
            let (bound, file) = admin::bind(addr).await?;
            admin_socket = file;
            tracing::info!(address = ?addr, "admin listener: /healthz /readyz /metrics /agent/v1/refresh");
            let handlers = admin::Admin { telemetry, refresh };
            tokio::spawn(admin::serve(bound, handlers, stop.clone()));
        }
        tokio::spawn(reopen_on_hup(auditor.clone()));
        Ok(Self {
            auditor,
            admin_socket,
            _stop: stop.drop_guard(),
        })
    }

    /// Flush the audit trail and give the HTTP sink a moment to deliver what is spooled; remove the admin
    /// listener's socket (if it is still this one: the listener stops as the evidence is dropped).
    pub(super) async fn finish(&self) {
        if let Some(f) = &self.admin_socket {
            f.remove();
        }
        self.auditor.drain(DRAIN).await;
    }
}
