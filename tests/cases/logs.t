=== TEST 1: the default combined format
--- config
location / { return 200 "ok"; }
--- request
GET /p?q=1
--- more_headers
Referer: http://ref.test/
User-Agent: tester/1.0
--- access_log
127.0.0.1 - - [
] "GET /p?q=1 HTTP/1.1" 200 2 "http://ref.test/" "tester/1.0"

=== TEST 2: a custom log_format
--- http_config
log_format custom '$request_method|$uri|$args|$status|$body_bytes_sent|$http_x_t';
--- config
access_log logs/access.log custom;
location / { return 200 "hello"; }
--- request
GET /c?a=b
--- more_headers
X-T: tv
--- access_log
GET|/c|a=b|200|5|tv

=== TEST 3: an empty variable is logged as -
--- http_config
log_format custom '[$http_x_missing] [$arg_none]';
--- config
access_log logs/access.log custom;
location / { return 200 "ok"; }
--- access_log
[-] [-]

=== TEST 4: default escaping of quotes, backslashes and control bytes
--- http_config
log_format custom 'v=$http_x_t';
--- config
access_log logs/access.log custom;
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nX-T: a"b\c\tz\r\nConnection: close\r\n\r\n
--- access_log
v=a\x22b\x5Cc\x09z

=== TEST 5: escape=json
--- http_config
log_format j escape=json '{"t":"$http_x_t","m":"$arg_none"}';
--- config
access_log logs/access.log j;
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nX-T: a"b\c\tz\r\nConnection: close\r\n\r\n
--- access_log
{"t":"a\"b\\c\tz","m":""}

=== TEST 6: escape=none
--- http_config
log_format n escape=none 'v=$http_x_t';
--- config
access_log logs/access.log n;
location / { return 200 "ok"; }
--- raw_request
GET / HTTP/1.1\r\nHost: localhost\r\nX-T: a"b\c\r\nConnection: close\r\n\r\n
--- access_log
v=a"b\c

=== TEST 7: the status after an internal redirect is logged
--- http_config
log_format custom 'S=$status U=$uri R=$request_uri';
--- config
access_log logs/access.log custom;
error_page 404 =200 /alt;
location = /alt { return 200 "alt"; }
location / { }
--- request
GET /missing
--- error_code: 200
--- access_log
S=200 U=/alt R=/missing

=== TEST 8: $request is logged raw, percent-encoding kept
--- http_config
log_format custom 'R="$request"';
--- config
access_log logs/access.log custom;
location / { return 200 "ok"; }
--- request
GET /%22q
--- access_log
R="GET /%22q HTTP/1.1"

=== TEST 9: a 400 detected after parsing (no Host) is logged (hyper's own parse errors are not: nginx logs "GARBAGE" 400)
--- raw_request
GET /nohost HTTP/1.1\r\nConnection: close\r\n\r\n
--- error_code: 400
--- access_log
"GET /nohost HTTP/1.1" 400

=== TEST 10: a 413 is logged with the body size of the error page
--- config
client_max_body_size 1;
location / { return 200 "ok"; }
--- request
POST /up
--- request_body chomp
xyz
--- error_code: 413
--- access_log
"POST /up HTTP/1.1" 413
