#!/usr/bin/env bash
# Measure sidekey against its budgets and against the real OpenBao programs on the same work. Builds the
# release binary first.
#   tests/bench.sh         the agent budgets beside `bao agent` (raw round trips, one-shot render of
#                          KV + DB + PKI, exec start, steady RSS, binary size)
#   tests/bench.sh proxy   the API proxy beside `bao proxy`: latency added over a direct request (p50/p99),
#                          cached latency, requests per second uncached and cached, RSS
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p sidekey
case "${1:-}" in
  proxy)
    shift
    export SIDEKEY_BIN="$PWD/target/release/sidekey"
    exec cargo test --quiet -p sidekey-tests --test bench_proxy -- --ignored --nocapture "$@"
    ;;
  *)
    exec cargo test --quiet -p sidekey-tests --test bench -- --ignored --nocapture
    ;;
esac
