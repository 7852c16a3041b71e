# ngx.location.capture options: vars, copy_all_vars, share_all_vars, ctx and
# always_forward_body. Checked against nginx with lua-nginx-module
# (scripts/nginx-compare.py).

=== TEST 1: vars sets variables in the subrequest
--- config
location /unused { set $dog ""; set $cat ""; }
location /t {
    content_by_lua_block {
        local r = ngx.location.capture("/sub", { vars = { dog = "hello", cat = 32 } })
        ngx.print(r.body)
    }
}
location /sub {
    content_by_lua_block { ngx.say(ngx.var.dog, " ", ngx.var.cat) }
}
--- request
GET /t
--- response_body
hello 32

=== TEST 2: copy_all_vars copies, share_all_vars shares
--- config
location /t {
    set $animal "cat";
    content_by_lua_block {
        local r = ngx.location.capture("/sub", { copy_all_vars = true })
        ngx.print(r.body)
        ngx.say("after copy: ", ngx.var.animal)
        r = ngx.location.capture("/sub", { share_all_vars = true })
        ngx.print(r.body)
        ngx.say("after share: ", ngx.var.animal)
    }
}
location /sub {
    content_by_lua_block {
        ngx.say("sub sees ", ngx.var.animal)
        ngx.var.animal = "dog"
    }
}
--- request
GET /t
--- response_body
sub sees cat
after copy: cat
sub sees cat
after share: dog

=== TEST 3: ctx is the subrequest's ngx.ctx
--- config
location /t {
    content_by_lua_block {
        local shared = { from = "parent" }
        local r = ngx.location.capture("/sub", { ctx = shared })
        ngx.print(r.body)
        ngx.say("parent sees ", shared.from_sub)
    }
}
location /sub {
    content_by_lua_block {
        ngx.say("sub sees ", ngx.ctx.from)
        ngx.ctx.from_sub = "sub"
    }
}
--- request
GET /t
--- response_body
sub sees parent
parent sees sub

=== TEST 4: the parent's body goes to PUT/POST subrequests, or with always_forward_body
--- config
location /t {
    content_by_lua_block {
        ngx.req.read_body()
        for _, o in ipairs({
            {},
            { method = ngx.HTTP_POST },
            { always_forward_body = true },
        }) do
            ngx.print(ngx.location.capture("/sub", o).body)
        end
    }
}
location /sub {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.say(ngx.req.get_method(), " ", tostring(ngx.req.get_body_data()))
    }
}
--- request
POST /t
--- request_body chomp
payload
--- response_body
GET nil
POST payload
GET payload
