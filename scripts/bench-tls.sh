#!/usr/bin/env bash
# TLS termination against Debian's nginx (issue target: at least 1.0x on both): the same
# ECDSA P-256 certificate and config on both, one worker each pinned to core 0, wrk on
# core 1, alternating runs.
#   keepalive:  TLS 1.3, `return 200` over kept-alive connections (requests/s)
#   handshake:  `Connection: close` on every request, so each is a full handshake (wrk
#               does not resume sessions): handshakes/s
#
# Usage: scripts/bench-tls.sh [SECONDS_PER_RUN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONNS=${CONNS:-50}

source scripts/bench-lib.sh
need_cmd wrk wrk
need_cmd openssl openssl
need_file /usr/sbin/nginx nginx
install_needed

work=$(mktemp -d)
cleanup() {
    for side in oc ng; do
        [ -f "$work/$side/logs/nginx.pid" ] && kill "$(cat "$work/$side/logs/nginx.pid")" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT


openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

conf() {
    cat <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$1 ssl;
        server_name bench.test;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.3;
        location = /return { return 200 "hello, world\n"; }
    }
}
CONF
}

OC_PORT=$(free_port)
NG_PORT=$(free_port)
for side in oc ng; do mkdir -p "$work/$side/conf" "$work/$side/logs"; done
conf "$OC_PORT" > "$work/oc/conf/openclaw.conf"
conf "$NG_PORT" > "$work/ng/conf/nginx.conf"
taskset -c 0 "$OC" -p "$work/oc" -c conf/openclaw.conf
taskset -c 0 /usr/sbin/nginx -p "$work/ng" -c conf/nginx.conf -e "$work/ng/logs/error.log"
for port in "$OC_PORT" "$NG_PORT"; do
    for _ in $(seq 50); do curl -fsk "https://127.0.0.1:$port/return" >/dev/null 2>&1 && break; sleep 0.1; done
done

echo "$("$OC" -v 2>&1) vs $(/usr/sbin/nginx -v 2>&1); $(openssl version)"
echo "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS alternating rounds, server on core 0, wrk on core 1"
printf "%-10s %-9s %12s %10s %10s\n" scenario server req/s p50_ms p99_ms
declare -A sum
for scenario in keepalive handshake; do
    hdr=()
    [ "$scenario" = handshake ] && hdr=(-H "Connection: close")
    for r in $(seq "$ROUNDS"); do
        for side in nginx openclaw; do
            port=$NG_PORT
            [ "$side" = openclaw ] && port=$OC_PORT
            out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${hdr[@]}" "https://127.0.0.1:$port/return")
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            p50=$(awk '$1=="50%" {print $2}' <<<"$out")
            p99=$(awk '$1=="99%" {print $2}' <<<"$out")
            errs=$(awk '/Socket errors/ {print}' <<<"$out")
            printf "%-10s %-9s %12s %10s %10s %s\n" "$scenario" "$side" "$rps" "$p50" "$p99" "$errs"
            sum[$scenario-$side]=$(python3 -c "print(${sum[$scenario-$side]:-0} + $rps)")
        done
    done
    python3 -c "print('%-10s ratio openclaw/nginx: %.2fx' % ('$scenario', ${sum[$scenario-openclaw]} / ${sum[$scenario-nginx]}))"
done
