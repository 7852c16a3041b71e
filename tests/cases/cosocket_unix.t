# Cosockets: unix domain sockets, the lua_socket_* settings and error logging. Checked against nginx with
# lua-nginx-module (scripts/nginx-compare.py); a working unix connection is tested in
# tests/cli.rs.

=== TEST 1: a missing socket file
--- config
location /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        ngx.say(sock:connect("unix:/nonexistent/openclaw-test.sock"))
    }
}
--- request
GET /t
--- response_body
nilno such file or directory

=== TEST 2: lua_socket_read_timeout and lua_socket_connect_timeout are the defaults
--- config
lua_socket_read_timeout 50ms;
location /t {
    lua_socket_connect_timeout 2s;
    lua_socket_pool_size 5;
    lua_socket_keepalive_timeout 10s;
    lua_socket_buffer_size 8k;
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        local host, port = ("$UP1"):match("(.+):(%d+)")
        assert(sock:connect(host, tonumber(port)))
        assert(sock:send("GET /hang HTTP/1.0\r\n\r\n"))
        ngx.say(sock:receive())
    }
}
--- request
GET /t
--- response_body
niltimeout

=== TEST 3: cosocket failures are logged with lua-nginx-module's words
--- config
location /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        sock:settimeout(100)
        local host, port = ("$UP1"):match("(.+):(%d+)")
        assert(sock:connect(host, tonumber(port)))
        assert(sock:send("GET /hang HTTP/1.0\r\n\r\n"))
        ngx.say(sock:receive())
        local s2 = ngx.socket.tcp()
        local dh, dp = ("$DEAD"):match("(.+):(%d+)")
        ngx.say(s2:connect(dh, tonumber(dp)))
        local s3 = ngx.socket.tcp()
        s3:settimeout(100)
        local bh, bp = ("$BLACKHOLE"):match("(.+):(%d+)")
        ngx.say(s3:connect(bh, tonumber(bp)))
    }
}
--- request
GET /t
--- response_body
niltimeout
nilconnection refused
niltimeout
--- error_log
lua tcp socket read timed out, client: 127.0.0.1
connect() failed (111: Connection refused), client: 127.0.0.1
lua tcp socket connect timed out, when connecting to 127.0.0.1:

=== TEST 4: lua_socket_log_errors off keeps them out of error.log
--- config
lua_socket_log_errors off;
location /t {
    content_by_lua_block {
        local s = ngx.socket.tcp()
        local dh, dp = ("$DEAD"):match("(.+):(%d+)")
        ngx.say(s:connect(dh, tonumber(dp)))
    }
}
--- request
GET /t
--- response_body
nilconnection refused
--- no_error_log
connect() failed
