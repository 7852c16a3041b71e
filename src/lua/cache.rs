//! `openclaw.cache.*`: application-level use of the response cache zones (say, keeping
//! the answer to an expensive, deterministic call under a normalised key).
//!
//! `get(zone, key)` -> value or nil (also nil once expired); `set(zone, key, value, ttl
//! [, tags])` -> true; `purge{zone=, key=, prefix=, tags={...}}` -> number purged. Unknown
//! zones return `nil, "cache zone not found"`.

use crate::cache::{now_secs, Entry, Zone};
use mlua::{Lua, MultiValue, Table, Value};
use std::sync::Arc;

use super::api::{nil_err as fail, COSOCKET_PHASES};

pub fn install(lua: &Lua, zones: &[Arc<Zone>]) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let zones: Arc<Vec<Arc<Zone>>> = Arc::new(zones.to_vec());
    let find = |zones: &[Arc<Zone>], name: &str| zones.iter().find(|z| z.name == name).cloned();
    let z = zones.clone();
    t.set(
        "get",
        lua.create_async_function(move |lua, (zone, key): (String, mlua::LuaString)| {
            let zone = find(&z, &zone);
            let key = key.to_str().map(|k| format!("lua:{}", &*k));
            async move {
                let Some(zone) = zone else {
                    return fail(&lua, "cache zone not found");
                };
                let key = key?;
                // Where the handler may yield, an entry only on disk is read on the
                // blocking pool, not on the worker; elsewhere (init, filters) it is read here.
                let may_yield = super::req::with_state(|st| Ok(COSOCKET_PHASES.contains(st.phase)))
                    .unwrap_or(false);
                let entry = if may_yield {
                    zone.lookup(&key).await
                } else {
                    zone.get(&key)
                };
                match entry {
                    Some(e) if e.fresh(now_secs()) => {
                        Ok(MultiValue::from_vec(vec![Value::String(
                            lua.create_string(&e.body[..])?,
                        )]))
                    }
                    _ => Ok(MultiValue::from_vec(vec![Value::Nil])),
                }
            }
        })?,
    )?;
    let z = zones.clone();
    t.set(
        "set",
        lua.create_function(
            move |lua,
                  (zone, key, value, ttl, tags): (
                String,
                mlua::LuaString,
                mlua::LuaString,
                f64,
                Option<Table>,
            )| {
                let Some(zone) = find(&z, &zone) else {
                    return fail(lua, "cache zone not found");
                };
                if ttl.is_nan() || ttl <= 0.0 {
                    return Err(mlua::Error::RuntimeError(
                        "bad argument #4 to 'set' (ttl must be positive)".into(),
                    ));
                }
                let tags: Vec<String> = match tags {
                    Some(t) => t.sequence_values::<String>().collect::<mlua::Result<_>>()?,
                    None => vec![],
                };
                let now = now_secs();
                zone.put(Entry {
                    key: format!("lua:{}", key.to_str()?),
                    status: 200,
                    body: bytes::Bytes::copy_from_slice(&value.as_bytes()),
                    stored: now,
                    expires: now + ttl.ceil() as u64,
                    tags,
                    ..Default::default()
                });
                Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
            },
        )?,
    )?;
    let z = zones;
    t.set(
        "purge",
        lua.create_function(move |lua, opts: Table| {
            let name: String = opts.get("zone")?;
            let Some(zone) = find(&z, &name) else {
                return fail(lua, "cache zone not found");
            };
            let key: Option<String> = opts.get("key")?;
            let prefix: Option<String> = opts.get("prefix")?;
            let tags: Vec<String> = match opts.get::<Option<Table>>("tags")? {
                Some(t) => t.sequence_values::<String>().collect::<mlua::Result<_>>()?,
                None => vec![],
            };
            // Lua's own entries and proxied responses share the zone: a key or prefix
            // given here matches either.
            let mut n = 0;
            if let Some(k) = &key {
                n += zone.purge(Some(&format!("lua:{k}")), None, &[]);
                n += zone.purge(Some(k), None, &[]);
            }
            if let Some(p) = &prefix {
                n += zone.purge(None, Some(&format!("lua:{p}")), &[]);
                n += zone.purge(None, Some(p), &[]);
            }
            if !tags.is_empty() {
                n += zone.purge(None, None, &tags);
            }
            Ok(MultiValue::from_vec(vec![Value::Integer(n as i64)]))
        })?,
    )?;
    super::api::openclaw_table(lua)?.set("cache", t)?;
    Ok(())
}
