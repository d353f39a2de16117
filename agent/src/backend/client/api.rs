//! The API calls for secrets, leases and mounts (logins and the agent's own token are in `token_api`).
//! Each goes through [`Client::call`] (failover, index, in-flight cap); the ones no caller records an
//! event for are made for a [`Purpose`], which the client reports to the audit trail.

use reqwest::Method;
use serde_json::Value;

use super::super::error::BackendError;
use super::super::observe::{Bearer, Purpose};
use super::super::response::{
    LeaseRenewal, MountInfo, bounded_ttl, decode, into_secret, mount_info,
};
use super::super::secret::Secret;
use super::{Client, Part, Req};

impl Client {
    /// Read a secret: `GET /v1/<path>`. `Ok(None)` when nothing is stored there.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn read(
        &self,
        bearer: Bearer<'_>,
        path: &str,
    ) -> Result<Option<Secret>, BackendError> {
        let req = Req::new(Part::Templating, &Method::GET, path).bearer(bearer);
        Ok(self.call(req).await?.map(into_secret))
    }

    /// Read a KV v2 secret's metadata (`<mount>/metadata/<path>`) in `namespace` (else the client's),
    /// reported as `kv_metadata`: the API proxy's cache checks that the version it holds is current.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn kv_metadata_in(
        &self,
        bearer: Bearer<'_>,
        path: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Secret>, BackendError> {
        let req = Req::new(Part::Templating, &Method::GET, path)
            .bearer(bearer)
            .namespace(namespace)
            .reported_as(Purpose::KvMetadata);
        Ok(self.call(req).await?.map(into_secret))
    }

    /// Write-style call that returns a secret: `PUT /v1/<path>` with `params` as the JSON body
    /// (e.g. `pki/issue/<role>`).
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn write(
        &self,
        bearer: Bearer<'_>,
        path: &str,
        params: &Value,
    ) -> Result<Option<Secret>, BackendError> {
        let req = Req::new(Part::Templating, &Method::PUT, path)
            .bearer(bearer)
            .body(params);
        Ok(self.call(req).await?.map(into_secret))
    }

    /// List keys: `LIST /v1/<path>`. `Ok(None)` when nothing is there.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn list(
        &self,
        bearer: Bearer<'_>,
        path: &str,
    ) -> Result<Option<Secret>, BackendError> {
        let list = Method::from_bytes(b"LIST").map_err(|e| BackendError::Setup(e.to_string()))?;
        let req = Req::new(Part::Templating, &list, path).bearer(bearer);
        match self.call(req).await {
            Err(BackendError::Status { status: 404, .. }) => Ok(None),
            r => Ok(r?.map(into_secret)),
        }
    }

    /// `PUT /v1/sys/leases/renew` for `lease_id` with `increment` seconds.
    ///
    /// # Errors
    /// [`BackendError`].
    pub async fn renew_lease(
        &self,
        bearer: Bearer<'_>,
        lease_id: &str,
        increment: u64,
    ) -> Result<LeaseRenewal, BackendError> {
        let path = "sys/leases/renew";
        let body = serde_json::json!({ "lease_id": lease_id, "increment": increment });
        let req = Req::new(Part::Templating, &Method::PUT, path)
            .bearer(bearer)
            .body(&body);
        let raw = self
            .call(req)
            .await?
            .ok_or_else(|| decode(&Method::PUT, path, "empty body"))?;
        Ok(LeaseRenewal {
            lease_duration: raw.lease_duration,
            renewable: raw.renewable,
            request_id: raw.request_id,
        })
    }

    /// `PUT /v1/sys/leases/lookup` for `lease_id`: the seconds it has left, and whether it is renewable
    /// (reported as `lease_lookup`).
    ///
    /// # Errors
    /// [`BackendError`]; a lease that no longer exists is an HTTP 400.
    pub async fn lookup_lease(
        &self,
        bearer: Bearer<'_>,
        lease_id: &str,
    ) -> Result<(u64, bool), BackendError> {
        let path = "sys/leases/lookup";
        let body = serde_json::json!({ "lease_id": lease_id });
        let req = Req::new(Part::Templating, &Method::PUT, path)
            .bearer(bearer)
            .body(&body)
            .reported_as(Purpose::LeaseLookup);
        let data = self
            .call(req)
            .await?
            .and_then(|r| r.data)
            .ok_or_else(|| decode(&Method::PUT, path, "no data"))?;
        let ttl = data
            .get("ttl")
            .and_then(Value::as_u64)
            .map_or(0, bounded_ttl);
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
        bearer: Bearer<'_>,
        lease_id: &str,
    ) -> Result<(), BackendError> {
        let body = serde_json::json!({ "lease_id": lease_id });
        let req = Req::new(Part::Templating, &Method::PUT, "sys/leases/revoke")
            .bearer(bearer)
            .body(&body);
        self.call(req).await.map(|_| ())
    }

    /// The mount that serves `path`, from `GET /v1/sys/internal/ui/mounts/<path>` (reported as
    /// `mount_lookup`). `Ok(None)` when the server does not say (older servers, or no access).
    ///
    /// # Errors
    /// Transient [`BackendError`]s only; a refusal is `Ok(None)`.
    pub async fn mount_info(
        &self,
        bearer: Bearer<'_>,
        path: &str,
    ) -> Result<Option<MountInfo>, BackendError> {
        self.mount_info_in(bearer, path, None).await
    }

    /// [`Client::mount_info`] in `namespace` (else the client's).
    ///
    /// # Errors
    /// Transient [`BackendError`]s only; a refusal is `Ok(None)`.
    pub async fn mount_info_in(
        &self,
        bearer: Bearer<'_>,
        path: &str,
        namespace: Option<&str>,
    ) -> Result<Option<MountInfo>, BackendError> {
        let api = format!("sys/internal/ui/mounts/{}", path.trim_matches('/'));
        let req = Req::new(Part::Templating, &Method::GET, &api)
            .bearer(bearer)
            .namespace(namespace)
            .reported_as(Purpose::MountLookup);
        let raw = match self.call(req).await {
            Ok(r) => r,
            Err(e) if e.is_transient() => return Err(e),
            Err(_) => return Ok(None),
        };
        let Some(data) = raw.and_then(|r| r.data) else {
            return Ok(None);
        };
        Ok(Some(mount_info(&data)))
    }
}
