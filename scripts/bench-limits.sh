#!/usr/bin/env bash
# The Redis-backed limit_req zone against the local one (issue target: Redis within 2x of
# local throughput). One OpenClaw, one worker on core 0; redis-server and wrk on core 1.
# Both zones allow far more than wrk sends, so every request is decided and let through;
# the same small static file without a limit is the baseline. (Not `return`: it answers in
# the rewrite phase, before limit_req runs, in nginx and here.) Alternating runs.
#
# Usage: scripts/bench-limits.sh [SECONDS_PER_RUN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONNS=${CONNS:-50}

source scripts/bench-lib.sh
need_cmd wrk wrk
need_cmd redis-server redis-server
install_needed

work=$(mktemp -d)
cleanup() {
    [ -f "$work/logs/nginx.pid" ] && kill "$(cat "$work/logs/nginx.pid")" 2>/dev/null || true
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

PORT=$(free_port)
REDIS_PORT=$(free_port)

start_redis "$REDIS_PORT" "$work" taskset -c 1

mkdir -p "$work/conf" "$work/logs" "$work/html"
echo ok > "$work/html/ok.txt"
cat > "$work/conf/openclaw.conf" <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    limit_req_zone \$binary_remote_addr zone=local:10m rate=1000000r/s;
    limit_req_zone \$binary_remote_addr zone=shared:10m rate=1000000r/s redis=redis://127.0.0.1:$REDIS_PORT/0;
    server {
        listen 127.0.0.1:$PORT;
        location /none/ { alias html/; }
        location /local/ { limit_req zone=local burst=1000000 nodelay; alias html/; }
        location /redis/ { limit_req zone=shared burst=1000000 nodelay; alias html/; }
    }
}
CONF
taskset -c 0 "$OC" -p "$work" -c conf/openclaw.conf
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/none/ok.txt" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/redis/ok.txt" >/dev/null
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null

echo "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS alternating rounds; openclaw on core 0, wrk and redis on core 1"
printf "%-8s %12s %10s %10s\n" scenario req/s p50_ms p99_ms
declare -A sum
for r in $(seq "$ROUNDS"); do
    for s in none local redis; do
        out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$PORT/$s/ok.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out")
        p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
        printf "%-8s %12s %10s %10s %s\n" "$s" "$rps" "$p50" "$p99" "${non2xx:+non-2xx: $non2xx}"
        sum[$s]=$(python3 -c "print(${sum[$s]:-0} + $rps)")
    done
done
python3 - "${sum[none]}" "${sum[local]}" "${sum[redis]}" <<'PY'
import sys
none, local, redis = map(float, sys.argv[1:])
print(f"ratio redis/local: {redis / local:.2f}x (target >= 0.5x); local/no limit: {local / none:.2f}x")
PY
# Proof the Redis zone decided in Redis: one script call per request.
echo "redis: $(redis-cli -p "$REDIS_PORT" info commandstats | grep -E '^cmdstat_(evalsha|eval):' | tr -d '\r' | cut -d, -f1)"
grep -i "error\|crit" "$work/logs/error.log" | head -5 || true
