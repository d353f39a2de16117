#!/usr/bin/env bash
# Build every fuzz target and run each for SECONDS (default 30) over its committed corpus; fails on any
# crash, timeout or out-of-memory. CI calls it; docs/fuzzing.md says more.
#
#   fuzz/smoke.sh [SECONDS]
#
# Environment: SANITIZER (default `address`; `none` where ASan cannot link), TARGETS (default: all).
set -euo pipefail

seconds="${1:-30}"
sanitizer="${SANITIZER:-address}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# cargo-fuzz passes nightly-only flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "fuzz/smoke.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2; exit 2; }

targets="${TARGETS:-$(cargo fuzz list)}"
cargo fuzz build -O --sanitizer "$sanitizer"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in $targets; do
    # New inputs go to a scratch corpus: the committed one stays as it is.
    mkdir -p "$work/$t"
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    # The template target skips longer inputs itself (see its header).
    [ "$t" = template ] && args+=(-max_len=4096)
    echo "== $t: ${seconds}s"
    if ! cargo fuzz run -O --sanitizer "$sanitizer" "$t" "$work/$t" "corpus/$t" -- "${args[@]}" \
        >"$work/$t.log" 2>&1; then
        tail -n 40 "$work/$t.log" >&2
        failed+=("$t")
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$work/$t.log" || true
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz/smoke.sh: failed: ${failed[*]} (the crashing input is under fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "fuzz/smoke.sh: every target ran ${seconds}s clean"
