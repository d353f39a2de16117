//! Backend errors, classified as transient (retry with backoff) or permanent (report and stop).

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
    /// The client's TLS or address settings are unusable (permanent): names the setting and file.
    #[error("vault: {0}")]
    Setup(String),
}

impl BackendError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 412,
            Self::Decode { .. } | Self::Setup(_) => false,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
