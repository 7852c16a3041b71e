-- ngx.say/ngx.print of one string go straight to Rust through the FFI (src/lua/ffi.rs):
-- no Lua/Rust stack conversion, and LuaJIT compiles the call into the handler's trace.
-- Anything else (several arguments, tables, numbers), or a call the fast path refuses (no
-- request, a phase without output), takes the full functions, which raise as OpenResty.
local out_fp = ...
local ffi = require "ffi"
local C_out = ffi.cast("int (*)(const char *, size_t, int)", ffi.cast("void *", out_fp))
local type, select = type, select
local say, print = ngx.say, ngx.print

ngx.say = function(...)
    local s = ...
    if select("#", ...) == 1 and type(s) == "string" and C_out(s, #s, 1) == 0 then
        return 1
    end
    return say(...)
end

ngx.print = function(...)
    local s = ...
    if select("#", ...) == 1 and type(s) == "string" and C_out(s, #s, 0) == 0 then
        return 1
    end
    return print(...)
end
