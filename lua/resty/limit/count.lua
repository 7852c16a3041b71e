-- resty.limit.count (lua-resty-limit-traffic's API) for OpenClaw: a fixed window counter
-- on the shared dict's atomic incr.
local setmetatable = setmetatable

local _M = { _VERSION = "0.09" }
local mt = { __index = _M }

-- new(dict_name, limit, window): at most `limit` requests per `window` seconds.
function _M.new(dict_name, limit, window)
    local dict = ngx.shared[dict_name]
    if not dict then
        return nil, "shared dict not found"
    end
    assert(limit > 0 and window > 0)
    return setmetatable({ dict = dict, limit = limit, window = window }, mt)
end

-- incoming(key, commit) -> 0, remaining | nil, "rejected"
function _M.incoming(self, key, commit)
    local dict, limit = self.dict, self.limit
    local remaining, err
    if commit then
        remaining, err = dict:incr(key, -1, limit, self.window)
        if not remaining then
            return nil, err
        end
    else
        remaining = (dict:get(key) or limit) - 1
    end
    if remaining < 0 then
        return nil, "rejected"
    end
    return 0, remaining
end

function _M.uncommit(self, key)
    local remaining, err = self.dict:incr(key, 1)
    if not remaining then
        if err == "not found" then
            remaining = self.limit
        else
            return nil, err
        end
    end
    return remaining
end

return _M
