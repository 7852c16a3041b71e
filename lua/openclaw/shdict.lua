-- ngx.shared.DICT objects with lua-resty-core's shape: a table per dict whose hot methods
-- (get, set, add, replace, their safe_ forms, incr, delete) call Rust through the FFI
-- (src/lua/ffi.rs); everything else, and any argument the fast path does not take
-- (non-string keys, odd flags, list values), goes to the dict's userdata methods, so the
-- results and error words are the same either way.
-- Called once per VM with: ngx.shared (name -> userdata), the address of each dict
-- (name -> lightuserdata) and the three entry points.
local ud_shared, addrs, get_fp, store_fp, incr_fp = ...

local ffi = require "ffi"
local ffi_string, ffi_cast = ffi.string, ffi.cast
local type, pairs, setmetatable, floor = type, pairs, setmetatable, math.floor

ffi.cdef [[
typedef struct {
    int kind;
    uint32_t flags;
    double num;
    const char *str;
    size_t len;
    int forcible;
} openclaw_shdict_val;
]]

local C_get = ffi_cast("int (*)(void *, const char *, size_t, openclaw_shdict_val *)",
    ffi_cast("void *", get_fp))
local C_store = ffi_cast("int (*)(void *, const char *, size_t, int, double, const char *,"
    .. " size_t, double, uint32_t, int, int, int *)", ffi_cast("void *", store_fp))
local C_incr = ffi_cast("int (*)(void *, const char *, size_t, double, int, double, double,"
    .. " openclaw_shdict_val *)", ffi_cast("void *", incr_fp))

local val = ffi.new("openclaw_shdict_val")
local forcible = ffi.new("int[1]")
local errs = { "exists", "not found", "no memory", "not a number", "value not a list" }

-- Private to this chunk, so scripts cannot point the FFI calls elsewhere.
local ptr_of = setmetatable({}, { __mode = "k" })
local ud_of = setmetatable({}, { __mode = "k" })

local methods = {}
local sample
for _, ud in pairs(ud_shared) do sample = ud break end

-- The userdata method `name`, called with the userdata behind `self` (or `self` itself
-- when it is not one of ours, so mlua reports the misuse as before).
local function slow(name)
    local f = sample and sample[name]
    return function(self, ...)
        return f(ud_of[self] or self, ...)
    end
end

for _, name in ipairs({ "get_stale", "lpush", "rpush", "lpop", "rpop", "llen", "ttl",
    "expire", "flush_all", "flush_expired", "get_keys", "capacity", "free_space" }) do
    methods[name] = slow(name)
end

-- The dict's address and the key's length when the fast path takes the call: `self` is
-- one of ours and `key` a non-empty string of at most 65535 bytes; else nil.
local function fast(self, key)
    local p = ptr_of[self]
    if not p or type(key) ~= "string" then return nil end
    local n = #key
    if n == 0 or n > 65535 then return nil end
    return p, n
end

local slow_get = slow("get")
function methods.get(self, key)
    local p, klen = fast(self, key)
    if klen then
        C_get(p, key, klen, val)
        local kind = val.kind
        if kind == 0 then return nil end
        local v
        if kind == 3 then
            v = ffi_string(val.str, val.len)
        elseif kind == 2 then
            v = val.num
        elseif kind == 1 then
            v = val.num ~= 0
        else
            return slow_get(self, key)
        end
        local flags = val.flags
        if flags ~= 0 then return v, flags end
        return v
    end
    return slow_get(self, key)
end

local function store(name, mode, safe)
    local slow_store = slow(name)
    return function(self, key, value, exptime, flags)
        local p, klen = fast(self, key)
        if klen and (exptime == nil or type(exptime) == "number")
            and (flags == nil or (type(flags) == "number" and flags >= 0
                and flags < 4294967296 and floor(flags) == flags)) then
            local tv, kind, num, str, slen = type(value), nil, 0, nil, 0
            if tv == "string" then
                kind, str, slen = 3, value, #value
            elseif tv == "number" then
                kind, num = 2, value
            elseif tv == "boolean" then
                kind, num = 1, value and 1 or 0
            elseif tv == "nil" and mode == 0 then
                kind = 0
            end
            if kind then
                local rc = C_store(p, key, klen, kind, num, str, slen, exptime or 0,
                    flags or 0, mode, safe, forcible)
                if rc == 0 then return true, nil, forcible[0] ~= 0 end
                return false, errs[rc], false
            end
        end
        return slow_store(self, key, value, exptime, flags)
    end
end

methods.set = store("set", 0, 0)
methods.safe_set = store("safe_set", 0, 1)
methods.add = store("add", 1, 0)
methods.safe_add = store("safe_add", 1, 1)
methods.replace = store("replace", 2, 0)

local slow_incr = slow("incr")
function methods.incr(self, key, value, init, init_ttl)
    local p, klen = fast(self, key)
    if klen and type(value) == "number" and (init == nil or type(init) == "number")
        and (init_ttl == nil or type(init_ttl) == "number") then
        local rc = C_incr(p, key, klen, value, init ~= nil and 1 or 0, init or 0,
            init_ttl or 0, val)
        if rc ~= 0 then return nil, errs[rc] end
        -- `forcible` is only reported when `init` was given.
        if init ~= nil then return val.num, nil, val.forcible ~= 0 end
        return val.num
    end
    return slow_incr(self, key, value, init, init_ttl)
end

local slow_delete = slow("delete")
function methods.delete(self, key)
    local p, klen = fast(self, key)
    if klen then
        C_store(p, key, klen, 0, 0, nil, 0, 0, 0, 0, 0, forcible)
        return true
    end
    return slow_delete(self, key)
end

local mt = { __index = methods }
local shared = {}
for name, ud in pairs(ud_shared) do
    local t = setmetatable({}, mt)
    ptr_of[t] = ffi_cast("void *", addrs[name])
    ud_of[t] = ud
    shared[name] = t
end
return shared
