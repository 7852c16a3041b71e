=== TEST 1: return with text
--- config
location = /t { return 200 "hello"; }
--- request
GET /t
--- error_code: 200
--- response_body chomp
hello
--- response_headers
Content-Type: text/plain
Content-Length: 5
Server: ~^openclaw/

=== TEST 2: 404 page
--- config
location = /t { return 200 "x"; }
--- request
GET /nothing
--- error_code: 404
--- response_body_like
<title>404 Not Found</title>
--- error_log
No such file or directory

=== TEST 3: static file with type
--- config
location / { }
--- user_files
>>> a.html
<p>hi</p>
--- request
GET /a.html
--- error_code: 200
--- response_body
<p>hi</p>
--- response_headers
Content-Type: text/html
ETag: ~^"[0-9a-f]+-a"$
--- access_log
"GET /a.html HTTP/1.1" 200 10
