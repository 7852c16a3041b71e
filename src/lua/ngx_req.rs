//! `ngx.req`, `ngx.resp`, `ngx.exec`, `ngx.var` and `ngx.header`: the request and response
//! as Lua sees them.

use super::api::{
    check_phase, lua_number, park, rt, LResult, OUTPUT_PHASES, REQ_PHASES, YIELD_PHASES,
};
use super::req::{with_req, with_state};
use crate::observe::Level;
use crate::pipeline::{Phase, PhaseSet, RequestCtx};
use crate::vars::{Var, VarSource};
use http::header::{HeaderName, HeaderValue};
use mlua::{Lua, MultiValue, Table, Value};

/// Query-string arguments as OpenResty's table; the bool says `max` cut the list short.
pub fn lua_args_table(lua: &Lua, args: &str, max: usize) -> LResult<(Table, bool)> {
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
        push_multi(lua, &t, Value::String(lua.create_string(&k)?), v)?;
    }
    Ok((t, truncated))
}

/// Sets `t[key] = v`, turning repeated keys into arrays of values (OpenResty's shape for
/// arguments and headers).
fn push_multi(lua: &Lua, t: &Table, key: Value, v: Value) -> LResult<()> {
    match t.raw_get::<Value>(key.clone())? {
        Value::Nil => t.raw_set(key, v),
        Value::Table(arr) => arr.raw_push(v),
        prev => {
            let arr = lua.create_table()?;
            arr.raw_push(prev)?;
            arr.raw_push(v)?;
            t.raw_set(key, arr)
        }
    }
}

/// `t` or `t, "truncated"`.
pub fn with_truncated(lua: &Lua, (t, truncated): (Table, bool)) -> LResult<MultiValue> {
    let mut v = vec![Value::Table(t)];
    if truncated {
        v.push(Value::String(lua.create_string("truncated")?));
    }
    Ok(MultiValue::from_iter(v))
}

/// `ngx.unescape_uri`: `%XX` decoding, `+` as space.
pub fn unescape(s: &str) -> Vec<u8> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).collect()
}

pub fn request(lua: &Lua, ngx: &Table) -> LResult<()> {
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
                let key = Value::String(lua.create_string(&k)?);
                push_multi(lua, &t, key, Value::String(lua.create_string(v)?))?;
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
                    park().await
                }
            }
        })?,
    )?;
    // ngx.req.socket(): the request body as a read-only cosocket (lua-resty-upload reads
    // uploads with it); ngx.req.socket(true): the connection after a 101 (raw_socket).
    req.set(
        "socket",
        lua.create_async_function(|lua, raw: Option<bool>| async move {
            if raw == Some(true) {
                return raw_socket(&lua).await;
            }
            let body = with_req(|st, ctx| {
                check_phase(st, OUTPUT_PHASES)?;
                if ctx.body_data.is_some() {
                    return Ok(Err("request body already exists"));
                }
                let length = ctx
                    .header(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                let chunked = ctx
                    .header(http::header::TRANSFER_ENCODING)
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                if length == 0 && !chunked {
                    return Ok(Err("no body"));
                }
                Ok(ctx.body.take().ok_or("request body already exists"))
            })?;
            match body {
                Ok(b) => Ok(MultiValue::from_iter([Value::UserData(
                    lua.create_userdata(super::socket::TcpSock::request_body(b))?,
                )])),
                Err(msg) => super::api::nil_err(&lua, msg),
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
                replace_header(&mut ctx.headers, name, &k, v)
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
            let method = method_of(m)?;
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
            if jump && unsafe_uri(&uri) {
                return Err(rt(format!("unsafe uri \"{uri}\" was detected")));
            }
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
                return park().await;
            }
            Ok(())
        })?,
    )?;
    req.set(
        "raw_header",
        lua.create_function(|lua, no_request_line: Option<bool>| {
            // Rebuilt from the parsed request: the header map keeps neither the raw bytes
            // nor the names' case (nginx returns the bytes as received).
            let text = with_req(|st, ctx| {
                check_phase(st, REQ_PHASES)?;
                let mut t = String::new();
                if !no_request_line.unwrap_or(false) {
                    t.push_str(&ctx.request_line());
                    t.push_str("\r\n");
                }
                for (k, v) in ctx.headers.iter() {
                    t.push_str(k.as_str());
                    t.push_str(": ");
                    t.push_str(&String::from_utf8_lossy(v.as_bytes()));
                    t.push_str("\r\n");
                }
                t.push_str("\r\n");
                Ok(t)
            })?;
            lua.create_string(text)
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
            if unsafe_uri(&uri) {
                return Err(rt(format!("unsafe uri \"{uri}\" was detected")));
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
            park().await
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
                let key = Value::String(lua.create_string(&k)?);
                push_multi(lua, &t, key, Value::String(lua.create_string(v)?))?;
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
                replace_header(&mut st.headers, name, &k, v)
            })
        })?,
    )?;
    header.set_metatable(Some(mt))?;
    ngx.set("header", header)?;
    Ok(())
}

/// `ngx.req.socket(true)`: a full-duplex cosocket over the client connection, as
/// lua-nginx-module gives it:
/// - before any response header: the handler writes its own status line and headers
///   (output not flushed yet is dropped, as nginx drops it);
/// - after `ngx.status = 101; ngx.send_headers()` (or `ngx.flush`) for an `Upgrade`
///   request, as lua-resty-websocket's server does: once the 101 is written;
/// - after a flushed header: the handler writes the rest of the response itself.
///
/// The connection closes when the request ends. HTTP/1 connections on `http2` listens
/// (hyper's) only support the 101 case.
async fn raw_socket(lua: &Lua) -> mlua::Result<MultiValue> {
    enum Got {
        Now(crate::pipeline::Upgraded),
        After101(crate::pipeline::OnUpgrade),
    }
    let got = with_req(|st, ctx| {
        check_phase(st, OUTPUT_PHASES)?;
        // lua-nginx-module's checks, in its order.
        if ctx.subrequest_depth > 0 {
            return Err(rt("attempt to read the request body in a subrequest"));
        }
        if ctx.version == http::Version::HTTP_2 {
            return Err(rt("http v2 not supported yet"));
        }
        if st.raw_socket {
            return Ok(Err("duplicate call"));
        }
        let status = st.status.unwrap_or(ctx.status);
        let switched = st.sent && status == 101;
        let wait = ctx.conf.lua_socket.read_timeout;
        if let Some(upgrade) = ctx.on_upgrade.take_if(|_| switched) {
            st.raw_socket = true;
            return Ok(Ok((Got::After101(upgrade), wait)));
        }
        let Some(takeover) = ctx.conn.takeover.get().cloned() else {
            return Err(rt(
                "API not supported by openclaw: ngx.req.socket(true) (on this listener only after a 101 response to an HTTP/1.1 Upgrade request was sent)",
            ));
        };
        st.raw_socket = true;
        // Nothing of the response is sent by the server from here.
        st.sent = true;
        st.out.clear();
        Ok(Ok((Got::Now(takeover.take()), wait)))
    })?;
    let (got, wait) = match got {
        Ok(g) => g,
        Err(msg) => return super::api::nil_err(lua, msg),
    };
    let io = match got {
        Got::Now(io) => io,
        // The server hands the connection over once the 101 is written.
        Got::After101(upgrade) => match tokio::time::timeout(wait, upgrade).await {
            Ok(Ok(io)) => io,
            Ok(Err(_)) => return super::api::nil_err(lua, "closed"),
            Err(_) => return super::api::nil_err(lua, "timeout"),
        },
    };
    let io = std::rc::Rc::new(std::cell::RefCell::new(Some(io)));
    with_state(|st| {
        st.raw_io = Some(io.clone());
        Ok(())
    })?;
    Ok(MultiValue::from_iter([Value::UserData(
        lua.create_userdata(super::socket::TcpSock::raw_request(io))?,
    )]))
}

/// nginx's `ngx_http_parse_unsafe_uri`: a path that could climb out of its root.
fn unsafe_uri(uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or("");
    if path.starts_with('@') {
        return false;
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    let p = String::from_utf8_lossy(&decoded);
    p.contains('\0')
        || p == ".."
        || p.starts_with("../")
        || p.contains("/../")
        || p.ends_with("/..")
        || p.contains("\\")
}

/// An `ngx.HTTP_*` method constant as a method.
pub fn method_of(m: i64) -> LResult<http::Method> {
    Ok(match m {
        2 => http::Method::GET,
        4 => http::Method::HEAD,
        8 => http::Method::POST,
        16 => http::Method::PUT,
        32 => http::Method::DELETE,
        512 => http::Method::OPTIONS,
        16384 => http::Method::PATCH,
        32768 => http::Method::TRACE,
        _ => return Err(rt(format!("unsupported HTTP method: {m}"))),
    })
}

/// Replaces a header's values: `nil` clears it, an array sets several values (shared by
/// `ngx.header` and `ngx.req.set_header`).
fn replace_header<H: crate::pipeline::HeaderSet>(
    map: &mut H,
    name: HeaderName,
    shown: &str,
    v: Value,
) -> LResult<()> {
    let values: Vec<String> = match v {
        Value::Nil => vec![],
        Value::Table(t) => t
            .sequence_values::<Value>()
            .map(|x| x.and_then(|x| header_text(&x)))
            .collect::<LResult<_>>()?,
        other => vec![header_text(&other)?],
    };
    let mut hvs = Vec::with_capacity(values.len());
    for val in values {
        hvs.push(
            HeaderValue::from_str(&val)
                .map_err(|_| rt(format!("invalid header value for \"{shown}\"")))?,
        );
    }
    // The first value takes the old one's place (as nginx sets a header in place).
    let mut hvs = hvs.into_iter();
    match hvs.next() {
        Some(first) => map.set(name.clone(), first),
        None => map.delete(&name),
    }
    for hv in hvs {
        map.add(name.clone(), hv);
    }
    Ok(())
}

fn header_name(k: &str) -> LResult<HeaderName> {
    let norm = k.replace('_', "-");
    HeaderName::from_bytes(norm.as_bytes()).map_err(|_| rt(format!("invalid header name \"{k}\"")))
}

pub fn header_text(v: &Value) -> LResult<String> {
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
    match k {
        Value::Integer(n) => read(ctx, Var::Capture(*n as usize)),
        Value::String(s) => read(ctx, named(&s.to_str().ok()?)),
        _ => None,
    }
}

/// `ngx.var.NAME` for the FFI fast path (`ffi::oc_var_get`): `Err` when the slow path
/// must answer (no request, or a phase without `ngx.var`; it raises the error).
/// The value goes into `out` (`Ok(false)`: unset, nil).
pub(super) fn read_var_fast(name: &str, out: &mut Vec<u8>) -> Result<bool, ()> {
    with_req(|st, ctx| {
        check_phase(st, REQ_PHASES)?;
        Ok(read_into(ctx, &named(name), out))
    })
    .map_err(|_| ())
}

fn named(name: &str) -> Var {
    Var::lookup(name).unwrap_or_else(|| Var::User(name.into()))
}

fn read(ctx: &RequestCtx, var: Var) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    read_into(ctx, &var, &mut out).then_some(out)
}

/// The value of `var` in `out` (cleared first); false when it is unset (nil).
fn read_into(ctx: &RequestCtx, var: &Var, out: &mut Vec<u8>) -> bool {
    out.clear();
    if let Some(v) = ctx.var(var) {
        out.extend_from_slice(v.as_bytes());
        return true;
    }
    // Declared (`set`) but not set in this request: nginx gives "" (after its
    // "using uninitialized" warning, which `var` logged); nil only after `= nil`.
    let Var::User(name) = var else {
        return false;
    };
    ctx.declares(name) && !ctx.nil_vars.contains(name)
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
    if !ctx.declares(k) {
        return Err(rt(format!("variable \"{k}\" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use \"set ${k} '';\" in the config file to define it first")));
    }
    match val {
        Some(v) => {
            ctx.nil_vars.retain(|n| &**n != k);
            ctx.user_vars.insert(k.into(), v);
        }
        None => {
            ctx.user_vars.remove(k);
            if !ctx.nil_vars.iter().any(|n| &**n == k) {
                ctx.nil_vars.push(k.into());
            }
        }
    }
    Ok(())
}
