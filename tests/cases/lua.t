=== TEST 1: content_by_lua_block with ngx.say, ngx.var and args
--- config
location /t {
    content_by_lua_block {
        local s = "}" -- a brace in a string and a comment: }
        ngx.say("uri=", ngx.var.uri, " a=", ngx.var.arg_a)
        local args = ngx.req.get_uri_args()
        ngx.say(args.a, " ", tostring(args.b), " ", ngx.req.get_method())
    }
}
--- request
GET /t?a=1&b
--- error_code: 200
--- response_body
uri=/t a=1
1 true GET
--- response_headers
Content-Type: text/plain

=== TEST 2: ngx.exit(404) before output gives the 404 page
--- config
location /t { content_by_lua_block { ngx.exit(404) } }
--- request
GET /t
--- error_code: 404
--- response_body_like
<title>404 Not Found</title>

=== TEST 3: a Lua runtime error is a 500 with chunk and line in error.log
--- config
location /t {
    content_by_lua_block {
        local x = nil
        x.y = 1
    }
}
--- request
GET /t
--- error_code: 500
--- error_log
lua entry thread aborted: runtime error: content_by_lua(openclaw.conf:13):3: attempt to index local 'x' (a nil value)

=== TEST 4: ngx.ctx is shared from rewrite to access to content
--- config
location /t {
    rewrite_by_lua_block { ngx.ctx.n = 1 }
    access_by_lua_block { ngx.ctx.n = ngx.ctx.n + 1 }
    content_by_lua_block { ngx.say("n=", ngx.ctx.n) }
}
--- request
GET /t
--- response_body
n=2

=== TEST 5: access_by_lua can deny
--- config
location /t {
    access_by_lua_block { if ngx.var.arg_deny then return ngx.exit(ngx.HTTP_FORBIDDEN) end }
    content_by_lua_block { ngx.say("in") }
}
--- request
GET /t?deny=1
--- error_code: 403

=== TEST 6: ngx.status and ngx.header set the response
--- config
location /t {
    content_by_lua_block {
        ngx.status = 201
        ngx.header["X-Foo"] = "bar"
        ngx.header.content_type = "application/json"
        ngx.print('{"ok":true}')
    }
}
--- request
GET /t
--- error_code: 201
--- response_body chomp
{"ok":true}
--- response_headers
X-Foo: bar
Content-Type: application/json

=== TEST 7: ngx.var assigns a variable declared with set
--- config
set $who "";
location /t {
    rewrite_by_lua_block { ngx.var.who = "lua" }
    content_by_lua_block { ngx.say("who=", ngx.var.who) }
}
--- request
GET /t
--- response_body
who=lua

=== TEST 8: ngx.log writes the Lua source position
--- config
location /t {
    content_by_lua_block {
        ngx.log(ngx.ERR, "hello ", 42, " ", true, " ", nil)
        ngx.say("ok")
    }
}
--- request
GET /t
--- response_body
ok
--- error_log
[lua] content_by_lua(openclaw.conf:13):2: hello 42 true nil

=== TEST 9: ngx.sleep yields and the request completes
--- config
location /t {
    content_by_lua_block {
        local t0 = ngx.now()
        ngx.sleep(0.05)
        ngx.say(ngx.now() - t0 >= 0.04)
    }
}
--- request
GET /t
--- response_body
true

=== TEST 10: encoders and hashes
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.md5("hello"))
        ngx.say(ngx.encode_base64("hello"), " ", ngx.decode_base64("aGVsbG8="))
        ngx.say(ngx.escape_uri("a b&c"), " ", ngx.unescape_uri("a%20b+c"))
        ngx.say(ngx.crc32_long("hello"))
    }
}
--- request
GET /t
--- response_body
5d41402abc4b2a76b9719d911017c592
aGVsbG8= hello
a%20b%26c a b c
907060870

=== TEST 11: cjson encodes like lua-cjson
--- config
location /t {
    content_by_lua_block {
        local cjson = require "cjson"
        ngx.say(cjson.encode({a = 1}))
        ngx.say(cjson.encode({1, 2, "x/y", true, cjson.null}))
        ngx.say(cjson.encode({}), " ", cjson.encode({{}}))
        ngx.say(cjson.encode(1.5), " ", cjson.encode(3), " ", cjson.encode("a\"b\n"))
    }
}
--- request
GET /t
--- response_body
{"a":1}
[1,2,"x\/y",true,null]
{} [{}]
1.5 3 "a\"b\n"

=== TEST 12: cjson.decode and cjson.safe
--- config
location /t {
    content_by_lua_block {
        local cjson = require "cjson"
        local t = cjson.decode('{"a":[1,2,null],"b":"s"}')
        ngx.say(t.a[2], " ", t.a[3] == cjson.null, " ", t.b, " ", #t.a)
        local safe = require "cjson.safe"
        local v, err = safe.decode("{bad")
        ngx.say(v, " ", err ~= nil)
        local ok = pcall(cjson.decode, "{bad")
        ngx.say(ok)
    }
}
--- request
GET /t
--- response_body
2 true s 3
nil true
false

=== TEST 13: init_by_lua runs before serving; its globals and loaded modules are visible
--- http_config
init_by_lua_block {
    greeting = "hi from init"
    cjson = require "cjson"
}
--- config
location /t { content_by_lua_block { ngx.say(greeting, " ", cjson.encode({1})) } }
--- request
GET /t
--- response_body
hi from init [1]

=== TEST 14: an init_by_lua error fails the start
--- http_config
init_by_lua_block { error("boom") }
--- config
location /t { return 200; }
--- config_error
init_by_lua error: init_by_lua(openclaw.conf:8):1: boom

=== TEST 15: init_worker_by_lua runs in each worker
--- http_config
init_worker_by_lua_block { ngx.log(ngx.NOTICE, "worker up in phase ", ngx.get_phase()) }
--- config
location /t { return 200 "ok"; }
--- request
GET /t
--- error_log
worker up in phase init_worker

=== TEST 16: header_filter_by_lua changes status and headers
--- config
location /t {
    content_by_lua_block { ngx.header["X-A"] = "1"; ngx.say("body") }
    header_filter_by_lua_block {
        ngx.header["X-B"] = ngx.header["X-A"] .. "+"
        ngx.header["X-A"] = nil
    }
}
--- request
GET /t
--- response_headers
X-B: 1+
!X-A

=== TEST 17: log_by_lua runs after the response with the final status
--- config
location /t {
    return 418 "teapot";
    log_by_lua_block { ngx.log(ngx.WARN, "logged status ", ngx.var.status, " for ", ngx.var.uri) }
}
--- request
GET /t
--- error_code: 418
--- error_log
logged status 418 for /t

=== TEST 18: ngx.say is not allowed in header_filter_by_lua
--- config
location /t {
    return 200 "x";
    header_filter_by_lua_block { ngx.say("no") }
}
--- request
GET /t
--- error_code: none
--- error_log
failed to run header_filter_by_lua*: API disabled in the context of header_filter_by_lua*

=== TEST 19: ngx.req.read_body and get_body_data echo the body
--- config
location /t {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.say("[", ngx.req.get_body_data(), "]")
    }
}
--- request
POST /t
--- request_body chomp
hello body
--- response_body
[hello body]

=== TEST 20: ngx.req.get_post_args parses a form body
--- config
location /t {
    content_by_lua_block {
        ngx.req.read_body()
        local args = ngx.req.get_post_args()
        ngx.say(args.a, " ", args.b[1], ",", args.b[2])
    }
}
--- request
POST /t
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request_body chomp
a=1&b=x&b=y%20z
--- response_body
1 x,y z

=== TEST 21: ngx.exec redirects internally with args, and to a named location
--- config
location /t { content_by_lua_block { ngx.exec("/target", {k = "v"}) } }
location /n { rewrite_by_lua_block { ngx.exec("@named") } }
location /target { content_by_lua_block { ngx.say("target ", ngx.var.uri, " ", ngx.var.args, " ", ngx.req.is_internal()) } }
location @named { return 200 "named\n"; }
--- request
GET /t
--- response_body
target /target k=v true

=== TEST 22: ngx.exec to a named location
--- config
location /n { rewrite_by_lua_block { ngx.exec("@named") } }
location @named { return 200 "named\n"; }
--- request
GET /n
--- response_body
named

=== TEST 23: ngx.req.set_header is seen by later phases and variables
--- config
location /t {
    rewrite_by_lua_block { ngx.req.set_header("X-Added", "yes"); ngx.req.clear_header("X-Gone") }
    content_by_lua_block { ngx.say(ngx.var.http_x_added, " ", tostring(ngx.var.http_x_gone)) }
}
--- request
GET /t
--- more_headers
X-Gone: 1
--- response_body
yes nil

=== TEST 24: ngx.req.set_uri with jump restarts location matching
--- config
location /old { rewrite_by_lua_block { ngx.req.set_uri("/new", true) } }
location /new { content_by_lua_block { ngx.say("new ", ngx.var.uri) } }
--- request
GET /old
--- response_body
new /new

=== TEST 25: ngx.resp.get_headers sees the response headers set so far
--- config
location /t {
    content_by_lua_block {
        ngx.header["X-One"] = "1"
        local h = ngx.resp.get_headers()
        ngx.say(h["x-one"])
    }
}
--- request
GET /t
--- response_body
1

=== TEST 26: ngx.timer.at runs the callback after the response, with its arguments
--- config
location /t {
    content_by_lua_block {
        local ok, err = ngx.timer.at(0, function(premature, a, b)
            ngx.log(ngx.WARN, "timer ran: ", premature, " ", a, " ", b, " in ", ngx.get_phase())
        end, "x", 2)
        ngx.say(ok, " ", err)
        ngx.sleep(0.05)
    }
}
--- request
GET /t
--- response_body
1 nil
--- error_log
timer ran: false x 2 in timer

=== TEST 27: ngx.timer.every repeats; errors in timers are logged
--- http_config
init_worker_by_lua_block {
    local n = 0
    ngx.timer.every(0.01, function()
        n = n + 1
        if n == 3 then error("third tick") end
    end)
}
--- config
location /t { content_by_lua_block { ngx.sleep(0.2) ngx.say("slept") } }
--- request
GET /t
--- response_body
slept
--- error_log
init_worker_by_lua(openclaw.conf:8):5: third tick
context: ngx.timer

=== TEST 28: ngx.timer.at validates its arguments (a negative delay runs at once)
--- config
location /t {
    content_by_lua_block {
        ngx.say(pcall(ngx.timer.at, -1, function() end))
        ngx.say(pcall(ngx.timer.every, 0, function() end))
        ngx.say(pcall(ngx.timer.at, 1, "nope"))
    }
}
--- request
GET /t
--- response_body
true1
falsedelay cannot be zero
falsebad argument #2 to '?' (Lua function expected)

=== TEST 29: ngx.shared.DICT get/set/add/incr with OpenResty's return values
--- http_config
lua_shared_dict dogs 1m;
--- config
location /t {
    content_by_lua_block {
        local dogs = ngx.shared.dogs
        ngx.say(dogs:set("Jim", 8))
        ngx.say(dogs:get("Jim"))
        ngx.say(dogs:add("Jim", 9))
        ngx.say(dogs:replace("Bob", 1))
        ngx.say(dogs:incr("n", 1))
        ngx.say(dogs:incr("n", 2, 10))
        ngx.say(dogs:set("flagged", "v", 0, 7))
        ngx.say(dogs:get("flagged"))
        ngx.say(dogs:get(nil))
        ngx.say(dogs:set("t", {}))
        ngx.say(dogs:capacity(), " ", dogs:free_space() < dogs:capacity())
    }
}
--- request
GET /t
--- response_body
truenilfalse
8
falseexistsfalse
falsenot foundfalse
nilnot found
12nilfalse
truenilfalse
v7
nilnil key
nilbad value type
1048576 true

=== TEST 30: a shared dict is shared by every worker and survives a request
--- http_config
lua_shared_dict hits 1m;
--- config
location /t {
    content_by_lua_block {
        local n = ngx.shared.hits:incr("k", 1, 0)
        ngx.say("hits=", n, " ttl=", ngx.shared.hits:ttl("k"))
        ngx.shared.hits:lpush("l", "a")
        ngx.shared.hits:rpush("l", 2)
        ngx.say(ngx.shared.hits:llen("l"), " ", ngx.shared.hits:lpop("l"), " ", ngx.shared.hits:rpop("l"))
        ngx.say(#ngx.shared.hits:get_keys())
    }
}
--- request
GET /t
--- response_body
hits=1 ttl=0
2 a 2
1

=== TEST 31: require "resty.core" works, and the bundled ngx.re.split and resty.lrucache
--- http_config
init_by_lua_block {
    require "resty.core"
    local lrucache = require "resty.lrucache"
    cache = lrucache.new(2)
}
--- config
location /t {
    content_by_lua_block {
        local re = require "ngx.re"
        local parts = re.split("a,b,,c", ",")
        ngx.say(#parts, " ", table.concat(parts, "|"))
        cache:set("a", 1)
        cache:set("b", 2)
        cache:get("a")
        cache:set("c", 3)
        ngx.say(cache:get("a"), " ", cache:get("b"), " ", cache:get("c"), " ", cache:count())
        cache:set("t", "v", 0.001)
        ngx.sleep(0.01)
        local v, stale = cache:get("t")
        ngx.say(v, " ", stale)
    }
}
--- request
GET /t
--- response_body
4 a|b||c
1 nil 3 2
nil v

=== TEST 32: LuaJIT's table.new/table.clear and OpenResty's table.nkeys/isempty/isarray/clone (OpenResty's LuaJIT has these; Debian's plain LuaJIT does not)
--- config
location /t {
    content_by_lua_block {
        local new_tab = require "table.new"
        local clear_tab = require "table.clear"
        local t = new_tab(4, 0)
        t[1] = "x"; t.k = "v"
        ngx.say(table.nkeys(t), " ", table.isempty({}), " ", table.isarray({1, 2}), " ", table.isarray(t))
        local c = table.clone(t)
        clear_tab(t)
        ngx.say(table.isempty(t), " ", c.k, " ", (require "table.nkeys")(c))
    }
}
--- request
GET /t
--- response_body
2 true true false
true v 2

=== TEST 33: set_by_lua_block and set_by_lua with arguments run in order with set and rewrite
--- config
location /t {
    set $a "one";
    set_by_lua_block $b { return ngx.var.a .. "+two" }
    set_by_lua $c 'return ngx.arg[1] .. ngx.arg[2] .. #ngx.arg' $b "!";
    return 200 "$a $b $c\n";
}
--- request
GET /t
--- response_body
one one+two one+two!0

=== TEST 34: lua_need_request_body reads the body before the Lua handlers
--- config
location /t {
    lua_need_request_body on;
    access_by_lua_block { ngx.ctx.body = ngx.req.get_body_data() }
    content_by_lua_block { ngx.say("got ", ngx.ctx.body) }
}
--- http_config
lua_max_pending_timers 16;
lua_regex_cache_max_entries 64;
lua_regex_match_limit 1000;
--- request
POST /t
--- request_body chomp
abc
--- response_body
got abc

=== TEST 35: body_filter_by_lua rewrites the body (ngx.arg[1]) and sees eof (ngx.arg[2])
--- config
location /t {
    return 200 "hello body\n";
    header_filter_by_lua_block { ngx.header.content_length = nil }
    body_filter_by_lua_block {
        if ngx.arg[1] ~= "" then
            ngx.arg[1] = string.upper(ngx.arg[1])
        end
        if ngx.arg[2] then
            ngx.ctx.saw_eof = true
        end
    }
    log_by_lua_block { ngx.log(ngx.WARN, "saw eof: ", ngx.ctx.saw_eof) }
}
--- request
GET /t
--- response_body
HELLO BODY
--- error_log
saw eof: true

=== TEST 36: resty.limit.req computes natively: delay, excess, rejected, uncommit
--- http_config
lua_shared_dict store 1m;
--- config
location /t {
    content_by_lua_block {
        local limit_req = require "resty.limit.req"
        local lim = limit_req.new("store", 1, 1)
        local d1, e1 = lim:incoming("k", true)
        local d2, e2 = lim:incoming("k", true)
        local d3, err = lim:incoming("k", true)
        ngx.say(d1, " ", e1, " ", d2 > 0.9 and d2 <= 1, " ", e2 > 0.9 and e2 <= 1, " ", d3, " ", err)
        lim:uncommit("k")
        local d4 = lim:incoming("k", false)
        ngx.say(d4 ~= nil)
        ngx.say(limit_req.new("nope", 1, 1))
    }
}
--- request
GET /t
--- response_body
0 0 true true nil rejected
true
nilshared dict not found

=== TEST 37: resty.limit.count and resty.limit.conn
--- http_config
lua_shared_dict store 1m;
--- config
location /t {
    content_by_lua_block {
        local count = require("resty.limit.count").new("store", 2, 60)
        ngx.say(count:incoming("c", true))
        ngx.say(count:incoming("c", true))
        ngx.say(count:incoming("c", true))
        local conn = require("resty.limit.conn").new("store", 1, 1, 0.5)
        ngx.say(conn:incoming("x", true))
        ngx.say(conn:incoming("x", true))
        ngx.say(conn:incoming("x", true))
        ngx.say(conn:leaving("x"), " ", conn:is_committed())
    }
}
--- request
GET /t
--- response_body
01
00
nilrejected
01
0.52
nilrejected
1 false

=== TEST 38: ngx.re.gsub with an empty pattern steps by characters in UTF-8 mode (lua-nginx-module 0.10.23 fails here with "pcre_exec() failed: -11")
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.re.gsub("日本", "", "-", "u"))
        ngx.say(ngx.re.gsub("ab", "", "-"))
    }
}
--- request
GET /t
--- response_body
-日-本-3
-a-b-3

=== TEST 39: ngx.semaphore: wait yields until a post (from a timer) or times out
--- config
location /t {
    content_by_lua_block {
        local semaphore = require "ngx.semaphore"
        local sema = semaphore.new()
        ngx.say(sema:wait(0))
        ngx.timer.at(0.02, function() sema:post(1) end)
        ngx.say(sema:wait(1))
        ngx.say(sema:wait(0.01))
        sema:post(2)
        ngx.say(sema:count())
    }
}
--- request
GET /t
--- response_body
niltimeout
truenil
falsetimeout
2

=== TEST 40: exit_worker_by_lua runs when the workers stop
--- http_config
exit_worker_by_lua_block { ngx.log(ngx.NOTICE, "bye from ", ngx.get_phase(), " ", ngx.shared.st:get("n")) }
lua_shared_dict st 1m;
--- config
location /t { content_by_lua_block { ngx.shared.st:set("n", 7) ngx.say("ok") } }
--- request
GET /t
--- response_body
ok
--- error_log
bye from exit_worker 7

=== TEST 41: ngx.location.capture runs a subrequest through the pipeline (internal locations, args, method, body)
--- config
location /t {
    content_by_lua_block {
        local res = ngx.location.capture("/sub/x", { args = { a = 1 } })
        ngx.say(res.status, " ", res.body, " ", res.header["X-Sub"], " ", tostring(res.truncated))
        res = ngx.location.capture("/echo", { method = ngx.HTTP_POST, body = "payload" })
        ngx.say(res.status, " ", res.body)
        res = ngx.location.capture("/missing")
        ngx.say(res.status)
        local r1, r2 = ngx.location.capture_multi({ { "/sub/one" }, { "/sub/two?b=2" } })
        ngx.say(r1.body, " ", r2.body)
        ngx.say(ngx.is_subrequest)
    }
}
location /sub/ {
    internal;
    content_by_lua_block {
        ngx.header["X-Sub"] = "yes"
        ngx.print(ngx.var.uri, "?", ngx.var.args or "", " sub=", tostring(ngx.is_subrequest))
    }
}
location /echo {
    internal;
    content_by_lua_block {
        ngx.req.read_body()
        ngx.print(ngx.req.get_method(), ":", ngx.req.get_body_data())
    }
}
--- request
GET /t
--- response_body
200 /sub/x?a=1 sub=true yes false
200 POST:payload
404
/sub/one? sub=true /sub/two?b=2 sub=true
false

=== TEST 42: ngx.socket.tcp talks HTTP to a peer (this server), with keepalive pooling and errors
--- config
location /peer { return 200 "peer body"; }
location /t {
    content_by_lua_block {
        local port = tonumber(ngx.var.server_port)
        local sock = ngx.socket.tcp()
        sock:settimeout(2000)
        ngx.say(sock:connect("127.0.0.1", port))
        ngx.say(sock:send({"GET /peer HTTP/1.1\r\n", "Host: localhost\r\n\r\n"}))
        ngx.say(sock:receive())
        local len
        while true do
            local line = sock:receive("*l")
            if line == "" then break end
            local n = line:match("^[Cc]ontent%-[Ll]ength: (%d+)")
            if n then len = tonumber(n) end
        end
        ngx.say(sock:receive(len))
        ngx.say(sock:getreusedtimes())
        ngx.say(sock:setkeepalive())
        local again = ngx.socket.tcp()
        ngx.say(again:connect("127.0.0.1", port))
        ngx.say(again:getreusedtimes())
        again:close()
        ngx.say(again:close())
        local bad = ngx.socket.tcp()
        ngx.say(bad:connect("127.0.0.1", 1))
        ngx.say(bad:connect("example.invalid", 80))
    }
}
--- request
GET /t
--- response_body
1
39
HTTP/1.1 200 OK
peer body
0
1
1
1
nilclosed
nilconnection refused
nilno resolver defined to resolve "example.invalid"

=== TEST 43: cosocket receiveuntil, whole and in sized chunks, inclusive
--- config
location /peer { return 200 "part1--B--part2--B--tail"; }
location /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        sock:settimeout(2000)
        assert(sock:connect("127.0.0.1", tonumber(ngx.var.server_port)))
        assert(sock:send("GET /peer HTTP/1.0\r\nHost: localhost\r\n\r\n"))
        local headers = sock:receiveuntil("\r\n\r\n")
        local h = headers()
        ngx.say(h:match("^HTTP/1.%d 200") ~= nil)
        local r = sock:receiveuntil("--B--")
        ngx.say(r())
        local chunks = {}
        while true do
            local data, err = r(2)
            if not data then break end
            chunks[#chunks + 1] = data
        end
        ngx.say(table.concat(chunks, "|"))
        local inc = sock:receiveuntil("l", { inclusive = true })
        ngx.say(inc())
    }
}
--- request
GET /t
--- response_body
true
part1
pa|rt|2
tail

=== TEST 44: ngx.req.raw_header rebuilds the request head
--- config
location /t { content_by_lua_block { ngx.print(ngx.req.raw_header(true)) ngx.say(ngx.req.raw_header():match("^GET /t%?a=1 HTTP/1.1\r\n") ~= nil) } }
--- request
GET /t?a=1
--- more_headers
X-One: 1
--- response_body_like
(?s)^host: localhost\r\nx-one: 1\r\n.*\r\n\r\ntrue\n$

=== TEST 45: ngx.thread.spawn runs at once until it yields; wait returns results; kill; the request waits for threads
--- config
location /t {
    content_by_lua_block {
        local order = {}
        local t1 = ngx.thread.spawn(function(a)
            order[#order + 1] = "t1 start"
            ngx.sleep(0.02)
            order[#order + 1] = "t1 end"
            return a * 2
        end, 21)
        order[#order + 1] = "main"
        local t2 = ngx.thread.spawn(function() error("oops") end)
        ngx.say(ngx.thread.wait(t1))
        ngx.say(table.concat(order, ","))
        local ok, err = ngx.thread.wait(t2)
        ngx.say(ok, " ", err:match("oops") ~= nil)
        local t3 = ngx.thread.spawn(function() ngx.sleep(10) end)
        ngx.say(ngx.thread.kill(t3))
        ngx.say(ngx.thread.kill(t3))
        ngx.thread.spawn(function() ngx.sleep(0.02) ngx.say("late thread") end)
    }
}
--- request
GET /t
--- response_body
true42
t1 start,main,t1 end
false true
1
nilalready waited or killed
late thread

=== TEST 46: ngx.exit ends a timer callback early
--- config
location /t {
    content_by_lua_block {
        ngx.timer.at(0, function()
            ngx.log(ngx.WARN, "timer before exit")
            ngx.exit(ngx.OK)
            ngx.log(ngx.WARN, "timer after exit")
        end)
        ngx.sleep(0.05)
        ngx.say("ok")
    }
}
--- request
GET /t
--- response_body
ok
--- error_log
timer before exit
--- no_error_log
timer after exit

=== TEST 47: HEAD on a Lua handler states no Content-Length (its output is chunked in nginx)
--- config
location /t {
    content_by_lua_block { ngx.say("hello") }
}
--- request
HEAD /t
--- response_headers
!Content-Length
Content-Type: text/plain
--- response_body

=== TEST 48: require "ngx.resp" add_header appends where ngx.header replaces
--- config
location /t {
    content_by_lua_block {
        local resp = require "ngx.resp"
        ngx.header["X-One"] = "a"
        resp.add_header("X-One", "b")
        resp.add_header("X-New", "c")
        ngx.say(table.concat(ngx.header["X-One"], ","), " ", ngx.header["X-New"])
    }
}
--- request
GET /t
--- response_headers
X-One: a
X-One: b
X-New: c
--- response_body
a,b c

=== TEST 49: require "ngx.req" add_header adds a request header value
--- config
location /t {
    content_by_lua_block {
        local req = require "ngx.req"
        req.add_header("X-Foo", "second")
        req.add_header("X-Bar", "only")
        local h = ngx.req.get_headers()
        ngx.say(table.concat(h["x-foo"], ","), " ", h["x-bar"])
    }
}
--- request
GET /t
--- more_headers
X-Foo: first
--- response_body
first,second only

=== TEST 50: a light thread that fails is logged; ngx.thread.wait gets false and the message
--- config
location /t {
    content_by_lua_block {
        local t = ngx.thread.spawn(function()
            ngx.sleep(0.001)
            error("boom")
        end)
        ngx.say(ngx.thread.wait(t))
    }
}
--- request
GET /t
--- response_body_like
^false.*: boom
--- error_log
lua user thread aborted: runtime error: 
boom

=== TEST 51: cosockets are tables, as OpenResty's are; a send larger than the socket buffer is finished by the waiting path and returns the whole length
--- config
location /sink {
    client_max_body_size 20m;
    content_by_lua_block {
        local sock = ngx.req.socket()
        local n = 0
        while true do
            local d, err, partial = sock:receive(65536)
            if d then n = n + #d else n = n + #(partial or ""); break end
        end
        ngx.print(n)
    }
}
location /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        ngx.say(type(sock))
        sock:settimeout(5000)
        assert(sock:connect("127.0.0.1", tonumber(ngx.var.server_port)))
        local body = string.rep("x", 8 * 1024 * 1024)
        local head = "POST /sink HTTP/1.1\r\nHost: localhost\r\nContent-Length: " .. #body
            .. "\r\nConnection: close\r\n\r\n"
        ngx.say(sock:send({ head, body }) == #head + #body)
        ngx.say(sock:receive())
        -- (nginx sends the sink's answer chunked, OpenClaw with a length.)
        ngx.say((sock:receive("*a")):find("\r\n8388608", 1, true) ~= nil)
        local ok, err = pcall(function() local n = sock.send(nil, "x") return n end)
        ngx.say(ok, " ", err:match("bad argument.*$"))
    }
}
--- request
GET /t
--- response_body
table
true
HTTP/1.1 200 OK
true
false bad argument #1 to 'send' (table expected, got nil)

=== TEST 52: ngx.say and ngx.print of a few strings and numbers (joined for the fast path) print as OpenResty's do
--- config
location /t {
    content_by_lua_block {
        ngx.say("a", 1, "b")
        ngx.say(-5, " ", 99999999999999)
        ngx.say(1.5, " ", 1e14)
        ngx.say(-7, "|", 0)
        ngx.print("x", 2)
        ngx.say()
        ngx.say("n", nil)
        ngx.say(true, "t")
        ngx.say(0/0 ~= 0/0, " ", 2^53)
    }
}
--- request
GET /t
--- response_body
a1b
-5 99999999999999
1.5 1e+14
-7|0
x2
nnil
truet
true 9.007199254741e+15

=== TEST 53: cosocket pools by the pool option, receive of a count and of nothing, and setkeepalive's refusals (unread data keeps the connection)
--- config
location /peer { return 200 "0123456789"; }
location /t {
    content_by_lua_block {
        local port = tonumber(ngx.var.server_port)
        local function get(sock)
            sock:settimeout(2000)
            ngx.say(sock:send("GET /peer HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            local len
            repeat
                local line = sock:receive()
                local n = line:match("^[Cc]ontent%-[Ll]ength: (%d+)")
                if n then len = tonumber(n) end
            until line == ""
            ngx.say(sock:receive(0) == "", " ", sock:receive(4), " ", sock:receive(len - 4))
        end
        local a = ngx.socket.tcp()
        ngx.say(a:connect("127.0.0.1", port, { pool = "mine" }))
        get(a)
        ngx.say(a:setkeepalive(10000, 2))
        ngx.say(a:setkeepalive())
        local b = ngx.socket.tcp()
        ngx.say(b:connect("127.0.0.1", port))
        ngx.say(b:getreusedtimes())
        local c = ngx.socket.tcp()
        ngx.say(c:connect("127.0.0.1", port, { pool = "mine" }))
        ngx.say(c:getreusedtimes())
        get(c)
        c:send("GET /peer HTTP/1.1\r\nHost: localhost\r\n\r\n")
        ngx.say(c:receive())
        ngx.say(c:setkeepalive())
        ngx.say(c:setkeepalive())
        b:close()
    }
}
--- request
GET /t
--- response_body
1
39
true 0123 456789
1
nilclosed
1
0
1
1
39
true 0123 456789
HTTP/1.1 200 OK
nilunread data in buffer
nilunread data in buffer

=== TEST 54: a cosocket object whose fields a script overwrote still works (the slow path answers)
--- config
location /peer { return 200 "peer"; }
location /t {
    content_by_lua_block {
        local port = tonumber(ngx.var.server_port)
        local s = ngx.socket.tcp()
        s[2] = 1e9
        s:settimeout(2000)
        ngx.say(s:connect("127.0.0.1", port))
        s[2] = "x"
        ngx.say(s:send("GET /peer HTTP/1.0\r\nHost: x\r\n\r\n"))
        s[2] = -5
        ngx.say(s:receive())
        s[2] = 0.5
        local body = s:receive("*a")
        ngx.say(body:sub(-4))
        ngx.say(s:setkeepalive())
    }
}
--- request
GET /t
--- response_body
1
31
HTTP/1.1 200 OK
peer
nilclosed

=== TEST 55: cosocket receives wait for data that comes later, in lines and counts, and in light threads
--- config
location /t {
    content_by_lua_block {
        local host, port = ("$UP1"):match("(.+):(%d+)")
        local function chunks(n)
            local sock = ngx.socket.tcp()
            sock:settimeout(5000)
            assert(sock:connect(host, tonumber(port)))
            assert(sock:send("GET /stream?n=" .. n .. "&ms=30 HTTP/1.0\r\n\r\n"))
            repeat local line = assert(sock:receive()) until line == ""
            local got = {}
            for _ = 1, n do
                local size = tonumber(assert(sock:receive("*l")), 16)
                got[#got + 1] = assert(sock:receive(size))
                assert(sock:receive(2) == "\r\n")
            end
            sock:close()
            return table.concat(got)
        end
        ngx.print(chunks(3))
        local a = ngx.thread.spawn(chunks, 2)
        local b = ngx.thread.spawn(chunks, 4)
        local _, ra = ngx.thread.wait(a)
        local _, rb = ngx.thread.wait(b)
        ngx.print(ra, rb)
    }
}
--- request
GET /t
--- response_body
chunk 0
chunk 1
chunk 2
chunk 0
chunk 1
chunk 0
chunk 1
chunk 2
chunk 3

=== TEST 56: a cosocket receive that times out while waiting returns what came as the partial
--- config
location /t {
    content_by_lua_block {
        local host, port = ("$UP1"):match("(.+):(%d+)")
        local sock = ngx.socket.tcp()
        sock:settimeout(5000)
        assert(sock:connect(host, tonumber(port)))
        assert(sock:send("GET /stream?n=2&ms=3000 HTTP/1.0\r\n\r\n"))
        repeat local line = assert(sock:receive()) until line == ""
        sock:settimeout(100)
        local data, err, partial = sock:receive(100)
        ngx.say(data, " ", err, " [", partial, "]")
        data, err, partial = sock:receive()
        ngx.say(data, " ", err, " [", partial, "]")
    }
}
--- request
GET /t
--- response_body_like
^nil timeout \[8\r\nchunk 0\n\r\n\]
nil timeout \[\]
$
--- error_log
lua tcp socket read timed out
