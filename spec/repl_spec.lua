-- The REPL's printing and completion (lua/openclaw/repl.lua).
local repl = require "openclaw.repl"

describe("openclaw.repl.pretty", function()
    it("prints scalars as Lua would read them", function()
        assert.equals('42\t"a\\nb"\tnil\ttrue', repl.pretty(42, "a\nb", nil, true))
        assert.is_nil(repl.pretty())
    end)

    it("prints tables sorted, short ones on one line", function()
        assert.equals('{ 1, 2, a = 1, ["b c"] = { x = true } }',
            repl.pretty({ 1, 2, a = 1, ["b c"] = { x = true } }))
        assert.equals("{}", repl.pretty({}))
    end)

    it("breaks long tables over lines and marks cycles", function()
        local t = { name = string.rep("n", 40), list = { "alpha", "beta", "gamma", "delta" } }
        t.self = t
        local s = repl.pretty(t)
        assert.matches("^{\n  list = { \"alpha\", \"beta\", \"gamma\", \"delta\" },\n", s)
        assert.matches("self = <cycle>", s)
    end)
end)

describe("openclaw.repl.complete", function()
    it("completes globals and fields", function()
        assert.same({ "ngx.md5", "ngx.md5_bin" }, repl.complete("ngx.md"))
        local got = repl.complete("ngx.re.")
        assert.truthy(#got >= 5)
        assert.equals("ngx.re.find", got[1])
        assert.same({ "string" }, repl.complete("strin"))
    end)

    it("completes methods after a colon", function()
        local got = repl.complete("ngx.shared.store:ge")
        assert.same({ "ngx.shared.store:get", "ngx.shared.store:get_keys",
            "ngx.shared.store:get_stale" }, got)
    end)

    it("offers nothing for unknown paths", function()
        assert.same({}, repl.complete("nosuch.thing."))
    end)
end)
