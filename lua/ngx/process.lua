-- ngx.process (lua-resty-core's API). OpenClaw is one process whose workers are threads:
-- every handler runs in a "worker", and the master's pid is the process's.
local _M = { version = "0.1" }

function _M.type()
    return "worker"
end

function _M.get_master_pid()
    return ngx.worker.pid()
end

function _M.enable_privileged_agent()
    return nil, "API not supported by openclaw: ngx.process.enable_privileged_agent"
end

function _M.signal_graceful_exit()
    return error("API not supported by openclaw: ngx.process.signal_graceful_exit", 2)
end

return _M
