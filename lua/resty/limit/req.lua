-- resty.limit.req (lua-resty-limit-traffic's API) for OpenClaw: the leaky-bucket step runs
-- natively and atomically in the shared dict (no get-then-set race across workers).
local step = openclaw.limit.req_step
local setmetatable = setmetatable

local _M = { _VERSION = "0.09" }
local mt = { __index = _M }

-- new(dict_name, rate, burst): rate in requests per second, burst in requests.
function _M.new(dict_name, rate, burst)
    local dict = ngx.shared[dict_name]
    if not dict then
        return nil, "shared dict not found"
    end
    assert(rate > 0 and burst >= 0)
    return setmetatable({ dict = dict_name, rate = rate, burst = burst }, mt)
end

-- incoming(key, commit) -> delay (seconds), excess (requests) | nil, "rejected"
function _M.incoming(self, key, commit)
    local excess, err = step(self.dict, key, self.rate, self.burst, commit and true or false)
    if not excess then
        return nil, err
    end
    return excess / (self.rate * 1000), excess / 1000
end

function _M.uncommit(self, key)
    local ok, err = step(self.dict, key, self.rate, self.burst, false, true)
    if not ok then
        return nil, err
    end
    return true
end

function _M.set_rate(self, rate)
    self.rate = rate
end

function _M.set_burst(self, burst)
    self.burst = burst
end

return _M
