# Cosockets on unix domain sockets. Checked against nginx with lua-nginx-module
# (scripts/nginx-compare.py); a working connection is tested in tests/cli.rs.

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
