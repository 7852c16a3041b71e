-- resty.limit.traffic: combining limiters over the real shared dict of spec/spec.conf.
local limit_req = require "resty.limit.req"
local limit_count = require "resty.limit.count"
local traffic = require "resty.limit.traffic"

describe("resty.limit.traffic.combine", function()
    before_each(function()
        ngx.shared.store:flush_all()
    end)

    it("admits when every limiter does and reports each state", function()
        local per_user = assert(limit_req.new("store", 100, 10))
        local per_key = assert(limit_count.new("store", 3, 60))
        local states = {}
        local delay, err = traffic.combine({ per_user, per_key }, { "u1", "k1" }, states)
        assert.equals(0, delay, err)
        assert.equals(0, states[1])
        assert.equals(2, states[2]) -- remaining for limit_count
    end)

    it("refuses when one limiter refuses, and accounts nothing", function()
        local roomy = assert(limit_count.new("store", 100, 60))
        local tight = assert(limit_count.new("store", 1, 60))
        assert.not_nil(traffic.combine({ roomy, tight }, { "a", "b" }))
        local delay, err = traffic.combine({ roomy, tight }, { "a", "b" })
        assert.is_nil(delay)
        assert.equals("rejected", err)
        -- The refused request did not use up the roomy limiter: 98 remain after 2 tries.
        local _, remaining = roomy:incoming("a", true)
        assert.equals(98, remaining)
    end)

    it("returns the largest delay", function()
        local slow = assert(limit_req.new("store", 1, 5))
        local fast = assert(limit_req.new("store", 100, 5))
        assert.equals(0, (traffic.combine({ slow, fast }, { "s", "f" })))
        local delay = traffic.combine({ slow, fast }, { "s", "f" })
        assert.near(1, delay, 0.1)
    end)
end)
