-- The bundled resty.lock over spec/spec.conf's shared dict.
local lock = require "resty.lock"

describe("resty.lock", function()
    before_each(function() ngx.shared.store:flush_all() end)

    it("refuses an unknown dict", function()
        assert.same({ nil, "dictionary not found" }, { lock:new("nope") })
    end)

    it("locks, refuses a second lock on the same object, and unlocks", function()
        local l = assert(lock:new("store"))
        assert.equals(0, l:lock("k"))
        assert.same({ nil, "locked" }, { l:lock("other") })
        assert.equals(1, l:unlock())
        assert.same({ nil, "unlocked" }, { l:unlock() })
    end)

    it("times out at once with timeout 0 while another holds the key", function()
        local a = assert(lock:new("store"))
        local b = assert(lock:new("store", { timeout = 0 }))
        assert.equals(0, a:lock("k"))
        assert.same({ nil, "timeout" }, { b:lock("k") })
        a:unlock()
        assert.equals(0, b:lock("k"))
    end)

    it("expires after exptime (fake clock) and can be extended", function()
        local a = assert(lock:new("store", { exptime = 5 }))
        local b = assert(lock:new("store", { timeout = 0 }))
        assert.equals(0, a:lock("k"))
        assert.is_true(a:expire(10))
        openclaw.test.advance(6)
        assert.same({ nil, "timeout" }, { b:lock("k") })
        openclaw.test.advance(5)
        assert.equals(0, b:lock("k"))
        assert.same({ nil, "unlocked" }, { lock:new("store"):expire() })
    end)

    it("makes contenders wait their turn (through a request: it sleeps)", function()
        local r = openclaw.test.request{ path = "/lock" }
        assert.equals(200, r.status)
        assert.equals("a at once, b waited\nniltimeout\n", r.body)
    end)
end)
