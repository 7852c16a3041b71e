=== TEST 1: add_header on a 200
--- config
location / { add_header X-A "one"; return 200 "ok"; }
--- request
GET /
--- error_code: 200
--- response_headers
X-A: one

=== TEST 2: add_header is not added to a 404 without always
--- config
location / { add_header X-A "one"; return 404; }
--- request
GET /
--- error_code: 404
--- response_headers
!X-A

=== TEST 3: add_header always is added to a 404
--- config
location / { add_header X-A "one" always; return 404; }
--- request
GET /
--- error_code: 404
--- response_headers
X-A: one

=== TEST 4: add_header on a 3xx redirect
--- config
location / { add_header X-R "r"; return 302 /elsewhere; }
--- request
GET /
--- error_code: 302
--- response_headers
X-R: r

=== TEST 5: add_header on a 304
--- config
location / { add_header X-C "c"; }
--- user_files
>>> f.txt
f
--- more_headers
If-None-Match: *
--- request
GET /f.txt
--- error_code: 304
--- response_headers
X-C: c

=== TEST 6: add_header on a 206
--- config
location / { add_header X-P "p"; }
--- user_files
>>> f.txt
0123456789
--- more_headers
Range: bytes=0-1
--- request
GET /f.txt
--- error_code: 206
--- response_headers
X-P: p

=== TEST 7: add_header is inherited when the location has none
--- config
add_header X-S "server";
location / { return 200 "ok"; }
--- request
GET /
--- response_headers
X-S: server

=== TEST 8: a location with its own add_header drops the inherited ones
--- config
add_header X-S "server";
location / { add_header X-L "loc"; return 200 "ok"; }
--- request
GET /
--- response_headers
X-L: loc
!X-S

=== TEST 9: http-level add_header is dropped by a server-level one
--- http_config
add_header X-H "http";
--- config
add_header X-S "server";
location / { return 200 "ok"; }
--- request
GET /
--- response_headers
X-S: server
!X-H

=== TEST 10: add_header values take variables; an empty value is not sent
--- config
location / { add_header X-U "u=$uri"; add_header X-E "$arg_none"; return 200 "ok"; }
--- request
GET /path
--- response_headers
X-U: u=/path
!X-E

=== TEST 11: several add_header lines with the same name are all sent
--- config
location / { add_header X-M "1"; add_header X-M "2"; return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n
--- response_headers
X-M: 1

=== TEST 12: add_header inside if is used instead of the location's
--- config
location / {
    add_header X-Out "out";
    if ($arg_x) { add_header X-In "in"; }
    return 200 "ok";
}
--- request
GET /?x=1
--- response_headers
X-In: in
!X-Out

=== TEST 13: deny a single address
--- config
location / { deny 127.0.0.1; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 403
--- response_body_like
<title>403 Forbidden</title>
--- error_log
access forbidden by rule

=== TEST 14: allow a CIDR, deny all
--- config
location / { allow 127.0.0.0/8; deny all; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 200
--- response_body
ok
--- no_error_log
access forbidden by rule

=== TEST 15: allow another CIDR, deny all
--- config
location / { allow 10.0.0.0/8; allow 192.168.1.0/24; deny all; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 403
--- error_log
access forbidden by rule

=== TEST 16: the first matching rule wins (deny before allow)
--- config
location / { deny 127.0.0.1; allow all; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 403

=== TEST 17: the first matching rule wins (allow before deny)
--- config
location / { allow 127.0.0.1; deny all; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 200

=== TEST 18: non-matching deny, then nothing: allowed
--- config
location / { deny 10.1.2.0/24; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 200

=== TEST 19: an IPv6 rule does not match an IPv4 client
--- config
location / { allow ::1; deny all; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 403

=== TEST 20: a /32 mask and a host-bits CIDR
--- config
location / { deny 127.0.0.1/32; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 403

=== TEST 21: access rules are inherited from the server
--- config
deny all;
location / { }
--- user_files
>>> x
ok
--- request
GET /x
--- error_code: 403

=== TEST 22: a location's own rules replace the server's
--- config
deny all;
location / { allow 127.0.0.1; }
--- user_files
>>> x
ok
--- request
GET /x
--- error_code: 200

=== TEST 23: add_header always is on the 403 from deny
--- config
location / { add_header X-D "d" always; deny all; }
--- user_files
>>> index.html
ok
--- request
GET /
--- error_code: 403
--- response_headers
X-D: d

=== TEST 24: the access log of a denied request
--- config
location / { deny all; }
--- request
GET /secret
--- error_code: 403
--- access_log
"GET /secret HTTP/1.1" 403
--- error_log
access forbidden by rule, client: 127.0.0.1

=== TEST 25: return runs in the rewrite phase, before allow/deny
--- config
location / { deny all; return 200 "returned"; }
--- request
GET /
--- error_code: 200
--- response_body chomp
returned
--- no_error_log
access forbidden by rule
