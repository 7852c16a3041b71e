=== TEST 1: rewrite last restarts the location search
--- config
location /a { rewrite ^/a(.*)$ /b$1 last; return 200 "not reached"; }
location /b { return 200 "b $uri"; }
--- request
GET /a/x
--- response_body chomp
b /b/x

=== TEST 2: rewrite break serves the new URI in the same location
--- config
location /a/ { rewrite ^/a/(.*)$ /files/$1 break; return 200 "not reached"; }
--- user_files
>>> files/x.txt
file x
--- request
GET /a/x.txt
--- error_code: 200
--- response_body
file x

=== TEST 3: rewrites without a flag chain
--- config
location / {
    rewrite ^/one$ /two;
    rewrite ^/two$ /three;
    return 200 "uri=$uri";
}
--- request
GET /one
--- response_body chomp
uri=/three

=== TEST 4: rewrite redirect is a 302 with an absolute Location
--- config
location /old { rewrite ^/old(.*)$ /new$1 redirect; }
--- request
GET /old/p
--- error_code: 302
--- response_headers
Location: ~^http://localhost:\d+/new/p$
--- response_body_like
<title>302 Found</title>

=== TEST 5: rewrite permanent is a 301
--- config
location /old { rewrite ^/old(.*)$ /new$1 permanent; }
--- request
GET /old/p
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/new/p$

=== TEST 6: rewrite to an http:// URL redirects with 302 and keeps it verbatim
--- config
location / { rewrite ^/(.*)$ http://example.com/$1; }
--- request
GET /x/y
--- error_code: 302
--- response_headers
Location: http://example.com/x/y

=== TEST 7: rewrite appends the original args after the new ones
--- config
location /a { rewrite ^/a$ /b?x=1 last; }
location /b { return 200 "args=$args"; }
--- request
GET /a?y=2
--- response_body chomp
args=x=1&y=2

=== TEST 8: a trailing ? drops the original args
--- config
location /a { rewrite ^/a$ /b? last; }
location /b { return 200 "args=[$args]"; }
--- request
GET /a?y=2
--- response_body chomp
args=[]

=== TEST 9: a redirect keeps the original args
--- config
location /a { rewrite ^/a$ /b redirect; }
--- request
GET /a?y=2
--- error_code: 302
--- response_headers
Location: ~^http://localhost:\d+/b\?y=2$

=== TEST 10: a redirect with ? drops the original args
--- config
location /a { rewrite ^/a$ /b?z=3? redirect; }
--- request
GET /a?y=2
--- error_code: 302
--- response_headers
Location: ~^http://localhost:\d+/b\?z=3$

=== TEST 11: captures $1 to $9
--- config
location / {
    rewrite ^/(.)(.)(.)(.)(.)(.)(.)(.)(.)$ /r/$9$8$7$6$5$4$3$2$1 break;
    return 200 "not reached";
}
--- user_files
>>> r/987654321
reversed
--- request
GET /123456789
--- error_code: 200
--- response_body
reversed

=== TEST 12: named captures in rewrite
--- config
location /u/ { rewrite ^/u/(?<id>\d+)$ /user?id=$id last; }
location = /user { return 200 "$arg_id"; }
--- request
GET /u/77
--- response_body chomp
77

=== TEST 13: a rewrite loop ends with 500 and a cycle error
--- config
location / { rewrite ^ /x last; }
--- request
GET /loop
--- error_code: 500
--- response_body_like
<title>500 Internal Server Error</title>
--- error_log
rewrite or internal redirection cycle while processing "/x"

=== TEST 14: server-level rewrite runs before the location search
--- config
rewrite ^/s/(.*)$ /t/$1;
location /t/ { return 200 "t $uri"; }
location / { return 200 "root"; }
--- request
GET /s/q
--- response_body chomp
t /t/q

=== TEST 15: return 301 with a relative URL becomes absolute
--- config
location / { return 301 /x; }
--- request
GET /a
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/x$
--- response_body_like
<title>301 Moved Permanently</title>

=== TEST 16: return 302 with an absolute URL
--- config
location / { return 302 http://example.com/p?q=$arg_q; }
--- request
GET /a?q=1
--- error_code: 302
--- response_headers
Location: http://example.com/p?q=1

=== TEST 17: return with a URL only is a 302
--- config
location / { return https://example.org/; }
--- request
GET /a
--- error_code: 302
--- response_headers
Location: https://example.org/

=== TEST 18: return with a status and text
--- config
location / { return 418 "teapot $uri"; }
--- request
GET /a
--- error_code: 418
--- response_body chomp
teapot /a
--- response_headers
Content-Type: text/plain

=== TEST 19: return of an error code without text is the built-in page
--- config
location / { return 403; }
--- request
GET /a
--- error_code: 403
--- response_body_like
<center><h1>403 Forbidden</h1></center>

=== TEST 20: return 204 has no body
--- config
location / { return 204; }
--- request
GET /a
--- error_code: 204
--- response_body chomp

=== TEST 21: return 444 closes the connection without a response
--- config
location / { return 444; }
--- request
GET /a
--- error_code: none

=== TEST 22: set and variable interpolation
--- config
location / {
    set $a "x";
    set $b "${a}y-$uri";
    return 200 $b;
}
--- request
GET /p
--- response_body chomp
xy-/p

=== TEST 23: an uninitialised variable is empty and warned about
--- config
location /other { set $unset "v"; }
location / { return 200 "[$unset]"; }
--- request
GET /p
--- response_body chomp
[]
--- error_log
using uninitialized "unset" variable

=== TEST 24: if with =
--- config
location / {
    if ($arg_a = "1") { return 200 "eq"; }
    return 200 "ne";
}
--- request
GET /?a=1
--- response_body chomp
eq

=== TEST 25: if with !=
--- config
location / {
    if ($arg_a != "1") { return 200 "differs"; }
    return 200 "same";
}
--- request
GET /?a=2
--- response_body chomp
differs

=== TEST 26: if with ~ and captures
--- config
location / {
    if ($uri ~ ^/c/(\d+)) { return 200 "num $1"; }
    return 200 "none";
}
--- request
GET /c/123/x
--- response_body chomp
num 123

=== TEST 27: if with ~ is case-sensitive
--- config
location / {
    if ($http_x_v ~ ^abc$) { return 200 "match"; }
    return 200 "nomatch";
}
--- more_headers
X-V: ABC
--- response_body chomp
nomatch

=== TEST 28: if with ~*
--- config
location / {
    if ($http_x_v ~* ^abc$) { return 200 "match"; }
    return 200 "nomatch";
}
--- more_headers
X-V: ABC
--- response_body chomp
match

=== TEST 29: if with !~
--- config
location / {
    if ($uri !~ \.php$) { return 200 "not php"; }
    return 200 "php";
}
--- request
GET /index.html
--- response_body chomp
not php

=== TEST 30: if with -f on an existing file
--- config
location / {
    if (-f $request_filename) { return 200 "file"; }
    return 200 "nofile";
}
--- user_files
>>> here.txt
x
--- request
GET /here.txt
--- response_body chomp
file

=== TEST 31: if with !-f on a missing file
--- config
location / {
    if (!-f $request_filename) { return 200 "missing"; }
    return 200 "present";
}
--- request
GET /nope.txt
--- response_body chomp
missing

=== TEST 32: -f is false on a directory, -d is true
--- config
location / {
    if (-f $request_filename) { return 200 "f"; }
    if (-d $request_filename) { return 200 "d"; }
    return 200 "neither";
}
--- user_files
>>> dir/a.txt
x
--- request
GET /dir
--- response_body chomp
d

=== TEST 33: -e is true on a directory and on a file
--- config
location / {
    if (-e $request_filename) { return 200 "exists"; }
    return 200 "absent";
}
--- user_files
>>> dir/a.txt
x
--- request
GET /dir/a.txt
--- response_body chomp
exists

=== TEST 34: an empty or "0" value is false
--- config
location / {
    if ($arg_x) { return 200 "true"; }
    return 200 "false";
}
--- request
GET /?x=0
--- response_body chomp
false

=== TEST 35: break inside if stops the rewrite directives after it
--- config
location / {
    set $v a;
    if ($arg_x) { set $v b; break; }
    set $v c;
    add_header X-V $v;
}
--- user_files
>>> f.txt
f
--- request
GET /f.txt?x=1
--- error_code: 200
--- response_headers
X-V: b

=== TEST 36: without the if, the later set runs
--- config
location / {
    set $v a;
    if ($arg_x) { set $v b; break; }
    set $v c;
    add_header X-V $v;
}
--- user_files
>>> f.txt
f
--- request
GET /f.txt
--- error_code: 200
--- response_headers
X-V: c

=== TEST 37: rewrite last inside a server-level if
--- config
if ($http_x_mobile) { rewrite ^ /m last; }
location = /m { return 200 "mobile"; }
location / { return 200 "desktop"; }
--- more_headers
X-Mobile: 1
--- response_body chomp
mobile

=== TEST 38: if with = against the request method
--- config
location / {
    if ($request_method = POST) { return 405; }
    return 200 "ok";
}
--- request
POST /
--- request_body chomp
x
--- error_code: 405
--- response_body_like
<title>405 Not Allowed</title>
