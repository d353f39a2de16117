#!/usr/bin/env bash
# Measure sidekey against its budgets and against the real `bao agent` on the same work (raw round trips,
# one-shot render of KV + DB + PKI, exec start, steady RSS, binary size). Builds the release binary first.
#
# `tests/bench.sh fleet [--smoke] [--points 50,100,200] [--bao-max N] [--no-bao] [--no-sidekey]`: the fleet
# benchmark instead (N agents against a 3-node OpenBao cluster through a leader kill and a full outage; see
# docs/ha.md, "Fleet benchmark"). The benchmark program itself is built in the dev profile: it only drives
# the release binaries and reads logs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p sidekey
if [[ "${1:-}" == "fleet" ]]; then
    shift
    exec cargo bench --quiet --profile dev -p sidekey-tests --bench fleet -- "$@"
fi
exec cargo test --quiet -p sidekey-tests --test bench -- --ignored --nocapture
