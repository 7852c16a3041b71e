-- Reads of ngx.var.NAME go straight to Rust through the FFI (src/lua/ffi.rs), as
-- lua-resty-core's ngx.var does over OpenResty's C API; the FFI call is compiled into the
-- handler's trace where an mlua callback costs a stack round trip each time. Captures
-- (ngx.var[1]), and any call the fast path refuses (no request, a phase without ngx.var),
-- take the full __index, which raises or answers as OpenResty.
local var_fp = ...
local ffi = require "ffi"
local C_var = ffi.cast("int (*)(const char *, size_t, const unsigned char **, size_t *)",
    ffi.cast("void *", var_fp))
local ffi_string, type = ffi.string, type
local value = ffi.new("const unsigned char *[1]")
local value_len = ffi.new("size_t[1]")

local mt = getmetatable(ngx.var)
local full = mt.__index

mt.__index = function(t, k)
    if type(k) == "string" then
        local rc = C_var(k, #k, value, value_len)
        if rc == 0 then
            return ffi_string(value[0], value_len[0])
        elseif rc == 1 then
            return nil
        end
    end
    return full(t, k)
end
