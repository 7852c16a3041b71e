//! What the developer tools (`openclaw repl`, `openclaw test`) share: a session built from
//! the configuration by the layer above (the CLI), a VM of their own that shares the
//! engine's shared dicts, upstreams, caches and key store, and `openclaw.test.*`.

use super::api::{openclaw_table, rt, LResult};
use super::vm::LuaEngine;
use mlua::{Lua, Table, Value};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A request the tools send through the configuration's pipeline.
#[derive(Debug, Clone, Default)]
pub struct ToolRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Option<Duration>,
}

/// The response as the client read it, plus the error log lines the request produced.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// `HTTP/1.1 200 OK`.
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub log: Vec<String>,
}

/// Runs requests through a loaded configuration (implemented by the server layer).
pub trait Requests {
    fn request(&self, req: &ToolRequest) -> Result<Exchange, String>;
    /// The handlers a request for `path` would meet, one line each.
    fn phases(&self, host: Option<&str>, path: &str) -> Result<Vec<String>, String>;
}

/// A tool session: the engine of the configuration (None without one) and its requests.
pub struct Session {
    pub engine: Option<Arc<LuaEngine>>,
    pub requests: Option<Rc<dyn Requests>>,
}

/// Builds sessions: once at start, again for the REPL's `:reload`.
pub trait Host {
    fn open(&self) -> Result<Session, String>;
    /// A label for the loaded configuration (its path), if any.
    fn describe(&self) -> Option<String>;
}

thread_local! {
    /// Set in the REPL: request APIs outside a request point at `:req`.
    static REPL_HINT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The error request APIs raise outside a request.
pub fn no_request() -> String {
    if REPL_HINT.with(|h| h.get()) {
        "no request: use :req".into()
    } else {
        "no request found".into()
    }
}

pub fn set_repl_hint(on: bool) {
    REPL_HINT.with(|h| h.set(on));
}

/// The tools' VM: the engine's (init_by_lua has run, shared state is the engine's) or a
/// bare one with the `ngx` API and bundled modules; globals are free; `openclaw.test`.
pub fn session_vm(session: &Session) -> Result<Lua, String> {
    let lua = match &session.engine {
        Some(engine) => engine.tool_lua()?,
        None => {
            let lua = super::vm::new_lua();
            super::vm::install_api(&lua, &[], &[], &[], None)
                .map_err(|e| format!("cannot start the Lua runtime: {e}"))?;
            lua
        }
    };
    let setup = || -> mlua::Result<()> {
        lua.load("setmetatable(_G, nil)").exec()?;
        install_test_api(&lua, session.requests.clone())
    };
    setup().map_err(|e| format!("cannot start the Lua runtime: {e}"))?;
    Ok(lua)
}

/// `openclaw.test.request{method=, path=, headers=, body=, timeout=, advance=}` and
/// `openclaw.test.advance(seconds)` (the fake clock of limits, caches and `ngx.now`).
fn install_test_api(lua: &Lua, requests: Option<Rc<dyn Requests>>) -> LResult<()> {
    let openclaw = openclaw_table(lua)?;
    let test = lua.create_table()?;
    test.set(
        "advance",
        lua.create_function(|_, secs: f64| {
            if !secs.is_finite() || secs < 0.0 {
                return Err(rt(
                    "bad argument #1 to 'advance' (non-negative number expected)",
                ));
            }
            crate::clock::advance(Duration::from_secs_f64(secs));
            Ok(())
        })?,
    )?;
    test.set(
        "request",
        lua.create_function(move |lua, opts: Value| {
            let Value::Table(opts) = opts else {
                return Err(rt("bad argument #1 to 'request' (table expected)"));
            };
            let Some(requests) = &requests else {
                return Err(rt(
                    "openclaw.test.request needs a configuration: run with -c CONF",
                ));
            };
            let req = request_from(&opts)?;
            if let Some(secs) = opts.get::<Option<f64>>("advance")? {
                if secs.is_finite() && secs > 0.0 {
                    crate::clock::advance(Duration::from_secs_f64(secs));
                }
            }
            match requests.request(&req) {
                Ok(x) => exchange_table(lua, &x).map(Value::Table),
                Err(e) => Err(rt(format!("openclaw.test.request: {e}"))),
            }
        })?,
    )?;
    openclaw.raw_set("test", test)
}

fn request_from(opts: &Table) -> LResult<ToolRequest> {
    let mut req = ToolRequest {
        method: opts
            .get::<Option<String>>("method")?
            .unwrap_or_else(|| "GET".into()),
        path: opts
            .get::<Option<String>>("path")?
            .unwrap_or_else(|| "/".into()),
        ..Default::default()
    };
    if !req.path.starts_with('/') {
        return Err(rt(
            "bad argument #1 to 'request' (path must start with '/')",
        ));
    }
    if let Some(h) = opts.get::<Option<Table>>("headers")? {
        for pair in h.pairs::<String, Value>() {
            let (k, v) = pair?;
            match v {
                Value::Table(list) => {
                    for v in list.sequence_values::<String>() {
                        req.headers.push((k.clone(), v?));
                    }
                }
                v => {
                    let s = lua_to_string(&v)
                        .ok_or_else(|| rt(format!("bad header value for \"{k}\"")))?;
                    req.headers.push((k, s));
                }
            }
        }
    }
    if let Some(b) = opts.get::<Option<mlua::LuaString>>("body")? {
        req.body = b.as_bytes().to_vec();
    }
    if let Some(t) = opts.get::<Option<f64>>("timeout")? {
        if t.is_finite() && t > 0.0 {
            req.timeout = Some(Duration::from_secs_f64(t));
        }
    }
    Ok(req)
}

fn lua_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `{status=, status_line=, headers=, body=, log={...}}`; header names are lowercase,
/// repeated headers become lists (as `ngx.resp.get_headers`).
fn exchange_table(lua: &Lua, x: &Exchange) -> LResult<Table> {
    let t = lua.create_table()?;
    t.set("status", x.status)?;
    t.set("status_line", x.status_line.as_str())?;
    t.set("body", lua.create_string(&x.body)?)?;
    let headers = lua.create_table()?;
    for (k, v) in &x.headers {
        let k = k.to_ascii_lowercase();
        match headers.raw_get::<Value>(k.as_str())? {
            Value::Nil => headers.raw_set(k, v.as_str())?,
            Value::Table(list) => list.raw_push(v.as_str())?,
            prev => {
                let list = lua.create_table()?;
                list.raw_push(prev)?;
                list.raw_push(v.as_str())?;
                headers.raw_set(k, list)?;
            }
        }
    }
    // Lookups in any case, as ngx.resp.get_headers() allows.
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|_, (t, k): (Table, String)| {
            let lower = k.to_ascii_lowercase().replace('_', "-");
            t.raw_get::<Value>(lower)
        })?,
    )?;
    headers.set_metatable(Some(mt))?;
    t.set("headers", headers)?;
    t.set(
        "log",
        lua.create_sequence_from(x.log.iter().map(String::as_str))?,
    )?;
    Ok(t)
}
