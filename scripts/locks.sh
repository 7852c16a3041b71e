#!/usr/bin/env bash
# Counts the atomic read-modify-write instructions (`lock`-prefixed, and `xchg`) OpenClaw
# executes a request, by function: the server runs under callgrind with per-instruction
# counts, and the counts at the binary's locked instructions are summed. Each costs tens
# of cycles however few instructions surround it, which instruction totals do not show.
# Start-up and shutdown are included (a few hundredths a request at the default count).
#
# Usage: scripts/locks.sh [PATH] [REQUESTS]   (default: /return 20000; OC=binary to pick
#        one, else target/release/openclaw is built)
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:-/return}
n=${2:-20000}
source scripts/bench-lib.sh
need_cmd valgrind valgrind
need_cmd h2load nghttp2-client
need_cmd objdump binutils
install_needed

work=$(mktemp -d)
vg_pid=
cleanup() {
    [ -n "$vg_pid" ] && kill "$vg_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/conf" "$work/logs" "$work/html/static"
cp conf/mime.types "$work/conf/"
rand_text 4096 > "$work/html/static/4k.txt"
port=$(free_port)
# (The upstream and Redis the config names are not started: pick a path that needs
# neither, or start them as scripts/bench.sh does.)
UP_PORT=${UP_PORT:-$(free_port)} REDIS_PORT=${REDIS_PORT:-$(free_port)}
server_conf "$port" > "$work/conf/openclaw.conf"

valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$work/cg.out" \
    "$OC" -p "$work" -c conf/openclaw.conf -g "daemon off; master_process off;" \
    > "$work/vg.log" 2>&1 &
vg_pid=$!
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/return" && break; sleep 0.2; done
h2load --h1 -n "$n" -c 10 -t 1 "http://127.0.0.1:$port$path" | grep -E "^status codes" >&2
kill -INT "$vg_pid"
wait "$vg_pid" || true
vg_pid=

objdump -d --no-show-raw-insn "$OC" | awk '/\tlock |\txchg / {sub(":", "", $1); print $1}' \
    > "$work/locked.txt"
python3 - "$work/cg.out" "$work/locked.txt" "$(basename "$OC")" "$n" <<'PY'
import collections, re, sys
out, locked, binary, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
locks = {int(a, 16) for a in open(locked)}
objs, fns, counts = {}, {}, collections.Counter()
ob = fn = None
last, in_call = 0, False
for line in open(out):
    m = re.match(r'^(c?)(ob|fn)=\((\d+)\)(?: (.*))?', line)
    if m:
        table = objs if m.group(2) == 'ob' else fns
        if m.group(4):
            table[m.group(3)] = m.group(4).strip()
        if not m.group(1):
            if m.group(2) == 'ob':
                ob = objs.get(m.group(3))
            else:
                fn = fns.get(m.group(3))
        continue
    if line.startswith('calls='):
        in_call = True  # the next cost line is the call's inclusive cost
        continue
    m = re.match(r'^(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)', line)
    if not m:
        continue
    a = m.group(1)
    last = int(a, 16) if a.startswith('0x') else last if a == '*' else last + int(a)
    if in_call:
        in_call = False
        continue
    if ob and ob.endswith('/' + binary) and last in locks:
        counts[fn] += int(m.group(2))
print(f'locked instructions a request: {sum(counts.values()) / n:.1f}')
for f, c in counts.most_common(15):
    if c / n >= 0.05:
        print(f'{c / n:6.2f}  {f[:100]}')
PY
