=== TEST 1: exact server_name
--- http_config
server { listen 127.0.0.1:0; server_name example.com; return 200 "exact"; }
--- config
return 200 "localhost";
--- more_headers
Host: example.com
--- response_body chomp
exact

=== TEST 2: unknown host falls back to the first server of the address
--- http_config
server { listen 127.0.0.1:0; server_name first.test; return 200 "first"; }
--- config
return 200 "localhost";
--- more_headers
Host: nobody.test
--- response_body chomp
first

=== TEST 3: default_server wins the fallback over the first server
--- http_config
server { listen 127.0.0.1:0; server_name first.test; return 200 "first"; }
server { listen 127.0.0.1:0 default_server; server_name dflt.test; return 200 "default"; }
--- config
return 200 "localhost";
--- more_headers
Host: nobody.test
--- response_body chomp
default

=== TEST 4: leading wildcard
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall"; }
server { listen 127.0.0.1:0; server_name *.example.com; return 200 "wild"; }
--- config
return 200 "localhost";
--- more_headers
Host: a.b.example.com
--- response_body chomp
wild

=== TEST 5: leading wildcard does not match the bare domain
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall"; }
server { listen 127.0.0.1:0; server_name *.example.com; return 200 "wild"; }
--- config
return 200 "localhost";
--- more_headers
Host: example.com
--- response_body chomp
catchall

=== TEST 6: .domain matches the bare domain
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall"; }
server { listen 127.0.0.1:0; server_name .dom.org; return 200 "dot"; }
--- config
return 200 "localhost";
--- more_headers
Host: dom.org
--- response_body chomp
dot

=== TEST 7: .domain matches subdomains
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall"; }
server { listen 127.0.0.1:0; server_name .dom.org; return 200 "dot"; }
--- config
return 200 "localhost";
--- more_headers
Host: x.y.dom.org
--- response_body chomp
dot

=== TEST 8: trailing wildcard
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall"; }
server { listen 127.0.0.1:0; server_name www.example.*; return 200 "tail"; }
--- config
return 200 "localhost";
--- more_headers
Host: www.example.co.uk
--- response_body chomp
tail

=== TEST 9: exact beats wildcards
--- http_config
server { listen 127.0.0.1:0; server_name *.example.com; return 200 "lead"; }
server { listen 127.0.0.1:0; server_name www.example.*; return 200 "tail"; }
server { listen 127.0.0.1:0; server_name www.example.com; return 200 "exact"; }
--- config
return 200 "localhost";
--- more_headers
Host: www.example.com
--- response_body chomp
exact

=== TEST 10: leading wildcard beats trailing wildcard
--- http_config
server { listen 127.0.0.1:0; server_name www.example.*; return 200 "tail"; }
server { listen 127.0.0.1:0; server_name *.example.com; return 200 "lead"; }
--- config
return 200 "localhost";
--- more_headers
Host: www.example.com
--- response_body chomp
lead

=== TEST 11: trailing wildcard beats a regex
--- http_config
server { listen 127.0.0.1:0; server_name ~^www\.; return 200 "regex"; }
server { listen 127.0.0.1:0; server_name www.example.*; return 200 "tail"; }
--- config
return 200 "localhost";
--- more_headers
Host: www.example.com
--- response_body chomp
tail

=== TEST 12: regex server_name with a named capture
--- http_config
server { listen 127.0.0.1:0; server_name ~^(?<sub>\w+)\.re\.net$; return 200 "sub=$sub"; }
--- config
return 200 "localhost";
--- more_headers
Host: api.re.net
--- response_body chomp
sub=api

=== TEST 13: regex server_name with a numeric capture
--- http_config
server { listen 127.0.0.1:0; server_name ~^(\w+)\.num\.net$; return 200 "one=$1"; }
--- config
return 200 "localhost";
--- more_headers
Host: shop.num.net
--- response_body chomp
one=shop

=== TEST 14: regexes are tried in config order
--- http_config
server { listen 127.0.0.1:0; server_name ~^a; return 200 "first"; }
server { listen 127.0.0.1:0; server_name ~b$; return 200 "second"; }
--- config
return 200 "localhost";
--- more_headers
Host: ab
--- response_body chomp
first

=== TEST 15: the port in Host is ignored for the lookup
--- http_config
server { listen 127.0.0.1:0; server_name example.com; return 200 "exact"; }
--- config
return 200 "localhost";
--- more_headers
Host: example.com:8080
--- response_body chomp
exact

=== TEST 16: Host is matched case-insensitively and $host is lowercased
--- http_config
server { listen 127.0.0.1:0; server_name example.com; return 200 "exact $host"; }
--- config
return 200 "localhost";
--- more_headers
Host: EXAMPLE.Com
--- response_body chomp
exact example.com

=== TEST 17: a trailing dot in Host is dropped
--- http_config
server { listen 127.0.0.1:0; server_name example.com; return 200 "exact $host"; }
--- config
return 200 "localhost";
--- more_headers
Host: example.com.
--- response_body chomp
exact example.com

=== TEST 18: server_name _ with default_server catches everything else
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall $host"; }
--- config
return 200 "localhost";
--- more_headers
Host: other.test
--- response_body chomp
catchall other.test

=== TEST 19: the named server is still chosen when the catch-all is the default
--- http_config
server { listen 127.0.0.1:0 default_server; server_name _; return 200 "catchall"; }
--- config
return 200 "localhost";
--- response_body chomp
localhost

=== TEST 20: HTTP/1.0 without Host uses the default server; $host is its server_name
--- config
return 200 "host=$host";
--- raw_request
GET / HTTP/1.0\r\n\r\n
--- error_code: 200
--- response_body chomp
host=localhost

=== TEST 21: an invalid Host header is 400
--- config
return 200 "ok";
--- more_headers
Host: bad/host
--- error_code: 400
--- error_log
client sent invalid host header

=== TEST 22: the host of an absolute request URI overrides the Host header
--- http_config
server { listen 127.0.0.1:0; server_name example.com; return 200 "exact $host $uri"; }
--- config
return 200 "localhost";
--- request
GET http://example.com/x
--- response_body chomp
exact example.com /x

=== TEST 23: $server_name is the first name of the server
--- config
server_name alias.test;
return 200 "$server_name";
--- more_headers
Host: alias.test
--- response_body chomp
localhost
