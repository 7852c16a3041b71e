-- OpenClaw's ngx.re module (lua-resty-core's API): split, plus the ngx.re functions.
local re_find = ngx.re.find
local sub = string.sub

local _M = {
    version = "0.1.28",
    match = ngx.re.match,
    find = ngx.re.find,
    gmatch = ngx.re.gmatch,
    sub = ngx.re.sub,
    gsub = ngx.re.gsub,
}

-- split(subject, regex, options?, ctx?, max?, res?): the pieces between matches.
function _M.split(subj, regex, opts, ctx, max, res)
    if type(subj) ~= "string" then
        error("bad argument #1 to 'split' (string expected, got " .. type(subj) .. ")", 2)
    end
    max = max or 0
    res = res or {}
    local n = 0
    local len = #subj
    ctx = ctx or {}
    local pos = ctx.pos or 1
    ctx.pos = pos
    local last = pos
    while true do
        if max > 0 and n == max - 1 then
            break
        end
        local from, to, err = re_find(subj, regex, opts, ctx)
        if err then
            return nil, err
        end
        if not from then
            break
        end
        if to < from then
            -- An empty match: split after one character.
            if from > len then
                break
            end
            n = n + 1
            res[n] = sub(subj, last, from)
            last = from + 1
            ctx.pos = from + 1
        else
            n = n + 1
            res[n] = sub(subj, last, from - 1)
            last = to + 1
            ctx.pos = to + 1
        end
    end
    if last <= len or n == 0 or max > 0 then
        n = n + 1
        res[n] = sub(subj, last)
    end
    for i = n + 1, #res do
        res[i] = nil
    end
    return res
end

function _M.opt(name, value)
    return true
end

return _M
