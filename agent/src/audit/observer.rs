//! What the backend client reports to the audit trail itself: each request no caller records becomes a
//! `backend.request` event (named with the identity an earlier event gave its token), each move to
//! another node a `backend.failover`.

use super::{Auditor, BackendMeta, EventKind, Outcome, Record};
use crate::backend::{Exchange, Observer};

impl Observer for Auditor {
    fn request(&self, x: &Exchange<'_>) {
        let identity = (!x.accessor.is_empty())
            .then(|| self.inner.lock().ok().map(|s| s.identity_of(x.accessor)))
            .flatten();
        let outcome = if x.error.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let mut r = Record::new(EventKind::BackendRequest, outcome).identity(identity);
        r.error = x.error.map(ToString::to_string);
        r.backend = Some(BackendMeta {
            node: x.node.to_string(),
            request_id: x.request_id.map(str::to_string),
            method: Some(x.method.to_string()),
            path: Some(x.path.to_string()),
            purpose: Some(x.purpose.as_str()),
            previous: None,
        });
        self.record(r);
    }

    fn failover(&self, node: &str, previous: &str) {
        let mut r = Record::new(EventKind::BackendFailover, Outcome::Success);
        r.backend = Some(BackendMeta {
            node: node.to_string(),
            previous: Some(previous.to_string()),
            ..BackendMeta::default()
        });
        self.record(r);
    }
}

#[cfg(test)]
mod tests;
