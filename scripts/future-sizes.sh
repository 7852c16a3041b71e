#!/usr/bin/env bash
# Lists the largest async state machines (futures) in the library, in bytes: a connection's
# task holds its whole nested future, so these sizes are per-connection memory and the
# lines a request may touch. Uses rustc's -Zprint-type-sizes (RUSTC_BOOTSTRAP on stable).
#
# Usage: scripts/future-sizes.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
touch src/lib.rs # (incremental builds skip the layout print)
CARGO_INCREMENTAL=0 RUSTC_BOOTSTRAP=1 cargo rustc --lib --quiet -- -Zprint-type-sizes > "$out"
grep '^print-type-size type: `{async' "$out" |
    sed -E 's/^print-type-size type: `(.*)`: ([0-9]+) bytes.*/\2 \1/' |
    sort -rn | awk '!seen[$0]++' | head -n "${1:-20}"
