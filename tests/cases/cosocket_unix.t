# Cosockets on unix domain sockets and the lua_socket_* defaults. Checked against nginx with
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
