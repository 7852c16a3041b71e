#!/usr/bin/env bash
# Runs OpenClaw's whole test suite: formatting, lints, unit, integration and spec tests.
# Installs what the tests need on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
# Independent decoders for the compression tests.
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v brotli >/dev/null 2>&1 || need+=(brotli)
# A real Redis for the cross-node limit tests (each test starts its own).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# A real ACME CA for tests/acme.rs (each test starts its own).
command -v pebble >/dev/null 2>&1 || need+=(pebble)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
# The Lua specs of the bundled modules, through the real runtime.
cargo run --quiet -- test -p . -c spec/spec.conf spec
