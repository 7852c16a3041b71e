-- OpenClaw's spec runner (`openclaw test`): a busted-style subset — describe, it, pending,
-- before_each, after_each, setup, teardown, and assert.equals/same/truthy/falsy/is_nil/
-- not_nil/has_error/matches/near — running inside the real runtime (ngx.*, bundled modules).
local M = {}

local function deep_equal(a, b)
    if a == b then return true end
    if type(a) ~= "table" or type(b) ~= "table" then return false end
    for k, v in pairs(a) do
        if not deep_equal(v, b[k]) then return false end
    end
    for k in pairs(b) do
        if a[k] == nil then return false end
    end
    return true
end

local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    if type(v) ~= "table" then return tostring(v) end
    local ok, cjson = pcall(require, "cjson.safe")
    local s = ok and cjson.encode(v)
    return s or tostring(v)
end

-- Level 3: the position of the spec line that called the assertion.
local function fail(msg)
    error(msg, 3)
end

local assert_mt = {}
local A = setmetatable({}, assert_mt)
function A.equals(expected, actual, msg)
    if expected ~= actual then
        fail((msg and msg .. ": " or "") .. "expected " .. show(expected) .. ", got " .. show(actual))
    end
end
A.are_equal, A.equal = A.equals, A.equals
function A.same(expected, actual, msg)
    if not deep_equal(expected, actual) then
        fail((msg and msg .. ": " or "") .. "expected same as " .. show(expected) .. ", got " .. show(actual))
    end
end
A.are_same = A.same
function A.truthy(v, msg) if not v then fail(msg or ("expected a truthy value, got " .. show(v))) end end
function A.falsy(v, msg) if v then fail(msg or ("expected a falsy value, got " .. show(v))) end end
A.is_true = function(v, msg) if v ~= true then fail(msg or ("expected true, got " .. show(v))) end end
A.is_false = function(v, msg) if v ~= false then fail(msg or ("expected false, got " .. show(v))) end end
function A.is_nil(v, msg) if v ~= nil then fail(msg or ("expected nil, got " .. show(v))) end end
function A.not_nil(v, msg) if v == nil then fail(msg or "expected a value, got nil") end end
A.is_not_nil = A.not_nil
function A.has_error(f, expected, msg)
    local ok, err = pcall(f)
    if ok then fail(msg or "expected an error") end
    if expected and not tostring(err):find(expected, 1, true) then
        fail(msg or ("expected an error containing " .. show(expected) .. ", got " .. show(err)))
    end
end
A.error = A.has_error
function A.matches(pattern, s, msg)
    if type(s) ~= "string" or not s:find(pattern) then
        fail(msg or ("expected " .. show(s) .. " to match " .. show(pattern)))
    end
end
function A.near(expected, actual, tolerance, msg)
    if math.abs(expected - actual) > tolerance then
        fail(msg or ("expected " .. show(actual) .. " within " .. tolerance .. " of " .. show(expected)))
    end
end
assert_mt.__call = function(_, v, msg, ...)
    if not v then fail(msg or "assertion failed!") end
    return v, msg, ...
end

-- Runs the spec files; prints failures and the closing "N passed, M failed" line.
function M.run(files)
    local passed, failed, pending = 0, 0, 0
    local failures = {}
    for _, file in ipairs(files) do
        local chunk, err = loadfile(file)
        if not chunk then
            failed = failed + 1
            failures[#failures + 1] = file .. ": " .. tostring(err)
        else
            local root = { name = "", tests = {}, children = {}, before = {}, after = {}, setup = {}, teardown = {} }
            local cur = root
            local env = setmetatable({}, { __index = _G })
            env.assert = A
            env.describe = function(name, fn)
                local node = { name = name, tests = {}, children = {}, before = {}, after = {}, setup = {}, teardown = {}, parent = cur }
                cur.children[#cur.children + 1] = node
                cur.tests[#cur.tests + 1] = { group = node }
                local saved = cur
                cur = node
                fn()
                cur = saved
            end
            env.it = function(name, fn)
                cur.tests[#cur.tests + 1] = { name = name, fn = fn }
            end
            env.pending = function(name)
                cur.tests[#cur.tests + 1] = { name = name, pending = true }
            end
            env.before_each = function(fn) cur.before[#cur.before + 1] = fn end
            env.after_each = function(fn) cur.after[#cur.after + 1] = fn end
            env.setup = function(fn) cur.setup[#cur.setup + 1] = fn end
            env.teardown = function(fn) cur.teardown[#cur.teardown + 1] = fn end
            env.lazy_setup, env.lazy_teardown = env.setup, env.teardown
            setfenv(chunk, env)
            local ok, load_err = pcall(chunk)
            if not ok then
                failed = failed + 1
                failures[#failures + 1] = file .. ": " .. tostring(load_err)
            end
            local function befores(node, out)
                if node.parent then befores(node.parent, out) end
                for _, f in ipairs(node.before) do out[#out + 1] = f end
                return out
            end
            local function afters(node, out)
                for _, f in ipairs(node.after) do out[#out + 1] = f end
                if node.parent then afters(node.parent, out) end
                return out
            end
            local function run_node(node, prefix)
                for _, f in ipairs(node.setup) do f() end
                for _, t in ipairs(node.tests) do
                    if t.group then
                        run_node(t.group, prefix .. t.group.name .. " ")
                    elseif t.pending then
                        pending = pending + 1
                    else
                        local ok2, e = pcall(function()
                            for _, f in ipairs(befores(node, {})) do f() end
                            t.fn()
                        end)
                        for _, f in ipairs(afters(node, {})) do pcall(f) end
                        if ok2 then
                            passed = passed + 1
                        else
                            failed = failed + 1
                            failures[#failures + 1] = string.format("%s: %s%s\n    %s",
                                file, prefix, t.name, tostring(e))
                        end
                    end
                end
                for _, f in ipairs(node.teardown) do f() end
            end
            run_node(root, "")
        end
    end
    for _, f in ipairs(failures) do
        io.write("FAIL ", f, "\n")
    end
    local summary = passed .. " passed, " .. failed .. " failed"
    if pending > 0 then summary = summary .. ", " .. pending .. " skipped" end
    io.write(summary, "\n")
    return passed, failed
end

return M
