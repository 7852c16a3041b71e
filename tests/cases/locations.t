=== TEST 1: exact match beats a prefix of the same text
--- config
location = /a { return 200 "exact"; }
location /a { return 200 "prefix"; }
--- request
GET /a
--- error_code: 200
--- response_body chomp
exact

=== TEST 2: exact match does not match a longer URI
--- config
location = /a { return 200 "exact"; }
location /a { return 200 "prefix"; }
--- request
GET /a/b
--- error_code: 200
--- response_body chomp
prefix

=== TEST 3: ^~ on the longest prefix stops the regex search
--- config
location ^~ /img/ { return 200 "caret"; }
location ~ \.png$ { return 200 "regex"; }
--- request
GET /img/x.png
--- response_body chomp
caret

=== TEST 4: a matching regex beats the longest plain prefix
--- config
location /img/ { return 200 "prefix"; }
location ~ \.png$ { return 200 "regex"; }
--- request
GET /img/x.png
--- response_body chomp
regex

=== TEST 5: ^~ only applies when it is the longest prefix
--- config
location ^~ /a/ { return 200 "caret"; }
location /a/b/ { return 200 "plain"; }
location ~ \.x$ { return 200 "regex"; }
--- request
GET /a/b/f.x
--- response_body chomp
regex

=== TEST 6: ^~ longest prefix, same layout
--- config
location ^~ /a/ { return 200 "caret"; }
location /a/b/ { return 200 "plain"; }
location ~ \.x$ { return 200 "regex"; }
--- request
GET /a/c/f.x
--- response_body chomp
caret

=== TEST 7: regexes are tried in config order, first match wins
--- config
location ~ /a { return 200 "first"; }
location ~ /a/b { return 200 "second"; }
--- request
GET /a/b
--- response_body chomp
first

=== TEST 8: ~* is case-insensitive
--- config
location / { return 200 "root"; }
location ~* \.JPG$ { return 200 "jpg"; }
--- request
GET /x.jpg
--- response_body chomp
jpg

=== TEST 9: ~ is case-sensitive
--- config
location / { return 200 "root"; }
location ~ \.JPG$ { return 200 "jpg"; }
--- request
GET /x.jpg
--- response_body chomp
root

=== TEST 10: the longest prefix wins regardless of order
--- config
location /a/b/ { return 200 "long"; }
location /a { return 200 "short"; }
--- request
GET /a/b/c
--- response_body chomp
long

=== TEST 11: prefix matching is case-sensitive
--- config
location /Abc { return 200 "abc"; }
--- request
GET /abc
--- error_code: 404

=== TEST 12: nested regex inside a prefix location
--- config
location /a/ {
    location ~ \.txt$ { return 200 "nested"; }
    return 200 "outer";
}
--- request
GET /a/x.txt
--- response_body chomp
nested

=== TEST 13: nested location does not match, the outer handles it
--- config
location /a/ {
    location ~ \.txt$ { return 200 "nested"; }
    return 200 "outer";
}
--- request
GET /a/x.html
--- response_body chomp
outer

=== TEST 14: a nested regex is tried before the top-level regexes
--- config
location /a/ {
    location ~ \.txt$ { return 200 "inner"; }
}
location ~ \.txt$ { return 200 "top"; }
--- request
GET /a/x.txt
--- response_body chomp
inner

=== TEST 15: nested prefix location
--- config
location /a/ {
    location /a/b/ { return 200 "ab"; }
    return 200 "a";
}
--- request
GET /a/b/c
--- response_body chomp
ab

=== TEST 16: try_files falls back to a named location
--- config
location / { try_files $uri @fallback; }
location @fallback { return 200 "named $uri"; }
--- request
GET /missing
--- error_code: 200
--- response_body chomp
named /missing

=== TEST 17: error_page to a named location
--- config
location / { error_page 404 = @nf; }
location @nf { return 200 "nf $uri"; }
--- request
GET /missing
--- error_code: 200
--- response_body chomp
nf /missing

=== TEST 18: a named location cannot be requested from outside
--- config
location @x { return 200 "named"; }
--- request
GET /@x
--- error_code: 404

=== TEST 19: internal location is 404 from outside
--- config
location /int/ { internal; return 200 "secret"; }
--- request
GET /int/x
--- error_code: 404
--- response_body_like
<title>404 Not Found</title>

=== TEST 20: internal location is reachable through error_page
--- config
error_page 404 /int/nf;
location /int/ { internal; return 200 "internal page"; }
--- request
GET /missing
--- error_code: 404
--- response_body chomp
internal page

=== TEST 21: internal location is reachable through rewrite last
--- config
location /pub { rewrite ^ /int/x last; }
location /int/ { internal; return 200 "via rewrite"; }
--- request
GET /pub
--- error_code: 200
--- response_body chomp
via rewrite

=== TEST 22: numeric captures of the location regex
--- config
location ~ ^/u/(\d+)/(\w+)$ { return 200 "id=$1 name=$2"; }
--- request
GET /u/42/bob
--- response_body chomp
id=42 name=bob

=== TEST 23: named captures of the location regex
--- config
location ~ ^/n/(?<who>\w+)$ { return 200 "who=$who"; }
--- request
GET /n/alice
--- response_body chomp
who=alice

=== TEST 24: = / matches only the root
--- config
location = / { return 200 "root"; }
location / { return 200 "other"; }
--- request
GET /index.html
--- response_body chomp
other

=== TEST 25: the URI is normalised before matching (dot segments)
--- config
location /b { return 200 "b $uri"; }
location / { return 200 "root"; }
--- request
GET /a/../b/./c
--- response_body chomp
b /b/c

=== TEST 26: merged slashes before matching
--- config
location = /a/b { return 200 "ab"; }
--- request
GET //a///b
--- response_body chomp
ab

=== TEST 27: percent-decoding before matching
--- config
location = /abc { return 200 "decoded"; }
--- request
GET /%61b%63
--- response_body chomp
decoded

=== TEST 28: regex location matches the decoded URI, not the args
--- config
location ~ x$ { return 200 "ends with x"; }
location / { return 200 "root"; }
--- request
GET /a?q=x
--- response_body chomp
root
