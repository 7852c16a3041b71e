-- resty.lrucache as bundled with OpenClaw.
local lrucache = require "resty.lrucache"

describe("resty.lrucache", function()
    local c
    before_each(function()
        c = lrucache.new(2)
    end)

    it("refuses a size below 1", function()
        local cache, err = lrucache.new(0)
        assert.is_nil(cache)
        assert.equals("size too small", err)
    end)

    it("evicts the least recently used item", function()
        c:set("a", 1)
        c:set("b", 2)
        assert.equals(1, c:get("a"))
        c:set("c", 3)
        assert.is_nil(c:get("b"))
        assert.equals(1, c:get("a"))
        assert.equals(3, c:get("c"))
        assert.equals(2, c:count())
    end)

    it("returns stale values after the ttl, with flags", function()
        c:set("k", "v", 0.001, 5)
        local t0 = ngx.now()
        while ngx.now() - t0 < 0.01 do ngx.update_time() end
        local v, stale, flags = c:get("k")
        assert.is_nil(v)
        assert.equals("v", stale)
        assert.equals(5, flags)
    end)

    it("deletes, flushes and lists keys most recent first", function()
        c:set("a", 1)
        c:set("b", 2)
        assert.same({ "b", "a" }, c:get_keys())
        assert.is_true(c:delete("a"))
        assert.is_false(c:delete("a"))
        c:flush_all()
        assert.equals(0, c:count())
        assert.equals(2, c:capacity())
    end)
end)
