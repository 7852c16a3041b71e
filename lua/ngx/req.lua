-- ngx.req (lua-resty-core's API): add_header adds a request header value where
-- ngx.req.set_header replaces it.
local ngx = ngx
local type = type

local _M = { version = "0.1" }

function _M.add_header(key, value)
    if type(key) ~= "string" then
        return error("bad argument #1 to 'add_header' (string expected, got " .. type(key) .. ")", 2)
    end
    local old = ngx.req.get_headers(0)[key]
    local list = {}
    if type(old) == "table" then
        for i = 1, #old do list[i] = old[i] end
    elseif old ~= nil then
        list[1] = old
    end
    if type(value) == "table" then
        for i = 1, #value do list[#list + 1] = value[i] end
    else
        list[#list + 1] = value
    end
    ngx.req.set_header(key, list)
end

return _M
