=== TEST 1: ngx.say and ngx.print return 1
--- config
location /t {
    content_by_lua_block {
        local a = ngx.say("x")
        local b = ngx.print("y")
        ngx.say(" ", a, " ", b, " ", type(a))
    }
}
--- request
GET /t
--- error_code: 200
--- response_body
x
y 1 1 number

=== TEST 2: ngx.say renders nil, booleans and ngx.null
--- config
location /t {
    content_by_lua_block {
        ngx.say(nil, " ", true, " ", false, " ", ngx.null)
    }
}
--- request
GET /t
--- response_body
nil true false null

=== TEST 3: ngx.say renders numbers like tostring
--- config
location /t {
    content_by_lua_block {
        ngx.say(10, " ", 1.5, " ", -0.25, " ", 1/3, " ", 2^53, " ", 1e100, " ", 100000000000000)
        ngx.say(tostring(1/3), " ", tostring(2^53))
    }
}
--- request
GET /t
--- response_body
10 1.5 -0.25 0.33333333333333 9.007199254741e+15 1e+100 1e+14
0.33333333333333 9.007199254741e+15

=== TEST 4: ngx.say flattens nested array tables
--- config
location /t {
    content_by_lua_block {
        ngx.say({"a", {"b", {"c", 1}}, true, ngx.null, {}}, "|")
        ngx.print({"x", "y"}, {})
        ngx.say()
    }
}
--- request
GET /t
--- response_body
abc1truenull|
xy

=== TEST 5: ngx.say with a hash table is a runtime error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(ngx.say, {a = 1})
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false bad argument #1 to '?' (non-array table found)

=== TEST 6: ngx.say with a function argument is a runtime error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(ngx.say, "a", print)
        ngx.say(ok, " ", err)
        ok, err = pcall(ngx.print, {"a", print})
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false bad argument #2 to '?' (string, number, boolean, nil, ngx.null, or array table expected, but got function)
false bad argument #1 to '?' (bad data type function found)

=== TEST 7: ngx.say with no arguments prints a newline; ngx.print with none prints nothing
--- config
location /t {
    content_by_lua_block {
        ngx.print("[")
        ngx.print()
        ngx.say()
        ngx.print("a", "")
        ngx.say("")
    }
}
--- request
GET /t
--- response_body
[
a

=== TEST 8: ngx.exit(ngx.OK) in access_by_lua continues to the content phase
--- config
location /t {
    access_by_lua_block {
        ngx.ctx.seen = "access"
        ngx.exit(ngx.OK)
        ngx.ctx.seen = "not reached"
    }
    content_by_lua_block { ngx.say("content after ", ngx.ctx.seen) }
}
--- request
GET /t
--- error_code: 200
--- response_body
content after access

=== TEST 9: ngx.exit(201) with no output sends an empty 201
--- config
location /t {
    content_by_lua_block { ngx.exit(201) }
}
--- request
GET /t
--- error_code: 201
--- response_body chomp

=== TEST 10: ngx.exit(ngx.HTTP_OK) in access_by_lua ends the request before content
--- config
location /t {
    access_by_lua_block { ngx.exit(ngx.HTTP_OK) }
    content_by_lua_block { ngx.say("content") }
}
--- request
GET /t
--- error_code: 200
--- response_body chomp

=== TEST 11: ngx.exit after output keeps the ngx.status already sent
--- config
location /t {
    content_by_lua_block {
        ngx.status = 202
        ngx.say("body")
        ngx.exit(500)
        ngx.say("not reached")
    }
}
--- request
GET /t
--- error_code: 202
--- response_body
body

=== TEST 12: ngx.exit(ngx.OK) in content keeps the output so far
--- config
location /t {
    content_by_lua_block {
        ngx.say("one")
        ngx.exit(ngx.OK)
        ngx.say("two")
    }
}
--- request
GET /t
--- error_code: 200
--- response_body
one

=== TEST 13: ngx.exit(404) in rewrite_by_lua gives the 404 page
--- config
location /t {
    rewrite_by_lua_block { ngx.exit(ngx.HTTP_NOT_FOUND) }
    content_by_lua_block { ngx.say("content") }
}
--- request
GET /t
--- error_code: 404
--- response_body_like
<title>404 Not Found</title>

=== TEST 14: ngx.exit(ngx.ERROR) closes the connection without a response
--- config
location /t {
    content_by_lua_block { ngx.exit(ngx.ERROR) }
}
--- request
GET /t
--- error_code: none

=== TEST 15: headers set before ngx.exit(403) are sent with the error page
--- config
location /t {
    access_by_lua_block {
        ngx.header["X-Reason"] = "denied"
        ngx.exit(403)
    }
}
--- request
GET /t
--- error_code: 403
--- response_headers
X-Reason: denied
--- response_body_like
<title>403 Forbidden</title>

=== TEST 16: ngx.redirect defaults to 302 with the given Location
--- config
location /t {
    content_by_lua_block { ngx.redirect("/foo?a=1") }
}
--- request
GET /t
--- error_code: 302
--- response_headers
Location: /foo?a=1
--- response_body_like
<title>302 Found</title>

=== TEST 17: ngx.redirect with 301 and an absolute URL
--- config
location /t {
    rewrite_by_lua_block { return ngx.redirect("http://example.com/x", ngx.HTTP_MOVED_PERMANENTLY) }
}
--- request
GET /t
--- error_code: 301
--- response_headers
Location: http://example.com/x
--- response_body_like
<title>301 Moved Permanently</title>

=== TEST 18: ngx.redirect with a non-redirect status is an error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(ngx.redirect, "/x", 200)
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed

=== TEST 19: ngx.header with a table sets several values and reads back a table
--- config
location /t {
    content_by_lua_block {
        ngx.header["X-Multi"] = {"a", "b", "c"}
        local v = ngx.header["X-Multi"]
        ngx.say(type(v), " ", table.concat(v, ","))
    }
}
--- request
GET /t
--- response_headers
X-Multi: a
--- response_body
table a,b,c

=== TEST 20: ngx.header set to nil clears it
--- config
location /t {
    content_by_lua_block {
        ngx.header["X-Gone"] = "1"
        ngx.header["X-Gone"] = nil
        ngx.header["X-Empty-Table"] = {"1"}
        ngx.header["X-Empty-Table"] = {}
        ngx.say(tostring(ngx.header["X-Gone"]), " ", tostring(ngx.header["X-Empty-Table"]))
    }
}
--- request
GET /t
--- response_headers
!X-Gone
!X-Empty-Table
--- response_body
nil nil

=== TEST 21: ngx.header turns underscores into dashes and is case-insensitive
--- config
location /t {
    content_by_lua_block {
        ngx.header.x_foo_bar = "baz"
        ngx.say(ngx.header["X-FOO-BAR"], " ", ngx.header.X_Foo_Bar, " ", ngx.header["x-foo-bar"])
    }
}
--- request
GET /t
--- response_headers
X-Foo-Bar: baz
--- response_body
baz baz baz

=== TEST 22: ngx.header content_type and numbers
--- config
location /t {
    content_by_lua_block {
        ngx.header.content_type = "text/html"
        ngx.header["X-Num"] = 42
        ngx.header["X-Float"] = 1.5
        ngx.say(ngx.header.content_type, " ", ngx.header["Content-Type"], " ", ngx.header["X-Num"], " ", type(ngx.header["X-Num"]))
    }
}
--- request
GET /t
--- response_headers
Content-Type: text/html
X-Num: 42
X-Float: 1.5
--- response_body
text/html text/html 42 string

=== TEST 23: ngx.var[N] reads the captures of a regex location
--- config
location ~ ^/t/(\w+)/(\d+)$ {
    content_by_lua_block {
        ngx.say(ngx.var[1], " ", ngx.var[2], " ", tostring(ngx.var[3]))
    }
}
--- request
GET /t/abc/42
--- response_body
abc 42 nil

=== TEST 24: ngx.var of an unknown variable is nil
--- config
location /t {
    content_by_lua_block {
        ngx.say(tostring(ngx.var.no_such_var), " ", tostring(ngx.var.arg_missing), " ", tostring(ngx.var.http_x_missing))
    }
}
--- request
GET /t
--- response_body
nil nil nil

=== TEST 25: ngx.var reads builtin variables
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.var.request_method, " ", ngx.var.uri, " ", ngx.var.args, " ", ngx.var.arg_b, " ", ngx.var.http_x_foo, " ", ngx.var.host)
    }
}
--- request
GET /t?a=1&b=two
--- more_headers
X-Foo: bar
--- response_body
GET /t a=1&b=two two bar localhost

=== TEST 26: writing a builtin variable is an error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(function() ngx.var.uri = "/x" end)
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false content_by_lua(openclaw.conf:13):2: variable "uri" not changeable

=== TEST 27: writing an undeclared variable is an error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(function() ngx.var.undeclared_thing = "x" end)
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false content_by_lua(openclaw.conf:13):2: variable "undeclared_thing" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use "set $undeclared_thing '';" in the config file to define it first

=== TEST 28: ngx.var.args can be written and the new args are seen
--- config
location /t {
    rewrite_by_lua_block { ngx.var.args = "x=1&y=2" }
    content_by_lua_block {
        ngx.say(ngx.var.args, " ", ngx.var.arg_y, " ", ngx.req.get_uri_args().x)
    }
}
--- request
GET /t?a=1
--- response_body
x=1&y=2 2 1

=== TEST 29: a declared variable set to nil reads as nil; a number is stored as text
--- config
set $v "init";
set $n "";
location /t {
    content_by_lua_block {
        ngx.var.v = nil
        ngx.var.n = 12
        ngx.say("[", ngx.var.v, "] [", ngx.var.n, "]")
    }
}
--- request
GET /t
--- response_body
[nil] [12]

=== TEST 30: ngx.req.get_headers looks up names in any case and with underscores
--- config
location /t {
    content_by_lua_block {
        local h = ngx.req.get_headers()
        ngx.say(h["X-Foo"], " ", h["x-foo"], " ", h.x_foo, " ", h.X_FOO, " ", h.host)
    }
}
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
bar bar bar bar localhost

=== TEST 31: ngx.req.get_headers gives a table for a repeated header
--- config
location /t {
    content_by_lua_block {
        local v = ngx.req.get_headers()["X-Multi"]
        ngx.say(type(v), " ", table.concat(v, ","))
    }
}
--- request
GET /t
--- more_headers
X-Multi: one
X-Multi: two
x-multi: three
--- response_body
table one,two,three

=== TEST 32: ngx.req.get_headers with raw has no metatable (keys are lowercase: hyper does not keep the case; OpenResty gives "v nil nil")
--- config
location /t {
    content_by_lua_block {
        local h = ngx.req.get_headers(0, true)
        ngx.say(tostring(h["X-CamelCase"]), " ", tostring(h["x-camelcase"]), " ", tostring(getmetatable(h)))
    }
}
--- request
GET /t
--- more_headers
X-CamelCase: v
--- response_body
nil v nil

=== TEST 33: ngx.req.get_headers with max truncates and says so
--- config
location /t {
    content_by_lua_block {
        local h, err = ngx.req.get_headers(2)
        local n = 0
        for _ in pairs(h) do n = n + 1 end
        ngx.say(n, " ", tostring(err))
    }
}
--- request
GET /t
--- more_headers
X-A: 1
X-B: 2
--- response_body
2 truncated

=== TEST 34: ngx.req.get_uri_args collects repeated keys and bare keys
--- config
location /t {
    content_by_lua_block {
        local args = ngx.req.get_uri_args()
        ngx.say(type(args.a), " ", table.concat(args.a, ","), " ", tostring(args.b), " [", args.c, "]")
    }
}
--- request
GET /t?a=1&a=2&b&c=&a=3
--- response_body
table 1,2,3 true []

=== TEST 35: ngx.req.get_uri_args with max truncates and says so
--- config
location /t {
    content_by_lua_block {
        local args, err = ngx.req.get_uri_args(2)
        ngx.say(args.a, " ", args.b, " ", tostring(args.c), " ", tostring(err))
    }
}
--- request
GET /t?a=1&b=2&c=3
--- response_body
1 2 nil truncated

=== TEST 36: ngx.req.get_uri_args unescapes keys and values, keeps bad escapes, skips empty keys
--- config
location /t {
    content_by_lua_block {
        local args = ngx.req.get_uri_args()
        ngx.say("[", args["a b"], "] [", args.k, "] [", tostring(args[""]), "]")
    }
}
--- request
GET /t?a%20b=c+d%2Be&k=%zz&=empty&&
--- response_body
[c d+e] [%zz] [nil]

=== TEST 37: request method, HTTP version and is_internal
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.req.get_method(), " ", ngx.req.http_version(), " ", tostring(ngx.req.is_internal()))
    }
}
--- request
POST /t HTTP/1.0
--- request_body
x
--- response_body
POST 1 false

=== TEST 38: ngx.escape_uri edge cases
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.escape_uri("a b/c?d=e&f~g.h-i_j+k"))
        ngx.say(ngx.escape_uri("\228\189\160 \"<>#%"))
        ngx.say(ngx.escape_uri("a b/c?#", 0))
        ngx.say("[", ngx.escape_uri(""), "] [", ngx.escape_uri(nil), "] [", ngx.escape_uri(12), "]")
    }
}
--- request
GET /t
--- response_body
a%20b%2Fc%3Fd%3De%26f~g.h-i_j%2Bk
%E4%BD%A0%20%22%3C%3E%23%25
a%20b/c%3F%23
[] [] [12]

=== TEST 39: ngx.unescape_uri edge cases
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.unescape_uri("a+b%20c%2Bd"))
        ngx.say(ngx.unescape_uri("%zz%4%"), " ", ngx.unescape_uri("%41%6a%E4%BD%A0"))
        ngx.say("[", ngx.unescape_uri(""), "] [", ngx.unescape_uri(nil), "] [", ngx.unescape_uri(7), "]")
    }
}
--- request
GET /t
--- response_body
a b c+d
%zz%4% Aj你
[] [] [7]

=== TEST 40: ngx.encode_args
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.encode_args({a = "b c"}))
        ngx.say(ngx.encode_args({["k&="] = "v/?"}))
        ngx.say(ngx.encode_args({a = {1, "two", true}}))
        ngx.say(ngx.encode_args({a = true}), "|", ngx.encode_args({a = false}), "|", ngx.encode_args({}))
        ngx.say(ngx.encode_args({n = 1.5}), "|", ngx.encode_args({t = "~-._*"}))
    }
}
--- request
GET /t
--- response_body
a=b%20c
k%26%3D=v%2F%3F
a=1&a=two&a
a||
n=1.5|t=~-._*

=== TEST 41: ngx.encode_args with a bad value is an error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(ngx.encode_args, {a = print})
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false attempt to use function as query arg value

=== TEST 42: ngx.decode_args
--- config
location /t {
    content_by_lua_block {
        local t = ngx.decode_args("a=1&a=2&b&c=&d=x%20y+z")
        ngx.say(table.concat(t.a, ","), " ", tostring(t.b), " [", t.c, "] ", t.d)
        local u, err = ngx.decode_args("a=1&b=2&c=3", 1)
        ngx.say(u.a, " ", tostring(u.b), " ", tostring(err))
    }
}
--- request
GET /t
--- response_body
1,2 true [] x y z
1 nil truncated

=== TEST 43: ngx.encode_base64 and ngx.decode_base64
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.encode_base64("hi"), " ", ngx.encode_base64("hi", true), " [", ngx.encode_base64(""), "]")
        ngx.say(ngx.decode_base64("aGk="), " ", ngx.decode_base64("aGk"), " [", ngx.decode_base64(""), "]")
    }
}
--- request
GET /t
--- response_body
aGk= aGk []
hi hi []

=== TEST 44: ngx.decode_base64 of invalid input is nil; extra padding and trailing bytes after it are tolerated
--- config
location /t {
    content_by_lua_block {
        ngx.say(tostring(ngx.decode_base64("not base64!")), " ", tostring(ngx.decode_base64("a")),
            " ", tostring(ngx.decode_base64("aGVs bG8=")), " ", tostring(ngx.decode_base64("aGk==")))
        ngx.say(tostring(ngx.decode_base64("aGk=x")), " ", tostring(ngx.decode_base64("a-_b")))
    }
}
--- request
GET /t
--- response_body
nil nil nil hi
hi nil

=== TEST 45: digests and checksums
--- config
location /t {
    content_by_lua_block {
        local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
        ngx.say(#ngx.md5_bin("abc"), " ", hex(ngx.md5_bin("abc")))
        ngx.say(#ngx.sha1_bin("abc"), " ", hex(ngx.sha1_bin("abc")))
        ngx.say(ngx.crc32_short("abc"), " ", ngx.crc32_long("abc"), " ", ngx.md5(""))
    }
}
--- request
GET /t
--- response_body
16 900150983cd24fb0d6963f7d28e17f72
20 a9993e364706816aba3e25717850c26c9cd0d89d
891568578 891568578 d41d8cd98f00b204e9800998ecf8427e

=== TEST 46: ngx.quote_sql_str
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.quote_sql_str("a'b\"c\\d\ne\rf\tg\0h\26i"))
    }
}
--- request
GET /t
--- response_body
'a\'b\"c\\d\ne\rf\tg\0h\Zi'

=== TEST 47: ngx.http_time and ngx.parse_http_time
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.http_time(0), " | ", ngx.http_time(1700000000))
        ngx.say(ngx.parse_http_time("Thu, 01 Jan 1970 00:00:10 GMT"), " ", tostring(ngx.parse_http_time("junk")))
    }
}
--- request
GET /t
--- response_body
Thu, 01 Jan 1970 00:00:00 GMT | Tue, 14 Nov 2023 22:13:20 GMT
10 nil

=== TEST 48: time functions have the OpenResty formats
--- config
location /t {
    content_by_lua_block {
        ngx.say(type(ngx.time()), " ", math.floor(ngx.time()) == ngx.time(), " ", math.abs(ngx.now() - ngx.time()) < 2)
        ngx.say(ngx.today(), " ", ngx.localtime(), " ", ngx.utctime())
    }
}
--- request
GET /t
--- response_body_like
^number true true\n\d{4}-\d\d-\d\d \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n$

=== TEST 49: ngx.get_phase in each phase
--- config
location /t {
    rewrite_by_lua_block { ngx.ctx.p = ngx.get_phase() }
    access_by_lua_block { ngx.ctx.p = ngx.ctx.p .. " " .. ngx.get_phase() }
    content_by_lua_block { ngx.say(ngx.ctx.p, " ", ngx.get_phase()) }
}
--- request
GET /t
--- response_body
rewrite access content

=== TEST 50: ngx.status before output is 0, then what was set
--- config
location /t {
    content_by_lua_block {
        local before = ngx.status
        ngx.status = 418
        ngx.say(before, " ", ngx.status)
    }
}
--- request
GET /t
--- error_code: 418
--- response_body
0 418

=== TEST 51: setting ngx.status after output logs an error and keeps the sent status
--- config
location /t {
    content_by_lua_block {
        ngx.say("sent")
        ngx.status = 404
        ngx.say(ngx.status)
    }
}
--- request
GET /t
--- error_code: 200
--- response_body
sent
200
--- error_log
attempt to set ngx.status after sending out response headers

=== TEST 52: setting ngx.header after output logs an error
--- config
location /t {
    content_by_lua_block {
        ngx.say("sent")
        ngx.header["X-Late"] = "1"
        ngx.say(tostring(ngx.headers_sent))
    }
}
--- request
GET /t
--- response_headers
!X-Late
--- response_body
sent
true
--- error_log
attempt to set ngx.header.HEADER after sending out response headers

=== TEST 53: ngx.redirect after output is an error
--- config
location /t {
    content_by_lua_block {
        ngx.say("sent")
        local ok, err = pcall(ngx.redirect, "/x")
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- error_code: 200
--- response_body
sent
false attempt to call ngx.redirect after sending out the headers

=== TEST 54: ngx.exit with an error status after output keeps the output
--- config
location /t {
    content_by_lua_block {
        ngx.say("sent")
        ngx.exit(404)
    }
}
--- request
GET /t
--- error_code: 200
--- response_body
sent
--- error_log
attempt to set status 404 via ngx.exit after sending out the response status 200

=== TEST 55: ngx.log line format and levels
--- config
location /t {
    content_by_lua_block {
        ngx.log(ngx.WARN, "a", 1, nil, true, 1.5)
        ngx.log(ngx.ERR, "second")
        ngx.say("ok")
    }
}
--- request
GET /t?x=1
--- response_body
ok
--- error_log
[warn]
[lua] content_by_lua(openclaw.conf:13):2: a1niltrue1.5, client: 127.0.0.1, server: localhost, request: "GET /t?x=1 HTTP/1.1", host: "localhost"
[lua] content_by_lua(openclaw.conf:13):3: second, client: 127.0.0.1

=== TEST 56: ngx.log with a table argument is an error
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(ngx.log, ngx.ERR, "t=", {})
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false bad argument #2 to '?' (expected table to have __tostring metamethod)

=== TEST 57: print() logs at notice with the source position
--- config
location /t {
    access_by_lua_block {
        print("from print ", 1, " ", nil)
    }
    content_by_lua_block { ngx.say("ok") }
}
--- request
GET /t
--- response_body
ok
--- error_log
[notice]
[lua] access_by_lua(openclaw.conf:13):2: from print 1 nil, client: 127.0.0.1, server: localhost, request: "GET /t HTTP/1.1", host: "localhost"

=== TEST 58: error() in access_by_lua is a 500 with the chunk name
--- config
location /t {
    access_by_lua_block {
        local a = 1
        error("boom")
    }
    content_by_lua_block { ngx.say("not reached") }
}
--- request
GET /t
--- error_code: 500
--- error_log
lua entry thread aborted: runtime error: access_by_lua(openclaw.conf:13):3: boom

=== TEST 59: error() with a table value
--- config
location /t {
    rewrite_by_lua_block { error({code = 1}) }
}
--- request
GET /t
--- error_code: 500
--- error_log
lua entry thread aborted: runtime error: unknown reason

=== TEST 60: a syntax error in inline code is a 500 with the chunk name
--- config
location /t {
    content_by_lua_block {
        ngx.say("x"
    }
}
--- request
GET /t
--- error_code: 500
--- error_log
failed to load inlined Lua code: content_by_lua(openclaw.conf:13):3: ')' expected (to close '(' at line 2) near '<eof>', client: 127.0.0.1

=== TEST 61: content_by_lua_file with a path relative to the prefix; ngx.log names the file by its base name
--- user_files
>>> x.lua
ngx.say("from file ", ngx.var.uri)
ngx.log(ngx.ERR, "file log")
--- config
location /t {
    content_by_lua_file html/x.lua;
}
--- request
GET /t
--- response_body
from file /t
--- error_log
[lua] x.lua:2: file log, client: 127.0.0.1

=== TEST 62: rewrite_by_lua_file and access_by_lua_file
--- user_files
>>> r.lua
ngx.ctx.r = "r"
>>> a.lua
ngx.ctx.r = ngx.ctx.r .. "a"
--- config
location /t {
    rewrite_by_lua_file html/r.lua;
    access_by_lua_file html/a.lua;
    content_by_lua_block { ngx.say(ngx.ctx.r) }
}
--- request
GET /t
--- response_body
ra

=== TEST 63: a runtime error in a Lua file names the file
--- user_files
>>> bad.lua
local t = nil
return t.x
--- config
location /t {
    content_by_lua_file html/bad.lua;
}
--- request
GET /t
--- error_code: 500
--- error_log
lua entry thread aborted: runtime error: /
/html/bad.lua:2: attempt to index local 't' (a nil value)

=== TEST 64: a missing Lua file is a 404
--- config
location /t {
    content_by_lua_file html/missing.lua;
}
--- request
GET /t
--- error_code: 404
--- error_log
failed to load external Lua file "/
/html/missing.lua": cannot open /
/html/missing.lua: No such file or directory, client: 127.0.0.1

=== TEST 65: lua_code_cache off still runs files and inline code
--- user_files
>>> c.lua
ngx.say("file ", ngx.var.arg_a)
--- config
lua_code_cache off;
location /t {
    access_by_lua_block { ngx.ctx.x = 1 }
    content_by_lua_file html/c.lua;
}
--- request
GET /t?a=7
--- response_body
file 7

=== TEST 66: globals written in one phase are seen in the next, with a warning
--- config
location /t {
    rewrite_by_lua_block { some_global = "set" }
    content_by_lua_block { ngx.say(tostring(some_global)) }
}
--- request
GET /t
--- response_body
set
--- error_log
[warn]
writing a global Lua variable ('some_global') which may lead to race conditions between concurrent requests, so prefer the use of 'local' variables

=== TEST 67: constants
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.OK, " ", ngx.ERROR, " ", ngx.AGAIN, " ", ngx.DONE, " ", ngx.DECLINED)
        ngx.say(ngx.HTTP_GET, " ", ngx.HTTP_POST, " ", ngx.HTTP_OK, " ", ngx.HTTP_MOVED_TEMPORARILY, " ", ngx.HTTP_NOT_FOUND, " ", ngx.HTTP_INTERNAL_SERVER_ERROR, " ", ngx.HTTP_SERVICE_UNAVAILABLE)
        ngx.say(ngx.STDERR, " ", ngx.EMERG, " ", ngx.ERR, " ", ngx.WARN, " ", ngx.NOTICE, " ", ngx.INFO, " ", ngx.DEBUG)
    }
}
--- request
GET /t
--- response_body
0 -1 -2 -4 -5
2 8 200 302 404 500 503
0 1 4 5 6 7 8

=== TEST 68: ngx.config and ngx.worker
--- config
location /t {
    content_by_lua_block {
        local p = ngx.config.prefix()
        ngx.say(ngx.config.subsystem, " ", type(ngx.config.debug), " ", p:sub(-1), " ", type(ngx.config.nginx_version), " ", type(ngx.config.ngx_lua_version))
        ngx.say(ngx.worker.count(), " ", type(ngx.worker.pid()), " ", tostring(ngx.worker.exiting()))
    }
}
--- request
GET /t
--- response_body
http boolean / number number
2 number false

=== TEST 69: ngx.sleep with a negative duration is an error
--- config
location /t {
    content_by_lua_block {
        ngx.sleep(0)
        local ok, err = pcall(ngx.sleep, -1)
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body
false invalid sleep duration "-1000"

=== TEST 70: ngx.md5 and ngx.encode_base64 of nil and numbers
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.md5(nil), " ", ngx.md5(1), " ", ngx.encode_base64(12))
    }
}
--- request
GET /t
--- response_body
d41d8cd98f00b204e9800998ecf8427e c4ca4238a0b923820dcc509a6f75849b MTI=

=== TEST 71: ngx.header set in access_by_lua stays on a static response
--- config
location /t {
    access_by_lua_block { ngx.header["X-Early"] = "1" }
}
--- user_files
>>> t
file
--- request
GET /t
--- error_code: 200
--- response_headers
X-Early: 1
--- response_body
file

=== TEST 72: ngx.header set in access_by_lua is readable and kept in content_by_lua
--- config
location /t {
    access_by_lua_block { ngx.header["X-Early"] = "1" }
    content_by_lua_block { ngx.say("early=", ngx.header["X-Early"]) }
}
--- request
GET /t
--- response_headers
X-Early: 1
--- response_body
early=1

=== TEST 73: ngx.cookie_time, ngx.hmac_sha1, ngx.config.debug
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.cookie_time(1290079655))
        local mac = ngx.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")
        ngx.say((mac:gsub(".", function(c) return string.format("%02x", c:byte()) end)))
        ngx.say(type(ngx.config.debug))
    }
}
--- request
GET /t
--- response_body
Thu, 18-Nov-10 11:27:35 GMT
de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9
boolean

=== TEST 76: ngx.decode_base64mime skips line breaks (newer lua-resty-core API; the Debian reference lacks it)
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.decode_base64mime("aGVs\r\nbG8="))
    }
}
--- request
GET /t
--- response_body
hello

=== TEST 74: ngx.socket.connect returns a connected socket or nil, err
--- config
location /t {
    content_by_lua_block {
        local sock, err = ngx.socket.connect("127.0.0.1", ngx.var.server_port)
        ngx.say(sock and "connected" or err)
        sock:close()
        local s2, err2 = ngx.socket.connect("127.0.0.1", 1)
        ngx.say(tostring(s2), " ", err2)
    }
}
--- request
GET /t
--- response_body
connected
nil connection refused

=== TEST 75: an OpenResty API OpenClaw lacks raises an error naming it (OpenClaw's behaviour: nginx has ngx.req.init_body)
--- config
location /t {
    content_by_lua_block {
        local ok, err = pcall(ngx.req.init_body)
        ngx.say(ok, " ", err)
    }
}
--- request
GET /t
--- response_body_like
^false .*API not supported by openclaw: ngx.req.init_body

=== TEST 77: ngx.on_abort needs lua_check_client_abort on
--- config
location /t {
    content_by_lua_block {
        ngx.say(ngx.on_abort(function() end))
    }
}
--- request
GET /t
--- response_body
nillua_check_client_abort is off

=== TEST 78: ngx.on_abort registers once per handler; a second call is a duplicate
--- config
location /t {
    lua_check_client_abort on;
    content_by_lua_block {
        ngx.say(pcall(ngx.on_abort, "x"))
        ngx.say(ngx.on_abort(function() end))
        ngx.say(ngx.on_abort(function() end))
    }
}
--- request
GET /t
--- response_body
falsebad argument #1 to '?' (Lua function expected)
1
nilduplicate call

=== TEST 79: ngx.on_abort is not for header filters
--- config
location /t {
    lua_check_client_abort on;
    header_filter_by_lua_block {
        local ok, err = pcall(ngx.on_abort, function() end)
        ngx.header["X-Err"] = err
    }
    return 200 "ok\n";
}
--- request
GET /t
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
--- response_body
ok

=== TEST 80: a variable declared elsewhere but not set in this request reads as "" from Lua
--- config
location /a {
    set $foo "a";
    return 200 "a\n";
}
location /t {
    content_by_lua_block {
        local v = ngx.var.foo
        ngx.say(type(v), " [", tostring(v), "]")
    }
}
--- request
GET /t
--- response_body
string []

=== TEST 81: a set variable assigned nil from Lua reads as nil, and can be set again
--- config
location /t {
    set $foo "a";
    content_by_lua_block {
        ngx.var.foo = nil
        ngx.say(type(ngx.var.foo))
        ngx.var.foo = "b"
        ngx.say(ngx.var.foo)
    }
}
--- request
GET /t
--- response_body
nil
b
