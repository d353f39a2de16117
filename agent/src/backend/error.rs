//! Backend errors, classified as transient (retry with backoff) or permanent (report and stop).

use super::redirect::RedirectRefused;

/// An error from a call to the OpenBao/Vault API. Never carries a token or a secret value: only the
/// method, the API path and the server's `errors` list (truncated).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The server could not be reached or the connection broke (transient).
    #[error("{method} /v1/{path}: cannot reach the server: {reason}")]
    Transport {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// The transport error, as text.
        reason: String,
    },
    /// The server answered with an error status. 5xx, 429 and 412 are transient; other 4xx are permanent.
    #[error("{method} /v1/{path}: HTTP {status}: {message}")]
    Status {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// HTTP status code.
        status: u16,
        /// The server's `errors`, joined with `; `.
        message: String,
    },
    /// No whole answer came within the client's timeout (`BAO_CLIENT_TIMEOUT`), a body dripping in
    /// included (transient).
    #[error("{method} /v1/{path}: timed out after {after:?} ({setting}): no whole answer")]
    Timeout {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// The timeout that ran out.
        after: std::time::Duration,
        /// The setting it comes from (`BAO_CLIENT_TIMEOUT`, `max_request_duration`).
        setting: &'static str,
    },
    /// The answer's body broke off before its end: the connection closed early, or it sent less than
    /// its `Content-Length` (transient: the next try may get all of it). Nothing of it is used.
    #[error("{method} /v1/{path}: response cut short: {reason}")]
    Incomplete {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// How it broke off.
        reason: String,
    },
    /// The answer's body is larger than the client reads (permanent for this request): nothing of it
    /// is used, and only as much as the limit was ever held in memory.
    #[error(
        "{method} /v1/{path}: response body larger than the {} limit: refused, nothing of it used",
        size_text(*limit)
    )]
    TooLarge {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The server answered 2xx with a body that is not the expected JSON shape (permanent).
    #[error("{method} /v1/{path}: unexpected response: {reason}")]
    Decode {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// What was wrong with the body.
        reason: String,
    },
    /// The server redirected the call somewhere the client does not follow: to an address that is not
    /// configured, or on and on (transient, see [`BackendError::is_transient`]). Nothing was sent there.
    #[error("{method} /v1/{path}: {refused}")]
    Redirect {
        /// HTTP method.
        method: String,
        /// API path below `/v1/`.
        path: String,
        /// Where it pointed (its origin only) and why it was not followed.
        refused: RedirectRefused,
    },
    /// The client's TLS or address settings are unusable (permanent): names the setting and file.
    #[error("vault: {0}")]
    Setup(String),
}

impl BackendError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } | Self::Incomplete { .. } => true,
            // A refused redirect fails this request only. During an election a standby answers writes
            // with a 307 to the old leader's `api_addr`, which need not be a configured address; once a
            // leader is elected the same call goes through, so it is retried with the shared backoff
            // like a 5xx, and a long-running agent keeps its token and outputs instead of exiting. A
            // redirect that is wrong for good only costs backed-off retries (and a warning each time);
            // `--once` still fails after its few retries. Never "token invalid": the server never saw
            // a reason to refuse the token.
            Self::Redirect { .. } => true,
            // A standby's "no handler for route" fails over to the other nodes (the active one knows the
            // mount) but is not retried: when every node says it, the mount is not there.
            Self::Status {
                status, message, ..
            } => {
                *status >= 500 || *status == 429 || *status == 412 || kv_upgrading(*status, message)
            }
            Self::Decode { .. } | Self::TooLarge { .. } | Self::Setup(_) => false,
        }
    }

    /// Whether another node of the cluster may answer where this one failed: it could not be reached,
    /// it is sealed, a standby without a leader or behind the index asked for (5xx, 429, 412), it
    /// redirected somewhere not followed, or it does not know a mount created moments ago on the active
    /// node ("no handler for route", a standby catching up) or has not seen a new KV v2 mount's
    /// upgrade yet (see [`kv_upgrading`]).
    pub fn fails_over(&self) -> bool {
        match self {
            Self::Transport { .. }
            | Self::Timeout { .. }
            | Self::Incomplete { .. }
            | Self::Redirect { .. } => true,
            Self::Status {
                status, message, ..
            } => {
                *status >= 500
                    || *status == 429
                    || *status == 412
                    || (*status == 404 && message.contains("no handler for route"))
                    || kv_upgrading(*status, message)
            }
            Self::Decode { .. } | Self::TooLarge { .. } | Self::Setup(_) => false,
        }
    }

    /// The HTTP status, when the server answered with it as the call's result (not for a refused
    /// redirect: its 3xx is no answer about the token or the secret).
    #[cfg(test)]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A byte count as people write limits: `4 MiB`, `512 KiB`, else bytes.
pub(crate) fn size_text(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    match bytes {
        0 => "0 bytes".into(),
        b if b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// Whether a 400 says a KV v2 mount is still being set up: for a moment after a KV v2 mount is created
/// (or a v1 mount upgraded) the active node answers "Upgrading from non-versioned to versioned data"
/// and a standby "Waiting for the primary to upgrade from non-versioned to versioned data" (for ~1 s
/// on OpenBao 2.7 after the active node already serves the mount). The server says "for a brief period":
/// retried, and failed over (the active node is usually done already) — never "secret missing".
fn kv_upgrading(status: u16, message: &str) -> bool {
    status == 400
        && (message.contains("Waiting for the primary to upgrade")
            || message.contains("Upgrading from non-versioned to versioned data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> BackendError {
        BackendError::Status {
            method: "GET".into(),
            path: "fresh/data/x".into(),
            status,
            message: message.into(),
        }
    }

    #[test]
    fn a_kv_v2_mount_being_upgraded_is_retried_and_fails_over() {
        for message in [
            "Waiting for the primary to upgrade from non-versioned to versioned data. This backend will be \
             unavailable for a brief period and will resume service when the primary is finished.",
            "Upgrading from non-versioned to versioned data. This backend will be unavailable for a brief \
             period and will resume service shortly.",
        ] {
            let e = status(400, message);
            assert!(e.is_transient(), "{e}");
            assert!(e.fails_over(), "{e}");
        }
    }

    #[test]
    fn other_client_errors_stay_permanent() {
        for (code, message) in [
            (400, "invalid role name"),
            (403, "permission denied"),
            (404, ""),
        ] {
            let e = status(code, message);
            assert!(!e.is_transient(), "{e}");
            assert!(!e.fails_over(), "{e}");
        }
        let e = status(
            404,
            "no handler for route \"db/creds/app\". route entry not found.",
        );
        assert!(e.fails_over() && !e.is_transient(), "{e}");
    }
}
