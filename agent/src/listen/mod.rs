//! Callers that ask instead of being delivered to (DESIGN.md §10): the `listener "tcp"`/`"unix"` servers,
//! the API proxy that forwards `/v1/...` to the backend, and the cache of leased responses.
//!
//! - [`types`]: a proxied request and response as the proxy and the cache exchange them.
//! - [`cache`]: the cache (`cache {}`): entries keyed by what a request means, renewed by the lease engine.

pub(crate) mod cache;
pub(crate) mod types;
