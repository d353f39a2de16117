//! One API call as the client makes it ([`Req`]), and what it tells the observer about calls: those made
//! for a purpose once answered, and any call its caller stopped waiting for while it was on the wire
//! ([`Unanswered`]): the server may have answered it, and no other event would say so.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::super::error::BackendError;
use super::super::observe::{Bearer, Exchange, Purpose};
use super::super::response::{RawResponse, str_field};
use super::{Client, Part};

/// One API call: what is sent, with which token, and what it is for when no caller records it.
#[derive(Clone, Copy)]
pub(super) struct Req<'a> {
    /// The part of the agent it belongs to (which connection pool).
    pub part: Part,
    /// The HTTP method.
    pub method: &'a Method,
    /// The API path below `/v1/`.
    pub path: &'a str,
    /// The token it is made with, and its accessor; none for a login.
    pub bearer: Option<Bearer<'a>>,
    /// The JSON body.
    pub body: Option<&'a Value>,
    /// `X-Vault-Namespace`, else the client's.
    pub namespace: Option<&'a str>,
    /// `X-Vault-Wrap-TTL`: the server wraps the answer.
    pub wrap_ttl: Option<Duration>,
    /// What the call is for when no caller records an event for it: the client reports it.
    pub purpose: Option<Purpose>,
}

impl<'a> Req<'a> {
    /// `method` on `path` for `part`, with no token, body or namespace.
    pub fn new(part: Part, method: &'a Method, path: &'a str) -> Self {
        Self {
            part,
            method,
            path,
            bearer: None,
            body: None,
            namespace: None,
            wrap_ttl: None,
            purpose: None,
        }
    }

    /// Made with `bearer`'s token.
    pub fn bearer(self, bearer: Bearer<'a>) -> Self {
        Self {
            bearer: Some(bearer),
            ..self
        }
    }

    /// With `body` as JSON.
    pub fn body(self, body: &'a Value) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }

    /// In `namespace` (else the client's).
    pub fn namespace(self, namespace: Option<&'a str>) -> Self {
        Self { namespace, ..self }
    }

    /// The answer wrapped by the server for `ttl`.
    pub fn wrapped(self, ttl: Duration) -> Self {
        Self {
            wrap_ttl: Some(ttl),
            ..self
        }
    }

    /// Made for `purpose`: the client reports it once answered.
    pub fn reported_as(self, purpose: Purpose) -> Self {
        Self {
            purpose: Some(purpose),
            ..self
        }
    }
}

impl Client {
    /// Report `req`, made for a purpose, with its `result` (from the node now in use); a lookup-self
    /// answer names the token's accessor when the caller did not know it.
    pub(super) fn report_answer(
        &self,
        req: Req<'_>,
        result: &Result<Option<RawResponse>, BackendError>,
    ) {
        let Some(purpose) = req.purpose else {
            return;
        };
        let answer = result.as_ref().ok().and_then(Option::as_ref);
        let known = req.bearer.map(|b| b.accessor).unwrap_or_default();
        let told = answer
            .filter(|_| purpose == Purpose::LookupSelf && known.is_empty())
            .and_then(|a| a.data.as_ref())
            .map(|d| str_field(d, "accessor"));
        let request_id = answer
            .map(|a| a.request_id.as_str())
            .filter(|id| !id.is_empty());
        let error = result.as_ref().err().map(|e| e as &dyn fmt::Display);
        self.report(
            self.node(),
            req,
            purpose,
            told.as_deref().unwrap_or(known),
            request_id,
            error,
        );
    }

    /// Tell the observer, if any, about `req` made on `node` for `purpose` with the token whose accessor
    /// is `accessor`, and how it ended: the server's request_id, or the failure.
    fn report(
        &self,
        node: &str,
        req: Req<'_>,
        purpose: Purpose,
        accessor: &str,
        request_id: Option<&str>,
        error: Option<&dyn fmt::Display>,
    ) {
        let Some(o) = &self.observer.0 else { return };
        let path = match req.bearer {
            Some(b) => b.show(req.path),
            None => super::super::loggable_path(req.path.trim_start_matches('/')).into_owned(),
        };
        o.request(&Exchange {
            node,
            method: req.method.as_str(),
            path: &path,
            purpose,
            accessor,
            request_id,
            error,
        });
    }
}

/// Armed while a call is on the wire to node `node`. Dropped armed, the caller stopped waiting (the
/// agent shut down mid-call): the call is reported as `unanswered`, whatever it was for, failed with
/// [`Abandoned`] (the server may or may not have seen it).
pub(super) struct Unanswered<'c, 'a> {
    client: &'c Client,
    node: usize,
    req: Option<Req<'a>>,
}

impl<'c, 'a> Unanswered<'c, 'a> {
    /// Armed for `req` sent to node `node`.
    pub fn arm(client: &'c Client, node: usize, req: Req<'a>) -> Self {
        Self {
            client,
            node,
            req: Some(req),
        }
    }

    /// The answer came (or the call failed): nothing to report here.
    pub fn disarm(mut self) {
        self.req = None;
    }
}

impl Drop for Unanswered<'_, '_> {
    fn drop(&mut self) {
        let Some(req) = self.req.take() else { return };
        let Some(node) = self.client.nodes.get(self.node) else {
            return;
        };
        let abandoned = Abandoned;
        self.client.report(
            node,
            req,
            Purpose::Unanswered,
            req.bearer.map(|b| b.accessor).unwrap_or_default(),
            None,
            Some(&abandoned),
        );
    }
}

/// Why an unanswered call failed.
struct Abandoned;

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("abandoned before the answer came: the agent stopped waiting (shutdown)")
    }
}
