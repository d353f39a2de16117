//! The OpenBao / Vault HTTP API client: login, secret reads and writes, token and lease calls.

pub mod secret;
