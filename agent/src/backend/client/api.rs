//! The API calls: login, secrets, the agent's token, leases, mounts, and response wrapping. Each goes
//! through [`Client::call`] (failover, index, in-flight cap).

use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::super::error::BackendError;
use super::super::response::{
    AuthInfo, LeaseRenewal, MountInfo, TokenInfo, WrapInfo, decode, into_secret, str_field,
    take_auth, take_wrap_info,
};
use super::super::secret::Secret;
use super::{Client, Part};

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
        let raw = self
            .call(
                Part::AutoAuth,
                Method::PUT,
                &path,
                None,
                Some(body),
                namespace,
            )
            .await?;
        take_auth(raw, &path)
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
        let raw = self
            .call_wrapped(
                Part::AutoAuth,
                Method::PUT,
                &path,
                None,
                Some(body),
                namespace,
                Some(wrap_ttl),
            )
            .await?;
        take_wrap_info(raw, &Method::PUT, &path)
    }

    /// `GET /v1/auth/token/lookup-self`, the response wrapped for `wrap_ttl` (the `token_file` method
    /// with `wrap_ttl`, as Vault Agent sends it).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn lookup_self_wrapped(
        &self,
        token: &SecretString,
        wrap_ttl: Duration,
    ) -> Result<WrapInfo, BackendError> {
        let path = "auth/token/lookup-self";
        let raw = self
            .call_wrapped(
                Part::AutoAuth,
                Method::GET,
                path,
                Some(token),
                None,
                None,
                Some(wrap_ttl),
            )
            .await?;
        take_wrap_info(raw, &Method::GET, path)
    }

    /// Wrap `token` in a response-wrapping token for `wrap_ttl`: `PUT /v1/sys/wrapping/wrap` with
    /// `{"token": ...}`, made with the token itself (a token sink's `wrap_ttl`, as Vault Agent does it),
    /// in `namespace` (else the client's).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn wrap_token(
        &self,
        token: &SecretString,
        wrap_ttl: Duration,
        namespace: Option<&str>,
    ) -> Result<WrapInfo, BackendError> {
        let path = "sys/wrapping/wrap";
        let body = serde_json::json!({ "token": token.expose_secret() });
        let raw = self
            .call_wrapped(
                Part::AutoAuth,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                namespace,
                Some(wrap_ttl),
            )
            .await?;
        take_wrap_info(raw, &Method::PUT, path)
    }

    /// Read a secret: `GET /v1/<path>`. `Ok(None)` when nothing is stored there.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn read(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<Option<Secret>, BackendError> {
        self.read_in(token, path, None).await
    }

    /// Read as [`Client::read`] does, in `namespace` (else the client's): the API proxy's cache checks a
    /// secret in the namespace its caller asked for.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn read_in(
        &self,
        token: &SecretString,
        path: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Secret>, BackendError> {
        Ok(self
            .call(
                Part::Templating,
                Method::GET,
                path,
                Some(token),
                None,
                namespace,
            )
            .await?
            .map(into_secret))
    }

    /// Write-style call that returns a secret: `PUT /v1/<path>` with `params` as the JSON body
    /// (e.g. `pki/issue/<role>`).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn write(
        &self,
        token: &SecretString,
        path: &str,
        params: &Value,
    ) -> Result<Option<Secret>, BackendError> {
        Ok(self
            .call(
                Part::Templating,
                Method::PUT,
                path,
                Some(token),
                Some(params),
                None,
            )
            .await?
            .map(into_secret))
    }

    /// List keys: `LIST /v1/<path>`. `Ok(None)` when nothing is there.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn list(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<Option<Secret>, BackendError> {
        let list = Method::from_bytes(b"LIST").map_err(|e| BackendError::Setup(e.to_string()))?;
        match self
            .call(Part::Templating, list, path, Some(token), None, None)
            .await
        {
            Err(BackendError::Status { status: 404, .. }) => Ok(None),
            r => Ok(r?.map(into_secret)),
        }
    }

    /// `GET /v1/auth/token/lookup-self`.
    ///
    /// # Errors
    /// [`BackendError`]; 403 means the token is not valid any more.
    pub async fn lookup_self(&self, token: &SecretString) -> Result<TokenInfo, BackendError> {
        let path = "auth/token/lookup-self";
        let raw = self
            .call(Part::AutoAuth, Method::GET, path, Some(token), None, None)
            .await?;
        let data = raw
            .and_then(|r| r.data)
            .ok_or_else(|| decode(&Method::GET, path, "no data"))?;
        Ok(TokenInfo {
            accessor: str_field(&data, "accessor"),
            ttl: data.get("ttl").and_then(Value::as_u64).unwrap_or(0),
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
        token: &SecretString,
        increment: u64,
    ) -> Result<AuthInfo, BackendError> {
        let path = "auth/token/renew-self";
        let body = serde_json::json!({ "increment": increment });
        let raw = self
            .call(
                Part::AutoAuth,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                None,
            )
            .await?;
        take_auth(raw, path)
    }

    /// `PUT /v1/auth/token/revoke-self`.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn revoke_self(&self, token: &SecretString) -> Result<(), BackendError> {
        self.call(
            Part::AutoAuth,
            Method::PUT,
            "auth/token/revoke-self",
            Some(token),
            None,
            None,
        )
        .await
        .map(|_| ())
    }

    /// `PUT /v1/sys/leases/renew` for `lease_id` with `increment` seconds.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn renew_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
        increment: u64,
    ) -> Result<LeaseRenewal, BackendError> {
        let path = "sys/leases/renew";
        let body = serde_json::json!({ "lease_id": lease_id, "increment": increment });
        let raw = self
            .call(
                Part::Templating,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                None,
            )
            .await?
            .ok_or_else(|| decode(&Method::PUT, path, "empty body"))?;
        Ok(LeaseRenewal {
            lease_duration: raw.lease_duration,
            renewable: raw.renewable,
        })
    }

    /// `PUT /v1/sys/leases/lookup` for `lease_id`: the seconds it has left, and whether it is renewable.
    ///
    /// # Errors
    /// [`BackendError`]; a lease that no longer exists is an HTTP 400.
    pub async fn lookup_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
    ) -> Result<(u64, bool), BackendError> {
        let path = "sys/leases/lookup";
        let body = serde_json::json!({ "lease_id": lease_id });
        let raw = self
            .call(
                Part::Templating,
                Method::PUT,
                path,
                Some(token),
                Some(&body),
                None,
            )
            .await?;
        let data = raw
            .and_then(|r| r.data)
            .ok_or_else(|| decode(&Method::PUT, path, "no data"))?;
        let ttl = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
        let renewable = data
            .get("renewable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok((ttl, renewable))
    }

    /// `PUT /v1/sys/leases/revoke` for `lease_id`.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn revoke_lease(
        &self,
        token: &SecretString,
        lease_id: &str,
    ) -> Result<(), BackendError> {
        let body = serde_json::json!({ "lease_id": lease_id });
        self.call(
            Part::Templating,
            Method::PUT,
            "sys/leases/revoke",
            Some(token),
            Some(&body),
            None,
        )
        .await
        .map(|_| ())
    }

    /// The mount that serves `path`, from `GET /v1/sys/internal/ui/mounts/<path>`. `Ok(None)` when the
    /// server does not say (older servers, or no access).
    ///
    /// # Errors
    /// Transient [`BackendError`]s only; a refusal is `Ok(None)`.
    pub async fn mount_info(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<Option<MountInfo>, BackendError> {
        self.mount_info_in(token, path, None).await
    }

    /// [`Client::mount_info`] in `namespace` (else the client's).
    ///
    /// # Errors
    /// Transient [`BackendError`]s only; a refusal is `Ok(None)`.
    pub async fn mount_info_in(
        &self,
        token: &SecretString,
        path: &str,
        namespace: Option<&str>,
    ) -> Result<Option<MountInfo>, BackendError> {
        let api = format!("sys/internal/ui/mounts/{}", path.trim_matches('/'));
        let raw = match self
            .call(
                Part::Templating,
                Method::GET,
                &api,
                Some(token),
                None,
                namespace,
            )
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_transient() => return Err(e),
            Err(_) => return Ok(None),
        };
        let Some(data) = raw.and_then(|r| r.data) else {
            return Ok(None);
        };
        let kind = str_field(&data, "type");
        let kv_version = if kind == "kv" || kind == "generic" {
            let v = data
                .get("options")
                .and_then(|o| o.get("version"))
                .and_then(Value::as_str)
                .unwrap_or("1");
            Some(if v == "2" { 2 } else { 1 })
        } else {
            None
        };
        Ok(Some(MountInfo {
            path: str_field(&data, "path"),
            kind,
            kv_version,
        }))
    }
}
