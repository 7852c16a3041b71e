//! `openclaw.keys.lookup(key)`: the record of an API key, or `nil, "not found" |
//! "revoked" | "expired"` (and `nil, "no key store"` without `api_key_store`).

use crate::keys::Store;
use mlua::{Lua, MultiValue, Value};
use std::sync::Arc;

pub fn install(lua: &Lua, store: Option<Arc<Store>>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.set(
        "lookup",
        lua.create_async_function(move |lua, key: mlua::LuaString| {
            let store = store.clone();
            let key = key.to_string_lossy().to_string();
            async move {
                let fail = |msg: &str| super::api::nil_err(&lua, msg);
                let Some(store) = store else {
                    return fail("no key store");
                };
                match store.lookup(&key).await {
                    Err(e) => fail(&format!("store unavailable: {e}")),
                    Ok(Err(why)) => fail(why.as_str()),
                    Ok(Ok(r)) => {
                        let rec = lua.create_table()?;
                        rec.set("id", r.id)?;
                        rec.set("tier", r.tier)?;
                        rec.set("scopes", lua.create_sequence_from(r.scopes)?)?;
                        if let Some(t) = r.expires_at {
                            let dt: chrono::DateTime<chrono::Utc> = t.into();
                            rec.set(
                                "expires_at",
                                dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            )?;
                        }
                        Ok(MultiValue::from_vec(vec![Value::Table(rec)]))
                    }
                }
            }
        })?,
    )?;
    super::api::openclaw_table(lua)?.set("keys", t)?;
    Ok(())
}
