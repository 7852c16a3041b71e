-- ngx.say/ngx.print of one string go straight to Rust through the FFI (src/lua/ffi.rs).
-- The FFI call sits in a fixed-argument function: LuaJIT starts traces at those (never at
-- a vararg function, nor can a trace return into the C frame a handler is resumed from),
-- so the call is compiled after a few requests; the vararg front only counts arguments.
-- Anything else (several arguments, tables, numbers), or a call the fast path refuses (no
-- request, a phase without output, the raw socket taken), takes the full functions, which
-- raise or answer as OpenResty.
local out_fp = ...
local ffi = require "ffi"
local C_out = ffi.cast("int (*)(const char *, size_t, int)", ffi.cast("void *", out_fp))
local type, select = type, select

local function out(s, newline)
    if type(s) == "string" and C_out(s, #s, newline) == 0 then
        return true
    end
    return false
end

-- The front of ngx.say (newline 1) or ngx.print (0), over the full function.
local function front(full, newline)
    return function(...)
        if select("#", ...) == 1 and out((...), newline) then
            return 1
        end
        return full(...)
    end
end

ngx.say = front(ngx.say, 1)
ngx.print = front(ngx.print, 0)
