# The echo module (bundled with OpenResty). Checked against nginx with Debian's
# libnginx-mod-http-echo (scripts/nginx-compare.py).

=== TEST 1: echo, -n, --, variables, echo_duplicate
--- config
location /t {
    echo hello world;
    echo -n "no newline ";
    echo -- -n is text;
    echo_duplicate 3 "ab";
    echo;
    echo "uri=$uri args=$args";
}
--- request
GET /t?x=1
--- response_headers
Content-Type: text/plain
--- response_body
hello world
no newline -n is text
ababab
uri=/t args=x=1

=== TEST 2: echo_location runs subrequests in order
--- config
location /t {
    echo "before";
    echo_location /sub "a=1";
    echo_location_async /sub?a=2;
    echo_flush;
    echo "after";
}
location /sub {
    echo "sub $arg_a";
}
--- request
GET /t
--- response_body
before
sub 1
sub 2
after

=== TEST 3: echo_sleep, then output
--- config
location /t {
    echo_sleep 0.01;
    echo "slept";
}
--- request
GET /t
--- response_body
slept

=== TEST 4: echo_exec redirects internally
--- config
location /t {
    echo_exec /target "k=v";
}
location /target {
    echo "target $uri $arg_k";
}
--- request
GET /t
--- response_body
target /target v

=== TEST 5: the request body
--- config
location /t {
    echo_read_request_body;
    echo "[";
    echo_request_body;
    echo "]";
}
--- request
POST /t
--- request_body chomp
payload
--- response_body
[
payload]

=== TEST 6: echo_before_body and echo_after_body around another handler
--- config
location /t {
    echo_before_body "head";
    echo_after_body "tail";
    return 200 "middle\n";
}
--- request
GET /t
--- response_body
head
middle
tail

=== TEST 7: filters around a Lua content handler
--- config
location /t {
    echo_before_body -n ">>";
    echo_after_body "<<";
    content_by_lua_block { ngx.say("lua") }
}
--- request
GET /t
--- response_body
>>lua
<<

=== TEST 8: echo_location_async subrequests run side by side, their output in directive order
--- http_config
lua_shared_dict flags 1m;
--- config
location = /main {
    echo_location_async /sub1;
    echo_location_async /sub2;
    echo done;
}
location = /sub1 {
    content_by_lua_block {
        ngx.sleep(0.2)
        ngx.say("one, two started: ", ngx.shared.flags:get("two") or false)
    }
}
location = /sub2 {
    set_by_lua_block $x { ngx.shared.flags:set("two", true) return "" }
    echo two;
}
--- request
GET /main
--- response_body
one, two started: true
two
done
