# headers-more (bundled with OpenResty): more_set_headers, more_clear_headers,
# more_set_input_headers, more_clear_input_headers. Checked against nginx with
# libnginx-mod-http-headers-more-filter (scripts/nginx-compare.py).

=== TEST 1: set and clear output headers, Server included; add_header runs after
--- config
location /t {
    add_header X-Added added;
    more_set_headers 'X-Var: $uri' 'Server: my-server';
    more_clear_headers X-Added;
    content_by_lua_block {
        ngx.header["X-Lua"] = "lua"
        ngx.header["X-Lua-Gone"] = "gone"
        ngx.say("ok")
    }
    more_set_headers 'X-Lua: replaced';
    more_clear_headers X-Lua-Gone;
}
--- request
GET /t
--- response_headers
X-Var: /t
Server: my-server
X-Added: added
X-Lua: replaced
!X-Lua-Gone
--- response_body
ok

=== TEST 2: every status by default, -s narrows
--- config
location /t {
    more_set_headers 'X-Any: yes';
    more_set_headers -s '404 500' -s 403 'X-Err: yes';
    more_set_headers -s 200 'X-Ok: yes';
    return 404;
}
--- request
GET /t
--- error_code: 404
--- response_headers
X-Any: yes
X-Err: yes
!X-Ok

=== TEST 3: -t matches the content type
--- config
location /t {
    default_type text/plain;
    more_set_headers -t 'text/html text/plain' 'X-Text: yes';
    more_set_headers -t 'application/json' 'X-Json: yes';
    return 200 "ok\n";
}
--- request
GET /t
--- response_headers
X-Text: yes
!X-Json

=== TEST 4: -t compares the whole Content-Type, parameters too
--- config
location /t {
    default_type 'text/plain; charset=utf-8';
    more_set_headers -t 'text/plain' 'X-Text: yes';
    return 200 "ok\n";
}
--- request
GET /t
--- response_headers
!X-Text

=== TEST 5: outer levels run first, inner ones add up
--- http_config
more_set_headers 'X-Level: http' 'X-Http: 1';
--- config
more_set_headers 'X-Level: server';
location /t {
    more_set_headers 'X-Loc: 1';
    return 200 "ok\n";
}
--- request
GET /t
--- response_headers
X-Level: server
X-Http: 1
X-Loc: 1

=== TEST 6: a trailing * clears by prefix; Content-Type can be changed
--- config
location /t {
    content_by_lua_block {
        ngx.header["X-Hidden-A"] = "a"
        ngx.header["X-Hidden-B"] = "b"
        ngx.header["X-Shown"] = "c"
        ngx.say("ok")
    }
    more_clear_headers 'X-Hidden-*';
    more_set_headers 'Content-Type: text/x-mine';
}
--- request
GET /t
--- response_headers
!X-Hidden-A
!X-Hidden-B
X-Shown: c
Content-Type: text/x-mine

=== TEST 7: input headers are set at the end of the rewrite phase
--- config
location /t {
    set $who "dog";
    more_set_input_headers 'X-Who: $who' 'User-Agent: faked';
    more_set_input_headers -r 'X-Absent: no' 'X-Present: replaced';
    more_clear_input_headers 'X-Drop';
    content_by_lua_block {
        ngx.say(ngx.var.http_x_who, " ", ngx.var.http_user_agent, " ",
            tostring(ngx.var.http_x_absent), " ", ngx.var.http_x_present, " ",
            tostring(ngx.var.http_x_drop))
    }
}
--- request
GET /t
--- more_headers
X-Present: orig
X-Drop: x
User-Agent: curl
--- response_body
dog faked nil replaced nil

=== TEST 8: Host set as an input header changes $host
--- config
location /t {
    more_set_input_headers 'Host: example.org';
    content_by_lua_block { ngx.say(ngx.var.host, " ", ngx.var.http_host) }
}
--- request
GET /t
--- response_body
example.org example.org

=== TEST 9: -a appends (headers-more 0.35; Debian's 0.34 refuses the option)
--- config
location /t {
    content_by_lua_block {
        ngx.header["X-Multi"] = "one"
        ngx.say("ok")
    }
    more_set_headers -a 'X-Multi: two';
}
--- request
GET /t
--- response_headers
X-Multi: one
X-Multi: two
