//! Anchoring the audit trail (`audit { anchor { path interval } }`) on the engine's clock, as the lease
//! check is scheduled: right after the first delivery, then every `interval` (jittered, so a fleet
//! started together spreads out), and once more at shutdown, the file sink's chain head is written as a
//! new version of the KV v2 secret with the agent's token and recorded as `audit.anchor`. Nothing is
//! written while the head is still the last anchor's own event. A failed write is logged and tried
//! again at the next interval: anchoring never holds delivery back.

use std::time::Duration;

use tokio::time::Instant;

use super::engine::Engine;
use super::schedule::check_after;
use crate::audit::anchor::{self, KvPaths};
use crate::audit::file::ChainHead;
use crate::audit::{AnchorMeta, EventKind, Record};
use crate::backend::observe::Bearer;

/// How long the anchor at shutdown may take.
const FINAL_LIMIT: Duration = Duration::from_secs(5);

/// The anchor schedule and what was anchored last.
#[derive(Clone, Debug)]
pub(crate) struct AnchorAt {
    /// `interval` when it was scheduled.
    every: Duration,
    /// `path` as configured.
    path: String,
    /// When the next anchor is due.
    pub at: Instant,
    /// The secret's API paths, once its mount was looked up.
    paths: Option<KvPaths>,
    /// The chain head right after the last anchor was recorded: while it is still the head, there is
    /// nothing new to anchor.
    anchored: Option<ChainHead>,
}

impl Engine {
    /// Keep the anchor scheduled by the config's `audit { anchor }`: due now when it is new (or its path
    /// or interval changed with a reload), none without the stanza.
    pub(super) fn schedule_anchor(&mut self) {
        self.anchor = match (&self.cfg.audit.anchor, self.anchor.take()) {
            (None, _) => None,
            (Some(c), Some(a)) if a.every == c.interval && a.path == c.path => Some(a),
            (Some(c), _) => Some(AnchorAt {
                every: c.interval,
                path: c.path.clone(),
                at: Instant::now(),
                paths: None,
                anchored: None,
            }),
        };
    }

    /// Anchor the chain head if the anchor is due at `now`, and schedule the next one.
    pub(super) async fn anchor_if_due(&mut self, now: Instant) {
        match self.anchor.as_mut() {
            Some(a) if a.at <= now => a.at = now + check_after(a.every),
            _ => return,
        }
        self.anchor_head().await;
    }

    /// At shutdown: anchor what was written since the last anchor ([`FINAL_LIMIT`] at most). A one-shot
    /// run, whose loop never turned, anchors here too.
    pub(super) async fn anchor_final(&mut self) {
        self.schedule_anchor();
        if self.anchor.is_none() {
            return;
        }
        if tokio::time::timeout(FINAL_LIMIT, self.anchor_head())
            .await
            .is_err()
        {
            tracing::warn!(limit = ?FINAL_LIMIT, "audit anchor at shutdown did not finish in time");
        }
    }

    /// Write the file sink's chain head (fsync'd by `file_head` first) as a new version of the anchor
    /// secret, and record it.
    async fn anchor_head(&mut self) {
        let Some(head) = self.auditor.file_head() else {
            return;
        };
        let Some(a) = self.anchor.clone() else {
            return;
        };
        if a.anchored.as_ref() == Some(&head) {
            return;
        }
        let Some(token) = self.tokens.token.as_ref() else {
            tracing::debug!("audit anchor: no token yet");
            return;
        };
        let (secret, identity) = (token.secret.clone(), token.identity.clone());
        let client = self.fetcher.client().clone();
        let bearer = Bearer::new(&secret, &identity.token_accessor);
        let paths = match a.paths {
            Some(p) => Ok(p),
            None => anchor::kv_paths(&client, bearer, &a.path).await,
        };
        let paths = match paths {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, transient = e.is_transient(), "audit anchor not written; trying again at the next interval");
                let meta = AnchorMeta {
                    path: a.path.clone(),
                    seq: head.seq,
                    hash: head.hash.clone(),
                    sink: head.sink.to_string(),
                    version: None,
                };
                self.auditor.record(
                    Record::result(EventKind::AuditAnchor, Some(&e))
                        .identity(Some(identity))
                        .node(client.node())
                        .anchor(meta),
                );
                return;
            }
        };
        let written = anchor::write(&client, bearer, &paths, &head).await;
        let meta = AnchorMeta {
            path: paths.data.clone(),
            version: written.as_ref().ok().map(|w| w.version),
            seq: head.seq,
            hash: head.hash.clone(),
            sink: head.sink.to_string(),
        };
        let mut record = Record::result(EventKind::AuditAnchor, written.as_ref().err())
            .identity(Some(identity))
            .node(client.node())
            .anchor(meta);
        if let (Some(b), Ok(w)) = (record.backend.as_mut(), &written) {
            b.request_id.clone_from(&w.request_id);
        }
        self.auditor.record(record);
        let anchored = match &written {
            Ok(w) => {
                tracing::debug!(path = %paths.data, version = w.version, seq = head.seq, "audit chain anchored");
                self.auditor.file_head()
            }
            Err(e) => {
                tracing::warn!(path = %paths.data, error = %e, "audit anchor not written; trying again at the next interval");
                None
            }
        };
        if let Some(s) = self.anchor.as_mut() {
            s.paths = Some(paths);
            s.anchored = anchored;
        }
    }
}
