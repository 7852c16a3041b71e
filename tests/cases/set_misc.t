# set-misc (bundled with OpenResty): the common set_* directives. Checked against nginx
# with Debian's libnginx-mod-http-set-misc (scripts/nginx-compare.py).

=== TEST 1: unescape and escape, in place and into another variable
--- config
location /t {
    set $raw $arg_q;
    set_unescape_uri $plain $arg_q;
    set_escape_uri $escaped $plain;
    set_unescape_uri $raw;
    return 200 "$plain|$escaped|$raw\n";
}
--- request
GET /t?q=a%20b%2Bc+d%2F%C3%A9
--- response_body
a b+c d/é|a%20b%2Bc%20d%2F%C3%A9|a b+c d/é

=== TEST 2: SQL, PostgreSQL and JSON quoting
--- config
location /t {
    set_unescape_uri $v $arg_v;
    set_quote_sql_str $sql $v;
    set_quote_pgsql_str $pg $v;
    set_quote_json_str $json $v;
    return 200 "$sql\n$pg\n$json\n";
}
--- request
GET /t?v=it%27s%20%22q%22%5C%0A
--- response_body
'it\'s \"q\"\\\n'
E'it\'s \"q\"\\\n'
"it's \"q\"\\\n"

=== TEST 3: digests and codings
--- config
location /t {
    set $v "hello";
    set_md5 $md5 $v;
    set_sha1 $sha1 $v;
    set_encode_base64 $b64 $v;
    set_decode_base64 $back $b64;
    set_encode_hex $hex $v;
    set_decode_hex $unhex $hex;
    return 200 "$md5 $sha1 $b64 $back $hex $unhex\n";
}
--- request
GET /t
--- response_body
5d41402abc4b2a76b9719d911017c592 aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d aGVsbG8= hello 68656c6c6f hello

=== TEST 4: set_if_empty
--- config
location /t {
    set $a "";
    set $b "kept";
    set_if_empty $a "default";
    set_if_empty $b "default";
    set_if_empty $c $arg_c;
    return 200 "$a $b $c\n";
}
--- request
GET /t?c=from-arg
--- response_body
default kept from-arg

=== TEST 5: random numbers and strings
--- config
location /t {
    set_random $n 5 7;
    set_secure_random_alphanum $s 24;
    set_secure_random_lcalpha $l 8;
    return 200 "$n $s $l\n";
}
--- request
GET /t
--- response_body_like
^[5-7] [a-zA-Z0-9]{24} [a-z]{8}$
