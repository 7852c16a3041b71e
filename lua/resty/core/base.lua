-- OpenClaw's resty.core.base: the helpers other pure-Lua libraries pick from it.
local ok_new, new_tab = pcall(require, "table.new")
if not ok_new then
    new_tab = function() return {} end
end
local ok_clear, clear_tab = pcall(require, "table.clear")
if not ok_clear then
    clear_tab = function(t) for k in pairs(t) do t[k] = nil end end
end

local _M = {
    version = "0.1.28",
    new_tab = new_tab,
    clear_tab = clear_tab,
    FFI_OK = 0,
    FFI_NO_REQ_CTX = -100,
    FFI_BAD_CONTEXT = -101,
    FFI_ERROR = -1,
    FFI_AGAIN = -2,
    FFI_BUSY = -3,
    FFI_DONE = -4,
    FFI_DECLINED = -5,
}

-- There is no C request pointer to hand out; a truthy value lets "is there a request?"
-- checks work inside request handlers.
function _M.get_request()
    local ok, phase = pcall(ngx.get_phase)
    if ok and phase ~= "init" and phase ~= "init_worker" and phase ~= "timer" then
        return true
    end
    return nil
end

function _M.check_subsystem(subsystem)
    return subsystem == "http"
end

function _M.allows_subsystem(...)
    for i = 1, select("#", ...) do
        if select(i, ...) == "http" then return true end
    end
    return false
end

return _M
