=== TEST 1: proxy_pass without a URI part passes the request URI unchanged
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /foo/bar?a=1&b=2
--- error_code: 200
--- response_body
up1 GET /foo/bar?a=1&b=2

=== TEST 2: a URI part replaces the matched location prefix
--- config
location /api/ { proxy_pass http://$UP1/v1/; }
--- request
GET /api/users?x=1
--- error_code: 200
--- response_body
up1 GET /v1/users?x=1

=== TEST 3: a bare / URI part strips the prefix
--- config
location /app/ { proxy_pass http://$UP1/; }
--- request
GET /app/a/b
--- response_body
up1 GET /a/b

=== TEST 4: the raw request URI goes upstream as received
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /a%20b//c
--- response_body
up1 GET /a%20b//c

=== TEST 5: a URI changed by rewrite ... break is sent as changed, with the arguments
--- config
location / {
    rewrite ^/old/(.*)$ /new/$1 break;
    proxy_pass http://$UP1;
}
--- request
GET /old/x?q=1
--- response_body
up1 GET /new/x?q=1

=== TEST 6: default headers: Host $proxy_host, Connection close, HTTP/1.0, client headers after
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /echo
--- more_headers
X-Foo: bar
--- response_body
GET /echo HTTP/1.0
host: $UP1
connection: close
x-foo: bar
--

=== TEST 7: proxy_set_header with $host, $remote_addr and $proxy_add_x_forwarded_for
--- config
location / {
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
X-Forwarded-For: 10.0.0.1
--- response_body
GET /echo HTTP/1.0
host: localhost
x-real-ip: 127.0.0.1
x-forwarded-for: 10.0.0.1, 127.0.0.1
connection: close
--

=== TEST 8: proxy_set_header with an empty value removes the header
--- config
location / {
    proxy_set_header Accept-Encoding "";
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
Accept-Encoding: gzip
X-Keep: 1
--- response_body
GET /echo HTTP/1.0
host: $UP1
connection: close
x-keep: 1
--

=== TEST 9: the request body is forwarded with its length
--- config
location / { proxy_pass http://$UP1; }
--- request
POST /echo
--- request_body chomp
hello
--- response_body chomp
POST /echo HTTP/1.0
host: $UP1
connection: close
content-length: 5
--
hello

=== TEST 10: proxy_http_version 1.1 and hop-by-hop request headers are dropped
--- config
location / {
    proxy_http_version 1.1;
    proxy_pass http://$UP1;
}
--- request
GET /echo
--- more_headers
Keep-Alive: timeout=5
TE: trailers
Upgrade: foo
X-A: 1
--- response_body
GET /echo HTTP/1.1
host: $UP1
connection: close
x-a: 1
--

=== TEST 11: a refused connection is 502 with nginx's error line
--- config
location / { proxy_pass http://$DEAD; }
--- request
GET /t
--- error_code: 502
--- response_body_like
<title>502 Bad Gateway</title>
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream: "http://$DEAD/t"

=== TEST 12: no response header within proxy_read_timeout is 504
--- config
location / {
    proxy_read_timeout 300ms;
    proxy_pass http://$UP1;
}
--- request
GET /hang
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream

=== TEST 13: a connect that never completes is 504 after proxy_connect_timeout
--- config
location / {
    proxy_connect_timeout 300ms;
    proxy_pass http://$BLACKHOLE;
}
--- request
GET /t
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while connecting to upstream

=== TEST 14: an upstream closing before answering is 502
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /close
--- error_code: 502
--- error_log
upstream prematurely closed connection while reading response header from upstream

=== TEST 15: an invalid upstream header is 502
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /badheader
--- error_code: 502
--- error_log
upstream sent invalid header

=== TEST 16: every peer failed: no live upstreams
--- http_config
upstream dead { server $DEAD; server $DEAD max_fails=1; }
--- config
location / { proxy_pass http://dead; }
--- requests
GET /t
GET /t
--- error_codes: 502 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream server temporarily disabled
no live upstreams while connecting to upstream

=== TEST 17: round robin with equal weights alternates
--- http_config
upstream be { server $UP1; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /n
GET /n
GET /n
GET /n
--- error_codes: 200 200 200 200
--- bodies
up1 GET /n
up2 GET /n
up1 GET /n
up2 GET /n

=== TEST 18: weights 3:1 give nginx's smooth sequence
--- http_config
upstream be { server $UP1 weight=3; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /n
GET /n
GET /n
GET /n
GET /n
GET /n
GET /n
GET /n
--- bodies
up1 GET /n
up1 GET /n
up2 GET /n
up1 GET /n
up1 GET /n
up1 GET /n
up2 GET /n
up1 GET /n

=== TEST 19: a refused peer fails over to the next; $upstream_addr and $upstream_status list both
--- http_config
upstream be { server $DEAD; server $UP1; }
log_format up '$upstream_addr|$upstream_status';
--- config
access_log logs/access.log up;
location / { proxy_pass http://be; }
--- request
GET /x
--- error_code: 200
--- response_body
up1 GET /x
--- access_log
$DEAD, $UP1|502, 200

=== TEST 20: a backup server serves when the primary is down
--- http_config
upstream be { server $DEAD; server $UP2 backup; }
--- config
location / { proxy_pass http://be; }
--- request
GET /x
--- response_body
up2 GET /x

=== TEST 21: a server marked down is never used
--- http_config
upstream be { server $UP1 down; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /a
GET /b
--- bodies
up2 GET /a
up2 GET /b

=== TEST 22: proxy_next_upstream http_500 retries the next peer; the last answer is sent
--- http_config
upstream be { server $UP1; server $UP2; }
log_format up '$upstream_addr|$upstream_status';
--- config
access_log logs/access.log up;
proxy_next_upstream error timeout http_500;
location / { proxy_pass http://be; }
--- request
GET /status/500
--- error_code: 500
--- response_body
up2 500
--- access_log
$UP1, $UP2|500, 500

=== TEST 23: by default a 500 from the upstream is passed through
--- http_config
upstream be { server $UP1; server $UP2; }
--- config
location / { proxy_pass http://be; }
--- request
GET /status/500
--- error_code: 500
--- response_body
up1 500

=== TEST 24: a POST that reached the upstream is not retried
--- http_config
upstream be { server $UP1; server $UP2; }
log_format up '$upstream_addr';
--- config
access_log logs/access.log up;
location / { proxy_pass http://be; }
--- request
POST /close
--- request_body
data
--- error_code: 502
--- access_log
$UP1
--- no_error_log
$UP2

=== TEST 25: proxy_next_upstream_tries limits the tries
--- http_config
upstream be { server $DEAD; server $UP1; }
log_format up '$upstream_addr|$upstream_status';
--- config
access_log logs/access.log up;
proxy_next_upstream_tries 1;
location / { proxy_pass http://be; }
--- request
GET /x
--- error_code: 502
--- access_log
$DEAD|502

=== TEST 26: proxy_intercept_errors on with an error_page for the status
--- config
proxy_intercept_errors on;
error_page 404 /404.html;
location / { proxy_pass http://$UP1; }
location = /404.html { internal; }
--- user_files
>>> 404.html
own not found
--- request
GET /status/404
--- error_code: 404
--- response_body
own not found

=== TEST 27: without proxy_intercept_errors the upstream's 404 passes
--- config
error_page 404 /404.html;
location / { proxy_pass http://$UP1; }
--- request
GET /status/404
--- error_code: 404
--- response_body
up1 404

=== TEST 28: error_page applies to the gateway's own 502
--- config
error_page 502 /502.html;
location / { proxy_pass http://$DEAD; }
location = /502.html { internal; }
--- user_files
>>> 502.html
upstream down
--- request
GET /x
--- error_code: 502
--- response_body
upstream down

=== TEST 29: proxy_redirect default maps the upstream URL onto the location
--- config
location /one/ { proxy_pass http://$UP1/; }
--- request
GET /one/redirect
--- error_code: 302
--- response_headers
Location: ~^http://localhost:\d+/one/target$
Refresh: 5; url=/one/other

=== TEST 30: proxy_redirect off leaves Location alone
--- config
location /one/ {
    proxy_redirect off;
    proxy_pass http://$UP1/;
}
--- request
GET /one/redirect
--- response_headers
Location: http://$UP1/target

=== TEST 31: proxy_redirect FROM TO
--- config
location / {
    proxy_redirect http://$UP1/ /x/;
    proxy_pass http://$UP1;
}
--- request
GET /redirect
--- response_headers
Location: ~^http://localhost:\d+/x/target$

=== TEST 32: upstream Date, Server, X-Pad, X-Accel-* and hop-by-hop headers are not passed
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /headers
--- error_code: 200
--- response_headers
!X-Pad
!X-Accel-Buffering
!Keep-Alive
X-Custom: 1
Server: ~^openclaw
Date: ~^(?!Thu, 01 Jan 1970)

=== TEST 33: proxy_pass_header Server keeps the upstream's
--- config
location / {
    proxy_pass_header Server;
    proxy_pass http://$UP1;
}
--- request
GET /headers
--- response_headers
Server: backend/1.0

=== TEST 34: proxy_hide_header
--- config
location / {
    proxy_hide_header X-Custom;
    proxy_pass http://$UP1;
}
--- request
GET /headers
--- response_headers
!X-Custom

=== TEST 35: $upstream_http_* reads the upstream's header
--- config
location / {
    add_header X-Up $upstream_http_x_backend;
    proxy_pass http://$UP1;
}
--- request
GET /x
--- response_headers
X-Up: up1

=== TEST 36: proxy_pass with variables and an IP address
--- config
location / {
    set $target $UP1;
    proxy_pass http://$target;
}
--- request
GET /v?x=1
--- response_body
up1 GET /v?x=1

=== TEST 37: proxy_pass with a variable naming an upstream block
--- http_config
upstream backend { server $UP2; }
--- config
location / {
    set $b backend;
    proxy_pass http://$b;
}
--- request
GET /v
--- response_body
up2 GET /v

=== TEST 38: a variable host name without a resolver is 502
--- config
location / { proxy_pass http://$host:1234; }
--- request
GET /v
--- more_headers
Host: nowhere.invalid
--- error_code: 502
--- error_log
no resolver defined to resolve nowhere.invalid

=== TEST 39: a URI part in a regex location is a config error
--- config
location ~ ^/x { proxy_pass http://$UP1/y; }
--- config_error
"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block

=== TEST 40: an upstream block without servers is a config error
--- http_config
upstream u { keepalive 2; }
--- config
location / { proxy_pass http://u; }
--- config_error
no servers are inside upstream

=== TEST 41: an unknown scheme in proxy_pass is a config error
--- config
location / { proxy_pass ftp://$UP1; }
--- config_error
invalid URL prefix in

=== TEST 42: without keepalive every request opens a new upstream connection
--- http_config
upstream be { server $UP1; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /conns
GET /conns
GET /conns
--- bodies
1
2
3

=== TEST 43: HEAD is proxied without a body
--- config
location / { proxy_pass http://$UP1; }
--- request
HEAD /x
--- error_code: 200
--- response_headers
Content-Length: 12

=== TEST 44: a chunked upstream body streams through
--- config
location / { proxy_pass http://$UP1; }
--- request
GET /stream?n=3&ms=10
--- response_body
chunk 0
chunk 1
chunk 2

=== TEST 45: an unknown upstream server parameter is a config error
--- http_config
upstream u { server $UP1 wieght=2; }
--- config
location / { proxy_pass http://u; }
--- config_error
invalid parameter "wieght=2"

=== TEST 46: hash $arg_k sends one key to one peer
--- http_config
upstream be { hash $arg_k; server $UP1; server $UP2; server $UP3; }
--- config
location / { proxy_pass http://be; }
--- requests
GET /h?k=alpha
GET /h?k=gamma
GET /h?k=alpha
GET /h?k=gamma
--- bodies
up2 GET /h?k=alpha
up1 GET /h?k=gamma
up2 GET /h?k=alpha
up1 GET /h?k=gamma

=== TEST 47: $upstream_response_time and $upstream_connect_time are seconds with milliseconds
--- http_config
log_format t 'rt=$upstream_response_time ct=$upstream_connect_time ht=$upstream_header_time';
--- config
access_log logs/access.log t;
location / { proxy_pass http://$UP1; }
--- request
GET /x
--- access_log_like
^rt=\d+\.\d{3} ct=\d+\.\d{3} ht=\d+\.\d{3}$

=== TEST 48: a proxied location /dir/ answers /dir with a 301 to /dir/ (nginx's auto redirect)
--- config
location /dir/ { proxy_pass http://$UP1; }
--- request
GET /dir?x=1
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/dir/\?x=1$

=== TEST 49: an exact location prevents the auto redirect
--- config
location /dir/ { proxy_pass http://$UP1; }
location = /dir { return 200 "exact"; }
--- request
GET /dir
--- error_code: 200
--- response_body chomp
exact

=== TEST 50: health_check parameters are validated
--- http_config
upstream be { server $UP1; health_check interval=0; }
--- config
location / { proxy_pass http://be; }
--- config_error
invalid parameter "interval=0"

=== TEST 51: two balancer_by_lua handlers in one upstream are refused
--- http_config
upstream be {
    server $UP1;
    balancer_by_lua_block { }
    balancer_by_lua_block { }
}
--- config
location / { proxy_pass http://be; }
--- config_error
is duplicate in

=== TEST 52: proxy_pass with variables and a bad port is a 500
--- config
location / { proxy_pass http://$arg_h; }
--- request
GET /x?h=127.0.0.1:abc
--- error_code: 500
--- error_log
invalid port in upstream "127.0.0.1:abc"
