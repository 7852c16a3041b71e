-- The table functions OpenResty's LuaJIT adds: table.nkeys, isempty, isarray, clone
-- (also loadable as require "table.nkeys" and so on).
local pairs, next, type = pairs, next, type

local function nkeys(t)
    local n = 0
    for _ in pairs(t) do
        n = n + 1
    end
    return n
end

local function isempty(t)
    return next(t) == nil
end

local function isarray(t)
    local n = #t
    local count = 0
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
            return false
        end
        count = count + 1
    end
    return count == n
end

local function clone(t)
    local c = {}
    for k, v in pairs(t) do
        c[k] = v
    end
    return c
end

table.nkeys = table.nkeys or nkeys
table.isempty = table.isempty or isempty
table.isarray = table.isarray or isarray
table.clone = table.clone or clone

local preload = package.preload
preload["table.nkeys"] = function() return table.nkeys end
preload["table.isempty"] = function() return table.isempty end
preload["table.isarray"] = function() return table.isarray end
preload["table.clone"] = function() return table.clone end
return true
