# require "ngx.errlog" over lua_capture_error_log. Debian's nginx lacks OpenResty's
# capture patch, so these are checked against lua-nginx-module's documented behaviour.

=== TEST 1: raw_log, set_filter_level, get_logs (OpenResty-only: Debian's nginx lacks the capture patch)
--- http_config
lua_capture_error_log 32k;
--- config
location /t {
    content_by_lua_block {
        local errlog = require "ngx.errlog"
        errlog.get_logs(1000)
        assert(errlog.set_filter_level(ngx.WARN))
        ngx.log(ngx.ERR, "first message")
        errlog.raw_log(ngx.NOTICE, "a notice, filtered out")
        errlog.raw_log(ngx.WARN, "a raw warning")
        local res = assert(errlog.get_logs(10))
        for i = 1, #res, 3 do
            local msg = res[i + 2]:match("%*%d+ (.-), client")
            ngx.say(res[i], " ", type(res[i + 1]), " ", msg:match(".*: (.*)$") or msg)
        end
        ngx.say(#assert(errlog.get_logs()))
        ngx.say(errlog.get_sys_filter_level())
    }
}
--- request
GET /t
--- response_body
4 number first message
5 number a raw warning
0
8
--- error_log
a raw warning

=== TEST 2: without lua_capture_error_log (OpenResty-only: Debian's nginx lacks the capture patch)
--- config
location /t {
    content_by_lua_block {
        local errlog = require "ngx.errlog"
        ngx.say(errlog.get_logs())
        ngx.say(errlog.set_filter_level(ngx.ERR))
    }
}
--- request
GET /t
--- response_body
nildirective "lua_capture_error_log" is not set
nildirective "lua_capture_error_log" is not set
