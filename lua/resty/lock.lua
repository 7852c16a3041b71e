-- resty.lock: a non-blocking lock over a shared dict (lua-resty-lock's API), OpenClaw's own
-- implementation. `add` is atomic in the dict, so only one holder exists per key; waiting
-- sleeps (ngx.sleep) with a growing step until `timeout`.
local ngx = ngx
local shared = ngx.shared
local sleep = ngx.sleep
local min = math.min
local setmetatable = setmetatable

local _M = { _VERSION = "0.09" }
local mt = { __index = _M }

local function opt(opts, name, default)
    local v = opts and opts[name]
    if v == nil then return default end
    return v
end

-- lock:new(dict_name, opts?) -> lock | nil, "dictionary not found"
function _M.new(_, dict_name, opts)
    local dict = shared[dict_name]
    if not dict then
        return nil, "dictionary not found"
    end
    local timeout = opt(opts, "timeout", 5)
    local step = opt(opts, "step", 0.001)
    local ratio = opt(opts, "ratio", 2)
    local max_step = opt(opts, "max_step", 0.5)
    return setmetatable({
        dict = dict,
        exptime = opt(opts, "exptime", 30),
        timeout = timeout,
        step = step,
        ratio = ratio,
        max_step = max_step,
        key = nil,
    }, mt)
end

-- obj:lock(key) -> elapsed seconds | nil, "locked" / "timeout" / dict error
function _M.lock(self, key)
    if not key then
        return error("nil key")
    end
    if self.key then
        return nil, "locked"
    end
    local dict, exptime = self.dict, self.exptime
    local ok, err = dict:add(key, true, exptime)
    if ok then
        self.key = key
        return 0
    end
    if err ~= "exists" then
        return nil, err
    end
    local timeout = self.timeout
    if timeout <= 0 then
        return nil, "timeout"
    end
    local step, ratio, max_step = self.step, self.ratio, self.max_step
    local elapsed = 0
    while timeout > 0 do
        local wait = min(step, timeout)
        sleep(wait)
        elapsed = elapsed + wait
        timeout = timeout - wait
        ok, err = dict:add(key, true, exptime)
        if ok then
            self.key = key
            return elapsed
        end
        if err ~= "exists" then
            return nil, err
        end
        step = min(step * ratio, max_step)
    end
    return nil, "timeout"
end

-- obj:unlock() -> 1 | nil, "unlocked"
function _M.unlock(self)
    local key = self.key
    if not key then
        return nil, "unlocked"
    end
    self.dict:delete(key)
    self.key = nil
    return 1
end

-- obj:expire(timeout?) -> true | nil, "unlocked" / dict error
function _M.expire(self, time)
    local key = self.key
    if not key then
        return nil, "unlocked"
    end
    local ok, err = self.dict:replace(key, true, time or self.exptime)
    if not ok then
        return nil, err
    end
    return true
end

return _M
