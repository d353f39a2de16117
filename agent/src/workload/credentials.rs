//! `listener "credentials"`: a systemd `LoadCredential=ID:/run/sidekey/creds.sock` socket. When a unit
//! starts, the service manager (uid 0) connects from an abstract socket address naming the unit and the
//! credential id (`\0RANDOM/unit/UNIT/ID`, systemd.exec(5)) and reads the credential to EOF. sidekey
//! checks the peer is root, finds the workload with `credential "ID" { unit = "UNIT" }`, renders its
//! `contents` once with that workload's token, writes the bytes and closes. Anything else is closed
//! without data. Every connection is one `credential.serve` event. The credentials served are the ones
//! the lease engine publishes ([`Workloads`]): a reload that changes them applies to the next connection.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::event::CredentialMeta;
use crate::audit::{Auditor, CallerMeta, EventKind, Record};
use crate::backend::Client;
use crate::config::{CredentialConfig, CredentialListener, WorkloadConfig};
use crate::lease::fetch::Fetcher;
use crate::lease::jobs::{Renderer, missing_key};
use crate::lease::once::render_once;
use crate::listen::{BindError, Slots, SocketFile, bind_unix, holding};
use crate::output::{OutputFailure, OutputId};
use crate::runtime::EnvSource;
use crate::template::{ParseOptions, Template, TemplateError};
use crate::workload::Workloads;
use crate::workload::tokens::{self, WorkloadTokenError, WorkloadTokens};

/// How long one connection may take, fetches included: systemd waits for it to start the unit.
const DEADLINE: Duration = Duration::from_secs(30);

/// Connections served at once; more wait in the socket's backlog.
const MAX_CONNECTIONS: usize = 32;

/// How long teardown waits for connections in progress.
const DRAIN: Duration = Duration::from_secs(5);

/// The socket's mode: anyone may connect, since the peer's uid (from the kernel) is the gate.
const SOCKET_MODE: u32 = 0o666;

/// A credential's `contents` is not a valid template: a configuration error naming file:line.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: credential {id:?}: {source}")]
pub struct ContentsError {
    /// The config file.
    pub file: String,
    /// The `credential` stanza's line.
    pub line: usize,
    /// The credential id.
    pub id: String,
    /// The parse error.
    pub source: TemplateError,
}

/// The peer's socket address is not one systemd connects from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// `getpeername` failed.
    #[error("cannot read the peer's address: {0}")]
    Unreadable(String),
    /// A path or unnamed socket.
    #[error("the peer's address is not an abstract socket name")]
    NotAbstract,
    /// Bytes that are not UTF-8.
    #[error("the peer's address is not UTF-8")]
    NotUtf8,
    /// Not `RANDOM/unit/UNIT/ID`.
    #[error("the peer's address is not RANDOM/unit/UNIT/ID: {0}")]
    Malformed(&'static str),
}

/// Why a connection got no credential (never a value).
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("cannot read the peer's credentials: {0}")]
    Peer(std::io::Error),
    #[error("the peer runs as uid {0}: only the service manager (root) loads credentials")]
    NotRoot(u32),
    #[error(transparent)]
    Address(AddressError),
    #[error("no workload has credential {id:?} for unit {unit:?}")]
    Unknown { unit: String, id: String },
    #[error(transparent)]
    Token(WorkloadTokenError),
    #[error(transparent)]
    Render(OutputFailure),
    #[error("writing the credential: {0}")]
    Write(std::io::Error),
    #[error("not served within {}s", DEADLINE.as_secs())]
    Deadline,
    #[error("sidekey is stopping")]
    Stopping,
}

/// Every workload's `credential` stanzas, parsed once per config.
#[derive(Default)]
pub struct Catalog {
    served: Vec<Served>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("served", &self.served.len())
            .finish_non_exhaustive()
    }
}

/// One `credential` stanza, parsed.
struct Served {
    unit: String,
    id: String,
    workload: Arc<WorkloadConfig>,
    renderer: Renderer,
}

/// What every connection reads.
struct Shared {
    /// The workloads as the engine publishes them (a reload may change them).
    workloads: watch::Receiver<Arc<Workloads>>,
    /// The backend client, as the engine publishes it (a new engine after a reload gives a new one).
    client: Mutex<watch::Receiver<Client>>,
    tokens: WorkloadTokens,
    auditor: Auditor,
    env: Arc<dyn EnvSource>,
}

/// The running credentials listener: stopped by [`Credentials::stop`].
pub struct Credentials {
    shared: Arc<Shared>,
    path: PathBuf,
    file: SocketFile,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Bind `l`'s socket and serve the credentials of `workloads` (as the engine publishes them):
    /// rendered through `client` with the workload's token from `tokens`.
    ///
    /// # Errors
    /// [`BindError`], naming the stanza's file:line.
    pub fn start(
        l: &CredentialListener,
        workloads: watch::Receiver<Arc<Workloads>>,
        client: watch::Receiver<Client>,
        tokens: WorkloadTokens,
        auditor: Auditor,
        env: Arc<dyn EnvSource>,
    ) -> Result<Self, BindError> {
        let (listener, file) =
            bind_unix(&l.path, Some(SOCKET_MODE), None, None).map_err(|reason| BindError {
                file: l.origin.file.display().to_string(),
                line: l.origin.line,
                what: format!("\"credentials\" ({})", l.path.display()),
                reason,
            })?;
        let count = workloads.borrow().credentials.served.len();
        tracing::info!(path = %l.path.display(), credentials = count, "credentials listening");
        let shared = Arc::new(Shared {
            workloads,
            client: Mutex::new(client),
            tokens,
            auditor,
            env,
        });
        let (stop, tracker) = (CancellationToken::new(), TaskTracker::new());
        tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            stop.clone(),
            tracker.clone(),
        ));
        Ok(Self {
            shared,
            path: l.path.clone(),
            file,
            stop,
            tracker,
        })
    }

    /// Fetch through `client` from now on (a reload started the engine over).
    pub fn set_client(&self, client: watch::Receiver<Client>) {
        let mut held = self
            .shared
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *held = client;
    }

    /// Stop accepting, let the connections in progress end (a few seconds at most), remove the socket
    /// (if it is still this one).
    pub async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(DRAIN, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("credentials connections still open at shutdown; closed");
        }
        self.file.remove();
    }
}

impl Catalog {
    /// Every workload's `credential` stanzas, parsed once (a syntax error is a configuration error).
    /// The config makes each (unit, id) pair unique.
    ///
    /// # Errors
    /// [`ContentsError`], naming the stanza's file:line.
    pub fn parse(workloads: &[WorkloadConfig]) -> Result<Self, ContentsError> {
        let mut served = Vec::new();
        for w in workloads {
            let workload = Arc::new(w.clone());
            for c in &w.credentials {
                served.push(Served::parse(&workload, c)?);
            }
        }
        Ok(Self { served })
    }

    /// The credential `id` of `unit`, if a workload has it.
    fn find(&self, unit: &str, id: &str) -> Option<&Served> {
        self.served.iter().find(|s| s.unit == unit && s.id == id)
    }
}

/// How a credential's `contents` is parsed, here and by the config's validation: the socket is the
/// output, so there is nobody to write side files (`writeToFile`).
pub(crate) fn contents_options() -> ParseOptions {
    ParseOptions {
        allow_write_to_file: false,
        ..ParseOptions::default()
    }
}

impl Served {
    /// `c`, a credential of `workload`.
    fn parse(workload: &Arc<WorkloadConfig>, c: &CredentialConfig) -> Result<Self, ContentsError> {
        let name = format!("credential {:?} of workload {:?}", c.id, workload.name);
        let template =
            Template::parse(&name, &c.contents, &contents_options()).map_err(|source| {
                ContentsError {
                    file: c.origin.file.display().to_string(),
                    line: c.origin.line,
                    id: c.id.clone(),
                    source,
                }
            })?;
        Ok(Self {
            unit: c.unit.clone(),
            id: c.id.clone(),
            workload: workload.clone(),
            renderer: Renderer {
                name,
                template,
                missing_key: missing_key(None),
                text: c.contents.clone(),
                // Rendered on demand with the workload's token given to `render_once`.
                workload: None,
            },
        })
    }
}

/// Accept until `stop`, at most [`MAX_CONNECTIONS`] at once, each tracked by `tracker`.
async fn accept_loop(
    listener: UnixListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let mut slots = Slots::new(MAX_CONNECTIONS, "credentials listener");
    loop {
        let Some(slot) = slots.next(&stop).await else {
            return;
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let (shared, stop) = (shared.clone(), stop.clone());
                tracker.spawn(holding(slot, async move {
                    shared.connection(stream, &stop).await;
                }));
            }
            Err(e) => crate::listen::accept_failed("credentials listener", &e).await,
        }
    }
}

impl Shared {
    /// One connection: the credential written and the socket closed, or closed without data; audited.
    async fn connection(&self, mut stream: UnixStream, stop: &CancellationToken) {
        let asked = stream
            .peer_addr()
            .map_err(|e| AddressError::Unreadable(e.to_string()))
            .and_then(|a| requested(a.as_abstract_name()));
        let mut caller = CallerMeta {
            unit: asked.as_ref().ok().map(|c| c.unit.clone()),
            ..CallerMeta::default()
        };
        let answered = async {
            let peer = stream.peer_cred().map_err(Refusal::Peer)?;
            caller.pid = peer.pid();
            caller.uid = Some(peer.uid());
            caller.gid = Some(peer.gid());
            if peer.uid() != 0 {
                return Err(Refusal::NotRoot(peer.uid()));
            }
            let asked = asked.as_ref().map_err(|e| Refusal::Address(e.clone()))?;
            // The credentials as published now; a reload while this one renders does not change it.
            let workloads = self.workloads.borrow().clone();
            let served = workloads
                .credentials
                .find(&asked.unit, &asked.id)
                .ok_or_else(|| Refusal::Unknown {
                    unit: asked.unit.clone(),
                    id: asked.id.clone(),
                })?;
            let w = &served.workload;
            caller.workload = Some(w.name.clone());
            let token = self
                .tokens
                .token_for(w, Some(&caller))
                .await
                .map_err(Refusal::Token)?;
            caller.token_accessor = Some(token.accessor.clone());
            let fetcher =
                Fetcher::new(self.client(), self.auditor.clone()).for_caller(caller.clone());
            let identity = tokens::identity(w, &token.accessor);
            let id = OutputId::Credential(format!("{}/{}", asked.unit, asked.id));
            let bytes = render_once(
                &served.renderer,
                id,
                &fetcher,
                &token.secret,
                &identity,
                self.env.clone(),
            )
            .await
            .map_err(Refusal::Render)?;
            stream
                .write_all(bytes.as_bytes())
                .await
                .map_err(Refusal::Write)?;
            stream.shutdown().await.map_err(Refusal::Write)
        };
        let result = tokio::select! {
            () = stop.cancelled() => Err(Refusal::Stopping),
            r = tokio::time::timeout(DEADLINE, answered) => r.unwrap_or(Err(Refusal::Deadline)),
        };
        // A refusal closes the connection without a byte: systemd reads an empty credential.
        drop(stream);
        // Optional fields are recorded only when present, as plain values (never `Some(..)`).
        let (unit, id) = asked
            .as_ref()
            .map(|m| (m.unit.as_str(), m.id.as_str()))
            .ok()
            .unzip();
        match &result {
            Ok(()) => tracing::info!(
                unit,
                id,
                workload = caller.workload.as_deref(),
                "credential served"
            ),
            Err(e) => tracing::warn!(
                unit,
                id,
                uid = caller.uid,
                pid = caller.pid,
                error = %e,
                "credential refused"
            ),
        }
        let mut record = Record::result(EventKind::CredentialServe, result.as_ref().err());
        record.caller = Some(caller);
        record.credential = asked.ok();
        self.auditor.record(record);
        self.auditor.flush();
    }

    /// The backend client in use now.
    fn client(&self) -> Client {
        let held = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        held.borrow().clone()
    }
}

/// The unit and credential id systemd asks for, from the abstract name it connects from
/// (`RANDOM/unit/UNIT/ID`, without the leading NUL): `RANDOM` alphanumeric, `UNIT` a unit name,
/// `ID` a credential id (no `/`, not `.` or `..`).
///
/// # Errors
/// [`AddressError`]: anything else.
pub fn requested(abstract_name: Option<&[u8]>) -> Result<CredentialMeta, AddressError> {
    let name = abstract_name.ok_or(AddressError::NotAbstract)?;
    let name = std::str::from_utf8(name).map_err(|_| AddressError::NotUtf8)?;
    let (random, rest) = name
        .split_once("/unit/")
        .ok_or(AddressError::Malformed("no \"/unit/\""))?;
    if random.is_empty() || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AddressError::Malformed(
            "the random prefix is not alphanumeric",
        ));
    }
    let (unit, id) = rest
        .split_once('/')
        .ok_or(AddressError::Malformed("no credential id"))?;
    if unit.is_empty() || !unit.chars().all(super::is_unit_char) {
        return Err(AddressError::Malformed("not a unit name"));
    }
    if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\0']) {
        return Err(AddressError::Malformed("not a credential id"));
    }
    Ok(CredentialMeta {
        unit: unit.to_string(),
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests;
