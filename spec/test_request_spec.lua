-- openclaw.test.request through spec/spec.conf's server, in process, and the fake clock.
describe("openclaw.test.request", function()
    it("runs the whole pipeline and returns status, headers, body and log lines", function()
        local r = openclaw.test.request{ path = "/hello?name=ann" }
        assert.equals(200, r.status)
        assert.equals("HTTP/1.1 200 OK", r.status_line)
        assert.equals("hello, ann\n", r.body)
        assert.equals("yes", r.headers["x-spec"])
        assert.equals("yes", r.headers["X-Spec"])
        assert.equals(1, #r.log)
        -- error_log's default level is error: the warn line is not there.
        assert.matches("%[error%].*content_by_lua%(spec%.conf:%d+%):3: hello for ann", r.log[1])
    end)

    it("sends the method, headers and body", function()
        local r = openclaw.test.request{ method = "PUT", path = "/echo",
            headers = { ["X-Token"] = "t1" }, body = "payload" }
        assert.equals(200, r.status)
        assert.equals("PUT t1 payload\n", r.body)
        -- The log phase (which may yield) is part of the exchange.
        assert.matches("log phase saw 200", r.log[1])
    end)

    it("answers a Lua error with 500 and logs the chunk and line", function()
        local r = openclaw.test.request{ path = "/boom" }
        assert.equals(500, r.status)
        assert.matches("content_by_lua%(spec%.conf:%d+%):1: spec boom", r.log[1])
    end)

    it("matches locations like the server does", function()
        local r = openclaw.test.request{ path = "/nothing" }
        assert.equals(404, r.status)
        assert.equals("not here\n", r.body)
    end)

    it("shares the shared dicts with the spec's VM", function()
        ngx.shared.store:set("shared_k", "from spec")
        local r = openclaw.test.request{ path = "/store?k=shared_k" }
        assert.equals("from spec\n", r.body)
    end)

    it("moves the fake clock for limits: no sleeping", function()
        assert.equals(200, openclaw.test.request{ path = "/limited" }.status)
        assert.equals(503, openclaw.test.request{ path = "/limited" }.status)
        -- 1r/m is 16 milli-requests per ms in nginx's arithmetic: 61 s is not yet enough.
        assert.equals(503, openclaw.test.request{ path = "/limited", advance = 61 }.status)
        local r = openclaw.test.request{ path = "/limited", advance = 2 }
        assert.equals(200, r.status)
        assert.equals("admitted\n", r.body)
    end)

    it("refuses bad arguments", function()
        assert.has_error(function() openclaw.test.request("x") end,
            "bad argument #1 to 'request' (table expected)")
        assert.has_error(function() openclaw.test.request{ path = "nope" } end,
            "path must start with '/'")
    end)
end)

describe("openclaw.test.advance", function()
    it("moves ngx.now and shared dict expiry forward", function()
        local t0 = ngx.now()
        ngx.shared.store:set("ttl_k", 1, 10)
        openclaw.test.advance(11)
        assert.is_true(ngx.now() - t0 >= 11)
        assert.is_nil(ngx.shared.store:get("ttl_k"))
    end)

    it("refuses negative times", function()
        assert.has_error(function() openclaw.test.advance(-1) end, "non-negative number expected")
    end)
end)
