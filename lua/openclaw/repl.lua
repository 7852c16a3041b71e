-- Helpers of `openclaw repl`: how values print and what Tab completes. Pure Lua, so `openclaw test` covers it (spec/repl_spec.lua).
local M = {}

local ident = "^[%a_][%w_]*$"
local keywords = {}
for w in ("and break do else elseif end false for function goto if in local nil not or "
        .. "repeat return then true until while"):gmatch("%a+") do
    keywords[w] = true
end

local function is_ident(k)
    return type(k) == "string" and k:match(ident) ~= nil and not keywords[k]
end

local function scalar(v)
    if type(v) == "string" then
        return (string.format("%q", v):gsub("\\\n", "\\n"))
    end
    return tostring(v)
end

local function sorted_keys(t)
    local n = #t
    local keys = {}
    for k in pairs(t) do
        if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then
            keys[#keys + 1] = k
        end
    end
    table.sort(keys, function(a, b)
        local ta, tb = type(a), type(b)
        if ta ~= tb then return ta < tb end
        if ta == "string" or ta == "number" then return a < b end
        return tostring(a) < tostring(b)
    end)
    return keys, n
end

local WIDTH, DEPTH = 72, 8

-- Renders `v`; tables sorted by key, one line when short, cycles shown as <cycle>.
local function render(v, indent, seen, depth)
    if type(v) ~= "table" then return scalar(v) end
    if seen[v] then return "<cycle>" end
    if depth >= DEPTH then return "{...}" end
    if next(v) == nil then return "{}" end
    seen[v] = true
    local keys, n = sorted_keys(v)
    local items = {}
    for i = 1, n do
        items[#items + 1] = render(v[i], indent .. "  ", seen, depth + 1)
    end
    for _, k in ipairs(keys) do
        local key = is_ident(k) and k or ("[" .. scalar(k) .. "]")
        items[#items + 1] = key .. " = " .. render(v[k], indent .. "  ", seen, depth + 1)
    end
    seen[v] = nil
    local flat = "{ " .. table.concat(items, ", ") .. " }"
    if #flat + #indent <= WIDTH and not flat:find("\n", 1, true) then
        return flat
    end
    return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ")
        .. "\n" .. indent .. "}"
end

-- The text the prompt prints for a chunk's results (tab-separated), or nil for none.
function M.pretty(...)
    local n = select("#", ...)
    if n == 0 then return nil end
    local out = {}
    for i = 1, n do
        out[i] = render((select(i, ...)), "", {}, 0)
    end
    return table.concat(out, "\t")
end

-- Userdata methods cannot be listed; these are probed (shared dicts, cosockets, ...).
local probe = {}
for w in ("get get_stale set safe_set add safe_add replace delete incr lpush rpush lpop "
        .. "rpop llen ttl expire flush_all flush_expired get_keys capacity free_space "
        .. "connect sslhandshake send receive receiveany receiveuntil close settimeout "
        .. "settimeouts setkeepalive getreusedtimes setoption peek post wait count"):gmatch("%S+") do
    probe[#probe + 1] = w
end

-- Keys of table-like `v` (its own and those its metatable's __index table offers).
local function keys_of(v, out, seen)
    if seen[v] then return end
    seen[v] = true
    if type(v) == "userdata" then
        for _, k in ipairs(probe) do
            local ok, f = pcall(function() return v[k] end)
            if ok and f ~= nil then out[k] = true end
        end
        return
    end
    if type(v) == "table" then
        for k in pairs(v) do
            if type(k) == "string" then out[k] = true end
        end
    end
    local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
    if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then
        keys_of(rawget(mt, "__index"), out, seen)
    end
end

-- Completions for `text` (e.g. "ngx.re.ma" or "ngx.shared.dogs:g"): full replacements
-- of the text, sorted; globals when there is no dot.
function M.complete(text)
    local base, sep, partial = text:match("^(.-)([%.:])([%w_]*)$")
    local target
    if not base then
        partial = text
        target = _G
        base, sep = "", ""
    else
        target = _G
        for name in base:gmatch("[^%.:]+") do
            local ok, v = pcall(function() return target[name] end)
            if not ok or (type(v) ~= "table" and type(v) ~= "userdata") then return {} end
            target = v
        end
    end
    local names = {}
    keys_of(target, names, {})
    local out = {}
    for k in pairs(names) do
        if k:sub(1, #partial) == partial and is_ident(k) then
            local ok, v = pcall(function() return target[k] end)
            if sep ~= ":" or (ok and type(v) == "function") then
                out[#out + 1] = base .. sep .. k
            end
        end
    end
    table.sort(out)
    return out
end

return M
