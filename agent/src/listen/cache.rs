//! The cache of leased responses (`cache {}`), keyed by what a request means. Stub: the API the proxy
//! calls; the implementation fills it in.

use std::future::Future;

use super::types::{CacheStatus, ProxyRequest, ProxyResponse};

/// The proxy's cache.
#[derive(Debug, Default)]
pub struct Cache {}

impl Cache {
    /// Answer `req` from the cache, or call `forward` (the backend through the proxy's client), store what
    /// may be stored, and evict what a revoke covers.
    ///
    /// # Errors
    /// Whatever `forward` returns.
    pub async fn handle<E, F, Fut>(
        &self,
        req: ProxyRequest,
        forward: F,
    ) -> Result<(ProxyResponse, CacheStatus), E>
    where
        F: FnOnce(ProxyRequest) -> Fut,
        Fut: Future<Output = Result<ProxyResponse, E>>,
    {
        forward(req).await.map(|r| (r, CacheStatus::Bypass))
    }
}
