# Streaming Lua output: ngx.flush and ngx.send_headers send the head and what was said
# so far; the handler goes on producing the body. Checked against nginx with
# lua-nginx-module (scripts/nginx-compare.py).

=== TEST 1: output after a flush is streamed, chunked
--- config
location /t {
    content_by_lua_block {
        ngx.header["X-Before"] = "yes"
        ngx.say("first")
        ngx.flush(true)
        ngx.say("second")
        ngx.sleep(0.01)
        ngx.say("third")
    }
}
--- request
GET /t
--- response_headers
X-Before: yes
Transfer-Encoding: chunked
!Content-Length
--- response_body
first
second
third

=== TEST 2: status and headers cannot change once sent
--- config
location /t {
    content_by_lua_block {
        ngx.status = 201
        ngx.send_headers()
        ngx.status = 500
        ngx.header["X-Late"] = "late"
        ngx.say("body")
    }
}
--- request
GET /t
--- error_code: 201
--- response_headers
!X-Late
--- response_body
body
--- error_log
attempt to set ngx.status after sending out response headers
attempt to set ngx.header.HEADER after sending out response headers

=== TEST 3: ngx.exit after a flush ends the body
--- config
location /t {
    content_by_lua_block {
        ngx.say("kept")
        ngx.flush()
        ngx.exit(200)
        ngx.say("never")
    }
}
--- request
GET /t
--- response_body
kept

=== TEST 4: a flush in the access phase does not stream (output waits for the end)
--- config
location /t {
    access_by_lua_block {
        ngx.flush()
    }
    content_by_lua_block { ngx.say("content") }
}
--- request
GET /t
--- response_body
content
