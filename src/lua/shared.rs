//! `ngx.shared.DICT`: Lua bindings over `shdict` with OpenResty's return values
//! (`ok, err, forcible` from stores; `nil, "not found"` and friends).

use crate::shdict::{DictError, ListItem, Mode, ShDict, Value as DV};
use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use std::sync::Arc;
use std::time::Duration;

pub struct DictHandle(pub Arc<ShDict>);

fn key_of(v: &Value) -> Result<Vec<u8>, &'static str> {
    let k = match v {
        Value::Nil => return Err("nil key"),
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(i) => i.to_string().into_bytes(),
        Value::Number(n) => super::api::lua_number(*n).into_bytes(),
        _ => return Err("bad key type"),
    };
    if k.is_empty() {
        return Err("empty key");
    }
    if k.len() > 65535 {
        return Err("key too long");
    }
    Ok(k)
}

fn value_of(v: &Value) -> Result<Option<DV>, &'static str> {
    Ok(Some(match v {
        Value::Nil => return Ok(None),
        Value::Boolean(b) => DV::Bool(*b),
        Value::Integer(i) => DV::Number(*i as f64),
        Value::Number(n) => DV::Number(*n),
        Value::String(s) => DV::Str(s.as_bytes().to_vec()),
        _ => return Err("bad value type"),
    }))
}

fn to_lua(lua: &Lua, v: DV) -> mlua::Result<Value> {
    Ok(match v {
        DV::Bool(b) => Value::Boolean(b),
        DV::Number(n) => Value::Number(n),
        DV::Str(s) => Value::String(lua.create_string(s)?),
        // A list read with get: OpenResty reports the type error.
        DV::List(_) => Value::Nil,
    })
}

fn item_to_lua(lua: &Lua, i: ListItem) -> mlua::Result<Value> {
    Ok(match i {
        ListItem::Number(n) => Value::Number(n),
        ListItem::Str(s) => Value::String(lua.create_string(s)?),
    })
}

fn mv<const N: usize>(vals: [Value; N]) -> MultiValue {
    MultiValue::from_iter(vals)
}

use super::api::nil_err as err;

/// An expiry in seconds; 0, negative, NaN and absurdly large values mean "never".
pub(super) fn ttl_of(v: Option<f64>) -> Option<Duration> {
    v.filter(|t| *t > 0.0)
        .and_then(|t| Duration::try_from_secs_f64(t).ok())
        .filter(|d| *d < Duration::from_secs(100 * 365 * 86400))
}

fn store(
    lua: &Lua,
    d: &ShDict,
    (k, v, exptime, flags): (Value, Value, Option<f64>, Option<u32>),
    mode: Mode,
    safe: bool,
) -> mlua::Result<MultiValue> {
    let fail = |lua: &Lua, msg: &str, forcible: bool| -> mlua::Result<MultiValue> {
        Ok(mv([
            Value::Boolean(false),
            Value::String(lua.create_string(msg)?),
            Value::Boolean(forcible),
        ]))
    };
    // Argument problems are `nil, err` (lua-resty-core checks them in Lua); store
    // failures are `false, err, forcible`.
    let key = match key_of(&k) {
        Ok(k) => k,
        Err(e) => return err(lua, e),
    };
    let value = match value_of(&v) {
        Ok(v) => v,
        Err(e) => return err(lua, e),
    };
    if value.is_none() && mode != Mode::Set {
        return fail(lua, "attempt to add or replace nil values", false);
    }
    match d.store(&key, value, ttl_of(exptime), flags.unwrap_or(0), mode, safe) {
        Ok(s) => Ok(mv([
            Value::Boolean(true),
            Value::Nil,
            Value::Boolean(s.forcible),
        ])),
        Err(e) => fail(lua, e.as_str(), false),
    }
}

impl UserData for DictHandle {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("get", |lua, this, k: Value| {
            let key = match key_of(&k) {
                Ok(k) => k,
                Err(e) => return err(lua, e),
            };
            match this.0.get(&key) {
                None => Ok(mv([Value::Nil])),
                Some((DV::List(_), _)) => err(lua, "value is a list"),
                Some((v, 0)) => Ok(mv([to_lua(lua, v)?])),
                Some((v, f)) => Ok(mv([to_lua(lua, v)?, Value::Integer(f as i64)])),
            }
        });
        m.add_method("get_stale", |lua, this, k: Value| {
            let key = match key_of(&k) {
                Ok(k) => k,
                Err(e) => return err(lua, e),
            };
            match this.0.get_stale(&key) {
                None => Ok(mv([Value::Nil])),
                Some((v, f, stale)) => {
                    let flags = if f == 0 {
                        Value::Nil
                    } else {
                        Value::Integer(f as i64)
                    };
                    Ok(mv([to_lua(lua, v)?, flags, Value::Boolean(stale)]))
                }
            }
        });
        for (name, mode, safe) in [
            ("set", Mode::Set, false),
            ("safe_set", Mode::Set, true),
            ("add", Mode::Add, false),
            ("safe_add", Mode::Add, true),
            ("replace", Mode::Replace, false),
        ] {
            m.add_method(
                name,
                move |lua, this, args: (Value, Value, Option<f64>, Option<u32>)| {
                    store(lua, &this.0, args, mode, safe)
                },
            );
        }
        m.add_method("delete", |_, this, k: Value| {
            if let Ok(key) = key_of(&k) {
                this.0.delete(&key);
            }
            Ok(true)
        });
        m.add_method(
            "incr",
            |lua, this, (k, by, init, init_ttl): (Value, Value, Option<f64>, Option<f64>)| {
                let key = match key_of(&k) {
                    Ok(k) => k,
                    Err(e) => return err(lua, e),
                };
                let by = match by {
                    Value::Integer(i) => i as f64,
                    Value::Number(n) => n,
                    _ => return err(lua, "not a number"),
                };
                match this.0.incr(&key, by, init, ttl_of(init_ttl)) {
                    // `forcible` is only reported when `init` was given.
                    Ok((v, s)) if init.is_some() => Ok(mv([
                        Value::Number(v),
                        Value::Nil,
                        Value::Boolean(s.forcible),
                    ])),
                    Ok((v, _)) => Ok(mv([Value::Number(v)])),
                    Err(e) => err(lua, e.as_str()),
                }
            },
        );
        for (name, front) in [("lpush", true), ("rpush", false)] {
            m.add_method(name, move |lua, this, (k, v): (Value, Value)| {
                let key = match key_of(&k) {
                    Ok(k) => k,
                    Err(e) => return err(lua, e),
                };
                let item = match v {
                    Value::Integer(i) => ListItem::Number(i as f64),
                    Value::Number(n) => ListItem::Number(n),
                    Value::String(s) => ListItem::Str(s.as_bytes().to_vec()),
                    _ => return err(lua, "bad value type"),
                };
                match this.0.push(&key, item, front) {
                    Ok(n) => Ok(mv([Value::Integer(n as i64)])),
                    Err(e) => err(lua, e.as_str()),
                }
            });
        }
        for (name, front) in [("lpop", true), ("rpop", false)] {
            m.add_method(name, move |lua, this, k: Value| {
                let key = match key_of(&k) {
                    Ok(k) => k,
                    Err(e) => return err(lua, e),
                };
                match this.0.pop(&key, front) {
                    Ok(Some(i)) => Ok(mv([item_to_lua(lua, i)?])),
                    Ok(None) => Ok(mv([Value::Nil])),
                    Err(e) => err(lua, e.as_str()),
                }
            });
        }
        m.add_method("llen", |lua, this, k: Value| {
            let key = match key_of(&k) {
                Ok(k) => k,
                Err(e) => return err(lua, e),
            };
            match this.0.llen(&key) {
                Ok(n) => Ok(mv([Value::Integer(n as i64)])),
                Err(e) => err(lua, e.as_str()),
            }
        });
        m.add_method("ttl", |lua, this, k: Value| {
            let key = match key_of(&k) {
                Ok(k) => k,
                Err(e) => return err(lua, e),
            };
            match this.0.ttl(&key) {
                Ok(None) => Ok(mv([Value::Integer(0)])),
                Ok(Some(d)) => Ok(mv([Value::Number((d.as_millis() as f64) / 1000.0)])),
                Err(DictError::NotFound) => err(lua, "not found"),
                Err(e) => err(lua, e.as_str()),
            }
        });
        m.add_method("expire", |lua, this, (k, t): (Value, Option<f64>)| {
            let key = match key_of(&k) {
                Ok(k) => k,
                Err(e) => return err(lua, e),
            };
            match this.0.expire(&key, ttl_of(t)) {
                Ok(()) => Ok(mv([Value::Boolean(true)])),
                Err(e) => err(lua, e.as_str()),
            }
        });
        m.add_method("flush_all", |_, this, ()| {
            this.0.flush_all();
            Ok(())
        });
        m.add_method("flush_expired", |_, this, max: Option<usize>| {
            Ok(this.0.flush_expired(max.unwrap_or(0)))
        });
        m.add_method("get_keys", |lua, this, max: Option<usize>| {
            let t = lua.create_table()?;
            for k in this.0.keys(max.unwrap_or(1024)) {
                t.raw_push(lua.create_string(k)?)?;
            }
            Ok(t)
        });
        m.add_method("capacity", |_, this, ()| Ok(this.0.capacity()));
        m.add_method("free_space", |_, this, ()| Ok(this.0.free_space()));
    }
}

/// `ngx.shared` with one entry per zone, and the native limiter steps under
/// `openclaw.limit` that the bundled `resty.limit.*` modules call.
pub fn install(lua: &Lua, ngx: &Table, dicts: &[Arc<ShDict>]) -> mlua::Result<()> {
    let handles = lua.create_table()?;
    let addrs = lua.create_table()?;
    for d in dicts {
        handles.set(d.name.as_str(), DictHandle(d.clone()))?;
        // The handle (kept by the Lua side next to the address) keeps the dict alive.
        addrs.set(
            d.name.as_str(),
            mlua::LightUserData(Arc::as_ptr(d) as *mut std::ffi::c_void),
        )?;
    }
    let [get, store, incr] = super::ffi::shdict_entry_points().map(mlua::LightUserData);
    let shared: Table = lua
        .load(include_str!("../../lua/openclaw/shdict.lua"))
        .set_name("=openclaw.shdict")
        .call((handles, addrs, get, store, incr))?;
    ngx.set("shared", shared)?;
    let by_name: Vec<Arc<ShDict>> = dicts.to_vec();
    let openclaw = super::api::openclaw_table(lua)?;
    let limit = lua.create_table()?;
    // req_step(dict_name, key, rate, burst, commit, uncommit) -> excess (milli-requests) | nil
    limit.set(
        "req_step",
        lua.create_function(
            move |lua,
                  (name, k, rate, burst, commit, uncommit): (
                mlua::LuaString,
                Value,
                f64,
                f64,
                bool,
                Option<bool>,
            )| {
                let Some(d) = by_name
                    .iter()
                    .find(|d| d.name.as_bytes() == name.as_bytes().as_ref())
                else {
                    return err(lua, "shared dict not found");
                };
                let key = match key_of(&k) {
                    Ok(k) => k,
                    Err(e) => return err(lua, e),
                };
                let now = crate::limit::now_ms();
                match d.leaky_bucket(
                    &key,
                    (rate * 1000.0) as u64,
                    (burst * 1000.0) as u64,
                    now,
                    commit,
                    uncommit.unwrap_or(false),
                ) {
                    Ok(Some(excess)) => Ok(mv([Value::Number(excess as f64)])),
                    Ok(None) => err(lua, "rejected"),
                    Err(e) => err(lua, e.as_str()),
                }
            },
        )?,
    )?;
    openclaw.set("limit", limit)?;
    Ok(())
}
