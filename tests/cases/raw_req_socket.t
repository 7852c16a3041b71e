# ngx.req.socket(true): the client connection as a full-duplex cosocket: after a 101
# response to an Upgrade request (what lua-resty-websocket's server does), before any
# header, or after a flushed one. The client side
# is a cosocket of the same server talking raw HTTP/1.1. Checked against nginx with
# lua-nginx-module (scripts/nginx-compare.py).

=== TEST 1: after a 101, the handler reads and writes the connection; pre-read bytes are kept
--- config
location = /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        assert(sock:connect("127.0.0.1", ngx.var.server_port))
        -- "hello" follows the header at once, so the server reads it with the header
        assert(sock:send("GET /mysock HTTP/1.1\r\nUpgrade: mysock\r\nHost: localhost\r\n"
                         .. "Connection: upgrade\r\n\r\nhello"))
        local header = sock:receiveuntil("\r\n\r\n")()
        ngx.say(header:match("^[^\r]*"))
        ngx.say("1: ", sock:receive())
        assert(sock:send("world\n"))
        ngx.say("2: ", sock:receive())
        local data, err = sock:receive()
        ngx.say("3: ", data, " ", err)
    }
}
location = /mysock {
    content_by_lua_block {
        ngx.status = 101
        ngx.header["Upgrade"] = "mysock"
        ngx.send_headers()
        ngx.flush(true)
        local sock, err = ngx.req.socket(true)
        if not sock then
            ngx.log(ngx.ERR, "no raw socket: ", err)
            return
        end
        local data = assert(sock:receive(5))
        assert(sock:send("received " .. data .. "\n"))
        local line = assert(sock:receive())
        assert(sock:send({ "got ", line, "\n" }))
        local s2, err2 = ngx.req.socket(true)
        ngx.log(ngx.WARN, "second: ", tostring(s2), " ", err2)
        for _, f in ipairs({ "say", "print", "flush", "eof" }) do
            local ok, err3
            if f == "say" or f == "print" then ok, err3 = ngx[f]("x") else ok, err3 = ngx[f]() end
            ngx.log(ngx.WARN, f, ": ", tostring(ok), " ", err3)
        end
    }
}
--- request
GET /t
--- response_body
HTTP/1.1 101 Switching Protocols
1: received hello
2: got world
3: nil closed
--- error_log
second: nil duplicate call
say: nil raw request socket acquired
print: nil raw request socket acquired
flush: nil raw request socket acquired
eof: nil raw request socket acquired
--- no_error_log
[error]

=== TEST 2: before any header, the handler takes the connection, reads the body and writes its own response
--- config
location = /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        assert(sock:connect("127.0.0.1", ngx.var.server_port))
        assert(sock:send("POST /raw HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"))
        local header = sock:receiveuntil("\r\n\r\n")()
        ngx.say((header:gsub("\r", "")))
        local rest, err, partial = sock:receive("*a")
        ngx.say("body: ", rest, " ", err, " ", partial)
    }
}
location = /raw {
    content_by_lua_block {
        local sock, err = ngx.req.socket(true)
        if not sock then ngx.log(ngx.ERR, "no raw socket: ", err) return end
        local body = assert(sock:receive(5))
        assert(sock:send("HTTP/1.1 200 OK\r\nX-Raw: yes\r\nContent-Length: 9\r\n\r\nraw " .. body))
        local ok, e = ngx.say("late")
        ngx.log(ngx.WARN, "say after: ", tostring(ok), " ", e)
    }
}
--- request
GET /t
--- response_body
HTTP/1.1 200 OK
X-Raw: yes
Content-Length: 9
body: raw hello nil nil
--- error_log
say after: nil raw request socket acquired
--- no_error_log
[error]

=== TEST 3: after a flushed header (not a 101), the handler writes the rest of the response
--- config
location = /t {
    content_by_lua_block {
        local sock = ngx.socket.tcp()
        assert(sock:connect("127.0.0.1", ngx.var.server_port))
        assert(sock:send("GET /raw HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        local header = sock:receiveuntil("\r\n\r\n")()
        ngx.say(header:match("^[^\r]*"))
        local rest, err, partial = sock:receive("*a")
        ngx.say("body: ", rest, " ", err, " ", partial)
    }
}
location = /raw {
    content_by_lua_block {
        ngx.send_headers()
        ngx.flush(true)
        local sock, err = ngx.req.socket(true)
        if not sock then ngx.log(ngx.ERR, "no raw socket: ", err) return end
        assert(sock:send("raw body"))
    }
}
--- request
GET /t
--- response_body
HTTP/1.1 200 OK
body: raw body nil nil
--- no_error_log
[error]

=== TEST 4: not in a subrequest
--- config
location = /t {
    content_by_lua_block {
        local r = ngx.location.capture("/sub")
        ngx.print(r.body)
    }
}
location = /sub {
    content_by_lua_block {
        local ok, err = pcall(ngx.req.socket, true)
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body_like
^false .*attempt to read the request body in a subrequest
