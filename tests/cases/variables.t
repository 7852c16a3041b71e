=== TEST 1: $uri is decoded and normalised, $request_uri is raw
--- config
location / { return 200 "uri=$uri req=$request_uri"; }
--- request
GET /a%20b/../c%2Fd?x=%20
--- response_body chomp
uri=/c/d req=/a%20b/../c%2Fd?x=%20

=== TEST 2: $args, $query_string and $is_args
--- config
location / { return 200 "args=$args qs=$query_string is=$is_args"; }
--- request
GET /p?a=1&b=2
--- response_body chomp
args=a=1&b=2 qs=a=1&b=2 is=?

=== TEST 3: $is_args is empty without args
--- config
location / { return 200 "is=[$is_args] args=[$args]"; }
--- request
GET /p
--- response_body chomp
is=[] args=[]

=== TEST 4: $arg_NAME is raw (not decoded), missing is empty
--- config
location / { return 200 "a=$arg_a b=[$arg_b] c=$arg_c"; }
--- request
GET /p?a=x%20y+z&c=3
--- response_body chomp
a=x%20y+z b=[] c=3

=== TEST 5: $arg_NAME matches the name case-insensitively, first one wins
--- config
location / { return 200 "foo=$arg_foo"; }
--- request
GET /p?FOO=1&foo=2
--- response_body chomp
foo=1

=== TEST 6: $http_NAME with dashes as underscores
--- config
location / { return 200 "v=$http_x_custom_header ua=[$http_user_agent]"; }
--- more_headers
X-Custom-Header: hello world
--- response_body chomp
v=hello world ua=[]

=== TEST 7: $cookie_NAME
--- config
location / { return 200 "a=$cookie_a b=$cookie_b c=[$cookie_c]"; }
--- more_headers
Cookie: a=1; b=two
--- response_body chomp
a=1 b=two c=[]

=== TEST 8: $host strips the port and lowercases
--- config
location / { return 200 "host=$host http_host=$http_host"; }
--- more_headers
Host: LocalHost:1234
--- response_body chomp
host=localhost http_host=LocalHost:1234

=== TEST 9: $request_method, $server_protocol, $scheme
--- config
location / { return 200 "$request_method $server_protocol $scheme"; }
--- request
DELETE /p
--- response_body chomp
DELETE HTTP/1.1 http

=== TEST 10: $server_protocol for HTTP/1.0
--- config
location / { return 200 "$server_protocol"; }
--- request
GET /p HTTP/1.0
--- response_body chomp
HTTP/1.0

=== TEST 11: $remote_addr, $server_addr, $server_port, $remote_port
--- config
location / { return 200 "$remote_addr $server_addr $server_port $remote_port"; }
--- request
GET /p
--- response_body_like
^127\.0\.0\.1 127\.0\.0\.1 \d+ \d+$

=== TEST 12: $request is the request line
--- config
location / { return 200 "[$request]"; }
--- request
GET /p%20q?x=1 HTTP/1.1
--- response_body chomp
[GET /p%20q?x=1 HTTP/1.1]

=== TEST 13: $content_length and $content_type
--- config
location / { return 200 "len=$content_length type=$content_type"; }
--- request
POST /p
--- more_headers
Content-Type: application/x-test
--- request_body chomp
hello
--- response_body chomp
len=5 type=application/x-test

=== TEST 14: $content_length is empty without a body
--- config
location / { return 200 "len=[$content_length]"; }
--- request
GET /p
--- response_body chomp
len=[]

=== TEST 15: $nginx_version looks like a version (OpenClaw reports 1.25.5)
--- config
location / { return 200 "$nginx_version"; }
--- request
GET /p
--- response_body_like
^1\.\d+\.\d+$

=== TEST 16: named captures from a location regex
--- config
location ~ ^/(?<section>[a-z]+)/(?<item>\d+)$ { return 200 "$section:$item:$2"; }
--- request
GET /books/12
--- response_body chomp
books:12:12

=== TEST 17: $uri changes after rewrite, $request_uri does not
--- config
location /a { rewrite ^ /b last; }
location /b { return 200 "$uri $document_uri $request_uri"; }
--- request
GET /a?q=1
--- response_body chomp
/b /b /a?q=1

=== TEST 18: $request_filename and $document_root
--- config
location / { return 200 "$request_filename|$document_root"; }
--- request
GET /x/y.txt
--- response_body_like
^/.*/html/x/y\.txt\|/.*/html$

=== TEST 19: $request_filename with alias
--- config
location /al/ { alias /srv/data/; return 200 "$request_filename"; }
--- request
GET /al/f.txt
--- response_body chomp
/srv/data/f.txt

=== TEST 20: $server_name and $hostname
--- config
location / { return 200 "$server_name [$hostname]"; }
--- request
GET /p
--- response_body_like
^localhost \[[^\]]+\]$

=== TEST 21: $msec and $time_iso8601 shapes
--- config
location / { return 200 "$msec $time_iso8601"; }
--- request
GET /p
--- response_body_like
^\d+\.\d{3} \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$

=== TEST 22: a captured group from an if regex overrides the location captures
--- config
location ~ ^/(\w+)$ {
    if ($arg_v ~ ^(\d+)$) { }
    return 200 "one=$1";
}
--- request
GET /word?v=55
--- response_body chomp
one=55

=== TEST 23: $http_host is absent for HTTP/1.0 without Host, $host falls back
--- config
location / { return 200 "[$http_host] [$host]"; }
--- raw_request
GET /p HTTP/1.0\r\n\r\n
--- response_body chomp
[] [localhost]

=== TEST 24: header names are case-insensitive for $http_
--- config
location / { return 200 "$http_x_mixed"; }
--- more_headers
x-MiXeD: v1
--- response_body chomp
v1

=== TEST 25: $request_uri keeps double slashes and dot segments
--- config
location / { return 200 "$request_uri $uri"; }
--- request
GET //a/./b
--- response_body chomp
//a/./b /a/b
