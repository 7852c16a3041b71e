-- OpenClaw's resty.core: the ngx.* API is native in OpenClaw, so loading lua-resty-core
-- (FFI bindings into nginx's C code) is not needed. This module exists so that the usual
-- `require "resty.core"` in init_by_lua keeps working.
local _M = { version = "0.1.28" }
require "resty.core.base"
return _M
