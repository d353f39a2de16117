//! The API calls for logging in and for the agent's own token (lookup, renew, revoke, wrap). Each goes
//! through [`Client::call`] (failover, index, in-flight cap); the ones no caller records an event for
//! are made for a [`Purpose`], which the client reports to the audit trail.

use std::time::Duration;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::super::error::BackendError;
use super::super::observe::{Bearer, Purpose};
use super::super::response::{
    AuthInfo, TokenInfo, WrapInfo, bounded_ttl, decode, str_field, take_auth, take_wrap_info,
};
use super::{Client, Part, Req};

impl Client {
    /// Log in: `PUT /v1/<mount>/login` with `body` (e.g. `{"role": .., "jwt": ..}`).
    ///
    /// # Errors
    /// [`BackendError`]; a response without `auth` is a [`BackendError::Decode`].
    pub async fn login(
        &self,
        mount: &str,
        body: &Value,
        namespace: Option<&str>,
    ) -> Result<AuthInfo, BackendError> {
        let path = format!("{}/login", mount.trim_matches('/'));
        let req = Req::new(Part::AutoAuth, &Method::PUT, &path)
            .body(body)
            .namespace(namespace);
        take_auth(self.call(req).await?, &path)
    }

    /// Log in as [`Client::login`] does, the response wrapped for `wrap_ttl`: the wrap info, not a token
    /// sidekey could use (`auto_auth { method { wrap_ttl } }`).
    ///
    /// # Errors
    /// [`BackendError`]; a response without `wrap_info` is a [`BackendError::Decode`].
    pub async fn login_wrapped(
        &self,
        mount: &str,
        body: &Value,
        namespace: Option<&str>,
        wrap_ttl: Duration,
    ) -> Result<WrapInfo, BackendError> {
        let path = format!("{}/login", mount.trim_matches('/'));
        let req = Req::new(Part::AutoAuth, &Method::PUT, &path)
            .body(body)
            .namespace(namespace)
            .wrapped(wrap_ttl);
        take_wrap_info(self.call(req).await?, &Method::PUT, &path)
    }

    /// `GET /v1/auth/token/lookup-self`, the response wrapped for `wrap_ttl` (the `token_file` method
    /// with `wrap_ttl`, as Vault Agent sends it).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn lookup_self_wrapped(
        &self,
        bearer: Bearer<'_>,
        wrap_ttl: Duration,
    ) -> Result<WrapInfo, BackendError> {
        let path = "auth/token/lookup-self";
        let req = Req::new(Part::AutoAuth, &Method::GET, path)
            .bearer(bearer)
            .wrapped(wrap_ttl);
        take_wrap_info(self.call(req).await?, &Method::GET, path)
    }

    /// Wrap the bearer's token in a response-wrapping token for `wrap_ttl`: `PUT /v1/sys/wrapping/wrap`
    /// with `{"token": ...}`, made with the token itself (a token sink's `wrap_ttl`, as Vault Agent does
    /// it), in `namespace` (else the client's); reported as `wrap`.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn wrap_token(
        &self,
        bearer: Bearer<'_>,
        wrap_ttl: Duration,
        namespace: Option<&str>,
    ) -> Result<WrapInfo, BackendError> {
        let path = "sys/wrapping/wrap";
        let body = serde_json::json!({ "token": bearer.token.expose_secret() });
        let req = Req::new(Part::AutoAuth, &Method::PUT, path)
            .bearer(bearer)
            .body(&body)
            .namespace(namespace)
            .wrapped(wrap_ttl)
            .reported_as(Purpose::Wrap);
        take_wrap_info(self.call(req).await?, &Method::PUT, path)
    }

    /// `GET /v1/auth/token/lookup-self` (reported as `lookup_self`).
    ///
    /// # Errors
    /// [`BackendError`]; 403 means the token is not valid any more.
    pub async fn lookup_self(&self, bearer: Bearer<'_>) -> Result<TokenInfo, BackendError> {
        let path = "auth/token/lookup-self";
        let req = Req::new(Part::AutoAuth, &Method::GET, path)
            .bearer(bearer)
            .reported_as(Purpose::LookupSelf);
        let data = self
            .call(req)
            .await?
            .and_then(|r| r.data)
            .ok_or_else(|| decode(&Method::GET, path, "no data"))?;
        Ok(TokenInfo {
            accessor: str_field(&data, "accessor"),
            ttl: data
                .get("ttl")
                .and_then(Value::as_u64)
                .map_or(0, bounded_ttl),
            renewable: data
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            display_name: str_field(&data, "display_name"),
        })
    }

    /// `PUT /v1/auth/token/renew-self` with `increment` seconds.
    ///
    /// # Errors
    /// [`BackendError`]; 403 means the policy forbids renew-self or the token is gone.
    pub async fn renew_self(
        &self,
        bearer: Bearer<'_>,
        increment: u64,
    ) -> Result<AuthInfo, BackendError> {
        let path = "auth/token/renew-self";
        let body = serde_json::json!({ "increment": increment });
        let req = Req::new(Part::AutoAuth, &Method::PUT, path)
            .bearer(bearer)
            .body(&body);
        take_auth(self.call(req).await?, path)
    }

    /// Create a token with the bearer's: `POST /v1/auth/token/create` (a child of that token), or
    /// `auth/token/create/<role>` with `role` (the role decides whether it is an orphan), with `body`
    /// (`policies`, `meta`, `display_name`, ...).
    ///
    /// # Errors
    /// [`BackendError`]; 403 when the token may not create it (its policies, or the role's
    /// `allowed_policies`); a response without `auth` is a [`BackendError::Decode`].
    pub async fn create_token(
        &self,
        bearer: Bearer<'_>,
        role: Option<&str>,
        body: &Value,
    ) -> Result<AuthInfo, BackendError> {
        let path = match role {
            Some(r) => format!("auth/token/create/{}", r.trim_matches('/')),
            None => "auth/token/create".to_string(),
        };
        let req = Req::new(Part::AutoAuth, &Method::POST, &path)
            .bearer(bearer)
            .body(body);
        take_auth(self.call(req).await?, &path)
    }

    /// `PUT /v1/auth/token/revoke-self` (reported as `token_revoke`).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn revoke_self(&self, bearer: Bearer<'_>) -> Result<(), BackendError> {
        let req = Req::new(Part::AutoAuth, &Method::PUT, "auth/token/revoke-self")
            .bearer(bearer)
            .reported_as(Purpose::TokenRevoke);
        self.call(req).await.map(|_| ())
    }
}
