//! `cjson` and `cjson.safe`, native, with lua-cjson's (OpenResty fork) output rules:
//! `%.14g` numbers, `\/` escaping, empty tables as `{}` unless marked as arrays, `cjson.null`.

use mlua::{Lua, LuaString, MultiValue, Table, Value};

const MAX_DEPTH: usize = 1000;

fn null() -> Value {
    Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()))
}

/// Registers `cjson` and `cjson.safe` in `package.preload`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set(
        "cjson",
        lua.create_function(|lua, _: MultiValue| module(lua, false))?,
    )?;
    preload.set(
        "cjson.safe",
        lua.create_function(|lua, _: MultiValue| module(lua, true))?,
    )?;
    Ok(())
}

fn module(lua: &Lua, safe: bool) -> mlua::Result<Table> {
    let m = lua.create_table()?;
    m.set("null", null())?;
    m.set("_NAME", if safe { "cjson.safe" } else { "cjson" })?;
    m.set("_VERSION", "2.1.0.10")?;
    let array_mt = lua.create_table()?;
    m.set("array_mt", array_mt.clone())?;
    m.set("empty_array_mt", array_mt.clone())?;
    let empty_array = lua.create_table()?;
    empty_array.set_metatable(Some(array_mt.clone()))?;
    m.set("empty_array", empty_array)?;
    let amt = array_mt.clone();
    m.set(
        "encode",
        lua.create_function(move |lua, v: Value| {
            let mut out = Vec::with_capacity(64);
            match encode(&v, &amt, &mut out, 0) {
                Ok(()) => Ok(MultiValue::from_iter([Value::String(
                    lua.create_string(out)?,
                )])),
                Err(msg) if safe => Ok(MultiValue::from_iter([
                    Value::Nil,
                    Value::String(lua.create_string(msg)?),
                ])),
                Err(msg) => Err(mlua::Error::RuntimeError(msg)),
            }
        })?,
    )?;
    m.set(
        "decode",
        lua.create_function(move |lua, s: LuaString| {
            let parsed: Result<serde_json::Value, String> = serde_json::from_slice(&s.as_bytes())
                .map_err(|e| {
                    format!(
                        "Expected value but found invalid token at character {}",
                        e.column().max(1)
                    )
                });
            match parsed.and_then(|j| to_lua(lua, &j).map_err(|e| e.to_string())) {
                Ok(v) => Ok(MultiValue::from_iter([v])),
                Err(msg) if safe => Ok(MultiValue::from_iter([
                    Value::Nil,
                    Value::String(lua.create_string(msg)?),
                ])),
                Err(msg) => Err(mlua::Error::RuntimeError(msg)),
            }
        })?,
    )?;
    // Settings accepted for compatibility; OpenClaw's defaults match lua-cjson's.
    for name in [
        "encode_empty_table_as_object",
        "encode_escape_forward_slash",
        "decode_array_with_array_mt",
        "encode_sparse_array",
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_keep_buffer",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
    ] {
        m.set(name, lua.create_function(|_, _: MultiValue| Ok(true))?)?;
    }
    let new_safe = safe;
    m.set(
        "new",
        lua.create_function(move |lua, ()| module(lua, new_safe))?,
    )?;
    Ok(m)
}

fn to_lua(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    Ok(match j {
        serde_json::Value::Null => null(),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() < (1u64 << 53) => Value::Number(i as f64),
            _ => Value::Number(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, v) in a.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, v) in o {
                t.raw_set(k.as_str(), to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

fn encode(v: &Value, array_mt: &Table, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => {
            if n.is_nan() || n.is_infinite() {
                return Err("Cannot serialise number: must not be NaN or Infinity".into());
            }
            out.extend_from_slice(super::api::lua_number(*n).as_bytes());
        }
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            table(t, array_mt, out, depth + 1)?;
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

fn table(t: &Table, array_mt: &Table, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    let marked_array = t
        .metatable()
        .is_some_and(|mt| mt.to_pointer() == array_mt.to_pointer());
    // An array when every key is a positive integer (lua-cjson also allows some holes).
    let mut max = 0usize;
    let mut count = 0usize;
    let mut is_array = true;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        count += 1;
        match k {
            Value::Integer(i) if i >= 1 => max = max.max(i as usize),
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
            _ => {
                is_array = false;
            }
        }
    }
    if is_array && (count > 0 || marked_array) {
        if max > count * 2 && max > 10 {
            return Err("Cannot serialise table: excessively sparse array".into());
        }
        out.push(b'[');
        for i in 1..=max {
            if i > 1 {
                out.push(b',');
            }
            let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
            encode(&v, array_mt, out, depth)?;
        }
        out.push(b']');
        return Ok(());
    }
    out.push(b'{');
    let mut first = true;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &k {
            Value::String(s) => string(&s.as_bytes(), out),
            Value::Integer(i) => string(i.to_string().as_bytes(), out),
            Value::Number(n) => string(super::api::lua_number(*n).as_bytes(), out),
            other => {
                return Err(format!(
                    "Cannot serialise {}: table key must be a number or string",
                    other.type_name()
                ))
            }
        }
        out.push(b':');
        encode(&v, array_mt, out, depth)?;
    }
    out.push(b'}');
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}
