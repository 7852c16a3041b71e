# ngx.location.capture_multi runs its subrequests together, as nginx does. Concurrency is
# shown by structure, not timing: a subrequest waits for something a later one does, which
# times out (and says so) when they run one after another. Checked against nginx with
# lua-nginx-module (scripts/nginx-compare.py).

=== TEST 1: subrequests run together; results keep the order of the list
--- config
location /t {
    content_by_lua_block {
        local semaphore = require "ngx.semaphore"
        local s1, s2 = semaphore.new(), semaphore.new()
        -- /sub a waits for b, b waits for c: run in order, a would time out.
        local ra, rb, rc = ngx.location.capture_multi({
            { "/sub", { args = "name=a", ctx = { wait = s1 } } },
            { "/sub", { args = "name=b", ctx = { post = s1, wait = s2 } } },
            { "/sub", { args = "name=c", ctx = { post = s2 } } },
        })
        ngx.print(ra.status, " ", ra.body, rb.status, " ", rb.body, rc.status, " ", rc.body)
    }
}
location /sub {
    internal;
    content_by_lua_block {
        local c = ngx.ctx
        if c.post then c.post:post(1) end
        local ok, err = true, nil
        if c.wait then ok, err = c.wait:wait(3) end
        ngx.say(ngx.var.arg_name, " ", ok and "woken" or err)
    }
}
--- request
GET /t
--- response_body
200 a woken
200 b woken
200 c woken

=== TEST 2: a shared dict handshake between subrequests (no semaphores)
--- http_config
lua_shared_dict flags 1m;
--- config
location /t {
    content_by_lua_block {
        ngx.shared.flags:flush_all()
        local r1, r2 = ngx.location.capture_multi({ { "/waiter" }, { "/setter" } })
        ngx.print(r1.body, r2.body)
    }
}
location /waiter {
    content_by_lua_block {
        -- bounded: 300 polls, so a sequential run answers "gave up" instead of hanging
        for _ = 1, 300 do
            local v = ngx.shared.flags:get("go")
            if v then
                ngx.say("waiter saw ", v)
                return
            end
            ngx.sleep(0.01)
        end
        ngx.say("waiter gave up")
    }
}
location /setter {
    content_by_lua_block {
        ngx.shared.flags:set("go", "setter's value")
        ngx.say("setter set")
    }
}
--- request
GET /t
--- response_body
waiter saw setter's value
setter set

=== TEST 3: each subrequest keeps its own variables, args, method, body and ngx.ctx while they interleave
--- config
location /unused { set $dog ""; }
location /t {
    content_by_lua_block {
        local c1, c2 = {}, {}
        local rs = { ngx.location.capture_multi({
            { "/v", { vars = { dog = "one" }, ctx = c1 } },
            { "/v?x=2", { vars = { dog = "two" }, ctx = c2 } },
            { "/v", { method = ngx.HTTP_POST, body = "3", args = { y = 3 }, vars = { dog = "three" } } },
        }) }
        for _, r in ipairs(rs) do ngx.print(r.body) end
        ngx.say("ctx: ", c1.seen, " ", c2.seen)
    }
}
location /v {
    content_by_lua_block {
        ngx.ctx.seen = ngx.var.dog
        ngx.sleep(0.01)  -- yield, so the others run in between
        ngx.req.read_body()
        ngx.say(ngx.req.get_method(), " dog=", ngx.var.dog, " args=", ngx.var.args,
                " body=", ngx.req.get_body_data(), " ctx=", ngx.ctx.seen)
    }
}
--- request
GET /t
--- response_body
GET dog=one args=nil body=nil ctx=one
GET dog=two args=x=2 body=nil ctx=two
POST dog=three args=y=3 body=3 ctx=three
ctx: one two

=== TEST 4: share_all_vars from concurrent subrequests: every one's writes land in the parent
--- config
location /t {
    set $one "p1";
    set $two "p2";
    set $three "p3";
    content_by_lua_block {
        local rs = { ngx.location.capture_multi({
            { "/set/one", { share_all_vars = true } },
            { "/set/two", { share_all_vars = true } },
            { "/set/three", { copy_all_vars = true } },
        }) }
        for _, r in ipairs(rs) do ngx.print(r.body) end
        ngx.say("parent: ", ngx.var.one, " ", ngx.var.two, " ", ngx.var.three)
    }
}
location ~ ^/set/(?<which>\w+)$ {
    content_by_lua_block {
        local name = ngx.var.which
        ngx.say(name, " was ", ngx.var[name])
        ngx.sleep(0.01)
        ngx.var[name] = "sub-" .. name
    }
}
--- request
GET /t
--- response_body
one was p1
two was p2
three was p3
parent: sub-one sub-two p3

=== TEST 5: argument errors as lua-nginx-module's
--- config
location /t {
    content_by_lua_block {
        for _, arg in ipairs({ {}, { "/x" }, { { "/x", {}, 3 } }, { { "/x", "o" } } }) do
            local ok, err = pcall(ngx.location.capture_multi, arg)
            ngx.say(err)
        end
        local ok, err = pcall(ngx.location.capture_multi, {}, {})
        ngx.say(err)
    }
}
location /x { return 200; }
--- request
GET /t
--- response_body
at least one subrequest should be specified
the query argument 0 is not a table, but a string
query argument 0 expecting one or two arguments
expecting table as the 2nd argument for subrequest 0, but got string
only one argument is expected, but got 2
