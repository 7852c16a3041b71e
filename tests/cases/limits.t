=== TEST 1: client_max_body_size exceeded by Content-Length is 413
--- config
client_max_body_size 5;
location / { return 200 "ok"; }
--- request
POST /up
--- request_body chomp
0123456789
--- error_code: 413
--- response_body_like
<title>413 Request Entity Too Large</title>
--- error_log
client intended to send too large body: 10 bytes

=== TEST 2: a body within client_max_body_size
--- config
client_max_body_size 10;
location / { return 200 "ok"; }
--- request
POST /up
--- request_body chomp
0123456789
--- error_code: 200

=== TEST 3: client_max_body_size in a location only
--- config
location /small { client_max_body_size 2; return 200 "small"; }
location / { return 200 "ok"; }
--- request
POST /big
--- request_body chomp
0123456789
--- error_code: 200
--- response_body chomp
ok

=== TEST 4: a malformed request line is 400 with nginx's page and log line
--- config
location / { return 200 "ok"; }
--- raw_request
GARBAGE\r\n\r\n
--- error_code: 400
--- response_body_like
<title>400 Bad Request</title>
--- error_log
client sent invalid method while reading client request line

=== TEST 5: a lowercase method is 400
--- config
location / { return 200 "ok"; }
--- raw_request
get / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n
--- error_code: 400

=== TEST 6: an unknown uppercase method on a static file is 405
--- config
location / { }
--- user_files
>>> index.html
x
--- raw_request
FOO / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n
--- error_code: 405

=== TEST 7: HTTP/1.1 without Host is 400
--- config
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nConnection: close\r\n\r\n
--- error_code: 400
--- error_log
client sent HTTP/1.1 request without "Host" header

=== TEST 8: a duplicate Host header is 400
--- config
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nHost: other\r\nConnection: close\r\n\r\n
--- error_code: 400
--- error_log
client sent duplicate host header

=== TEST 9: HTTP/2.0 in an HTTP/1 request line is 505
--- config
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/2.0\r\nHost: localhost\r\nConnection: close\r\n\r\n
--- error_code: 505

=== TEST 10: an invalid Content-Length is 400
--- config
location / { return 200 "ok"; }
--- raw_request
POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\nConnection: close\r\n\r\n
--- error_code: 400
--- error_log
client sent invalid "Content-Length" header

=== TEST 11: Content-Length together with chunked Transfer-Encoding is 400, as nginx answers it
--- config
location / { return 200 "[$content_length]"; }
--- raw_request
POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n
--- error_code: 400
--- error_log
client sent "Content-Length" and "Transfer-Encoding" headers at the same time

=== TEST 12: an unknown Transfer-Encoding is 501, as nginx answers it
--- config
location / { return 200 "ok"; }
--- raw_request
POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n
--- error_code: 501
--- error_log
client sent unknown "Transfer-Encoding"

=== TEST 13: keep-alive is announced on a keep-alive connection
--- config
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n
--- error_code: 200
--- response_headers
Connection: keep-alive

=== TEST 14: keepalive_requests 1 closes after the first response
--- config
keepalive_requests 1;
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n
--- error_code: 200
--- response_headers
Connection: close

=== TEST 15: keepalive_timeout 0 disables keep-alive
--- config
keepalive_timeout 0;
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\n\r\n
--- error_code: 200
--- response_headers
Connection: close

=== TEST 16: HTTP/1.0 closes by default
--- config
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.0\r\n\r\n
--- error_code: 200
--- response_headers
Connection: close

=== TEST 17: a header line larger than large_client_header_buffers is 400
--- http_config
large_client_header_buffers 2 512;
--- config
location / { return 200 "ok"; }
--- more_headers
X-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--- error_code: 400
--- response_body_like
<title>400 Request Header Or Cookie Too Large</title>
--- error_log
client sent too long header line

=== TEST 18: a request line larger than large_client_header_buffers is 414
--- http_config
large_client_header_buffers 2 512;
--- config
location / { return 200 "ok"; }
--- request
GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--- error_code: 414
--- response_body_like
<title>414 Request-URI Too Large</title>
--- error_log
client sent too long URI

=== TEST 19: headers that fit in large buffers are accepted
--- http_config
large_client_header_buffers 4 1k;
--- config
location / { return 200 "len=$http_x_big"; }
--- more_headers
X-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--- error_code: 200

=== TEST 20: a header name with an invalid character is refused with 400 (nginx ignores the line; OpenClaw is strict against request smuggling)
--- config
location / { return 200 "[$http_x_ok]"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nX@Bad: 1\r\nX-Ok: yes\r\nConnection: close\r\n\r\n
--- error_code: 400

=== TEST 21: a header line without a colon is refused with 400 (nginx accepts it as an empty header)
--- config
location / { return 200 "[$http_nocolonhere]"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\nConnection: close\r\n\r\n
--- error_code: 400

=== TEST 22: Expect: 100-continue is answered when the body is first read
--- config
location = /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        assert(sock:connect("127.0.0.1", ngx.var.server_port))
        assert(sock:send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                         .. "Expect: 100-continue\r\nConnection: close\r\n\r\n"))
        ngx.say("interim: ", sock:receive())
        sock:receive()
        assert(sock:send("hello"))
        ngx.say("final: ", sock:receive())
        local rest = sock:receive("*a")
        -- nginx sends the body chunked, OpenClaw with a length: only the bytes matter here.
        ngx.say("body has hello: ", rest:find("\r\n\r\n.*hello") ~= nil)
    }
}
location = /echo {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.print(ngx.req.get_body_data())
    }
}
--- request
GET /t
--- response_body
interim: HTTP/1.1 100 Continue
final: HTTP/1.1 200 OK
body has hello: true

=== TEST 23: a body the handler never read is discarded and the next request on the connection is served
--- config
location = /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        assert(sock:connect("127.0.0.1", ngx.var.server_port))
        assert(sock:send("POST /ignore HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
                         .. "GET /second HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
        local all = sock:receive("*a")
        for status, body in all:gmatch("(HTTP/1.1 %d+)[^\n]*\n.-\r\n\r\n(%a+)\n") do
            ngx.say(status, " ", body)
        end
    }
}
location = /ignore { return 200 "first\n"; }
location = /second { return 200 "second\n"; }
--- request
GET /t
--- response_body
HTTP/1.1 200 first
HTTP/1.1 200 second
