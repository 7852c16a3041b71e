=== TEST 1: map exact value
--- http_config
map $arg_k $v { default "dflt"; a "A"; b "B"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=b
--- response_body chomp
v=B

=== TEST 2: map default
--- http_config
map $arg_k $v { default "dflt"; a "A"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=zzz
--- response_body chomp
v=dflt

=== TEST 3: map without default gives an empty value
--- http_config
map $arg_k $v { a "A"; }
--- config
location / { return 200 "v=[$v]"; }
--- request
GET /?k=zzz
--- response_body chomp
v=[]

=== TEST 4: map exact keys are case-insensitive
--- http_config
map $arg_k $v { default "dflt"; abc "lower"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=ABC
--- response_body chomp
v=lower

=== TEST 5: map regex with captures in the value
--- http_config
map $uri $v { default "none"; ~^/item/(\d+)$ "item-$1"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /item/42
--- response_body chomp
v=item-42

=== TEST 6: map regex with a named capture
--- http_config
map $uri $v { default "none"; ~^/u/(?<user>\w+) "user-$user"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /u/carol/x
--- response_body chomp
v=user-carol

=== TEST 7: map ~* is case-insensitive
--- http_config
map $http_user_agent $v { default "other"; ~*curl "curl"; }
--- config
location / { return 200 "v=$v"; }
--- more_headers
User-Agent: CURL/8.0
--- response_body chomp
v=curl

=== TEST 8: map exact keys beat regexes
--- http_config
map $arg_k $v { default "d"; ~^a "regex"; abc "exact"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=abc
--- response_body chomp
v=exact

=== TEST 9: map regexes are tried in order
--- http_config
map $arg_k $v { default "d"; ~b "first"; ~^ab "second"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=abc
--- response_body chomp
v=first

=== TEST 10: map hostnames with a leading wildcard
--- http_config
map $http_host $v { hostnames; default "d"; example.com "exact"; *.example.com "wild"; }
--- config
location / { return 200 "v=$v"; }
--- more_headers
Host: a.b.example.com
--- response_body chomp
v=wild

=== TEST 11: map hostnames with the .domain form
--- http_config
map $host $v { hostnames; default "d"; .site.org "site"; }
--- config
location / { return 200 "v=$v"; }
--- more_headers
Host: site.org
--- response_body chomp
v=site

=== TEST 12: map hostnames with a trailing wildcard
--- http_config
map $host $v { hostnames; default "d"; www.site.* "tail"; }
--- config
location / { return 200 "v=$v"; }
--- more_headers
Host: www.site.net
--- response_body chomp
v=tail

=== TEST 13: map value can be a variable
--- http_config
map $arg_k $v { default "d"; ref $arg_other; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=ref&other=xyz
--- response_body chomp
v=xyz

=== TEST 14: map of an empty source
--- http_config
map $arg_k $v { default "d"; "" "empty"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /
--- response_body chomp
v=empty

=== TEST 15: map on a combination of variables
--- http_config
map "$request_method:$arg_k" $v { default "d"; "GET:1" "get-one"; }
--- config
location / { return 200 "v=$v"; }
--- request
GET /?k=1
--- response_body chomp
v=get-one

=== TEST 16: map result drives an if
--- http_config
map $arg_role $is_admin { default 0; admin 1; }
--- config
location / {
    if ($is_admin) { return 200 "admin"; }
    return 403;
}
--- request
GET /?role=admin
--- response_body chomp
admin

=== TEST 17: split_clients bucket for x=1
--- http_config
split_clients "${arg_x}" $bucket { 50% a; * b; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /?x=1
--- response_body chomp
bucket=a

=== TEST 18: split_clients bucket for x=2
--- http_config
split_clients "${arg_x}" $bucket { 50% a; * b; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /?x=2
--- response_body chomp
bucket=a

=== TEST 19: split_clients bucket for x=3
--- http_config
split_clients "${arg_x}" $bucket { 50% a; * b; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /?x=3
--- response_body chomp
bucket=b

=== TEST 20: split_clients with three buckets, key user15 lands in the first
--- http_config
split_clients "salt${arg_x}" $bucket { 10% ten; 20% twenty; * rest; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /?x=user15
--- response_body chomp
bucket=ten

=== TEST 21: split_clients with three buckets, key user6 lands in the second
--- http_config
split_clients "salt${arg_x}" $bucket { 10% ten; 20% twenty; * rest; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /?x=user6
--- response_body chomp
bucket=twenty

=== TEST 22: split_clients without * leaves the rest empty
--- http_config
split_clients "${arg_x}" $bucket { 0.5% tiny; }
--- config
location / { return 200 "bucket=[$bucket]"; }
--- request
GET /?x=1
--- response_body chomp
bucket=[]

=== TEST 23: split_clients with an empty key
--- http_config
split_clients "${arg_x}" $bucket { 50% a; * b; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /
--- response_body chomp
bucket=a

=== TEST 24: split_clients three buckets, key user42 lands in the rest
--- http_config
split_clients "salt${arg_x}" $bucket { 10% ten; 20% twenty; * rest; }
--- config
location / { return 200 "bucket=$bucket"; }
--- request
GET /?x=user42
--- response_body chomp
bucket=rest

=== TEST 25: split_clients without *, a key inside the 0.5%
--- http_config
split_clients "${arg_x}" $bucket { 0.5% tiny; }
--- config
location / { return 200 "bucket=[$bucket]"; }
--- request
GET /?x=15
--- response_body chomp
bucket=[tiny]
