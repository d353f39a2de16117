#!/usr/bin/env bash
# Measure sidekey against its budgets and against the real `bao agent` on the same work (raw round trips,
# one-shot render of KV + DB + PKI, exec start, steady RSS, binary size). Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p sidekey
exec cargo test --quiet -p sidekey-tests --test bench -- --ignored --nocapture
