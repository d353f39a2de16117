//! The API proxy benchmark (issue 14): sidekey and the real `bao proxy` on the same config (JWT auto-auth,
//! `api_proxy { use_auto_auth_token = true }`, `cache {}`, a TCP listener) against one dev server. Prints
//! the latency a proxied request adds over the same request sent directly (p50/p99, a KV read, which
//! neither caches), the latency of a cached answer (a database credential served from the cache), the
//! requests per second through each with several connections, uncached and cached, and each agent's RSS
//! after the load. Run with `tests/bench.sh proxy` (release build); ignored in the normal suite.

// Benchmark code: wall-clock time is the thing measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_types,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use sidekey_tests::apiproxy::{Listening, Server, caching_proxy_config};
use sidekey_tests::bao::http_client;
use sidekey_tests::memory::rss_kib;
use sidekey_tests::ports::free_port;
use sidekey_tests::{Fixture, Setup, ShmDir};

/// Sequential samples per latency figure.
const SAMPLES: usize = 400;
/// Connections (one thread each) for the throughput figures.
const CONNECTIONS: usize = 8;
/// How long each throughput figure runs.
const LOAD_FOR: Duration = Duration::from_secs(4);
/// The uncached request: a KV v2 read (neither agent caches static secrets by default).
const KV: &str = "/v1/secret/data/app/config";
/// The cached request: a database credential (a leased response both agents cache).
const CREDS: &str = "/v1/database/creds/app";

/// One GET; panics unless it succeeds.
fn get(http: &Client, url: &str, token: Option<&str>) {
    let mut req = http.get(url).header("X-Vault-Request", "true");
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    let resp = req.send().unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status();
    let _ = resp.bytes();
    assert!(status.is_success(), "{url}: {status}");
}

/// `SAMPLES` sequential GETs of `url`; their durations, sorted.
fn latencies(http: &Client, url: &str, token: Option<&str>) -> Vec<Duration> {
    get(http, url, token); // warm the connection (and the cache)
    let mut v: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            get(http, url, token);
            t.elapsed()
        })
        .collect();
    v.sort();
    v
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Requests per second of GETs of `url` on `CONNECTIONS` connections for `LOAD_FOR`.
fn throughput(url: &str, token: Option<&str>) -> f64 {
    let start = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                s.spawn(|| {
                    let http = http_client();
                    let mut n = 0;
                    while start.elapsed() < LOAD_FOR {
                        get(&http, url, token);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// What one agent measured.
struct Figures {
    uncached: Vec<Duration>,
    cached: Vec<Duration>,
    uncached_rps: f64,
    cached_rps: f64,
    rss_kib: Option<u64>,
}

fn measure(fx: &Fixture, server: Server) -> Figures {
    let out = ShmDir::new();
    let port = free_port();
    let cfg = fx.write_config(&caching_proxy_config(fx, port, &out));
    let mut agent = Listening::start(server, &cfg, fx.dir.path(), port, &[]);
    let http = http_client();
    let kv = format!("{}{KV}", agent.base);
    let creds = format!("{}{CREDS}", agent.base);
    let figures = Figures {
        uncached: latencies(&http, &kv, None),
        cached: latencies(&http, &creds, None),
        uncached_rps: throughput(&kv, None),
        cached_rps: throughput(&creds, None),
        rss_kib: rss_kib(agent.process.pid()),
    };
    agent.stop();
    figures
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// `d` minus `base`, signed, in ms.
fn added(d: Duration, base: Duration) -> String {
    format!("{:+.3} ms", (d.as_secs_f64() - base.as_secs_f64()) * 1000.0)
}

#[test]
#[ignore = "benchmark: run with tests/bench.sh proxy"]
fn api_proxy_against_bao_proxy() {
    let fx = Setup::new().jwt().database().start();
    let (token, _) = fx.app_token();
    let http = http_client();
    let direct_url = format!("{}{KV}", fx.addr());
    let direct_before = latencies(&http, &direct_url, Some(&token));
    let sk = measure(&fx, Server::Sidekey);
    let bao = measure(&fx, Server::BaoProxy);
    // Direct again, so a drift of the machine during the run shows.
    let direct_after = latencies(&http, &direct_url, Some(&token));
    let mut direct = [direct_before, direct_after].concat();
    direct.sort();
    let direct_rps = throughput(&direct_url, Some(&token));

    let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
    let rows: Vec<(&str, String, String, String)> = vec![
        (
            "uncached p50 added (KV read)",
            added(percentile(&sk.uncached, 0.5), d50),
            added(percentile(&bao.uncached, 0.5), d50),
            ms(d50),
        ),
        (
            "uncached p99 added (KV read)",
            added(percentile(&sk.uncached, 0.99), d99),
            added(percentile(&bao.uncached, 0.99), d99),
            ms(d99),
        ),
        (
            "cached p50 (database creds)",
            ms(percentile(&sk.cached, 0.5)),
            ms(percentile(&bao.cached, 0.5)),
            String::from("-"),
        ),
        (
            "cached p99 (database creds)",
            ms(percentile(&sk.cached, 0.99)),
            ms(percentile(&bao.cached, 0.99)),
            String::from("-"),
        ),
        (
            "uncached req/s (8 conns)",
            format!("{:.0}", sk.uncached_rps),
            format!("{:.0}", bao.uncached_rps),
            format!("{direct_rps:.0}"),
        ),
        (
            "cached req/s (8 conns)",
            format!("{:.0}", sk.cached_rps),
            format!("{:.0}", bao.cached_rps),
            String::from("-"),
        ),
        (
            "RSS after the load",
            sk.rss_kib
                .map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            bao.rss_kib
                .map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
            String::from("-"),
        ),
    ];
    println!(
        "\n{:<30} {:>14} {:>14} {:>14}",
        "API proxy", "sidekey", "bao proxy", "direct"
    );
    println!("{}", "-".repeat(75));
    for (metric, s, b, d) in rows {
        println!("{metric:<30} {s:>14} {b:>14} {d:>14}");
    }
    println!(
        "({SAMPLES} sequential requests per latency figure; {CONNECTIONS} connections for {}s per req/s figure)",
        LOAD_FOR.as_secs()
    );
}
