#!/usr/bin/env bash
# Benchmarks OpenClaw against Debian's nginx (with libnginx-mod-http-lua loaded) on the same
# machine: same config, one worker each pinned to the same core, wrk pinned to another,
# alternating runs. Prints req/s, p50, p99 per run and the openclaw/nginx ratios.
# Proxy scenarios go to a third server (nginx serving static files, on wrk's core) through
# an upstream block with keepalive; the upstream's access log counts the connections each
# side opened, reported per 10k requests.
#
# Then each scenario runs ROUNDS more times per server, alternating, at one fixed offered
# load (h2load --rps), for latencies that compare at equal load: the median p50/p99 of the
# rounds, the rate h2load really achieved, and the server's CPU per request there (FIXED=0
# skips it). h2load's HTTP/1 --rps sends at most about 200 requests/s per connection
# exactly (asked for more it falls behind, and 1,800 gave about 200), so the load is
# CONNS x min(200, 70% of the slower server's rate / CONNS).
#
# `pipe8` is `return` from an HTTP/1.1 pipelining client: wrk sends 8 requests a write
# (scripts/bench-pipeline.lua).
#
# In the `return` scenario a third server runs each round too: scripts/floor.c, the least
# work an HTTP/1.1 server can do (one recv and one send a request, a canned answer). It
# marks the ceiling this load generator allows on these cores.
#
# wrk_cpu% is the load generator's CPU use during a full-load run: at 95% and above it is
# the bottleneck, and both servers meet the same ceiling (the ratio is then ~1.00 whatever
# the servers' cost; their CPU per request still tells them apart).
#
# Usage: scripts/bench.sh [SECONDS_PER_RUN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${2:-3}
CONNS=${CONNS:-50}

source scripts/bench-lib.sh
need_cmd wrk wrk
need_cmd h2load nghttp2-client
need_cmd redis-server redis-server
need_cmd gcc gcc
need_file /usr/sbin/nginx nginx
need_file /usr/lib/nginx/modules/ngx_http_lua_module.so libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core lua-cjson
install_needed

work=$(mktemp -d)
floor_pid=
cleanup() {
    [ -f "$work/oc/logs/nginx.pid" ] && kill "$(cat "$work/oc/logs/nginx.pid")" 2>/dev/null || true
    [ -f "$work/ng/logs/nginx.pid" ] && kill "$(cat "$work/ng/logs/nginx.pid")" 2>/dev/null || true
    [ -f "$work/up/logs/nginx.pid" ] && kill "$(cat "$work/up/logs/nginx.pid")" 2>/dev/null || true
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
    [ -n "$floor_pid" ] && kill "$floor_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for side in oc ng; do
    mkdir -p "$work/$side/conf" "$work/$side/logs" "$work/$side/html/static"
    cp conf/mime.types "$work/$side/conf/"
    rand_text 4096 > "$work/$side/html/static/4k.txt"
done
# A 100 KB JSON document for the gzip scenario (the same bytes on both sides).
bench_json > "$work/oc/html/static/100k.json"
OC_PORT=$(free_port)
NG_PORT=$(free_port)
UP_PORT=$(free_port)
REDIS_PORT=$(free_port)
bench_upstream "$work/up" "$UP_PORT"
server_conf "$OC_PORT" > "$work/oc/conf/openclaw.conf"
{
    echo "load_module /usr/lib/nginx/modules/ndk_http_module.so;"
    echo "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"
    server_conf "$NG_PORT"
} > "$work/ng/conf/nginx.conf"
cp "$work/oc/html/static/4k.txt" "$work/ng/html/static/4k.txt"
cp "$work/oc/html/static/100k.json" "$work/ng/html/static/100k.json"

# Server on core 0, load generator (and the proxy scenarios' upstream) on core 1.
taskset -c 1 /usr/sbin/nginx -p "$work/up" -c conf/nginx.conf -g "master_process off;"
if command -v redis-server >/dev/null 2>&1; then
    start_redis "$REDIS_PORT" "$work" taskset -c 1
    redis-cli -p "$REDIS_PORT" set bench hello >/dev/null
fi
taskset -c 0 "$OC" -p "$work/oc" -c conf/openclaw.conf
FLOOR_PORT=$(free_port)
gcc -O2 -o "$work/floor" scripts/floor.c
taskset -c 0 "$work/floor" "$FLOOR_PORT" &
floor_pid=$!
taskset -c 0 /usr/sbin/nginx -p "$work/ng" -c conf/nginx.conf -g "master_process off;"
curl -sf "http://127.0.0.1:$OC_PORT/return" >/dev/null
curl -sf "http://127.0.0.1:$NG_PORT/return" >/dev/null
curl -sf "http://127.0.0.1:$FLOOR_PORT/return" >/dev/null
# Warm both caches so the cache scenarios measure hits.
for port in "$OC_PORT" "$NG_PORT"; do
    for f in 1k.txt 100k.txt; do
        curl -sf "http://127.0.0.1:$port/cached/$f" >/dev/null
        curl -sf "http://127.0.0.1:$port/cached/$f" >/dev/null
    done
done

# CPU time (user and system, clock ticks) the server process has used so far, all threads.
cpu_ticks() {
    cat /proc/"$1"/task/*/stat 2>/dev/null | sed 's/.*) //' | awk '{u += $12; s += $13} END {print u + 0, s + 0}'
}
# The load generator's user and system seconds (bash's `time`: its children's rusage).
TIMEFORMAT='%U %S'
run() { # name port path pid -> "rps p50 p99 cpu_us_per_request sys_us_per_request wrk_cpu%"
    local hdr=() t0 t1 out
    case $1 in
        gzip*) hdr=(-H "Accept-Encoding: gzip") ;;
        pipe*) hdr=(-s scripts/bench-pipeline.lua) ;;
    esac
    t0=$(cpu_ticks "$4")
    out=$({ time taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${hdr[@]}" "http://127.0.0.1:$2$3"; } 2>"$work/wrk.time")
    t1=$(cpu_ticks "$4")
    echo "$out" | awk -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" -v w="$(cat "$work/wrk.time")" -v d="$DUR" \
        'BEGIN {split(t0, a, " "); split(t1, b, " "); split(w, c, " ")}
         /requests in/ {n=$1}
         /Requests\/sec/ {rps=$2}
         /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         END {f = (n > 0 ? 1e6 / hz / n : 0)
              printf "%s %s %s %.1f %.1f %.0f\n", rps, p50, p99, (b[1] + b[2] - a[1] - a[2]) * f, (b[2] - a[2]) * f, (c[1] + c[2]) * 100 / d}'
}
# Latency at a fixed offered load, the same for both servers: p50 and p99 in ms from
# h2load's per-request log. At full load (wrk above) the faster server also loads the
# shared core harder (wrk and the upstream), so its tail is not comparable there.
fixed() { # port path per_connection_rate pid hdr... -> "p50 p99 achieved_rate cpu_us_per_request"
    local log=$work/fixed.log t0 t1
    rm -f "$log"
    t0=$(cpu_ticks "$4")
    taskset -c 1 h2load --h1 -t1 -c"$CONNS" --rps "$3" \
        -D "$DUR" --log-file "$log" "${@:5}" "http://127.0.0.1:$1$2" >/dev/null 2>&1 || true
    t1=$(cpu_ticks "$4")
    awk '{print $3}' "$log" 2>/dev/null | sort -n | awk -v d="$DUR" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '{v[NR]=$1}
        END { if (NR == 0) { print "- - 0 -"; exit }
              split(t0, a, " "); split(t1, b, " ")
              printf "%.2f %.2f %d %.1f\n", v[int(NR*0.5)+1]/1000, v[int(NR*0.99) < NR ? int(NR*0.99)+1 : NR]/1000,
                  NR / d, (b[1] + b[2] - a[1] - a[2]) * 1e6 / hz / NR }'
}
median() { tr ' ' '\n' | grep -v '^-*$' | sort -g | awk '{v[NR]=$1} END {print (NR == 0 ? "-" : NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); print v} else {sub(/s/,"",v); print v*1000} }'; }

echo "openclaw $("$OC" -v 2>&1 | head -1) vs $(/usr/sbin/nginx -v 2>&1)"
echo "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS alternating rounds, server on core 0, wrk on core 1"
# cpu_us/req: the server's own CPU time (user + system) per request. When the load
# generator's core is saturated (wrk and, in the proxy scenarios, the upstream share it),
# req/s is capped for both servers alike and this is the figure that still tells them apart.
# sys_us/req: the part of it spent in the kernel (the same system calls on both sides: the
# share no server code can win back).
# One row of the table (nine columns).
row() { printf '%-9s %-9s %12s %10s %10s %12s %12s %9s %14s\n' "$@"; }
row scenario server req/s p50_ms p99_ms cpu_us/req sys_us/req wrk_cpu% upconns/10k
# Upstream connections per 10k requests since the last call (from the upstream's log).
up_seen=0
upconns() {
    kill -USR1 "$(cat "$work/up/logs/nginx.pid")" 2>/dev/null || true # flush its log buffer
    sleep 0.2
    local total
    total=$(wc -l < "$work/up/logs/up.log")
    if [ "$total" -gt "$up_seen" ]; then
        tail -n +"$((up_seen + 1))" "$work/up/logs/up.log" | sort -u | wc -l |
            awk -v n="$((total - up_seen))" '{printf "%.1f", $1 * 10000 / n}'
    else
        printf -- '-'
    fi
    up_seen=$total
}
for scenario in ${SCENARIOS:-return:/return pipe8:/return static4k:/static/4k.txt lua:/lua proxy1k:/proxy/1k.txt proxy100k:/proxy/100k.txt proxylua:/proxy_lua/1k.txt gzip100k:/gz/100k.json shdict:/shdict redisget:/redisget cachehit1k:/cached/1k.txt cachehit100k:/cached/100k.txt}; do
    name=${scenario%%:*}
    path=${scenario#*:}
    oc_sum=0; ng_sum=0; oc_p99=0; ng_p99=0; oc_cpu=0; ng_cpu=0; oc_sys=0; ng_sys=0; ratios=""
    oc_wrk=""; ng_wrk=""; oc_p99s=""; ng_p99s=""; fl_sum=0; sides="ng oc"
    [ "$name" = return ] && sides="floor ng oc"
    for r in $(seq "$ROUNDS"); do
        for side in $sides; do
            if [ $side = floor ]; then
                read -r rps p50 p99 cpu sys wrkcpu < <(run "$name" "$FLOOR_PORT" "$path" "$floor_pid")
                row "$name" floor "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$cpu" "$sys" "$wrkcpu" -
                fl_sum=$(awk -v a="$fl_sum" -v b="$rps" 'BEGIN{print a+b}')
                continue
            fi
            port=$NG_PORT; [ $side = oc ] && port=$OC_PORT
            pid=$(cat "$work/$side/logs/nginx.pid")
            read -r rps p50 p99 cpu sys wrkcpu < <(run "$name" "$port" "$path" "$pid")
            p50=$(to_ms "$p50"); p99=$(to_ms "$p99")
            label=nginx; [ $side = oc ] && label=openclaw
            conns=-
            case $name in proxy*) conns=$(upconns) ;; esac
            row "$name" "$label" "$rps" "$p50" "$p99" "$cpu" "$sys" "$wrkcpu" "$conns"
            if [ $side = oc ]; then
                ratios="$ratios $(awk -v a="$rps" -v b="$ng_rps" 'BEGIN{printf "%.3f", a/b}')"
                oc_sum=$(awk -v a="$oc_sum" -v b="$rps" 'BEGIN{print a+b}')
                oc_p99=$(awk -v a="$oc_p99" -v b="$p99" 'BEGIN{print a+b}')
                oc_cpu=$(awk -v a="$oc_cpu" -v b="$cpu" 'BEGIN{print a+b}')
                oc_sys=$(awk -v a="$oc_sys" -v b="$sys" 'BEGIN{print a+b}')
                oc_wrk="$oc_wrk $wrkcpu"
                oc_p99s="$oc_p99s $p99"
            else
                ng_rps=$rps
                ng_sum=$(awk -v a="$ng_sum" -v b="$rps" 'BEGIN{print a+b}')
                ng_p99=$(awk -v a="$ng_p99" -v b="$p99" 'BEGIN{print a+b}')
                ng_cpu=$(awk -v a="$ng_cpu" -v b="$cpu" 'BEGIN{print a+b}')
                ng_sys=$(awk -v a="$ng_sys" -v b="$sys" 'BEGIN{print a+b}')
                ng_wrk="$ng_wrk $wrkcpu"
                ng_p99s="$ng_p99s $p99"
            fi
        done
    done
    # The median of the rounds' ratios too: each round runs both servers back to back, so
    # it resists this machine's minute-scale swings better than the ratio of sums.
    med=$(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')
    awk -v n="$name" -v o="$oc_sum" -v g="$ng_sum" -v op="$oc_p99" -v gp="$ng_p99" -v r="$ROUNDS" -v m="$med" \
        -v oc="$oc_cpu" -v gc="$ng_cpu" -v os="$oc_sys" -v gs="$ng_sys" \
        'BEGIN { printf "%-8s ratio openclaw/nginx: req/s %.2fx (median round %.2fx), mean p99 %.3f ms vs %.3f ms, CPU %.1f vs %.1f us/req (kernel %.1f vs %.1f)\n", n, o/g, m, op/r, gp/r, oc/r, gc/r, os/r, gs/r }'
    # One stall in a round moves the mean p99 by more than the servers differ; the median
    # round's p99 resists that.
    printf '%-8s median round p99 %s ms vs %s ms; load generator CPU (median) %s%% vs %s%%\n' "$name" \
        "$(echo "$oc_p99s" | median)" "$(echo "$ng_p99s" | median)" "$(echo "$oc_wrk" | median)" "$(echo "$ng_wrk" | median)"
    if [ "$name" = return ]; then
        awk -v f="$fl_sum" -v o="$oc_sum" -v g="$ng_sum" -v r="$ROUNDS" 'BEGIN {
            printf "return   ceiling (scripts/floor.c, a do-nothing server): %.0f req/s; openclaw %.0f (%.2fx of it), nginx %.0f (%.2fx)\n",
                f/r, o/r, o/f, g/r, g/f }'
    fi
    # (h2load's fixed load does not pipeline: the pipelined scenarios skip that phase.)
    if [ "${FIXED:-1}" != 0 ] && [ "${name#pipe}" = "$name" ]; then
        # Per connection: 70% of the slower server's rate, at most the 200/s h2load keeps.
        per=$(awk -v o="$oc_sum" -v g="$ng_sum" -v r="$ROUNDS" -v c="$CONNS" \
            'BEGIN { m = (o < g ? o : g) / r * 0.7 / c; m = (m > 200 ? 200 : m); printf "%d", (m < 1 ? 1 : m) }')
        hdr=()
        case $name in gzip*) hdr=(-H "Accept-Encoding: gzip") ;; esac
        f_oc50=""; f_oc99=""; f_ng50=""; f_ng99=""; f_ocr=""; f_ngr=""; f_occ=""; f_ngc=""
        for r in $(seq "$ROUNDS"); do
            read -r a b c d < <(fixed "$NG_PORT" "$path" "$per" "$(cat "$work/ng/logs/nginx.pid")" "${hdr[@]}")
            f_ng50="$f_ng50 $a"; f_ng99="$f_ng99 $b"; f_ngr="$f_ngr $c"; f_ngc="$f_ngc $d"
            read -r a b c d < <(fixed "$OC_PORT" "$path" "$per" "$(cat "$work/oc/logs/nginx.pid")" "${hdr[@]}")
            f_oc50="$f_oc50 $a"; f_oc99="$f_oc99 $b"; f_ocr="$f_ocr $c"; f_occ="$f_occ $d"
        done
        printf '%-8s at %s / %s req/s (h2load, %d conns x %d/s; medians of %d rounds): p50 %s vs %s ms, p99 %s vs %s ms, CPU %s vs %s us/req (openclaw vs nginx)\n' \
            "$name" "$(echo "$f_ocr" | median)" "$(echo "$f_ngr" | median)" "$CONNS" "$per" "$ROUNDS" \
            "$(echo "$f_oc50" | median)" "$(echo "$f_ng50" | median)" "$(echo "$f_oc99" | median)" "$(echo "$f_ng99" | median)" \
            "$(echo "$f_occ" | median)" "$(echo "$f_ngc" | median)"
        case $name in proxy*) upconns >/dev/null ;; esac
    fi
done
