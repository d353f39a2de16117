//! Test harness for sidekey's end-to-end tests: a real OpenBao dev server (or Raft cluster) and a
//! private PostgreSQL cluster on free loopback ports, workload JWTs, tmpfs output directories, and the
//! built `sidekey` binary.
//!
//! Everything here panics with a message naming what went wrong instead of returning errors: it only
//! ever runs inside `cargo test`, where a panic is a test failure with that message.
//!
//! # Layout
//! - [`ports`]: free loopback ports (also a free pair `p`, `p+1` for OpenBao's cluster listener).
//! - [`tmpfs`]: a per-test output directory under `/dev/shm`.
//! - [`apiproxy`]: an agent serving Vault's API on a listener (sidekey, `bao proxy`, `bao agent`), and
//!   requests through it.
//! - [`chromium`]: headless Chromium opening a local page with no network: screenshot, DOM, console.
//! - [`compat`]: differential runs against the real `bao agent` (fixtures, run, compare).
//! - [`cgroup`]: cgroups in the machine's cgroup2 tree named like systemd units and container scopes, with
//!   callers moved into them.
//! - [`bao`]: `bao server -dev` in its own process group, with a small blocking JSON client.
//! - [`cluster`]: a real OpenBao Raft cluster of `n` nodes on loopback: start, kill, stop, restart, seal,
//!   unseal nodes, find the leader.
//! - [`postgres`]: a private PostgreSQL cluster run as the `postgres` OS user.
//! - [`hostile`]: a hostile backend: answers too big, dripping, malformed, HTML error pages, cut short.
//! - [`hcl`]: Vault Agent HCL config builders.
//! - [`jwt`]: an RSA issuer minting Kubernetes-shaped service-account JWTs.
//! - [`setup`]: one call that mounts and configures everything sidekey's tests need.
//! - [`sidekey`]: the workspace's `sidekey` (and `sidekey-injector`) binary, built once per test process,
//!   and a runner.
//! - [`process`]: running a child with captured output and a deadline.
//! - [`background`]: a long-running child (`sidekey run`/`exec`, a server) in its own process group, its
//!   output in files, stopped with its whole group on drop.
//! - [`proxy`]: a loopback TCP proxy that can cut the backend off and counts connections.
//! - [`receiver`]: an RFC 5424 syslog receiver over TLS and an OTLP/HTTP logs endpoint for the audit
//!   sinks, each stoppable (an outage) and restartable on its port.
//! - [`audit`]: reading sidekey's own audit file (JSON lines), its times, and `sidekey audit verify`;
//!   a rotated trail on disk and an intruder's rewrite of it; the anchoring agent's setting.
//! - [`memory`]: a process's resident memory (`VmRSS`, `RssAnon`), read once or as a steady median.
//! - [`notify`]: a socket standing in for systemd's `NOTIFY_SOCKET`, collecting what sidekey sends.
//! - [`users`]: local users a test runs callers as, removed when the test ends.

// Test-only code: a failed expectation is a failed test, so `expect`/`panic!` with a message is the
// right error handling here, and a wall-clock `std::time::Instant` is fine (no tokio clock to pause).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types
)]

pub mod apiproxy;
pub mod audit;
pub mod background;
pub mod bao;
pub mod cgroup;
pub mod chromium;
pub mod cluster;
pub mod compat;
pub mod hcl;
pub mod hostile;
pub mod jwt;
pub mod memory;
pub mod notify;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod receiver;
pub mod setup;
pub mod sidekey;
pub mod tmpfs;
pub mod users;

pub use bao::{Api, Bao, DevOptions, Reply};
pub use cluster::{Cluster, ClusterFixture};
pub use jwt::{JwtIssuer, MintedJwt};
pub use postgres::Postgres;
pub use setup::{Fixture, Setup};
pub use sidekey::{Sidekey, SidekeyOutput, injector_bin, sidekey_bin};
pub use tmpfs::ShmDir;

/// `bytes` random bytes from `/dev/urandom`, hex-encoded (passwords, sentinels).
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write `contents` to `path` by rename, so a reader (sidekey watching it) never sees a half-written file.
pub fn replace_file(path: &std::path::Path, contents: &str) {
    let tmp = path.with_extension(format!("swap-{}", random_hex(3)));
    std::fs::write(&tmp, contents).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", tmp.display(), path.display()));
}
