-- ngx.socket.tcp() objects: a table holding an anchor (self[1], a small userdata whose
-- finalizer frees the socket's slot: src/lua/socket/anchor.rs) and the socket's id in the
-- worker's registry (self[2]), as OpenResty's object is a table over its userdata. The
-- userdata with the methods (self[3]) is made on the first call that needs it.
-- connect (from the pool), send (a string), receive (a line or a count), settimeout and
-- setkeepalive first try the C functions of src/lua/ffi.rs through the FFI with the id:
-- they answer when nothing needs waiting (receive also when it only waits for data);
-- otherwise the userdata's method runs, which also raises or answers every error with
-- OpenResty's words (src/lua/socket/fast.rs).
local attach, AGAIN, fps, PENDING, tcp_new, anchor_id, anchor_gc = ...
local ffi = require "ffi"
local setmetatable, type, error, ipairs = setmetatable, type, error, ipairs
local yield = coroutine.yield
local ffi_string = ffi.string

local C_connect = ffi.cast("int (*)(double, const char *, size_t, double, const char *, size_t)",
    fps[1])
local C_send = ffi.cast("double (*)(double, const char *, size_t)", fps[2])
local C_receive = ffi.cast("int (*)(double, int, double, const char **, size_t *)", fps[3])
local C_settimeout = ffi.cast("int (*)(double, int, double)", fps[4])
local C_keepalive = ffi.cast("int (*)(double, int, double, int, double)", fps[5])

local out_ptr = ffi.new("const char *[1]")
local out_len = ffi.new("size_t[1]")

local methods = {}
local mt = { __index = methods }
local anchor_mt = { __gc = anchor_gc, __metatable = false }

local function bad_self(self, name)
    -- At the caller's position (two levels up), as lua-nginx-module reports it.
    error("bad argument #1 to '" .. name .. "' (table expected, got " .. type(self) .. ")", 4)
end

local function inner(self, name)
    if type(self) ~= "table" or not self[1] then bad_self(self, name) end
end

-- The methods' userdata, made from the anchor's slot the first time.
local function ud_of(self, name)
    local ud = self[3]
    if ud == nil then
        local id = anchor_id(self[1], anchor_mt)
        ud = id and attach(id)
        if not ud then bad_self(self, name) end
        self[3] = ud
    end
    return ud
end

for _, name in ipairs({ "sslhandshake", "receiveany", "receiveuntil", "settimeouts",
                        "setoption", "getreusedtimes", "close" }) do
    methods[name] = function(self, ...)
        inner(self, name)
        local ud = ud_of(self, name)
        return ud[name](ud, ...)
    end
end

function methods.connect(self, host, port, opts)
    inner(self, "connect")
    local id = self[2]
    if type(id) == "number" and type(host) == "string" and type(port) == "number" then
        local pool
        if opts == nil then
            pool = nil
        elseif type(opts) == "table" then
            pool = opts.pool
        else
            pool = false
        end
        if pool == nil then
            if C_connect(id, host, #host, port, nil, 0) == 1 then return 1 end
        elseif type(pool) == "string" then
            if C_connect(id, host, #host, port, pool, #pool) == 1 then return 1 end
        end
    end
    return ud_of(self, "connect"):connect(host, port, opts)
end

function methods.send(self, data)
    inner(self, "send")
    local id = self[2]
    if type(data) == "string" then
        if type(id) == "number" then
            local n = C_send(id, data, #data)
            if n >= 0 then return n end
        end
    else
        local n = ud_of(self, "send"):oc_try_send(data)
        if n ~= AGAIN then return n end
    end
    return ud_of(self, "send"):send(data)
end

-- receive's fast path: the data, or nil when the userdata's method must run. On 2 it has
-- registered for the data (or the timeout) and yields mlua's pending marker, which
-- suspends the coroutine until the task is woken, as mlua's own async calls do; then it
-- asks again (mode + 2: the same receive). A tail call, not a loop: a root trace that
-- meets an inner loop aborts, and repeated aborts would blacklist the caller.
local function receive_fast(id, mode, n)
    local rc = C_receive(id, mode, n, out_ptr, out_len)
    if rc == 0 then return ffi_string(out_ptr[0], out_len[0]) end
    if rc == 2 then
        yield(PENDING)
        return receive_fast(id, mode < 2 and mode + 2 or mode, n)
    end
    return nil
end

function methods.receive(self, pattern)
    inner(self, "receive")
    local id = self[2]
    if type(id) == "number" then
        local data
        if pattern == nil or pattern == "*l" or pattern == "l" then
            data = receive_fast(id, 0, 0)
        elseif type(pattern) == "number" then
            data = receive_fast(id, 1, pattern)
        end
        if data then return data end
    end
    return ud_of(self, "receive"):receive(pattern)
end

function methods.settimeout(self, t)
    inner(self, "settimeout")
    local id = self[2]
    if type(id) == "number" then
        if t == nil then
            if C_settimeout(id, 0, 0) == 1 then return end
        elseif type(t) == "number" then
            if C_settimeout(id, 1, t) == 1 then return end
        end
    end
    return ud_of(self, "settimeout"):settimeout(t)
end

local keepalive_errors = { [2] = "closed", [3] = "unread data in buffer" }

function methods.setkeepalive(self, timeout, size)
    inner(self, "setkeepalive")
    local id = self[2]
    local tt, st = type(timeout), type(size)
    if type(id) == "number" and (timeout == nil or tt == "number")
        and (size == nil or st == "number") then
        local rc = C_keepalive(id, timeout == nil and 0 or 1, timeout or 0,
            size == nil and 0 or 1, size or 0)
        if rc == 1 then return 1 end
        local err = keepalive_errors[rc]
        if err then return nil, err end
    end
    return ud_of(self, "setkeepalive"):setkeepalive(timeout, size)
end

return function()
    local anchor, id = tcp_new(anchor_mt)
    return setmetatable({ anchor, id }, mt)
end
