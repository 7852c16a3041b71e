-- ngx.resp (lua-resty-core's API): add_header appends a response header where
-- ngx.header[name] = value replaces it.
local ngx = ngx
local type = type

local _M = { version = "0.1" }

local function append(list, value)
    if type(value) == "table" then
        for i = 1, #value do list[#list + 1] = value[i] end
    else
        list[#list + 1] = value
    end
end

function _M.add_header(key, value)
    if type(key) ~= "string" then
        return error("bad argument #1 to 'add_header' (string expected, got " .. type(key) .. ")", 2)
    end
    local old = ngx.header[key]
    local list = {}
    if type(old) == "table" then
        append(list, old)
    elseif old ~= nil then
        list[1] = old
    end
    append(list, value)
    ngx.header[key] = list
end

return _M
