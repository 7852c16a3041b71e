# ngx.req.socket(): the request body as a read-only cosocket. Checked against nginx with
# lua-nginx-module (scripts/nginx-compare.py).

=== TEST 1: lines, sizes, receiveuntil and the rest of the body
--- config
location /t {
    content_by_lua_block {
        local sock, err = ngx.req.socket()
        if not sock then ngx.say("err: ", err) return end
        sock:settimeout(1000)
        ngx.say("line: ", (sock:receive("*l")))
        ngx.say("part: ", (sock:receive(3)))
        local reader = sock:receiveuntil("--")
        ngx.say("until: ", (reader()))
        local rest = sock:receive("*a")
        ngx.say("rest: ", (rest:gsub("\n", "|")))
        ngx.say(sock:receive(1))
    }
}
--- request
POST /t
--- request_body
first line
abcdef--tail
--- response_body
line: first line
part: abc
until: def
rest: tail|
nilclosed

=== TEST 2: a chunked body is read decoded (OpenClaw-native: lua-nginx-module 0.10.23 refuses chunked bodies)
--- config
location /t {
    content_by_lua_block {
        local sock = assert(ngx.req.socket())
        local data = {}
        while true do
            local chunk, err, partial = sock:receive(4)
            if not chunk then
                data[#data + 1] = partial
                break
            end
            data[#data + 1] = chunk
        end
        ngx.say(table.concat(data, ","))
    }
}
--- raw_request
POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n
--- response_body
hell,o wo,rld

=== TEST 3: no body
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.req.socket())
    }
}
--- request
GET /t
--- response_body
nilno body

=== TEST 4: a body already read
--- config
location /t {
    content_by_lua_block {
        ngx.req.read_body()
        ngx.say(ngx.req.socket())
    }
}
--- request
POST /t
--- request_body
data
--- response_body
nilrequest body already exists

=== TEST 5: receiveany and a reader in sized pieces
--- config
location /t {
    content_by_lua_block {
        local sock = assert(ngx.req.socket())
        ngx.say("any: ", (sock:receiveany(3)))
        local reader = sock:receiveuntil("|")
        ngx.say("a: ", reader(2))
        ngx.say("b: ", reader(2))
        ngx.say("c: ", reader(2))
        ngx.say("d: ", (sock:receive("*a")))
    }
}
--- request
POST /t
--- request_body chomp
xyzabc|end
--- response_body
any: xyz
a: ab
b: c
c: nilnilnil
d: end
