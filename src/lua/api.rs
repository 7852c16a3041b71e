//! The `ngx` table: OpenResty's names, return values and error strings.

use super::req::{with_req, ReqState};
use crate::observe::Level;
use crate::pipeline::{Phase, PhaseSet, RequestCtx};
use crate::vars::{Var, VarSource};
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue};
use mlua::{Lua, MultiValue, Table, Value};

type LResult<T> = mlua::Result<T>;

const REQ_PHASES: PhaseSet = PhaseSet::of(&[
    Phase::Set,
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
    Phase::HeaderFilter,
    Phase::BodyFilter,
    Phase::Log,
]);
const OUTPUT_PHASES: PhaseSet = PhaseSet::of(&[Phase::Rewrite, Phase::Access, Phase::Content]);
const YIELD_PHASES: PhaseSet =
    PhaseSet::of(&[Phase::Rewrite, Phase::Access, Phase::Content, Phase::Timer]);

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// `API disabled in the context of <phase>` unless the running phase is in `set`.
fn check_phase(st: &ReqState, set: PhaseSet) -> LResult<()> {
    if set.contains(st.phase) {
        Ok(())
    } else {
        Err(rt(format!(
            "API disabled in the context of {}",
            phase_context(st.phase)
        )))
    }
}

fn phase_context(p: Phase) -> String {
    match p {
        Phase::Timer => "ngx.timer".into(),
        p => format!("{}_by_lua*", p.name()),
    }
}

/// Installs `ngx` (and `print`) into a fresh VM.
pub fn install(lua: &Lua) -> LResult<()> {
    let ngx = lua.create_table()?;
    constants(lua, &ngx)?;
    output(lua, &ngx)?;
    request(lua, &ngx)?;
    utilities(lua, &ngx)?;
    super::re::install(lua, &ngx)?;
    special_fields(lua, &ngx)?;
    let globals = lua.globals();
    globals.set("ngx", ngx.clone())?;
    let loaded: Table = globals.get::<Table>("package")?.get("loaded")?;
    loaded.set("ngx", ngx.clone())?;
    super::cjson::install(lua)?;
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
    lua.load(WRAP).set_name("=openclaw.api").exec()?;
    Ok(())
}

/// Errors raised by Rust API functions reach Lua as plain strings, as OpenResty's do:
/// C-implemented functions (say, print, log, exit, sleep, redirect, ...) without a position,
/// the ones lua-resty-core implements in Lua with the caller's position.
const WRAP: &str = r#"
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
wrap_table(ngx.worker)
wrap_meta(ngx.var)
wrap_meta(ngx.header)
wrap_meta(ngx)
local log, NOTICE = ngx.log, ngx.NOTICE
print = function(...) return log(NOTICE, ...) end
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
    worker.set("exiting", lua.create_function(|_, ()| Ok(false))?)?;
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

fn output(lua: &Lua, ngx: &Table) -> LResult<()> {
    for (name, newline) in [("say", true), ("print", false)] {
        let f = lua.create_function(move |_, args: MultiValue| {
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
                // All arguments are checked before anything is written.
                let mut buf = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    render(a, &mut buf, i + 1, false)?;
                }
                if newline {
                    buf.push(b'\n');
                }
                st.out.extend_from_slice(&buf);
                st.sent = true;
                Ok(1)
            })
        })?;
        ngx.set(name, f)?;
    }
    ngx.set("flush", lua.create_function(|_, _: MultiValue| Ok(1))?)?;
    ngx.set("eof", lua.create_function(|_, ()| Ok(1))?)?;
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
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
                st.exit = Some(code);
                Ok(())
            })?;
            std::future::pending::<()>().await;
            Ok(())
        })?,
    )?;
    ngx.set(
        "sleep",
        lua.create_async_function(|_, secs: f64| async move {
            with_req(|st, _| check_phase(st, YIELD_PHASES))?;
            if secs < 0.0 || secs.is_nan() {
                return Err(rt(format!(
                    "invalid sleep duration \"{}\"",
                    (secs * 1000.0) as i64
                )));
            }
            tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
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
            std::future::pending::<()>().await;
            Ok(())
        })?,
    )?;
    let log = lua.create_function(|lua, args: MultiValue| {
        let mut it = args.into_iter();
        let level = match it.next() {
            Some(Value::Integer(l)) => l,
            Some(Value::Number(n)) => n as i64,
            _ => return Err(rt("bad argument #1 to 'log' (number expected, got nil)")),
        };
        let lvl = match level {
            0 | 1 => Level::Emerg,
            2 => Level::Alert,
            3 => Level::Crit,
            4 => Level::Error,
            5 => Level::Warn,
            6 => Level::Notice,
            7 => Level::Info,
            8 => Level::Debug,
            _ => return Err(rt("bad log level")),
        };
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
            Err(_) => crate::observe::log(lvl, &line, None),
        }
        Ok(())
    })?;
    ngx.set("log", log)?;
    Ok(())
}

/// Query-string arguments as OpenResty's table; the bool says `max` cut the list short.
fn lua_args_table(lua: &Lua, args: &str, max: usize) -> LResult<(Table, bool)> {
    let t = lua.create_table()?;
    let mut truncated = false;
    for (n, part) in args
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with('='))
        .enumerate()
    {
        if max > 0 && n >= max {
            truncated = true;
            break;
        }
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (unescape(k), Value::String(lua.create_string(unescape(v))?)),
            None => (unescape(part), Value::Boolean(true)),
        };
        let key = lua.create_string(&k)?;
        match t.raw_get::<Value>(key.clone())? {
            Value::Nil => t.raw_set(key, v)?,
            Value::Table(arr) => arr.raw_push(v)?,
            prev => {
                let arr = lua.create_table()?;
                arr.raw_push(prev)?;
                arr.raw_push(v)?;
                t.raw_set(key, arr)?;
            }
        }
    }
    Ok((t, truncated))
}

/// `t` or `t, "truncated"`.
fn with_truncated(lua: &Lua, (t, truncated): (Table, bool)) -> LResult<MultiValue> {
    let mut v = vec![Value::Table(t)];
    if truncated {
        v.push(Value::String(lua.create_string("truncated")?));
    }
    Ok(MultiValue::from_iter(v))
}

/// `ngx.unescape_uri`: `%XX` decoding, `+` as space.
fn unescape(s: &str) -> Vec<u8> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).collect()
}

fn request(lua: &Lua, ngx: &Table) -> LResult<()> {
    let req = lua.create_table()?;
    req.set(
        "get_method",
        lua.create_function(|_, ()| {
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                Ok(ctx.method.as_str().to_string())
            })
        })?,
    )?;
    req.set(
        "http_version",
        lua.create_function(|_, ()| {
            with_req(|_, ctx| {
                Ok(match ctx.version {
                    http::Version::HTTP_10 => 1.0,
                    http::Version::HTTP_2 => 2.0,
                    http::Version::HTTP_09 => 0.9,
                    _ => 1.1,
                })
            })
        })?,
    )?;
    req.set(
        "is_internal",
        lua.create_function(|_, ()| with_req(|_, ctx| Ok(ctx.internal)))?,
    )?;
    req.set(
        "start_time",
        lua.create_function(|_, ()| {
            with_req(|_, ctx| {
                let d = ctx
                    .start_time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Ok((d.as_millis() as f64) / 1000.0)
            })
        })?,
    )?;
    req.set(
        "get_uri_args",
        lua.create_function(|lua, max: Option<usize>| {
            let args = with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                Ok(ctx.args.clone().unwrap_or_default())
            })?;
            with_truncated(lua, lua_args_table(lua, &args, max.unwrap_or(100))?)
        })?,
    )?;
    req.set(
        "get_headers",
        lua.create_function(|lua, (max, raw): (Option<usize>, Option<bool>)| {
            let pairs: Vec<(String, Vec<u8>)> = with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                Ok(ctx
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect())
            })?;
            let t = lua.create_table()?;
            let max = max.unwrap_or(100);
            let mut truncated = false;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                if max > 0 && i >= max {
                    truncated = true;
                    break;
                }
                let v = Value::String(lua.create_string(v)?);
                match t.raw_get::<Value>(k.as_str())? {
                    Value::Nil => t.raw_set(k, v)?,
                    Value::Table(arr) => arr.raw_push(v)?,
                    prev => {
                        let arr = lua.create_table()?;
                        arr.raw_push(prev)?;
                        arr.raw_push(v)?;
                        t.raw_set(k, arr)?;
                    }
                }
            }
            if !raw.unwrap_or(false) {
                // Lookups by any case and with `_` for `-`, as OpenResty's metatable does.
                let mt = lua.create_table()?;
                mt.set(
                    "__index",
                    lua.create_function(|_, (t, k): (Table, String)| {
                        let norm = k.to_ascii_lowercase().replace('_', "-");
                        t.raw_get::<Value>(norm)
                    })?,
                )?;
                t.set_metatable(Some(mt))?;
            }
            with_truncated(lua, (t, truncated))
        })?,
    )?;
    req.set(
        "read_body",
        lua.create_async_function(|_, ()| async move {
            let taken = with_req(|st, ctx| {
                check_phase(st, YIELD_PHASES)?;
                Ok((
                    ctx.body.take(),
                    ctx.conf.client_max_body_size,
                    ctx.conf.client_body_timeout,
                ))
            })?;
            let (Some(body), max, timeout) = taken else {
                return Ok(());
            };
            match crate::pipeline::collect_body(body, max, timeout).await {
                Ok(data) => with_req(|_, ctx| {
                    if !data.is_empty() {
                        ctx.body_data = Some(data);
                    }
                    Ok(())
                }),
                Err((code, msg)) => {
                    // OpenResty finalizes the request with the error status.
                    with_req(|st, ctx| {
                        ctx.log(Level::Error, &msg);
                        st.exit = Some(code as i64);
                        Ok(())
                    })?;
                    std::future::pending::<()>().await;
                    Ok(())
                }
            }
        })?,
    )?;
    req.set(
        "discard_body",
        lua.create_function(|_, ()| {
            with_req(|_, ctx| {
                ctx.body = None;
                Ok(())
            })
        })?,
    )?;
    req.set(
        "get_body_data",
        lua.create_function(|lua, ()| {
            let data = with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                Ok(ctx.body_data.clone())
            })?;
            match data {
                Some(d) => Ok(Value::String(lua.create_string(&d)?)),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    req.set(
        "get_body_file",
        lua.create_function(|_, ()| Ok(Value::Nil))?,
    )?;
    req.set(
        "set_body_data",
        lua.create_function(|_, data: mlua::LuaString| {
            with_req(|_, ctx| {
                ctx.body = None;
                ctx.body_data = Some(bytes::Bytes::from(data.as_bytes().to_vec()));
                Ok(())
            })
        })?,
    )?;
    req.set(
        "get_post_args",
        lua.create_function(|lua, max: Option<usize>| {
            let data = with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                if ctx.body.is_some() {
                    return Err(rt("request body not read yet"));
                }
                let form = ctx.header(http::header::CONTENT_TYPE).is_some_and(|c| {
                    c.to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded")
                });
                Ok(if form { ctx.body_data.clone() } else { None })
            })?;
            let text = data
                .map(|d| String::from_utf8_lossy(&d).into_owned())
                .unwrap_or_default();
            with_truncated(lua, lua_args_table(lua, &text, max.unwrap_or(100))?)
        })?,
    )?;
    req.set(
        "set_header",
        lua.create_function(|_, (k, v): (String, Value)| {
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                let name = header_name(&k)?;
                ctx.headers.remove(&name);
                let values: Vec<String> = match v {
                    Value::Nil => vec![],
                    Value::Table(t) => t
                        .sequence_values::<Value>()
                        .map(|x| x.and_then(|x| header_text(&x)))
                        .collect::<LResult<_>>()?,
                    other => vec![header_text(&other)?],
                };
                for val in values {
                    let hv = HeaderValue::from_str(&val)
                        .map_err(|_| rt(format!("invalid header value for \"{k}\"")))?;
                    ctx.headers.append(name.clone(), hv);
                }
                Ok(())
            })
        })?,
    )?;
    req.set(
        "clear_header",
        lua.create_function(|_, k: String| {
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                ctx.headers.remove(header_name(&k)?);
                Ok(())
            })
        })?,
    )?;
    req.set(
        "set_uri_args",
        lua.create_function(|lua, v: Value| {
            let text = match v {
                Value::String(s) => s.to_str()?.to_string(),
                Value::Table(_) => {
                    let ngx: Table = lua.globals().get("ngx")?;
                    let enc: mlua::Function = ngx.get("encode_args")?;
                    enc.call::<String>(v)?
                }
                other => {
                    return Err(rt(format!(
                        "bad argument #1 to 'set_uri_args' (string or table expected, got {})",
                        other.type_name()
                    )))
                }
            };
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                ctx.args = if text.is_empty() { None } else { Some(text) };
                Ok(())
            })
        })?,
    )?;
    req.set(
        "set_method",
        lua.create_function(|_, m: i64| {
            let method = match m {
                2 => http::Method::GET,
                4 => http::Method::HEAD,
                8 => http::Method::POST,
                16 => http::Method::PUT,
                32 => http::Method::DELETE,
                512 => http::Method::OPTIONS,
                16384 => http::Method::PATCH,
                32768 => http::Method::TRACE,
                _ => return Err(rt(format!("unsupported HTTP method: {m}"))),
            };
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                ctx.method = method;
                Ok(())
            })
        })?,
    )?;
    req.set(
        "set_uri",
        lua.create_async_function(|_, (uri, jump): (String, Option<bool>)| async move {
            if uri.is_empty() {
                return Err(rt("attempt to use zero-length uri"));
            }
            let jump = jump.unwrap_or(false);
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                if jump && st.phase != Phase::Rewrite {
                    return Err(rt(
                        "attempt to call ngx.req.set_uri to do location jump in contexts other than rewrite_by_lua and rewrite_by_lua_file",
                    ));
                }
                ctx.uri = uri;
                if jump {
                    let mut target = ctx.uri.clone();
                    if let Some(a) = &ctx.args {
                        target.push('?');
                        target.push_str(a);
                    }
                    st.exec = Some(target);
                }
                Ok(())
            })?;
            if jump {
                std::future::pending::<()>().await;
            }
            Ok(())
        })?,
    )?;
    ngx.set("req", req)?;
    ngx.set(
        "exec",
        lua.create_async_function(|lua, (uri, args): (String, Value)| async move {
            let args = match args {
                Value::Nil => None,
                Value::String(s) => Some(s.to_str()?.to_string()),
                Value::Table(_) => {
                    let ngx: Table = lua.globals().get("ngx")?;
                    let enc: mlua::Function = ngx.get("encode_args")?;
                    Some(enc.call::<String>(args)?)
                }
                other => {
                    return Err(rt(format!(
                        "bad argument #2 to 'exec' (string or table expected, got {})",
                        other.type_name()
                    )))
                }
            };
            if uri.is_empty() {
                return Err(rt("The uri argument is empty"));
            }
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
                if st.sent {
                    return Err(rt(
                        "attempt to call ngx.exec after sending out response headers",
                    ));
                }
                let mut target = uri;
                if let Some(a) = args.filter(|a| !a.is_empty()) {
                    target.push(if target.contains('?') { '&' } else { '?' });
                    target.push_str(&a);
                }
                st.exec = Some(target);
                Ok(())
            })?;
            std::future::pending::<()>().await;
            Ok(())
        })?,
    )?;
    let resp = lua.create_table()?;
    resp.set(
        "get_headers",
        lua.create_function(|lua, ()| {
            let pairs: Vec<(String, Vec<u8>)> = with_req(|st, _| {
                Ok(st
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect())
            })?;
            let t = lua.create_table()?;
            for (k, v) in pairs {
                let v = Value::String(lua.create_string(v)?);
                match t.raw_get::<Value>(k.as_str())? {
                    Value::Nil => t.raw_set(k, v)?,
                    Value::Table(arr) => arr.raw_push(v)?,
                    prev => {
                        let arr = lua.create_table()?;
                        arr.raw_push(prev)?;
                        arr.raw_push(v)?;
                        t.raw_set(k, arr)?;
                    }
                }
            }
            Ok(t)
        })?,
    )?;
    ngx.set("resp", resp)?;

    // ngx.var
    let var = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_, k): (Value, Value)| {
            let v = with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                Ok(read_var(ctx, &k))
            })?;
            match v {
                Some(s) => Ok(Value::String(lua.create_string(s)?)),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|_, (_, k, v): (Value, String, Value)| {
            with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                write_var(ctx, &k, v)
            })
        })?,
    )?;
    var.set_metatable(Some(mt))?;
    ngx.set("var", var)?;

    // ngx.header
    let header = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_, k): (Value, String)| {
            let vals: Vec<Vec<u8>> = with_req(|st, _| {
                let name = header_name(&k)?;
                Ok(st
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect())
            })?;
            match vals.len() {
                0 => Ok(Value::Nil),
                1 => Ok(Value::String(lua.create_string(&vals[0])?)),
                _ => {
                    let t = lua.create_table()?;
                    for v in vals {
                        t.raw_push(lua.create_string(v)?)?;
                    }
                    Ok(Value::Table(t))
                }
            }
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|_, (_, k, v): (Value, String, Value)| {
            with_req(|st, _| {
                check_phase(
                    st,
                    PhaseSet::of(&[
                        Phase::Rewrite,
                        Phase::Access,
                        Phase::Content,
                        Phase::HeaderFilter,
                    ]),
                )?;
                let name = header_name(&k)?;
                if st.sent && st.phase != Phase::HeaderFilter {
                    let ctx = st.ctx;
                    // SAFETY: the context outlives the running handler (see with_req).
                    unsafe { &*ctx }.log(
                        Level::Error,
                        "attempt to set ngx.header.HEADER after sending out response headers",
                    );
                    return Ok(());
                }
                st.headers.remove(&name);
                let mut values = vec![];
                match v {
                    Value::Nil => {}
                    Value::Table(t) => {
                        for item in t.sequence_values::<Value>() {
                            values.push(header_text(&item?)?);
                        }
                    }
                    other => values.push(header_text(&other)?),
                }
                for val in values {
                    let hv = HeaderValue::from_str(&val)
                        .map_err(|_| rt(format!("invalid header value for \"{k}\"")))?;
                    st.headers.append(name.clone(), hv);
                }
                Ok(())
            })
        })?,
    )?;
    header.set_metatable(Some(mt))?;
    ngx.set("header", header)?;
    Ok(())
}

fn header_name(k: &str) -> LResult<HeaderName> {
    let norm = k.replace('_', "-");
    HeaderName::from_bytes(norm.as_bytes()).map_err(|_| rt(format!("invalid header name \"{k}\"")))
}

fn header_text(v: &Value) -> LResult<String> {
    Ok(match v {
        Value::String(s) => s.to_str()?.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => lua_number(*n),
        Value::Boolean(b) => b.to_string(),
        other => {
            return Err(rt(format!(
                "attempt to set ngx.header.HEADER to a {}",
                other.type_name()
            )))
        }
    })
}

fn read_var(ctx: &RequestCtx, k: &Value) -> Option<Vec<u8>> {
    let var = match k {
        Value::Integer(n) => Var::Capture(*n as usize),
        Value::String(s) => {
            let name = s.to_str().ok()?.to_string();
            Var::lookup(&name).unwrap_or_else(|| Var::User(name.as_str().into()))
        }
        _ => return None,
    };
    ctx.var(&var).map(|c| c.as_bytes().to_vec())
}

fn write_var(ctx: &mut RequestCtx, k: &str, v: Value) -> LResult<()> {
    let val = match v {
        Value::Nil => None,
        Value::String(s) => Some(s.to_str()?.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(lua_number(n)),
        other => return Err(rt(format!("bad variable value type {}", other.type_name()))),
    };
    if k == "args" || k == "query_string" {
        ctx.args = val.filter(|s| !s.is_empty());
        return Ok(());
    }
    if let Some(Var::Builtin(_)) = Var::lookup(k) {
        return Err(rt(format!("variable \"{k}\" not changeable")));
    }
    let declared = ctx
        .gen
        .config
        .http
        .as_ref()
        .is_some_and(|h| h.declared_vars.contains(k));
    if !declared {
        return Err(rt(format!("variable \"{k}\" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use \"set ${k} '';\" in the config file to define it first")));
    }
    match val {
        Some(v) => {
            ctx.user_vars.insert(k.into(), v);
        }
        None => {
            ctx.user_vars.remove(k);
        }
    }
    Ok(())
}

fn utilities(lua: &Lua, ngx: &Table) -> LResult<()> {
    ngx.set(
        "now",
        lua.create_function(|_, ()| {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Ok((d.as_millis() as f64) / 1000.0)
        })?,
    )?;
    ngx.set(
        "time",
        lua.create_function(|_, ()| {
            Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs())
        })?,
    )?;
    ngx.set("update_time", lua.create_function(|_, ()| Ok(()))?)?;
    ngx.set(
        "today",
        lua.create_function(|_, ()| Ok(chrono::Local::now().format("%Y-%m-%d").to_string()))?,
    )?;
    ngx.set(
        "localtime",
        lua.create_function(|_, ()| {
            Ok(chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string())
        })?,
    )?;
    ngx.set(
        "utctime",
        lua.create_function(|_, ()| {
            Ok(chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string())
        })?,
    )?;
    ngx.set(
        "http_time",
        lua.create_function(|_, t: i64| {
            let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
            Ok(httpdate::fmt_http_date(st))
        })?,
    )?;
    ngx.set(
        "parse_http_time",
        lua.create_function(|_, s: String| {
            Ok(httpdate::parse_http_date(&s).ok().map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
            }))
        })?,
    )?;
    ngx.set(
        "md5",
        lua.create_function(|_, s: Option<mlua::LuaString>| {
            use md5::Digest;
            let bytes = s.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
            let d = md5::Md5::digest(&bytes);
            Ok(d.iter().map(|b| format!("{b:02x}")).collect::<String>())
        })?,
    )?;
    ngx.set(
        "md5_bin",
        lua.create_function(|lua, s: mlua::LuaString| {
            use md5::Digest;
            lua.create_string(md5::Md5::digest(&*s.as_bytes()))
        })?,
    )?;
    ngx.set(
        "sha1_bin",
        lua.create_function(|lua, s: mlua::LuaString| {
            use sha1::Digest;
            lua.create_string(sha1::Sha1::digest(&*s.as_bytes()))
        })?,
    )?;
    ngx.set(
        "crc32_short",
        lua.create_function(|_, s: mlua::LuaString| Ok(crc32fast::hash(&s.as_bytes())))?,
    )?;
    ngx.set(
        "crc32_long",
        lua.create_function(|_, s: mlua::LuaString| Ok(crc32fast::hash(&s.as_bytes())))?,
    )?;
    ngx.set(
        "encode_base64",
        lua.create_function(|_, (s, no_pad): (mlua::LuaString, Option<bool>)| {
            let e = if no_pad.unwrap_or(false) {
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&*s.as_bytes())
            } else {
                base64::engine::general_purpose::STANDARD.encode(&*s.as_bytes())
            };
            Ok(e)
        })?,
    )?;
    ngx.set(
        "decode_base64",
        lua.create_function(|lua, s: mlua::LuaString| {
            let bytes = s.as_bytes();
            // nginx stops at the first '=' and ignores what follows.
            let end = bytes.iter().position(|&c| c == b'=').unwrap_or(bytes.len());
            let trimmed: &[u8] = &bytes[..end];
            let cfg = base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
            let eng = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
            match eng.decode(trimmed) {
                Ok(v) => Ok(Value::String(lua.create_string(v)?)),
                Err(_) => Ok(Value::Nil),
            }
        })?,
    )?;
    ngx.set(
        "escape_uri",
        lua.create_function(|lua, (s, kind): (Option<mlua::LuaString>, Option<i64>)| {
            let s = match s {
                Some(s) => s,
                None => lua.create_string("")?,
            };
            // Type 2 (the default) escapes everything but unreserved characters.
            const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'-')
                .remove(b'.')
                .remove(b'_')
                .remove(b'~');
            const URI: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
                .add(b' ')
                .add(b'"')
                .add(b'#')
                .add(b'%')
                .add(b'?')
                .add(b'<')
                .add(b'>');
            let set = if kind == Some(0) { URI } else { COMPONENT };
            Ok(percent_encoding::percent_encode(&s.as_bytes(), set).to_string())
        })?,
    )?;
    ngx.set(
        "unescape_uri",
        lua.create_function(|lua, s: Option<mlua::LuaString>| {
            let s = match s {
                Some(s) => s,
                None => lua.create_string("")?,
            };
            lua.create_string(unescape(&String::from_utf8_lossy(&s.as_bytes())))
        })?,
    )?;
    ngx.set(
        "encode_args",
        lua.create_function(|_, t: Table| {
            const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'-')
                .remove(b'.')
                .remove(b'_')
                .remove(b'~')
                .remove(b'*');
            let arg_text = |v: &Value| -> LResult<String> {
                match v {
                    Value::String(_) | Value::Integer(_) | Value::Number(_) => header_text(v),
                    other => Err(rt(format!(
                        "attempt to use {} as query arg value",
                        other.type_name()
                    ))),
                }
            };
            let enc = |s: &[u8]| percent_encoding::percent_encode(s, SET).to_string();
            let mut parts = vec![];
            for pair in t.pairs::<mlua::LuaString, Value>() {
                let (k, v) = pair?;
                let k = enc(&k.as_bytes());
                match v {
                    Value::Boolean(true) => parts.push(k),
                    Value::Boolean(false) => {}
                    Value::Table(arr) => {
                        for item in arr.sequence_values::<Value>() {
                            match item? {
                                Value::Boolean(true) => parts.push(k.clone()),
                                Value::Boolean(false) => {}
                                other => {
                                    parts.push(format!("{k}={}", enc(arg_text(&other)?.as_bytes())))
                                }
                            }
                        }
                    }
                    other => parts.push(format!("{k}={}", enc(arg_text(&other)?.as_bytes()))),
                }
            }
            Ok(parts.join("&"))
        })?,
    )?;
    ngx.set(
        "decode_args",
        lua.create_function(|lua, (s, max): (String, Option<usize>)| {
            with_truncated(lua, lua_args_table(lua, &s, max.unwrap_or(100))?)
        })?,
    )?;
    ngx.set(
        "quote_sql_str",
        lua.create_function(|_, s: mlua::LuaString| {
            let mut out = String::from("'");
            for &b in s.as_bytes().iter() {
                match b {
                    0 => out.push_str("\\0"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    8 => out.push_str("\\b"),
                    26 => out.push_str("\\Z"),
                    b'\\' => out.push_str("\\\\"),
                    b'\'' => out.push_str("\\'"),
                    b'"' => out.push_str("\\\""),
                    b => out.push(b as char),
                }
            }
            out.push('\'');
            Ok(out)
        })?,
    )?;
    ngx.set(
        "get_phase",
        lua.create_function(|_, ()| {
            Ok(with_req(|st, _| Ok(st.phase.name())).unwrap_or_else(|_| {
                super::req::BARE_PHASE
                    .with(|b| b.get())
                    .map(|p| p.name())
                    .unwrap_or("init")
            }))
        })?,
    )?;
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
            "is_subrequest" => Ok(Value::Boolean(false)),
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
    Ok(())
}
