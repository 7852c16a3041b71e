-- The native cjson module.
local cjson = require "cjson"
local safe = require "cjson.safe"

describe("cjson", function()
    it("round-trips nested values", function()
        local t = cjson.decode(cjson.encode({ a = { 1, 2, 3 }, b = "x" }))
        assert.same({ a = { 1, 2, 3 }, b = "x" }, t)
    end)

    it("encodes like lua-cjson", function()
        assert.equals("{}", cjson.encode({}))
        assert.equals('"a\\/b"', cjson.encode("a/b"))
        assert.equals("[1,null]", cjson.encode({ 1, cjson.null }))
        assert.equals("0.1", cjson.encode(0.1))
    end)

    it("raises on bad input; cjson.safe returns nil, err", function()
        assert.has_error(function() cjson.decode("{") end)
        local v, err = safe.decode("{")
        assert.is_nil(v)
        assert.not_nil(err)
        assert.has_error(function() cjson.encode(function() end) end, "Cannot serialise function")
    end)
end)
