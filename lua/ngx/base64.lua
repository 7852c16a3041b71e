-- ngx.base64 (lua-resty-core's API): URL-safe base64 without padding.
local encode, decode = ngx.encode_base64, ngx.decode_base64
local type, error = type, error

local _M = { version = "0.1" }

local to_url = { ["+"] = "-", ["/"] = "_" }
local from_url = { ["-"] = "+", ["_"] = "/" }

function _M.encode_base64url(s)
    if type(s) ~= "string" then
        return error("must provide a string")
    end
    return (encode(s, true):gsub("[+/]", to_url))
end

function _M.decode_base64url(s)
    if type(s) ~= "string" then
        return error("must provide a string")
    end
    if s:find("[^%w%-_]") then
        return nil, "invalid input"
    end
    local std = s:gsub("[%-_]", from_url)
    local rem = #std % 4
    if rem == 1 then
        return nil, "invalid input"
    end
    if rem > 0 then
        std = std .. ("="):rep(4 - rem)
    end
    local out = decode(std)
    if not out then
        return nil, "invalid input"
    end
    return out
end

return _M
