-- The bundled ngx.base64 and ngx.process.
local b64 = require "ngx.base64"
local process = require "ngx.process"

describe("ngx.base64", function()
    it("encodes URL-safe without padding", function()
        assert.equals("_-8", b64.encode_base64url("\255\239"))
        assert.equals("aGVsbG8", b64.encode_base64url("hello"))
        assert.equals("", b64.encode_base64url(""))
    end)

    it("decodes, padding or not, and refuses bad input", function()
        assert.equals("hello", b64.decode_base64url("aGVsbG8"))
        assert.equals("\255\239", b64.decode_base64url("_-8"))
        assert.same({ nil, "invalid input" }, { b64.decode_base64url("a+b/") })
        assert.same({ nil, "invalid input" }, { b64.decode_base64url("abcde") })
        assert.has_error(function() b64.decode_base64url(1) end, "must provide a string")
    end)
end)

describe("ngx.process", function()
    it("is one worker process", function()
        assert.equals("worker", process.type())
        assert.equals(ngx.worker.pid(), process.get_master_pid())
        assert.same({ nil, "API not supported by openclaw: ngx.process.enable_privileged_agent" },
            { process.enable_privileged_agent() })
    end)
end)
