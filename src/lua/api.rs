//! The `ngx` table: OpenResty's names, return values and error strings.

use super::req::{with_req, ReqState};
use crate::observe::Level;
use crate::pipeline::{Phase, PhaseSet};
use http::header::HeaderValue;
use mlua::{Lua, MultiValue, Table, Value};

pub type LResult<T> = mlua::Result<T>;

pub const REQ_PHASES: PhaseSet = PhaseSet::of(&[
    Phase::Set,
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
    Phase::HeaderFilter,
    Phase::BodyFilter,
    Phase::Log,
    Phase::Balancer,
]);
pub const OUTPUT_PHASES: PhaseSet = PhaseSet::of(&[Phase::Rewrite, Phase::Access, Phase::Content]);
pub const YIELD_PHASES: PhaseSet = PhaseSet::of(&[
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
    Phase::Timer,
    Phase::SslCert,
]);
/// Where cosockets and `ngx.sleep` work: beyond OpenResty, in `log_by_lua` too (it runs
/// after the response was sent, so shipping logs to Redis or HTTP there costs no client).
pub const COSOCKET_PHASES: PhaseSet = PhaseSet::of(&[
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
    Phase::Timer,
    Phase::Log,
    Phase::SslCert,
]);

/// Parks the running coroutine for good: used after `ngx.exit`, `ngx.exec` and the like
/// set the outcome, so `req::Scoped` finishes the handler and drops the coroutine.
/// A future that is pending once (waking itself), then ready: a yield point.
pub struct YieldOnce(pub bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

pub async fn park() -> LResult<()> {
    std::future::pending::<()>().await;
    Ok(())
}

pub fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// `nil, msg`: how APIs report an expected failure.
pub fn nil_err(lua: &Lua, msg: &str) -> LResult<mlua::MultiValue> {
    Ok(mlua::MultiValue::from_iter([
        Value::Nil,
        Value::String(lua.create_string(msg)?),
    ]))
}

/// The global `openclaw` table (the native API), created on first use.
pub fn openclaw_table(lua: &Lua) -> LResult<Table> {
    match lua.globals().get::<Value>("openclaw")? {
        Value::Table(t) => Ok(t),
        _ => {
            let t = lua.create_table()?;
            lua.globals().raw_set("openclaw", t.clone())?;
            Ok(t)
        }
    }
}

/// `API disabled in the context of <phase>` unless the running phase is in `set`.
pub fn check_phase(st: &ReqState, set: PhaseSet) -> LResult<()> {
    if set.contains(st.phase) {
        Ok(())
    } else {
        Err(rt(format!(
            "API disabled in the context of {}",
            phase_context(st.phase)
        )))
    }
}

/// How `API disabled in the context of ...` names a phase.
pub(super) fn phase_context(p: Phase) -> String {
    match p {
        Phase::Timer => "ngx.timer".into(),
        Phase::SslCert => "ssl_certificate_by_lua*".into(),
        p => format!("{}_by_lua*", p.name()),
    }
}

/// Installs `ngx` (and `print`) into a fresh VM.
pub fn install(lua: &Lua) -> LResult<()> {
    let ngx = lua.create_table()?;
    constants(lua, &ngx)?;
    output(lua, &ngx)?;
    super::ngx_req::request(lua, &ngx)?;
    super::ngx_util::utilities(lua, &ngx)?;
    super::re::install(lua, &ngx)?;
    super::timer::install(lua, &ngx)?;
    super::capture::install(lua, &ngx)?;
    super::socket::install(lua, &ngx)?;
    super::thread::install(lua, &ngx)?;
    special_fields(lua, &ngx)?;
    let globals = lua.globals();
    globals.set("ngx", ngx.clone())?;
    let loaded: Table = globals.get::<Table>("package")?.get("loaded")?;
    loaded.set("ngx", ngx.clone())?;
    super::cjson::install(lua)?;
    super::errlog::install(lua)?;
    super::semaphore::install(lua)?;
    globals.set(
        "__openclaw_global_write",
        lua.create_function(|_, k: Value| {
            let name = match &k {
                Value::String(s) => s.to_string_lossy().to_string(),
                other => format!("{other:?}"),
            };
            let _ = with_req(|_, ctx| {
                ctx.log(Level::Warn, &format!("writing a global Lua variable ('{name}') which may lead to race conditions between concurrent requests, so prefer the use of 'local' variables"));
                Ok(())
            });
            Ok(())
        })?,
    )?;
    // WRAP records the names of the stubs it installs (see [`UNSUPPORTED_APIS`]).
    let stubs = lua.create_table()?;
    lua.set_named_registry_value(UNSUPPORTED_APIS, &stubs)?;
    lua.load(WRAP).set_name("=openclaw.api").call::<()>(stubs)?;
    Ok(())
}

/// Registry key of the set (`name -> true`) of OpenResty APIs installed as stubs raising
/// `API not supported by openclaw: NAME`; `openclaw migrate` reads it.
pub const UNSUPPORTED_APIS: &str = "openclaw.unsupported_apis";

/// Errors raised by Rust API functions reach Lua as plain strings, as OpenResty's do:
/// C-implemented functions (say, print, log, exit, sleep, redirect, ...) without a position,
/// the ones lua-resty-core implements in Lua with the caller's position.
const WRAP: &str = r#"
local unsupported = ...
local pcall, error, type, tostring, pairs, getmetatable = pcall, error, type, tostring, pairs, getmetatable
local C = { say = true, print = true, log = true, exit = true, sleep = true,
            redirect = true, flush = true, eof = true, exec = true }
local function clean(e)
    if type(e) ~= "string" then e = tostring(e) end
    e = e:gsub("^runtime error: ", "", 1)
    local cut = e:find("\nstack traceback:", 1, true)
    if cut then e = e:sub(1, cut - 1) end
    return e
end
local function wrap(f, level)
    local function ret(ok, ...)
        if ok then return ... end
        error(clean((...)), level)
    end
    return function(...) return ret(pcall(f, ...)) end
end
local function wrap_table(t, c_names)
    for k, v in pairs(t) do
        if type(v) == "function" then
            t[k] = wrap(v, (c_names and c_names[k]) and 0 or 2)
        end
    end
end
local function wrap_meta(t)
    local mt = getmetatable(t)
    for _, k in ipairs({"__index", "__newindex"}) do
        if type(mt[k]) == "function" then mt[k] = wrap(mt[k], 2) end
    end
end
wrap_table(ngx, C)
wrap_table(ngx.req)
wrap_table(ngx.resp)
wrap_table(ngx.re)
wrap_table(ngx.timer)
wrap_table(ngx.location)
wrap_table(ngx.worker)
wrap_meta(ngx.var)
wrap_meta(ngx.header)
wrap_meta(ngx)
local log, NOTICE = ngx.log, ngx.NOTICE
print = function(...) return log(NOTICE, ...) end
-- OpenResty APIs OpenClaw does not have fail loudly rather than being nil.
local function missing(name)
    return function() error("API not supported by openclaw: " .. name, 2) end
end
for path, names in pairs({
    [ngx.req] = { "socket", "set_body_file", "init_body", "append_body", "finish_body", "get_body_file" },
    [ngx.socket] = { "stream" },
}) do
    for _, n in ipairs(names) do
        if rawget(path, n) == nil then
            local prefix = path == ngx and "ngx." or (path == ngx.req and "ngx.req." or "ngx.socket.")
            rawset(path, n, missing(prefix .. n))
            unsupported[prefix .. n] = true
        end
    end
end
if rawget(ngx.config, "debug") == nil then rawset(ngx.config, "debug", false) end
if rawget(ngx.config, "nginx_configure") == nil then
    rawset(ngx.config, "nginx_configure", function()
        return " --prefix=. --with-http_ssl_module --with-http_v2_module --add-module=openclaw-lua"
    end)
end
-- ngx.socket.connect(host, port, opts): a connected TCP cosocket, or nil, err.
if rawget(ngx.socket, "connect") == nil then
    local tcp = ngx.socket.tcp
    rawset(ngx.socket, "connect", function(...)
        local sock = tcp()
        local ok, err = sock:connect(...)
        if not ok then return nil, err end
        return sock
    end)
end
-- The native modules installed after this (openclaw.*, ngx.balancer) are wrapped the same
-- way by WRAP_NATIVE.
__openclaw_wrap_table = wrap_table
"#;

/// Wraps the native API tables installed after [`WRAP`] (run once per VM).
pub const WRAP_NATIVE: &str = r#"
local wrap = __openclaw_wrap_table
__openclaw_wrap_table = nil
for _, name in ipairs({ "limit", "upstream", "cache", "keys" }) do
    if openclaw[name] then wrap(openclaw[name]) end
end
wrap(package.loaded["ngx.balancer"])
wrap(package.loaded["ngx.ssl"])
"#;

/// Warns about global writes made while serving requests (installed after init_by_lua).
pub const GUARD_GLOBALS: &str = r#"
local rawset, warn = rawset, __openclaw_global_write
__openclaw_global_write = nil
setmetatable(_G, { __newindex = function(t, k, v) warn(k); rawset(t, k, v) end })
"#;

fn constants(lua: &Lua, ngx: &Table) -> LResult<()> {
    for (k, v) in [
        ("OK", 0),
        ("ERROR", -1),
        ("AGAIN", -2),
        ("DONE", -4),
        ("DECLINED", -5),
    ] {
        ngx.set(k, v)?;
    }
    let statuses: &[(&str, i64)] = &[
        ("HTTP_CONTINUE", 100),
        ("HTTP_SWITCHING_PROTOCOLS", 101),
        ("HTTP_OK", 200),
        ("HTTP_CREATED", 201),
        ("HTTP_ACCEPTED", 202),
        ("HTTP_NO_CONTENT", 204),
        ("HTTP_PARTIAL_CONTENT", 206),
        ("HTTP_SPECIAL_RESPONSE", 300),
        ("HTTP_MOVED_PERMANENTLY", 301),
        ("HTTP_MOVED_TEMPORARILY", 302),
        ("HTTP_SEE_OTHER", 303),
        ("HTTP_NOT_MODIFIED", 304),
        ("HTTP_TEMPORARY_REDIRECT", 307),
        ("HTTP_PERMANENT_REDIRECT", 308),
        ("HTTP_BAD_REQUEST", 400),
        ("HTTP_UNAUTHORIZED", 401),
        ("HTTP_PAYMENT_REQUIRED", 402),
        ("HTTP_FORBIDDEN", 403),
        ("HTTP_NOT_FOUND", 404),
        ("HTTP_NOT_ALLOWED", 405),
        ("HTTP_NOT_ACCEPTABLE", 406),
        ("HTTP_REQUEST_TIMEOUT", 408),
        ("HTTP_CONFLICT", 409),
        ("HTTP_GONE", 410),
        ("HTTP_UPGRADE_REQUIRED", 426),
        ("HTTP_TOO_MANY_REQUESTS", 429),
        ("HTTP_CLOSE", 444),
        ("HTTP_ILLEGAL", 451),
        ("HTTP_INTERNAL_SERVER_ERROR", 500),
        ("HTTP_METHOD_NOT_IMPLEMENTED", 501),
        ("HTTP_BAD_GATEWAY", 502),
        ("HTTP_SERVICE_UNAVAILABLE", 503),
        ("HTTP_GATEWAY_TIMEOUT", 504),
        ("HTTP_VERSION_NOT_SUPPORTED", 505),
        ("HTTP_INSUFFICIENT_STORAGE", 507),
    ];
    for (k, v) in statuses {
        ngx.set(*k, *v)?;
    }
    let methods: &[(&str, i64)] = &[
        ("HTTP_GET", 2),
        ("HTTP_HEAD", 4),
        ("HTTP_POST", 8),
        ("HTTP_PUT", 16),
        ("HTTP_DELETE", 32),
        ("HTTP_MKCOL", 64),
        ("HTTP_COPY", 128),
        ("HTTP_MOVE", 256),
        ("HTTP_OPTIONS", 512),
        ("HTTP_PROPFIND", 1024),
        ("HTTP_PROPPATCH", 2048),
        ("HTTP_LOCK", 4096),
        ("HTTP_UNLOCK", 8192),
        ("HTTP_PATCH", 16384),
        ("HTTP_TRACE", 32768),
    ];
    for (k, v) in methods {
        ngx.set(*k, *v)?;
    }
    let levels: &[(&str, i64)] = &[
        ("STDERR", 0),
        ("EMERG", 1),
        ("ALERT", 2),
        ("CRIT", 3),
        ("ERR", 4),
        ("WARN", 5),
        ("NOTICE", 6),
        ("INFO", 7),
        ("DEBUG", 8),
    ];
    for (k, v) in levels {
        ngx.set(*k, *v)?;
    }
    ngx.set(
        "null",
        Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
    )?;
    let config = lua.create_table()?;
    config.set("subsystem", "http")?;
    config.set("nginx_version", 1025005)?;
    config.set("ngx_lua_version", 10026)?;
    config.set("debug", false)?;
    config.set(
        "prefix",
        lua.create_function(|_, ()| {
            with_req(|_, ctx| Ok(format!("{}/", ctx.gen.config.prefix.display())))
        })?,
    )?;
    ngx.set("config", config)?;
    let worker = lua.create_table()?;
    worker.set("pid", lua.create_function(|_, ()| Ok(std::process::id()))?)?;
    worker.set(
        "id",
        lua.create_function(|_, ()| Ok(crate::observe::worker_id().saturating_sub(1)))?,
    )?;
    worker.set(
        "count",
        lua.create_function(|_, ()| with_req(|_, ctx| Ok(ctx.gen.config.main.worker_processes)))?,
    )?;
    worker.set(
        "exiting",
        lua.create_function(|lua, ()| {
            Ok(lua
                .app_data_ref::<super::vm::Retired>()
                .is_some_and(|r| r.0.get()))
        })?,
    )?;
    ngx.set("worker", worker)?;
    Ok(())
}

/// Appends Lua values the way `ngx.say`/`ngx.print` render them (lua-nginx-module's
/// messages, which name the function '?').
fn render(v: &Value, out: &mut Vec<u8>, argn: usize, nested: bool) -> LResult<()> {
    match v {
        Value::String(s) => out.extend_from_slice(&s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(lua_number(*i as f64).as_bytes()),
        Value::Number(n) => out.extend_from_slice(lua_number(*n).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let len = t.raw_len();
            let mut count = 0;
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, _) = pair?;
                count += 1;
                let ok = match k {
                    Value::Integer(i) => i >= 1 && (i as usize) <= len,
                    Value::Number(n) => n >= 1.0 && n.fract() == 0.0 && (n as usize) <= len,
                    _ => false,
                };
                if !ok {
                    return Err(rt(format!(
                        "bad argument #{argn} to '?' (non-array table found)"
                    )));
                }
            }
            let _ = count;
            for item in t.clone().sequence_values::<Value>() {
                let item = item?;
                match item {
                    Value::Function(_) | Value::UserData(_) | Value::Thread(_) => {
                        return Err(rt(format!(
                            "bad argument #{argn} to '?' (bad data type {} found)",
                            item.type_name()
                        )))
                    }
                    _ => render(&item, out, argn, true)?,
                }
            }
        }
        other => {
            let _ = nested;
            return Err(rt(format!(
                "bad argument #{argn} to '?' (string, number, boolean, nil, ngx.null, or array table expected, but got {})",
                other.type_name()
            )));
        }
    }
    Ok(())
}

/// Lua's `%.14g` rendering of numbers (LuaJIT's `tostring`).
pub fn lua_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Integers below 1e14 print all their digits under %.14g: skip printf (the common case,
    // counters and lengths). -0 keeps its sign as printf's does.
    if n.fract() == 0.0 && n.abs() < 1e14 && !(n == 0.0 && n.is_sign_negative()) {
        return (n as i64).to_string();
    }
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is large enough for any %.14g output and snprintf NUL-terminates.
    let len = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.14g".as_ptr(),
            n,
        )
    };
    String::from_utf8_lossy(&buf[..len.clamp(0, 63) as usize]).into_owned()
}

/// What output functions return once `ngx.req.socket(true)` took the connection.
const RAW_ACQUIRED: &str = "raw request socket acquired";

fn output(lua: &Lua, ngx: &Table) -> LResult<()> {
    for (name, newline) in [("say", true), ("print", false)] {
        let f = lua.create_function(move |lua, args: MultiValue| {
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
                if st.raw_socket {
                    return nil_err(lua, RAW_ACQUIRED);
                }
                // Rendered in place; a bad argument takes back what came before it.
                let mark = st.out.len();
                for (i, a) in args.iter().enumerate() {
                    if let Err(e) = render(a, &mut st.out, i + 1, false) {
                        st.out.truncate(mark);
                        return Err(e);
                    }
                }
                st.end_output(newline);
                Ok(MultiValue::from_iter([Value::Integer(1)]))
            })
        })?;
        ngx.set(name, f)?;
    }
    // ngx.flush and ngx.send_headers: in a content handler the status line, headers and
    // output so far go out now and the rest streams (see stream.rs); elsewhere output is
    // sent when the handler ends.
    for name in ["flush", "send_headers"] {
        let f = lua.create_async_function(move |lua, _: MultiValue| async move {
            let stream = with_req(|st, ctx| {
                check_phase(st, OUTPUT_PHASES)?;
                if st.raw_socket {
                    return Ok(None);
                }
                let streams = st.phase == Phase::Content && ctx.method != http::Method::HEAD;
                if streams {
                    st.sent = true;
                    st.flush = true;
                }
                Ok(Some(streams))
            })?;
            match stream {
                None => return nil_err(&lua, RAW_ACQUIRED),
                // Hand control back so the output is sent; resumed when it was taken.
                Some(true) => YieldOnce(false).await,
                Some(false) => {}
            }
            Ok(MultiValue::from_iter([Value::Integer(1)]))
        })?;
        ngx.set(name, f)?;
    }
    ngx.set(
        "eof",
        lua.create_function(|lua, ()| {
            if super::req::with_state(|st| Ok(st.raw_socket)).unwrap_or(false) {
                return nil_err(lua, RAW_ACQUIRED);
            }
            Ok(MultiValue::from_iter([Value::Integer(1)]))
        })?,
    )?;
    // ngx.exit never returns: it records the code and parks the coroutine, which the
    // runner then abandons.
    ngx.set(
        "exit",
        lua.create_async_function(|_, code: Value| async move {
            let code = match code {
                Value::Integer(i) => i,
                Value::Number(n) => n as i64,
                other => {
                    return Err(rt(format!(
                        "bad argument #1 to 'exit' (number expected, got {})",
                        other.type_name()
                    )))
                }
            };
            if code > 999 {
                return Err(rt(format!(
                    "bad argument #1 to 'exit' (invalid status code {code})"
                )));
            }
            // Timers may call ngx.exit to end early (there is no request to finish).
            super::req::with_state(|st| {
                check_phase(st, YIELD_PHASES)?;
                st.exit = Some(code);
                Ok(())
            })?;
            park().await
        })?,
    )?;
    ngx.set(
        "sleep",
        lua.create_async_function(|_, secs: f64| async move {
            super::req::with_state(|st| check_phase(st, COSOCKET_PHASES))?;
            if secs < 0.0 || secs.is_nan() {
                return Err(rt(format!(
                    "invalid sleep duration \"{}\"",
                    (secs * 1000.0) as i64
                )));
            }
            let d = std::time::Duration::try_from_secs_f64(secs)
                .map_err(|_| rt(format!("invalid sleep duration \"{secs}\"")))?;
            tokio::time::sleep(d).await;
            Ok(())
        })?,
    )?;
    ngx.set(
        "redirect",
        lua.create_async_function(|_, (uri, status): (String, Option<i64>)| async move {
            let status = status.unwrap_or(302);
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Err(rt(
                    "only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed"
                ));
            }
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
                if st.sent {
                    return Err(rt("attempt to call ngx.redirect after sending out the headers"));
                }
                let v = HeaderValue::from_str(&uri).map_err(|_| rt("invalid uri"))?;
                st.headers.insert(http::header::LOCATION, v);
                st.exit = Some(status);
                Ok(())
            })?;
            park().await
        })?,
    )?;
    let log = lua.create_function(|lua, args: MultiValue| {
        let mut it = args.into_iter();
        let level = match it.next() {
            Some(Value::Integer(l)) => l,
            Some(Value::Number(n)) => n as i64,
            _ => return Err(rt("bad argument #1 to 'log' (number expected, got nil)")),
        };
        let lvl = super::errlog::level_of(level).ok_or_else(|| rt("bad log level"))?;
        let mut msg = Vec::new();
        for (i, a) in it.enumerate() {
            match &a {
                Value::Table(t) => {
                    let ts = t
                        .metatable()
                        .and_then(|mt| mt.raw_get::<mlua::Function>("__tostring").ok());
                    match ts {
                        Some(f) => {
                            let s: mlua::LuaString = f.call(t.clone())?;
                            msg.extend_from_slice(&s.as_bytes());
                        }
                        None => {
                            return Err(rt(format!(
                                "bad argument #{} to '?' (expected table to have __tostring metamethod)",
                                i + 1
                            )))
                        }
                    }
                }
                v => render(v, &mut msg, i + 2, false)?,
            }
        }
        let msg = String::from_utf8_lossy(&msg).into_owned();
        let mut at = String::new();
        for level in 1..8 {
            let frame = lua.inspect_stack(level, |d| {
                let src = d.source();
                let short = src.short_src.map(|s| s.into_owned()).unwrap_or_default();
                (short, d.current_line().unwrap_or(0))
            });
            let Some((short, line)) = frame else { break };
            if short == "[C]" || short == "openclaw.api" {
                continue;
            }
            // lua-nginx-module logs file chunks by their base name.
            let base = short.rsplit('/').next().unwrap_or(&short).to_string();
            at = format!("{base}:{line}");
            break;
        }
        let line = format!("[lua] {at}: {msg}");
        match with_req(|_, ctx| {
            ctx.log(lvl, &line);
            Ok(())
        }) {
            Ok(()) => {}
            // A handshake's handler: nginx's context, client and server follow.
            Err(_) => crate::observe::log(
                lvl,
                &format!("{line}{}", super::ssl::log_context()),
                None,
            ),
        }
        Ok(())
    })?;
    ngx.set("log", log)?;
    Ok(())
}

/// `ngx.status` and `ngx.ctx` are fields backed by the request.
fn special_fields(lua: &Lua, ngx: &Table) -> LResult<()> {
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_, k): (Value, String)| match k.as_str() {
            "status" => with_req(|st, ctx| {
                Ok(Value::Integer(
                    st.status.map(i64::from).unwrap_or(if st.sent {
                        200
                    } else {
                        ctx.status as i64
                    }),
                ))
            }),
            "ctx" => {
                let existing = with_req(|st, _| {
                    Ok(st
                        .ctx_table
                        .as_ref()
                        .map(|k| lua.registry_value::<Table>(k)))
                })?;
                match existing {
                    Some(t) => Ok(Value::Table(t?)),
                    None => {
                        let t = lua.create_table()?;
                        let key = lua.create_registry_value(t.clone())?;
                        with_req(|st, _| {
                            st.ctx_table = Some(key);
                            Ok(())
                        })?;
                        Ok(Value::Table(t))
                    }
                }
            }
            "headers_sent" => with_req(|st, _| Ok(Value::Boolean(st.sent))),
            "is_subrequest" => with_req(|_, ctx| Ok(Value::Boolean(ctx.subrequest_depth > 0))),
            _ => Ok(Value::Nil),
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|lua, (t, k, v): (Table, String, Value)| match k.as_str() {
            "status" => with_req(|st, ctx| {
                if st.sent && st.phase != Phase::HeaderFilter {
                    ctx.log(
                        Level::Error,
                        "attempt to set ngx.status after sending out response headers",
                    );
                    return Ok(());
                }
                let code = match v {
                    Value::Integer(i) => i,
                    Value::Number(n) => n as i64,
                    Value::String(s) => s.to_str()?.parse().map_err(|_| rt("bad status"))?,
                    _ => return Err(rt("bad argument to 'ngx.status'")),
                };
                if !(100..=999).contains(&code) {
                    return Err(rt(format!("invalid HTTP status code {code}")));
                }
                st.status = Some(code as u16);
                Ok(())
            }),
            "ctx" => {
                let key = match v {
                    Value::Table(tab) => Some(lua.create_registry_value(tab)?),
                    Value::Nil => None,
                    _ => return Err(rt("ctx should be a table while getting a non-table")),
                };
                with_req(|st, _| {
                    st.ctx_table = key;
                    Ok(())
                })
            }
            _ => t.raw_set(k, v),
        })?,
    )?;
    ngx.set_metatable(Some(mt))?;
    // ngx.arg: set_by_lua's arguments.
    let arg = lua.create_table()?;
    let amt = lua.create_table()?;
    amt.set(
        "__index",
        lua.create_function(|lua, (_, i): (Value, Value)| {
            let idx = match i {
                Value::Integer(n) => n as usize,
                Value::Number(n) => n as usize,
                _ => return Ok(Value::Nil),
            };
            let v = super::req::with_state(|st| {
                Ok(match (&st.chunk, idx) {
                    (Some((data, _)), 1) => Some(Ok(data.clone())),
                    (Some((_, eof)), 2) => Some(Err(*eof)),
                    (Some(_), _) => None,
                    (None, _) => st
                        .args
                        .get(idx.wrapping_sub(1))
                        .map(|s| Ok(s.as_bytes().to_vec())),
                })
            })?;
            match v {
                Some(Ok(s)) => Ok(Value::String(lua.create_string(s)?)),
                Some(Err(eof)) => Ok(Value::Boolean(eof)),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    amt.set(
        "__newindex",
        lua.create_function(|_, (_, i, v): (Value, Value, Value)| {
            super::req::with_state(|st| {
                let Some((data, eof)) = st.chunk.as_mut() else {
                    return Err(rt("API disabled in the context of this phase"));
                };
                match (i, v) {
                    (Value::Integer(1), Value::String(s)) => *data = s.as_bytes().to_vec(),
                    (Value::Integer(1), Value::Nil) => data.clear(),
                    (Value::Integer(1), Value::Table(t)) => {
                        let mut out = Vec::new();
                        for item in t.sequence_values::<mlua::LuaString>() {
                            out.extend_from_slice(&item?.as_bytes());
                        }
                        *data = out;
                    }
                    (Value::Integer(2), Value::Boolean(b)) => *eof = b,
                    _ => return Err(rt("bad argument to ngx.arg")),
                }
                Ok(())
            })
        })?,
    )?;
    amt.set(
        "__len",
        lua.create_function(|_, _: Value| super::req::with_state(|st| Ok(st.args.len())))?,
    )?;
    arg.set_metatable(Some(amt))?;
    ngx.raw_set("arg", arg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lua_number;

    #[test]
    fn numbers_render_as_luajit_tostring() {
        for (n, s) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (42.0, "42"),
            (-7.0, "-7"),
            (99_999_999_999_999.0, "99999999999999"),
            (123_456_789_012_345.0, "1.2345678901234e+14"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (1e300, "1e+300"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(lua_number(n), s, "{n}");
        }
    }
}
