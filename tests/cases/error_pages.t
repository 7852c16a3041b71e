=== TEST 1: error_page to a static URI keeps the status
--- config
error_page 404 /404.html;
location / { }
--- user_files
>>> 404.html
custom not found
--- request
GET /missing
--- error_code: 404
--- response_body
custom not found
--- response_headers
Content-Type: text/html

=== TEST 2: error_page with =200 changes the status
--- config
error_page 404 =200 /ok.html;
location / { }
--- user_files
>>> ok.html
fine
--- request
GET /missing
--- error_code: 200
--- response_body
fine

=== TEST 3: error_page with = alone takes the status of the target
--- config
error_page 404 = /target;
location / { }
location = /target { return 202 "accepted"; }
--- request
GET /missing
--- error_code: 202
--- response_body chomp
accepted

=== TEST 4: error_page to a named location keeps the status without =
--- config
error_page 404 @nf;
location / { }
location @nf { return 200 "named nf"; }
--- request
GET /missing
--- error_code: 404
--- response_body chomp
named nf

=== TEST 5: error_page to an absolute URL is a 302
--- config
error_page 404 http://example.com/nf;
location / { }
--- request
GET /missing
--- error_code: 302
--- response_headers
Location: http://example.com/nf

=== TEST 6: error_page =301 to a URL
--- config
error_page 404 =301 http://example.com/moved;
location / { }
--- request
GET /missing
--- error_code: 301
--- response_headers
Location: http://example.com/moved

=== TEST 7: error_page for a return code, several codes in one directive
--- config
error_page 500 502 503 /50x.html;
location = /t { return 503; }
location / { }
--- user_files
>>> 50x.html
sorry
--- request
GET /t
--- error_code: 503
--- response_body
sorry

=== TEST 8: error_page for 403 from deny
--- config
error_page 403 /forbidden.html;
location = /forbidden.html { allow all; }
location / { deny all; }
--- user_files
>>> forbidden.html
go away
--- request
GET /x
--- error_code: 403
--- response_body
go away

=== TEST 9: error_page in a location overrides the server one
--- config
error_page 404 /server404.html;
location /l/ { error_page 404 /loc404.html; }
location / { }
--- user_files
>>> server404.html
server
>>> loc404.html
location
--- request
GET /l/missing
--- error_code: 404
--- response_body
location

=== TEST 10: a missing error_page target gives the built-in 404
--- config
error_page 404 /nothere.html;
location / { }
--- request
GET /missing
--- error_code: 404
--- response_body_like
<center><h1>404 Not Found</h1></center>

=== TEST 11: error pages are not followed recursively by default
--- config
error_page 404 /err;
location = /err { return 500; }
error_page 500 /e500;
location = /e500 { return 200 "500 page"; }
location / { }
--- request
GET /missing
--- error_code: 500
--- response_body_like
<title>500 Internal Server Error</title>

=== TEST 12: recursive_error_pages on follows the second error_page
--- config
recursive_error_pages on;
error_page 404 /err;
location = /err { return 500; }
error_page 500 /e500;
location = /e500 { return 200 "500 page"; }
location / { }
--- request
GET /missing
--- error_code: 500
--- response_body chomp
500 page

=== TEST 13: the built-in error page format
--- config
location / { return 404; }
--- request
GET /x
--- error_code: 404
--- response_body_like
^<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>[^<]+</center>\r\n</body>\r\n</html>\r\n
--- response_headers
Content-Type: text/html

=== TEST 14: error_page target sees the original request in $request_uri
--- config
error_page 404 /err;
location = /err { return 200 "uri=$uri orig=$request_uri"; }
location / { }
--- request
GET /missing?a=1
--- error_code: 404
--- response_body chomp
uri=/err orig=/missing?a=1

=== TEST 15: error_page with args in the target URI
--- config
error_page 404 /err?code=404;
location = /err { return 200 "code=$arg_code"; }
location / { }
--- request
GET /missing
--- error_code: 404
--- response_body chomp
code=404

=== TEST 16: error_page = on a 413 from client_max_body_size
--- config
client_max_body_size 3;
error_page 413 =200 /toolarge;
location = /toolarge { return 200 "too large"; }
location / { return 200 "ok"; }
--- request
POST /up
--- request_body chomp
0123456789
--- error_code: 200
--- response_body chomp
too large

=== TEST 17: POST to a static error page target is served with GET semantics
--- config
error_page 404 /404.html;
location / { }
--- user_files
>>> 404.html
nf page
--- request
POST /missing
--- request_body chomp
x
--- error_code: 404
--- response_body
nf page
