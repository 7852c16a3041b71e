//! Cosocket calls that complete without waiting skip mlua's async machinery, which costs a
//! userdata and a boxed future per call even when nothing waits (about 4,000 instructions;
//! a Redis GET makes four such calls). `ngx.socket.tcp()` returns a table, as OpenResty's
//! does, whose `send` and `receive` first try `oc_try_send` / `oc_try_receive` on the
//! userdata inside: they do the work when the socket is ready and return [`AGAIN`]
//! otherwise, and only then does the async method run. Every other method is passed on.

use super::super::api::{check_phase, LResult, COSOCKET_PHASES};
use super::super::req::with_state;
use super::{flatten, literal_ip, pool_key, ready_part, take_pooled, want, Conn, TcpSock, Want};
use mlua::{Function, LightUserData, Lua, Value};

/// The mark of "would wait": the address of a static, as a light userdata.
static AGAIN_MARK: u8 = 0;

fn again() -> LResult<Value> {
    Ok(again_value())
}

fn again_value() -> Value {
    Value::LightUserData(LightUserData(
        std::ptr::addr_of!(AGAIN_MARK) as *mut std::ffi::c_void
    ))
}

/// `connect(ip, port [, {pool = ...}])` answered from the pool. New connections, names
/// to resolve, unix sockets and odd arguments go to the async method.
pub(super) fn try_connect(
    this: &TcpSock,
    host: &Value,
    port: &Value,
    opts: &Value,
) -> LResult<Value> {
    if with_state(|st| check_phase(st, COSOCKET_PHASES)).is_err() {
        return again();
    }
    let port = match port {
        Value::Integer(p) => u16::try_from(*p).ok(),
        Value::Number(p) if p.fract() == 0.0 && (0.0..65536.0).contains(p) => Some(*p as u16),
        _ => None,
    };
    let (Some(port), Value::String(host)) = (port, host) else {
        return again();
    };
    let Ok(host) = host.to_str() else {
        return again();
    };
    if literal_ip(&host).is_none() {
        return again();
    }
    let pool: Option<String> = match opts {
        Value::Table(o) => match o.get("pool") {
            Ok(p) => p,
            Err(_) => return again(),
        },
        Value::Nil => None,
        _ => return again(),
    };
    let key = pool.unwrap_or_else(|| pool_key(&host, port));
    match take_pooled(&key) {
        Some(p) => {
            this.adopt(p, key);
            Ok(Value::Integer(1))
        }
        None => again(),
    }
}

/// `send` on a plain TCP connection whose kernel buffer takes the data now. A partial write
/// leaves the rest in `pending_send` for the async `send`, which finishes it and returns
/// the whole length. Anything unusual (a closed socket, TLS, an error, a phase without
/// cosockets) goes to the async method, which words it as OpenResty does.
pub(super) fn try_send(this: &TcpSock, data: &Value) -> LResult<Value> {
    if with_state(|st| check_phase(st, COSOCKET_PHASES)).is_err() {
        return again();
    }
    let mut g = this.0.borrow_mut();
    let g = &mut *g;
    if g.pending_send.is_some() {
        return again();
    }
    let Some(Conn::Plain(stream)) = &g.stream else {
        return again();
    };
    // A string is written from Lua's own bytes; only a table is flattened into a copy.
    let mut flat = Vec::new();
    let lua_bytes;
    let bytes: &[u8] = if let Value::String(s) = data {
        lua_bytes = s.as_bytes();
        &lua_bytes
    } else {
        flatten(data, &mut flat)?;
        &flat
    };
    let mut off = 0;
    while off < bytes.len() {
        match stream.try_write(&bytes[off..]) {
            Ok(n) if n > 0 => off += n,
            _ => break,
        }
    }
    if off == bytes.len() {
        return Ok(Value::Integer(bytes.len() as i64));
    }
    if off > 0 {
        g.pending_send = Some((bytes[off..].to_vec(), bytes.len()));
    }
    again()
}

/// `receive("*l")` or `receive(n)` answered from the buffer, or after one read that does
/// not wait. `*a`, end of stream, errors and everything else go to the async method.
pub(super) fn try_receive(lua: &Lua, this: &TcpSock, pattern: &Option<Value>) -> LResult<Value> {
    if with_state(|st| check_phase(st, COSOCKET_PHASES)).is_err() {
        return again();
    }
    let Ok(want) = want(pattern) else {
        return again();
    };
    if matches!(want, Want::All) {
        return again();
    }
    let mut g = this.0.borrow_mut();
    let g = &mut *g;
    if g.stream.is_none() {
        return again();
    }
    let mut out = ready_part(&mut g.buf, &want);
    if out.is_none() {
        let Some(Conn::Plain(stream)) = &g.stream else {
            return again();
        };
        g.buf.reserve(16 * 1024);
        match stream.try_read_buf(&mut g.buf) {
            Ok(n) if n > 0 => out = ready_part(&mut g.buf, &want),
            _ => return again(),
        }
    }
    match out {
        Some(data) => Ok(Value::String(lua.create_string(data)?)),
        None => again(),
    }
}

/// The table-object methods over the userdata (see the module comment).
const WRAPPER: &str = r#"
local raw_tcp, AGAIN = ...
local setmetatable, type, error = setmetatable, type, error
local methods = {}
local mt = { __index = methods }
local function inner(self, name)
    local ud = type(self) == "table" and self[1]
    if not ud then
        -- At the caller's position, as lua-nginx-module reports it.
        error("bad argument #1 to '" .. name .. "' (table expected, got " .. type(self) .. ")", 3)
    end
    return ud
end
for _, name in ipairs({ "sslhandshake", "receiveany", "receiveuntil", "settimeout",
                        "settimeouts", "setoption", "getreusedtimes", "close", "setkeepalive" }) do
    methods[name] = function(self, ...)
        local ud = inner(self, name)
        return ud[name](ud, ...)
    end
end
function methods.connect(self, host, port, opts)
    local ud = inner(self, "connect")
    local ok = ud:oc_try_connect(host, port, opts)
    if ok ~= AGAIN then return ok end
    return ud:connect(host, port, opts)
end
function methods.send(self, data)
    local ud = inner(self, "send")
    -- One value when done (the byte count): return exactly that, as `send` does.
    local n = ud:oc_try_send(data)
    if n ~= AGAIN then return n end
    return ud:send(data)
end
function methods.receive(self, pattern)
    local ud = inner(self, "receive")
    local data = ud:oc_try_receive(pattern)
    if data ~= AGAIN then return data end
    return ud:receive(pattern)
end
return function() return setmetatable({ raw_tcp() }, mt) end
"#;

/// `ngx.socket.tcp`: `raw` (which makes the userdata) behind the table object.
pub(super) fn wrap(lua: &Lua, raw: Function) -> LResult<Function> {
    lua.load(WRAPPER)
        .set_name("=ngx.socket.tcp")
        .call((raw, again_value()))
}
