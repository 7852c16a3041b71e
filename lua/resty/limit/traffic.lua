-- resty.limit.traffic for OpenClaw: combine(limiters, keys, states) applies several
-- resty.limit.* limiters (req, count, conn) to one request as lua-resty-limit-traffic
-- documents: the request passes only if every limiter admits it; then all of them account
-- it; the answer is the largest delay (or nil, err from the limiter that refused). If a
-- later limiter refuses while accounting, the ones already accounted are rolled back with
-- uncommit(). `states`, when given, receives each limiter's second return value.
-- (Written for OpenClaw from the library's documentation; each limiter's own step is one
-- atomic native call.)

local _M = { _VERSION = "0.08" }

function _M.combine(limiters, keys, states)
    local n = #limiters
    if n == 0 then
        return 0
    end
    -- Look first: nothing is accounted unless everyone agrees (the last one is
    -- accounted right away: a refusal by it leaves nothing to undo).
    local max_delay = 0
    for i = 1, n do
        local delay, err = limiters[i]:incoming(keys[i], i == n)
        if not delay then
            return nil, err
        end
        if i == n then
            max_delay = delay
            if states then
                states[n] = err
            end
        end
    end
    for i = 1, n - 1 do
        local delay, err = limiters[i]:incoming(keys[i], true)
        if not delay then
            -- Another request got in between: undo what this one accounted.
            for j = 1, i - 1 do
                limiters[j]:uncommit(keys[j])
            end
            limiters[n]:uncommit(keys[n])
            return nil, err
        end
        if states then
            states[i] = err
        end
        if delay > max_delay then
            max_delay = delay
        end
    end
    return max_delay
end

return _M
