#!/usr/bin/env bash
# Builds OpenClaw with profile-guided optimisation (PGO) and prints the binary's path.
#
# 1. An instrumented release build (target/pgo-gen) serves the benchmark's scenarios
#    (scripts/bench-lib.sh server_conf: return, static, Lua, proxy, cache, gzip, shared
#    dict, Redis over a cosocket) under wrk for a few seconds each, with a real upstream
#    nginx and redis-server on free loopback ports.
# 2. llvm-profdata (LLVM 22, rustc's own LLVM version) merges what it recorded.
# 3. The release build is made again with that profile (target/pgo-use), so LLVM lays the
#    hot paths out together and keeps cold code out of the instruction cache.
#
# Usage: scripts/build-pgo.sh [SECONDS_PER_SCENARIO]   (the binary's path goes to stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIN=${1:-3}
source scripts/bench-lib.sh
need_cmd wrk wrk
need_cmd redis-server redis-server
need_file /usr/sbin/nginx nginx
need_cmd llvm-profdata-22 llvm-22
install_packages >&2

triple=$(rustc -vV | awk '/^host:/ {print $2}')
prof=$PWD/target/pgo-profile
rm -rf "$prof"
mkdir -p "$prof"
# --target keeps RUSTFLAGS off build scripts and proc macros.
RUSTFLAGS="-Cprofile-generate=$prof/raw" \
    cargo build --release --quiet --target "$triple" --target-dir target/pgo-gen >&2
gen=$PWD/target/pgo-gen/$triple/release/openclaw

work=$(mktemp -d)
oc_pid=
cleanup() {
    [ -n "$oc_pid" ] && kill "$oc_pid" 2>/dev/null || true
    [ -f "$work/up/logs/nginx.pid" ] && kill "$(cat "$work/up/logs/nginx.pid")" 2>/dev/null || true
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/oc/conf" "$work/oc/logs" "$work/oc/html/static"
cp conf/mime.types "$work/oc/conf/"
rand_text 4096 > "$work/oc/html/static/4k.txt"
bench_json > "$work/oc/html/static/100k.json"
OC_PORT=$(free_port)
UP_PORT=$(free_port)
REDIS_PORT=$(free_port)
bench_upstream "$work/up" "$UP_PORT"
server_conf "$OC_PORT" > "$work/oc/conf/openclaw.conf"
/usr/sbin/nginx -p "$work/up" -c conf/nginx.conf -g "master_process off;"
start_redis "$REDIS_PORT" "$work"
redis-cli -p "$REDIS_PORT" set bench hello >/dev/null

# In the foreground (no daemon) so this script sees it exit: the profile is written then.
"$gen" -p "$work/oc" -c conf/openclaw.conf -g "daemon off;" &
oc_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$OC_PORT/return" && break; sleep 0.1; done
for path in /return /static/4k.txt /lua /proxy/1k.txt /proxy/100k.txt /proxy_lua/1k.txt \
    /shdict /redisget /cached/1k.txt /cached/100k.txt /static/missing; do
    wrk -t1 -c20 -d"${TRAIN}s" "http://127.0.0.1:$OC_PORT$path" >/dev/null
done
wrk -t1 -c20 -d"${TRAIN}s" -H "Accept-Encoding: gzip" "http://127.0.0.1:$OC_PORT/gz/100k.json" >/dev/null
kill -TERM "$oc_pid"
wait "$oc_pid" || true
oc_pid=

llvm-profdata-22 merge -o "$prof/merged.profdata" "$prof"/raw >&2
RUSTFLAGS="-Cprofile-use=$prof/merged.profdata" \
    cargo build --release --quiet --target "$triple" --target-dir target/pgo-use >&2
echo "$PWD/target/pgo-use/$triple/release/openclaw"
