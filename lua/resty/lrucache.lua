-- OpenClaw's resty.lrucache: a per-VM (per worker) LRU cache with lua-resty-lrucache's API.
-- Written for OpenClaw: a hash for lookups plus a doubly linked list for use order.
local ngx_now = ngx.now
local setmetatable = setmetatable

local _M = { _VERSION = "0.13" }
local mt = { __index = _M }

local function unlink(node)
    node.prev.next = node.next
    node.next.prev = node.prev
end

local function push_front(self, node)
    local head = self.head
    node.next = head.next
    node.prev = head
    head.next.prev = node
    head.next = node
end

-- new(size): a cache holding at most `size` items.
function _M.new(size)
    if type(size) ~= "number" or size < 1 then
        return nil, "size too small"
    end
    local head = {}
    head.next = head
    head.prev = head
    return setmetatable({ size = size, n = 0, map = {}, head = head }, mt)
end

-- get(key) -> value, or nil and the stale value when it expired.
function _M.get(self, key)
    local node = self.map[key]
    if not node then
        return nil
    end
    unlink(node)
    push_front(self, node)
    if node.expire and node.expire <= ngx_now() then
        return nil, node.value, node.flags
    end
    return node.value, nil, node.flags
end

-- set(key, value, ttl?, flags?): ttl in seconds (nil or 0: no expiry).
function _M.set(self, key, value, ttl, flags)
    local node = self.map[key]
    if node then
        unlink(node)
    else
        if self.n >= self.size then
            local victim = self.head.prev
            unlink(victim)
            self.map[victim.key] = nil
            self.n = self.n - 1
        end
        node = { key = key }
        self.map[key] = node
        self.n = self.n + 1
    end
    node.value = value
    node.flags = flags
    node.expire = (ttl and ttl > 0) and (ngx_now() + ttl) or nil
    push_front(self, node)
end

function _M.delete(self, key)
    local node = self.map[key]
    if not node then
        return false
    end
    unlink(node)
    self.map[key] = nil
    self.n = self.n - 1
    return true
end

function _M.flush_all(self)
    self.map = {}
    self.n = 0
    self.head.next = self.head
    self.head.prev = self.head
end

function _M.count(self)
    return self.n
end

function _M.capacity(self)
    return self.size
end

-- get_keys(max?, res?): keys from most to least recently used.
function _M.get_keys(self, max, res)
    res = res or {}
    max = (max and max > 0) and max or self.n
    local i = 0
    local node = self.head.next
    while node ~= self.head and i < max do
        i = i + 1
        res[i] = node.key
        node = node.next
    end
    for j = i + 1, #res do
        res[j] = nil
    end
    return res
end

return _M
