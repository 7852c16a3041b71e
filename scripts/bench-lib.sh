# Shared by the bench scripts (sourced, after `cd` to the repository root).

# need_cmd CMD PACKAGE...: PACKAGEs are installed when CMD is missing.
# need_file PATH PACKAGE...: the same for a file.
# install_packages: installs what was asked for (apt-get).
# install_needed: installs them, then builds the release binary into $OC; with PGO=1 the
# profile-guided build of scripts/build-pgo.sh instead; OC=path uses a binary as it is.
need=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || need+=("${@:2}"); }
need_file() { [ -e "$1" ] || need+=("${@:2}"); }
install_packages() {
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
    fi
}
install_needed() {
    install_packages
    if [ -n "${OC:-}" ]; then
        return
    elif [ "${PGO:-0}" = 1 ]; then
        OC=$(scripts/build-pgo.sh)
    else
        cargo build --release --quiet
        OC=$PWD/target/release/openclaw
    fi
}

# start_redis PORT DIR [CMD...]: a throwaway redis-server on loopback (pid file in DIR),
# started through CMD (e.g. `taskset -c 1`), once it answers.
start_redis() {
    local port=$1 dir=$2
    shift 2
    "$@" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# N bytes of base64 text (a pipeline through `head` would die of SIGPIPE under pipefail).
rand_text() { python3 -c "import base64,os,sys; n=int(sys.argv[1]); sys.stdout.write(base64.encodebytes(os.urandom(n)).decode()[:n])" "$1"; }


# The proxy scenarios' upstream in DIR: plain nginx on PORT serving 1 KB and 100 KB files,
# logging each request's connection number (logs/up.log). Start it with
# `nginx -p DIR -c conf/nginx.conf -g "master_process off;"`.
bench_upstream() {
    local dir=$1 port=$2
    mkdir -p "$dir/conf" "$dir/logs" "$dir/html"
    rand_text 1024 > "$dir/html/1k.txt"
    rand_text 102400 > "$dir/html/100k.txt"
    cat > "$dir/conf/nginx.conf" <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log error;
events { worker_connections 4096; }
http {
    log_format conn '\$connection';
    access_log logs/up.log conn buffer=64k flush=1s;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$port; root html; }
}
CONF
}

# The same server config for both; nginx additionally loads the Lua modules.
server_conf() {
    cat <<CONF
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log error;
events { worker_connections 1024; }
http {
    include mime.types;
    access_log off;
    upstream backend { server 127.0.0.1:$UP_PORT; keepalive 32; }
    proxy_cache_path cache levels=1:2 keys_zone=bench:10m;
    lua_shared_dict sd 10m;
    server {
        listen 127.0.0.1:$1 reuseport;
        root html;
        location = /return { return 200 "hello, world\n"; }
        location = /lua { content_by_lua_block { ngx.say("hello, world") } }
        # A Redis GET over a pooled cosocket (plain RESP, no library: nginx has none here).
        location = /redisget {
            content_by_lua_block {
                local sock = ngx.socket.tcp()
                sock:settimeout(1000)
                local ok, err = sock:connect("127.0.0.1", $REDIS_PORT)
                if not ok then ngx.status = 502 ngx.say(err) return end
                sock:send("*2\r\n\$3\r\nGET\r\n\$5\r\nbench\r\n")
                local line = sock:receive("*l")
                local len = tonumber(line:sub(2))
                local v = sock:receive(len + 2)
                sock:setkeepalive(10000, 100)
                ngx.say(v:sub(1, len))
            }
        }
        location = /shdict {
            content_by_lua_block {
                local d = ngx.shared.sd
                d:set("k" .. (ngx.var.connection % 100), "value")
                local v = d:get("k1")
                local n = d:incr("hits", 1, 0)
                ngx.say(v, " ", n)
            }
        }
        location /static/ { }
        location /gz/ {
            alias html/static/;
            gzip on;
            gzip_comp_level 6;
            gzip_types application/json;
        }
        location /proxy/ {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /cached/ {
            proxy_cache bench;
            proxy_cache_valid 200 1h;
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /proxy_lua/ {
            access_by_lua_block {
                if ngx.var.http_x_block then return ngx.exit(403) end
            }
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
}

# A 100 KB JSON document (the gzip scenario).
bench_json() {
    python3 -c '
import json, random
random.seed(7)
items = [{"id": i, "name": "item-%d" % i, "price": round(random.uniform(1, 500), 2),
          "tags": random.sample(["red", "green", "blue", "large", "small", "sale", "new"], 3),
          "in_stock": random.random() > 0.3} for i in range(2000)]
s = json.dumps({"items": items})
print(s[:102400 - 2] + "]}" if len(s) > 102400 else s)
'
}
