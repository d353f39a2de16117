#!/usr/bin/env bash
# Measure sidekey against its budgets and against the real OpenBao programs on the same work. Builds the
# release binary first.
#   tests/bench.sh         the agent budgets beside `bao agent` (raw round trips, one-shot render of
#                          KV + DB + PKI, exec start, steady RSS, binary size)
#   tests/bench.sh proxy   the API proxy beside `bao proxy`: latency added over a direct request (p50/p99),
#                          cached latency, requests per second uncached and cached, RSS
#   tests/bench.sh perhost [--smoke]
#                          Per-host memory: one sidekey serving 100 workloads (10 with --smoke, or
#                          SIDEKEY_BENCH_WORKLOADS=N), each caller in its own unit's cgroup reading a KV secret
#                          and a database credential through the unix socket, beside the RSS of 3 sidecar
#                          sidekeys doing one workload each (needs root and a writable cgroup2 tree)
#   tests/bench.sh fleet [--smoke] [--points 50,100,200] [--bao-max N] [--no-bao] [--no-sidekey]
#                          N agents against a 3-node OpenBao cluster through a leader kill and a full outage
#                          (docs/ha.md, "Fleet benchmark"). The benchmark program itself is built in the dev
#                          profile: it only drives the release binaries and reads logs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p sidekey
case "${1:-}" in
  proxy)
    shift
    export SIDEKEY_BIN="$PWD/target/release/sidekey"
    exec cargo test --quiet -p sidekey-tests --test bench_proxy -- --ignored --nocapture "$@"
    ;;
  perhost)
    shift
    if [[ "${1:-}" == --smoke ]]; then
      shift
      export SIDEKEY_BENCH_WORKLOADS="${SIDEKEY_BENCH_WORKLOADS:-10}"
    fi
    export SIDEKEY_BIN="$PWD/target/release/sidekey"
    exec cargo test --quiet -p sidekey-tests --test bench_perhost -- --ignored --nocapture "$@"
    ;;
  fleet)
    shift
    exec cargo bench --quiet --profile dev -p sidekey-tests --bench fleet -- "$@"
    ;;
  *)
    exec cargo test --quiet -p sidekey-tests --test bench -- --ignored --nocapture
    ;;
esac
