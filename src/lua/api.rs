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
    special_fields(lua, &ngx)?;
    let globals = lua.globals();
    globals.set("ngx", ngx.clone())?;
    let loaded: Table = globals.get::<Table>("package")?.get("loaded")?;
    loaded.set("ngx", ngx.clone())?;
    // print() logs at NOTICE like OpenResty.
    let log: mlua::Function = ngx.get("log")?;
    let print = lua.create_function(move |_, args: MultiValue| {
        let mut all = vec![Value::Integer(6)];
        all.extend(args);
        log.call::<()>(MultiValue::from_iter(all))
    })?;
    globals.set("print", print)?;
    super::cjson::install(lua)?;
    Ok(())
}

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

/// Appends Lua values the way `ngx.say`/`ngx.print` render them.
fn render(v: &Value, out: &mut Vec<u8>, fname: &str, argn: usize) -> LResult<()> {
    match v {
        Value::String(s) => out.extend_from_slice(&s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => out.extend_from_slice(lua_number(*n).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            for (i, item) in t.clone().sequence_values::<Value>().enumerate() {
                let item = item?;
                if matches!(item, Value::Table(_)) || matches!(item, Value::String(_))
                    || matches!(item, Value::Integer(_) | Value::Number(_))
                    || matches!(item, Value::Boolean(_) | Value::Nil)
                    || matches!(item, Value::LightUserData(_))
                {
                    render(&item, out, fname, argn)?;
                } else {
                    return Err(rt(format!(
                        "bad argument #{argn} to '{fname}' (bad data type {} found at index {})",
                        item.type_name(),
                        i + 1
                    )));
                }
            }
        }
        other => {
            return Err(rt(format!(
                "bad argument #{argn} to '{fname}' (string, number, boolean, nil, ngx.null, or array table expected, got {})",
                other.type_name()
            )))
        }
    }
    Ok(())
}

/// Lua's `%.14g` rendering of numbers.
pub fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else if n.is_infinite() {
        if n > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if n.is_nan() {
        "nan".into()
    } else {
        let s = format!("{n:.14e}");
        // Prefer the shortest plain form Lua would print.
        let plain = format!("{}", n);
        if plain.len() <= 17 {
            plain
        } else {
            s
        }
    }
}

fn output(lua: &Lua, ngx: &Table) -> LResult<()> {
    for (name, newline) in [("say", true), ("print", false)] {
        let fname = format!("ngx.{name}");
        let f = lua.create_function(move |_, args: MultiValue| {
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
                for (i, a) in args.iter().enumerate() {
                    render(a, &mut st.out, &fname, i + 1)?;
                }
                if newline {
                    st.out.push(b'\n');
                }
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
                return Err(rt("bad argument #1 to 'sleep' (invalid sleep duration)"));
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
                return Err(rt(format!(
                    "only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed, but got {status}"
                )));
            }
            with_req(|st, _| {
                check_phase(st, OUTPUT_PHASES)?;
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
                Value::Table(_) => msg.extend_from_slice(b"table"),
                v => render(v, &mut msg, "log", i + 2)?,
            }
        }
        let msg = String::from_utf8_lossy(&msg).into_owned();
        let at = lua
            .inspect_stack(1, |d| {
                let src = d.source();
                let short = src.short_src.map(|s| s.into_owned()).unwrap_or_default();
                format!("{}:{}", short, d.current_line().unwrap_or(0))
            })
            .unwrap_or_default();
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

fn lua_args_table(lua: &Lua, args: &str, max: usize) -> LResult<Table> {
    let t = lua.create_table()?;
    for (n, part) in args.split('&').filter(|p| !p.is_empty()).enumerate() {
        if max > 0 && n >= max {
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
    Ok(t)
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
            lua_args_table(lua, &args, max.unwrap_or(100))
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
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                if max > 0 && i >= max {
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
            Ok(t)
        })?,
    )?;
    ngx.set("req", req)?;

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
    ctx.user_vars.insert(k.into(), val.unwrap_or_default());
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
        lua.create_function(|_, s: mlua::LuaString| {
            use md5::Digest;
            let d = md5::Md5::digest(&*s.as_bytes());
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
            let trimmed: &[u8] = &bytes;
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
        lua.create_function(|_, (s, kind): (mlua::LuaString, Option<i64>)| {
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
        lua.create_function(|lua, s: mlua::LuaString| {
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
                .remove(b'~');
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
                                other => parts
                                    .push(format!("{k}={}", enc(header_text(&other)?.as_bytes()))),
                            }
                        }
                    }
                    other => parts.push(format!("{k}={}", enc(header_text(&other)?.as_bytes()))),
                }
            }
            Ok(parts.join("&"))
        })?,
    )?;
    ngx.set(
        "decode_args",
        lua.create_function(|lua, (s, max): (String, Option<usize>)| {
            lua_args_table(lua, &s, max.unwrap_or(100))
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
                    st.status.map(i64::from).unwrap_or(ctx.status as i64),
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
            "headers_sent" => Ok(Value::Boolean(false)),
            "is_subrequest" => Ok(Value::Boolean(false)),
            _ => Ok(Value::Nil),
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|lua, (t, k, v): (Table, String, Value)| match k.as_str() {
            "status" => with_req(|st, _| {
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
