=== TEST 1: root in a location
--- config
location /x/ { root html/alt; }
--- user_files
>>> alt/x/f.txt
alt file
--- request
GET /x/f.txt
--- error_code: 200
--- response_body
alt file

=== TEST 2: alias with a prefix location
--- config
location /al/ { alias html/other/; }
--- user_files
>>> other/f.txt
aliased
--- request
GET /al/f.txt
--- error_code: 200
--- response_body
aliased

=== TEST 3: alias in a regex location uses the captures
--- config
location ~ ^/re/(.+)$ { alias html/other/$1; }
--- user_files
>>> other/g.txt
regex aliased
--- request
GET /re/g.txt
--- error_code: 200
--- response_body
regex aliased

=== TEST 4: index file for /
--- config
location / { }
--- user_files
>>> index.html
home
--- request
GET /
--- error_code: 200
--- response_body
home
--- response_headers
Content-Type: text/html

=== TEST 5: custom index list, the first existing file wins
--- config
location / { index missing.html home.htm; }
--- user_files
>>> sub/home.htm
sub home
--- request
GET /sub/
--- error_code: 200
--- response_body
sub home

=== TEST 6: directory without an index is 403
--- config
location / { }
--- user_files
>>> empty/x.txt
x
--- request
GET /empty/
--- error_code: 403
--- response_body_like
<title>403 Forbidden</title>
--- error_log
directory index of

=== TEST 7: index ending with an absolute URI as the fallback
--- config
location / { index nothere.html /fallback; }
location = /fallback { return 200 "fallback $uri"; }
--- user_files
>>> d/x.txt
x
--- request
GET /d/
--- error_code: 200
--- response_body chomp
fallback /fallback

=== TEST 8: try_files $uri $uri/ =404 serves the file
--- config
location / { try_files $uri $uri/ =404; }
--- user_files
>>> a.txt
A
--- request
GET /a.txt
--- error_code: 200
--- response_body
A

=== TEST 9: try_files $uri/ matching a directory without the slash redirects
--- config
location / { try_files $uri $uri/ =404; }
--- user_files
>>> d/index.html
dir index
--- request
GET /d
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/d/$

=== TEST 10: try_files $uri/ serves the directory index
--- config
location / { try_files $uri $uri/ =404; }
--- user_files
>>> d/index.html
dir index
--- request
GET /d/
--- error_code: 200
--- response_body
dir index

=== TEST 11: try_files =404
--- config
location / { try_files $uri $uri/ =404; }
--- request
GET /missing
--- error_code: 404
--- response_body_like
<title>404 Not Found</title>

=== TEST 12: try_files falls back to a URI with args
--- config
location / { try_files $uri /front?from=$uri; }
location = /front { return 200 "front $arg_from"; }
--- request
GET /nope
--- error_code: 200
--- response_body chomp
front /nope

=== TEST 13: try_files falls back to a named location
--- config
location / { try_files $uri @app; }
location @app { return 200 "app $uri $args"; }
--- request
GET /nope?k=v
--- error_code: 200
--- response_body chomp
app /nope k=v

=== TEST 14: a directory without the slash redirects with 301
--- config
location / { }
--- user_files
>>> dir/index.html
x
--- request
GET /dir
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/dir/$
--- response_body_like
<title>301 Moved Permanently</title>

=== TEST 15: the directory redirect keeps the args
--- config
location / { }
--- user_files
>>> dir/index.html
x
--- request
GET /dir?a=1
--- error_code: 301
--- response_headers
Location: ~^http://localhost:\d+/dir/\?a=1$

=== TEST 16: HEAD has the headers and no body
--- config
location / { }
--- user_files
>>> h.txt
0123456789
--- request
HEAD /h.txt
--- error_code: 200
--- response_headers
Content-Length: 11
Content-Type: text/plain
Last-Modified: ~GMT$
Accept-Ranges: bytes
ETag: ~^"[0-9a-f]+-b"$

=== TEST 17: If-Modified-Since at or after the mtime with if_modified_since before
--- config
location / { if_modified_since before; }
--- user_files
>>> m.txt
m
--- more_headers
If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT
--- request
GET /m.txt
--- error_code: 304
--- response_headers
!Content-Length

=== TEST 18: If-Modified-Since that is not exact gives 200 by default
--- config
location / { }
--- user_files
>>> m.txt
m
--- more_headers
If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT
--- request
GET /m.txt
--- error_code: 200
--- response_body
m

=== TEST 19: If-None-Match * gives 304
--- config
location / { }
--- user_files
>>> e.txt
e
--- more_headers
If-None-Match: *
--- request
GET /e.txt
--- error_code: 304

=== TEST 20: If-None-Match with another ETag gives 200
--- config
location / { }
--- user_files
>>> e.txt
e
--- more_headers
If-None-Match: "abc-1"
--- request
GET /e.txt
--- error_code: 200

=== TEST 21: Range gives 206 and Content-Range
--- config
location / { }
--- user_files
>>> r.txt
0123456789
--- more_headers
Range: bytes=2-5
--- request
GET /r.txt
--- error_code: 206
--- response_body chomp
2345
--- response_headers
Content-Range: bytes 2-5/11
Content-Length: 4

=== TEST 22: suffix Range
--- config
location / { }
--- user_files
>>> r.txt
0123456789
--- more_headers
Range: bytes=-3
--- request
GET /r.txt
--- error_code: 206
--- response_body
89
--- response_headers
Content-Range: bytes 8-10/11

=== TEST 23: open-ended Range past the end is clamped
--- config
location / { }
--- user_files
>>> r.txt
0123456789
--- more_headers
Range: bytes=7-100
--- request
GET /r.txt
--- error_code: 206
--- response_headers
Content-Range: bytes 7-10/11

=== TEST 24: unsatisfiable Range gives 416
--- config
location / { }
--- user_files
>>> r.txt
0123456789
--- more_headers
Range: bytes=50-60
--- request
GET /r.txt
--- error_code: 416
--- response_headers
Content-Range: bytes */11
--- response_body_like
<title>416 Requested Range Not Satisfiable</title>

=== TEST 25: a malformed Range is ignored
--- config
location / { }
--- user_files
>>> r.txt
0123456789
--- more_headers
Range: lines=1-2
--- request
GET /r.txt
--- error_code: 200
--- response_body
0123456789

=== TEST 26: path traversal above the root is 400
--- config
location / { }
--- request
GET /../etc/passwd
--- error_code: 400
--- response_body_like
<title>400 Bad Request</title>

=== TEST 27: encoded dot-dot traversal is 400
--- config
location / { }
--- request
GET /%2e%2e/%2e%2e/etc/passwd
--- error_code: 400

=== TEST 28: dot-dot inside the tree is resolved
--- config
location / { }
--- user_files
>>> b/t.txt
t
--- request
GET /a/%2E%2E/b/t.txt
--- error_code: 200
--- response_body
t

=== TEST 29: MIME types from mime.types
--- http_config
include mime.types;
--- config
location / { }
--- user_files
>>> s.css
body{}
--- request
GET /s.css
--- error_code: 200
--- response_headers
Content-Type: text/css

=== TEST 30: default_type for an unknown extension
--- http_config
include mime.types;
default_type application/octet-stream;
--- config
location / { }
--- user_files
>>> s.unknownext
x
--- request
GET /s.unknownext
--- error_code: 200
--- response_headers
Content-Type: application/octet-stream

=== TEST 31: the built-in types without mime.types, default_type text/plain
--- config
location / { }
--- user_files
>>> s.css
x
--- request
GET /s.css
--- error_code: 200
--- response_headers
Content-Type: text/plain

=== TEST 32: a types block in a location
--- config
location / { types { text/x-foo foo; } }
--- user_files
>>> s.foo
x
--- request
GET /s.foo
--- error_code: 200
--- response_headers
Content-Type: text/x-foo

=== TEST 33: MIME type lookup uses the extension case-insensitively
--- http_config
include mime.types;
--- config
location / { }
--- user_files
>>> P.JSON
{}
--- request
GET /P.JSON
--- error_code: 200
--- response_headers
Content-Type: application/json

=== TEST 34: missing file is 404 and logged
--- config
location / { }
--- request
GET /nope.txt
--- error_code: 404
--- error_log
/html/nope.txt" failed (2: No such file or directory)

=== TEST 35: POST to a static file is 405
--- config
location / { }
--- user_files
>>> p.txt
p
--- request
POST /p.txt
--- request_body chomp
x
--- error_code: 405
--- response_body_like
<title>405 Not Allowed</title>

=== TEST 36: an encoded space in the file name
--- config
location / { }
--- user_files
>>> a b.txt
spaced
--- request
GET /a%20b.txt
--- error_code: 200
--- response_body
spaced

=== TEST 37: a file name followed by a slash is 404
--- config
location / { }
--- user_files
>>> f.txt
f
--- request
GET /f.txt/
--- error_code: 404

=== TEST 38: static_file_cache off serves from disk
--- config
location / { static_file_cache off; }
--- user_files
>>> f.txt
plain
--- request
GET /f.txt
--- error_code: 200
--- response_body
plain
