-- ngx.say/ngx.print of one string (or two or three plain values, joined here) go straight
-- to Rust through the FFI (src/lua/ffi.rs).
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

-- Strings and integral numbers below 1e14 (which `..` renders as OpenResty's %.14g does)
-- may be joined here; anything else goes to the full functions.
local function plain(v)
    local t = type(v)
    return t == "string"
        or (t == "number" and v % 1 == 0 and v > -1e14 and v < 1e14 and (v ~= 0 or 1 / v > 0))
end

-- The front of ngx.say (newline 1) or ngx.print (0), over the full function. A few plain
-- arguments are joined into one string for the FFI call (`ngx.say(k, " ", n)`).
local function front(full, newline)
    return function(...)
        local n = select("#", ...)
        if n == 1 then
            if out((...), newline) then return 1 end
        elseif n == 2 then
            local a, b = ...
            if plain(a) and plain(b) and out(a .. b, newline) then return 1 end
        elseif n == 3 then
            local a, b, c = ...
            if plain(a) and plain(b) and plain(c) and out(a .. b .. c, newline) then return 1 end
        end
        return full(...)
    end
end

ngx.say = front(ngx.say, 1)
ngx.print = front(ngx.print, 0)
