//! A workload's own login (`workload { auto_auth { method ... } }`): the auth module logs in, as it does
//! for the agent's own token (credential files read afresh at each login, so rotated files are used);
//! the token, an orphan of the workload's method, goes to the table like a created one. The table
//! renews it and evicts it when it can no longer be extended or is revoked; the next caller then logs
//! in again. No retries here: a failed login fails that caller's request, and the next one tries again.

use super::{Life, WorkloadToken, WorkloadTokenError, WorkloadTokens, hold};
use crate::audit::CallerMeta;
use crate::auth::Authenticator;
use crate::config::{MethodConfig, WorkloadConfig};
use crate::lease::proxied::Parent;

impl WorkloadTokens {
    /// Log `w` in with its own `method` and hold the token; the `auth.login` event names the method,
    /// its mount and role, the workload, and `caller`.
    pub(super) async fn log_in(
        &self,
        w: &WorkloadConfig,
        method: &MethodConfig,
        caller: Option<&CallerMeta>,
    ) -> Result<WorkloadToken, WorkloadTokenError> {
        let source = self.source();
        let client = source.client.borrow().clone();
        let kept = self.logins().remove(&w.name);
        let auth = match kept {
            Some(a) => a.through(client.clone()),
            None => Authenticator::new(method.clone(), source.vault.clone(), client.clone()),
        };
        let login = auth.login().await;
        let audited = match &login {
            Ok(t) => t.identity.clone(),
            Err(_) => auth.base_identity(),
        };
        self.logins().insert(w.name.clone(), auth);
        let answered = login.as_ref().ok().map(|t| t.request_id.as_str());
        self.audit(w, caller, &client, audited, answered, login.as_ref().err());
        let login = login.map_err(|source| WorkloadTokenError::Login {
            workload: w.name.clone(),
            mount: method.mount_path.clone(),
            source,
        })?;
        let token = WorkloadToken {
            secret: login.secret,
            accessor: login.accessor,
        };
        self.inner
            .checks
            .held(&w.name, &token.accessor, &login.policies);
        let life = Life {
            ttl: login.ttl,
            renewable: login.renewable,
            parent: Parent::None,
            path: format!("{}/login", method.mount_path),
        };
        hold(&source.leases, w, &token, life);
        Ok(token)
    }

    fn logins(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Authenticator>> {
        self.inner
            .logins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
