//! The lease state file (`lease_state_file`): the token and the leased secrets, written after each
//! delivery so that a restarted agent — or the sidecar that follows an init container's `--once` —
//! resumes them instead of issuing new ones. It holds a token and secrets: mode 0600, tmpfs only,
//! written atomically like any output, never logged.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::auth::Token;
use crate::backend::MountInfo;
use crate::backend::secret::{Operation, Secret, SecretRequest};
use crate::output::{FileTarget, write_atomic};

use super::engine::Engine;
use super::fetch::Fetched;
use super::store::{Life, cert_time_left};

#[derive(Serialize, Deserialize)]
struct StateFile {
    v: u32,
    token: String,
    accessor: String,
    entries: Vec<SavedEntry>,
}

#[derive(Serialize, Deserialize)]
struct SavedEntry {
    request: SecretRequest,
    api_path: String,
    mount: Option<MountInfo>,
    secret: Secret,
    token_accessor: String,
}

impl Engine {
    /// Write the state file, if configured. Only leased secrets and issued certificates are kept: KV
    /// secrets are simply read again.
    pub(super) fn save_state(&self) {
        let (Some(path), Some(token)) = (&self.cfg.lease_state_file, &self.tokens.token) else {
            return;
        };
        let entries = self
            .store
            .iter()
            .filter(|(r, e)| !e.fetched.secret.lease_id.is_empty() || r.op == Operation::Write)
            .map(|(r, e)| SavedEntry {
                request: r.clone(),
                api_path: e.fetched.api_path.clone(),
                mount: e.fetched.mount.clone(),
                secret: (*e.fetched.secret).clone(),
                token_accessor: e.token_accessor.clone(),
            })
            .collect();
        let state = StateFile {
            v: 1,
            token: token.secret.expose_secret().to_string(),
            accessor: token.accessor.clone(),
            entries,
        };
        let Ok(bytes) = serde_json::to_vec(&state).map(zeroize::Zeroizing::new) else {
            return;
        };
        let target = FileTarget::new(path.clone(), 0o600);
        if let Err(e) = write_atomic(&target, &bytes) {
            tracing::error!(error = %e, "cannot write lease_state_file");
        }
    }

    /// Remove the state file (its token and leases were revoked).
    pub(super) fn remove_state(&self) {
        if let Some(p) = &self.cfg.lease_state_file
            && let Err(e) = crate::output::file::remove(p)
        {
            tracing::warn!(error = %e, "cannot remove lease_state_file");
        }
    }

    /// Resume the token and leases of the state file, if there is one and its token is still valid.
    /// Returns whether a token was resumed (then no login is needed).
    pub async fn resume(&mut self) -> bool {
        let Some(path) = self.cfg.lease_state_file.clone() else {
            return false;
        };
        let Ok(raw) = std::fs::read(&path).map(zeroize::Zeroizing::new) else {
            return false;
        };
        let Ok(state) = serde_json::from_slice::<StateFile>(&raw) else {
            tracing::warn!(path = %path.display(), "lease_state_file is unreadable; ignoring it");
            return false;
        };
        let secret = SecretString::from(state.token);
        let client = self.fetcher.client().clone();
        let info = match client.lookup_self(&secret).await {
            Ok(i) if i.ttl > 0 || !self.tokens.has_auto_auth() => i,
            _ => {
                tracing::info!("the saved token is no longer valid; logging in");
                return false;
            }
        };
        let mut identity = self.tokens.base_identity();
        identity.token_accessor = info.accessor.clone();
        let token = Token {
            secret,
            accessor: info.accessor.clone(),
            ttl: Duration::from_secs(info.ttl),
            renewable: info.renewable,
            issued_at: Instant::now(),
            identity,
        };
        tracing::info!(accessor = %token.accessor, "resumed the saved token");
        self.tokens.adopt(token);
        let mut resumed = 0usize;
        for e in state.entries {
            if e.token_accessor != state.accessor {
                continue;
            }
            let s = &e.secret;
            let life = if s.lease_id.is_empty() {
                match cert_time_left(s) {
                    Some(left) if !left.is_zero() => Life::Cert { left },
                    _ => continue,
                }
            } else {
                let Some(t) = &self.tokens.token else { break };
                match client.lookup_lease(&t.secret, &s.lease_id).await {
                    Ok((ttl, renewable)) if ttl > 0 => {
                        let left = Duration::from_secs(ttl);
                        Life::Lease {
                            left,
                            full: Duration::from_secs(s.lease_duration).max(left),
                            renewable,
                        }
                    }
                    _ => continue,
                }
            };
            let fetched = Fetched {
                secret: Arc::new(e.secret),
                api_path: e.api_path,
                mount: e.mount,
            };
            self.store
                .schedule(e.request, fetched, state.accessor.clone(), life);
            resumed += 1;
        }
        tracing::info!(secrets = resumed, "resumed leases from lease_state_file");
        true
    }
}
