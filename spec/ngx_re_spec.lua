-- ngx.re (split) and the native ngx.re.* functions.
local re = require "ngx.re"

describe("ngx.re.split", function()
    it("splits on a regex, keeping empty fields", function()
        assert.same({ "a", "b", "", "c" }, re.split("a,b,,c", ","))
    end)

    it("honours max", function()
        assert.same({ "a", "b,c" }, re.split("a,b,c", ",", nil, nil, 2))
    end)

    it("returns the whole subject when nothing matches", function()
        assert.same({ "abc" }, re.split("abc", ","))
    end)
end)

describe("ngx.re", function()
    it("matches with captures and named groups", function()
        local m = ngx.re.match("key=value", [[(?<k>\w+)=(\w+)]])
        assert.equals("key=value", m[0])
        assert.equals("key", m.k)
        assert.equals("value", m[2])
    end)

    it("substitutes with templates and functions", function()
        assert.equals("<1>-<22>", (ngx.re.gsub("1-22", [[\d+]], "<$0>")))
        local s, n = ngx.re.gsub("a b", [[\w]], function(m) return m[0]:upper() end)
        assert.equals("A B", s)
        assert.equals(2, n)
    end)

    it("reports a bad pattern as nil, err", function()
        local m, err = ngx.re.match("x", "(")
        assert.is_nil(m)
        assert.matches("pcre2_compile", err)
    end)
end)
