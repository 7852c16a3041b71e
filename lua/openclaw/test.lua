-- OpenClaw's spec runner (`openclaw test`): busted's core — describe, it, pending,
-- before_each, after_each, setup, teardown (lazy_ and strict_ forms), assert.*, spy and
-- stub — running inside the real runtime (ngx.*, bundled modules, openclaw.test.request).
local M = {}

local function deep_equal(a, b, seen)
    if a == b then return true end
    if type(a) ~= "table" or type(b) ~= "table" then return false end
    seen = seen or {}
    if seen[a] == b then return true end
    seen[a] = b
    for k, v in pairs(a) do
        if not deep_equal(v, b[k], seen) then return false end
    end
    for k in pairs(b) do
        if a[k] == nil then return false end
    end
    return true
end

local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    if type(v) ~= "table" then return tostring(v) end
    local ok, repl = pcall(require, "openclaw.repl")
    return ok and repl.pretty(v) or tostring(v)
end

local function args_text(n, ...)
    local out = {}
    for i = 1, n do out[i] = show((select(i, ...))) end
    return "(" .. table.concat(out, ", ") .. ")"
end

-- Assertion failures carry this marker so the report can tell them from errors.
local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.msg end

local function fail(msg, level)
    local info = debug and debug.getinfo and debug.getinfo(level or 3, "Sl")
    local where = ""
    if info and info.currentline and info.currentline > 0 then
        where = info.short_src .. ":" .. info.currentline .. ": "
    end
    error(setmetatable({ msg = where .. msg }, Failure), 0)
end

-- Each check: fn(...) -> ok, message-if-failed, message-if-negated-and-passed.
local checks = {}
checks.equals = function(expected, actual)
    return expected == actual,
        "expected " .. show(expected) .. ", got " .. show(actual),
        "expected a value other than " .. show(expected)
end
checks.same = function(expected, actual)
    return deep_equal(expected, actual),
        "expected same as " .. show(expected) .. ", got " .. show(actual),
        "expected a value not the same as " .. show(expected)
end
checks.truthy = function(v)
    return not not v, "expected a truthy value, got " .. show(v), "expected a falsy value, got " .. show(v)
end
checks.falsy = function(v)
    return not v, "expected a falsy value, got " .. show(v), "expected a truthy value, got " .. show(v)
end
checks["true"] = function(v) return v == true, "expected true, got " .. show(v), "expected not true" end
checks["false"] = function(v) return v == false, "expected false, got " .. show(v), "expected not false" end
checks["nil"] = function(v) return v == nil, "expected nil, got " .. show(v), "expected a value, got nil" end
checks.error = function(f, expected)
    local ok, err = pcall(f)
    if ok then return false, "expected an error", "expected no error" end
    if type(err) == "table" and getmetatable(err) == Failure then err = err.msg end
    if expected ~= nil and not tostring(err):find(expected, 1, true) then
        return false, "expected an error containing " .. show(expected) .. ", got " .. show(err),
            "expected no error"
    end
    return true, "", "expected no error, got " .. show(err)
end
checks.matches = function(pattern, s)
    return type(s) == "string" and s:find(pattern) ~= nil,
        "expected " .. show(s) .. " to match " .. show(pattern),
        "expected " .. show(s) .. " not to match " .. show(pattern)
end
checks.near = function(expected, actual, tolerance)
    return math.abs(expected - actual) <= tolerance,
        "expected " .. show(actual) .. " within " .. tostring(tolerance) .. " of " .. show(expected),
        "expected " .. show(actual) .. " not within " .. tostring(tolerance) .. " of " .. show(expected)
end
checks.unique = function(list)
    local seen = {}
    for _, v in ipairs(list) do
        for _, w in ipairs(seen) do
            if deep_equal(v, w) then return false, "expected unique values, " .. show(v) .. " repeats", "" end
        end
        seen[#seen + 1] = v
    end
    return true, "", "expected repeated values"
end
-- Aliases, as busted names them.
local aliases = {
    equals = { "equal", "are_equal", "is_equal" },
    same = { "are_same", "is_same" },
    truthy = { "is_truthy" },
    falsy = { "is_falsy" },
    ["true"] = { "is_true" },
    ["false"] = { "is_false" },
    ["nil"] = { "is_nil" },
    error = { "has_error", "errors", "has_errors" },
    matches = { "match", "is_match" },
    near = { "is_near" },
}

-- Number of the arguments a check takes before the optional message.
local arity = { equals = 2, same = 2, truthy = 1, falsy = 1, ["true"] = 1, ["false"] = 1,
    ["nil"] = 1, error = 2, matches = 2, near = 3, unique = 1 }

local function make(name, negated)
    local check, n = checks[name], arity[name]
    return function(...)
        local msg = select(n + 1, ...)
        local ok, why, why_not = check(...)
        if negated then ok, why = not ok, why_not end
        if not ok then fail((msg and (tostring(msg) .. ": ") or "") .. why) end
        return ...
    end
end

local function assertions(negated)
    local t = {}
    for name in pairs(checks) do
        t[name] = make(name, negated)
        for _, a in ipairs(aliases[name] or {}) do t[a] = t[name] end
    end
    return t
end

local A, NOT = assertions(false), assertions(true)
-- Chains: assert.are.equal, assert.is_not.same, assert.is.truthy, assert.has_no.errors.
for _, word in ipairs({ "are", "is", "has", "was" }) do A[word] = A end
for _, word in ipairs({ "are_not", "is_not", "has_no", "was_not", "no" }) do A[word] = NOT end
NOT.equal, NOT.same = NOT.equals, NOT.same
for name in pairs(checks) do
    A["not_" .. name] = NOT[name]
    A["is_not_" .. name] = NOT[name]
    A["are_not_" .. name] = NOT[name]
end
A.not_nil, A.is_not_nil = NOT["nil"], NOT["nil"]

-- Spies: callable tables that record their calls and call through (spy.new, spy.on);
-- stubs answer with fixed values instead. Both are reverted after each test.
local live = {}
local spy_mt = {}
spy_mt.__index = spy_mt
spy_mt.__call = function(self, ...)
    self.calls[#self.calls + 1] = { n = select("#", ...), ... }
    if self.returns then return unpack(self.returns, 1, self.returns.n) end
    if self.target then return self.target(...) end
end
function spy_mt:revert()
    if self.owner then rawset(self.owner, self.key, self.original) end
end
function spy_mt:clear()
    self.calls = {}
    return self
end
function spy_mt:returns_with(...)
    self.returns = { n = select("#", ...), ... }
    return self
end
spy_mt.returns_ = spy_mt.returns_with

local function new_spy(fn)
    return setmetatable({ calls = {}, target = fn }, spy_mt)
end

local function replace(owner, key, s)
    s.owner, s.key, s.original = owner, key, owner[key]
    rawset(owner, key, s)
    live[#live + 1] = s
    return s
end

local spy = setmetatable({
    new = function(fn) return new_spy(fn) end,
    on = function(owner, key)
        if type(owner) ~= "table" then error("bad argument #1 to 'spy.on' (table expected)", 2) end
        return replace(owner, key, new_spy(owner[key]))
    end,
    is_spy = function(v) return getmetatable(v) == spy_mt end,
}, { __call = function(_, fn) return new_spy(fn) end })

local stub = setmetatable({
    new = function(owner, key, ...)
        local s = new_spy(nil)
        s.returns = { n = select("#", ...), ... }
        if owner == nil then return s end
        return replace(owner, key, s)
    end,
}, { __call = function(self, owner, key, ...) return self.new(owner, key, ...) end })

local function called_with(s, n, ...)
    local want = { n = n, ... }
    for _, c in ipairs(s.calls) do
        if c.n == want.n then
            local same = true
            for i = 1, want.n do
                if not deep_equal(c[i], want[i]) then same = false break end
            end
            if same then return true end
        end
    end
    return false
end

-- assert.spy(s).was.called(n), .was_called_with(...), .was_not.called(), and the
-- returned_with-free subset busted users write most.
local function spy_assertions(s, negated)
    if getmetatable(s) ~= spy_mt then fail("expected a spy or stub, got " .. show(s)) end
    local t = {}
    t.called = function(n)
        local count = #s.calls
        local ok = (n == nil and count > 0) or count == n
        if negated then ok = not ok end
        if not ok then
            fail(negated and ("expected not to be called" .. (n and (" " .. n .. " times") or "")
                .. ", was called " .. count .. " times")
                or ("expected to be called " .. (n and (n .. " times") or "at least once")
                .. ", was called " .. count .. " times"))
        end
    end
    t.called_with = function(...)
        local ok = called_with(s, select("#", ...), ...)
        if negated then ok = not ok end
        if not ok then
            local seen = {}
            for i, c in ipairs(s.calls) do seen[i] = args_text(c.n, unpack(c, 1, c.n)) end
            fail("expected " .. (negated and "no call" or "a call") .. " with "
                .. args_text(select("#", ...), ...) .. "; calls: "
                .. (#seen > 0 and table.concat(seen, ", ") or "none"))
        end
    end
    t.called_at_least = function(n)
        if #s.calls < n then fail("expected at least " .. n .. " calls, got " .. #s.calls) end
    end
    return t
end

local function spy_chain(s)
    local pos, neg = spy_assertions(s, false), spy_assertions(s, true)
    local t = { was = pos, was_not = neg, was_called = pos.called, was_not_called = neg.called,
        was_called_with = pos.called_with, was_not_called_with = neg.called_with }
    pos["not"] = neg
    return t
end
A.spy, A.stub = spy_chain, spy_chain

setmetatable(A, {
    __call = function(_, v, msg, ...)
        if not v then fail(msg and tostring(msg) or "assertion failed!") end
        return v, msg, ...
    end,
})

local function failure_text(e)
    if type(e) == "table" and getmetatable(e) == Failure then return e.msg end
    return tostring(e)
end

local function new_node(name, parent, line)
    return { name = name, tests = {}, before = {}, after = {}, setup = {}, teardown = {},
        parent = parent, line = line }
end

-- Runs the spec files; prints failures and the closing "N passed, M failed" line.
function M.run(files)
    local passed, failed, pending = 0, 0, 0
    local failures = {}
    local function report(where, name, e)
        failed = failed + 1
        failures[#failures + 1] = where .. ": " .. name .. "\n    "
            .. failure_text(e):gsub("\n", "\n    ")
    end
    for _, file in ipairs(files) do
        local chunk, err = loadfile(file)
        if not chunk then
            report(file, "(loading)", err)
        else
            local root = new_node("", nil, 0)
            local cur = root
            local env = setmetatable({}, { __index = _G })
            local function line_of(fn)
                local info = type(fn) == "function" and debug and debug.getinfo
                    and debug.getinfo(fn, "S")
                return info and info.linedefined or 0
            end
            env.assert, env.spy, env.stub = A, spy, stub
            env.mock = function(t) for k, v in pairs(t) do if type(v) == "function" then spy.on(t, k) end end return t end
            env.describe = function(name, fn)
                local node = new_node(name, cur, line_of(fn))
                cur.tests[#cur.tests + 1] = { group = node }
                local saved = cur
                cur = node
                local ok, e = pcall(fn)
                cur = saved
                if not ok then report(file .. ":" .. node.line, name, e) end
            end
            env.context = env.describe
            env.it = function(name, fn)
                cur.tests[#cur.tests + 1] = { name = name, fn = fn, line = line_of(fn) }
            end
            env.test, env.spec = env.it, env.it
            env.pending = function(name)
                cur.tests[#cur.tests + 1] = { name = name, pending = true }
            end
            env.before_each = function(fn) cur.before[#cur.before + 1] = fn end
            env.after_each = function(fn) cur.after[#cur.after + 1] = fn end
            env.setup = function(fn) cur.setup[#cur.setup + 1] = fn end
            env.teardown = function(fn) cur.teardown[#cur.teardown + 1] = fn end
            env.lazy_setup, env.lazy_teardown = env.setup, env.teardown
            env.strict_setup, env.strict_teardown = env.setup, env.teardown
            setfenv(chunk, env)
            local ok, load_err = pcall(chunk)
            if not ok then report(file, "(loading)", load_err) end
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
                for _, f in ipairs(node.setup) do
                    local ok2, e = pcall(f)
                    if not ok2 then
                        -- A failed setup fails its whole block, as in busted.
                        report(file .. ":" .. node.line, prefix .. "(setup)", e)
                        return
                    end
                end
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
                        for _, f in ipairs(afters(node, {})) do
                            local ok3, e3 = pcall(f)
                            if ok2 and not ok3 then ok2, e = false, e3 end
                        end
                        for i = #live, 1, -1 do live[i]:revert() live[i] = nil end
                        if ok2 then
                            passed = passed + 1
                        else
                            report(file .. ":" .. t.line, prefix .. t.name, e)
                        end
                    end
                end
                for _, f in ipairs(node.teardown) do
                    local ok2, e = pcall(f)
                    if not ok2 then report(file .. ":" .. node.line, prefix .. "(teardown)", e) end
                end
            end
            run_node(root, "")
        end
    end
    for _, f in ipairs(failures) do
        io.write("FAIL ", f, "\n")
    end
    local summary = passed .. " passed, " .. failed .. " failed"
    if pending > 0 then summary = summary .. ", " .. pending .. " pending" end
    io.write(summary, "\n")
    return passed, failed
end

return M
