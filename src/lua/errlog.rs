//! `require "ngx.errlog"` (lua-resty-core's API): `raw_log`, `get_logs`,
//! `get_sys_filter_level`, `set_filter_level`, over `lua_capture_error_log`'s buffer.

use super::api::{nil_err, rt, LResult};
use super::req::with_req;
use crate::observe::Level;
use mlua::{Lua, MultiValue, Table, Value};

const NOT_SET: &str = "directive \"lua_capture_error_log\" is not set";

/// nginx's level numbers (`ngx.ERR` is 4) and ours.
pub(super) fn level_of(n: i64) -> Option<Level> {
    Some(match n {
        0 | 1 => Level::Emerg,
        2 => Level::Alert,
        3 => Level::Crit,
        4 => Level::Error,
        5 => Level::Warn,
        6 => Level::Notice,
        7 => Level::Info,
        8 => Level::Debug,
        _ => return None,
    })
}

fn number_of(l: Level) -> i64 {
    match l {
        Level::Emerg => 1,
        Level::Alert => 2,
        Level::Crit => 3,
        Level::Error => 4,
        Level::Warn => 5,
        Level::Notice => 6,
        Level::Info => 7,
        Level::Debug => 8,
    }
}

pub fn install(lua: &Lua) -> LResult<()> {
    let m = lua.create_table()?;
    m.set(
        "raw_log",
        lua.create_function(|_, (level, msg): (Value, Value)| {
            let n = match level {
                Value::Integer(i) => i,
                Value::Number(n) => n as i64,
                _ => return Err(rt("bad argument #1 to 'raw_log' (must be a number)")),
            };
            let Value::String(msg) = msg else {
                return Err(rt("bad argument #2 to 'raw_log' (must be a string)"));
            };
            let lvl = level_of(n).ok_or_else(|| rt("bad log level"))?;
            let text = msg.to_string_lossy();
            if with_req(|_, ctx| {
                ctx.log(lvl, &text);
                Ok(())
            })
            .is_err()
            {
                crate::observe::log(lvl, &text, None);
            }
            Ok(())
        })?,
    )?;
    m.set(
        "get_logs",
        lua.create_function(|lua, max: Option<usize>| {
            let Some(lines) = crate::observe::take_error_ring(max.unwrap_or(10)) else {
                return nil_err(lua, NOT_SET);
            };
            let t = lua.create_table()?;
            for (level, time, line) in lines {
                t.raw_push(number_of(level))?;
                t.raw_push(time)?;
                t.raw_push(line)?;
            }
            Ok(MultiValue::from_iter([Value::Table(t)]))
        })?,
    )?;
    m.set(
        "get_sys_filter_level",
        lua.create_function(|_, ()| Ok(number_of(crate::observe::error_log_level())))?,
    )?;
    m.set(
        "set_filter_level",
        lua.create_function(|lua, level: i64| {
            let lvl = level_of(level).ok_or_else(|| rt("bad log level"))?;
            if crate::observe::set_error_ring_filter(lvl) {
                Ok(MultiValue::from_iter([Value::Boolean(true)]))
            } else {
                nil_err(lua, NOT_SET)
            }
        })?,
    )?;
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set(
        "ngx.errlog",
        lua.create_function(move |_, ()| Ok(m.clone()))?,
    )?;
    Ok(())
}
