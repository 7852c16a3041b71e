//! `require "ngx.balancer"` for `balancer_by_lua*` (lua-resty-core's names and results),
//! and `openclaw.upstream.*` over the configured upstream groups.

use super::req::with_req;
use crate::pipeline::Phase;
use crate::upstream::{Outcome, Selection, Upstream};
use mlua::{Lua, MultiValue, Table, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::api::nil_err as fail;

fn ok() -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// Runs `f` on the balancer state of the running balancer_by_lua handler; elsewhere
/// OpenResty answers `nil, "no upstream found"`.
fn with_balancer(
    lua: &Lua,
    f: impl FnOnce(&mut crate::pipeline::BalancerState) -> Result<(), String>,
) -> mlua::Result<MultiValue> {
    let r = with_req(|st, _| {
        if st.phase != Phase::Balancer {
            return Ok(Err("no upstream found".to_string()));
        }
        match st.balancer.as_mut() {
            Some(b) => Ok(f(b)),
            None => Ok(Err("no upstream peer data found".to_string())),
        }
    })?;
    match r {
        Ok(()) => ok(),
        Err(e) => fail(lua, &e),
    }
}

fn seconds(v: Option<f64>, what: &str) -> mlua::Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s > 0.0 && s.is_finite() => Ok(Some(Duration::from_secs_f64(s))),
        Some(_) => Err(mlua::Error::RuntimeError(format!("bad {what} timeout"))),
    }
}

pub fn install(lua: &Lua, upstreams: &[(String, Arc<Upstream>)]) -> mlua::Result<()> {
    let b = lua.create_table()?;
    b.set(
        "set_current_peer",
        lua.create_function(|lua, (addr, port): (String, Option<Value>)| {
            let port = match port {
                None | Some(Value::Nil) => None,
                Some(Value::Integer(i)) => Some(i),
                Some(Value::Number(n)) => Some(n as i64),
                Some(Value::String(s)) => s.to_str()?.parse::<i64>().ok(),
                Some(_) => None,
            };
            let parsed: Option<SocketAddr> = match port {
                Some(p) if (1..=65535).contains(&p) => addr
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, p as u16)),
                Some(_) => return fail(lua, "invalid port"),
                None => addr.parse().ok(),
            };
            let Some(peer) = parsed else {
                return fail(lua, "no host allowed");
            };
            with_balancer(lua, |b| {
                b.peer = Some(peer);
                Ok(())
            })
        })?,
    )?;
    b.set(
        "set_more_tries",
        lua.create_function(|lua, count: i64| {
            if count < 0 {
                return Err(mlua::Error::RuntimeError("bad count".into()));
            }
            with_balancer(lua, |b| {
                b.more_tries = count as usize;
                Ok(())
            })
        })?,
    )?;
    b.set(
        "get_last_failure",
        lua.create_function(|lua, ()| {
            let last = with_req(|st, _| {
                if st.phase != Phase::Balancer {
                    return Ok(Err("no upstream found"));
                }
                Ok(Ok(st.balancer.as_ref().and_then(|b| b.last_failure)))
            })?;
            match last {
                Err(e) => Ok(MultiValue::from_vec(vec![
                    Value::Nil,
                    Value::Nil,
                    Value::String(lua.create_string(e)?),
                ])),
                Ok(None) => Ok(MultiValue::new()),
                Ok(Some((state, status))) => Ok(MultiValue::from_vec(vec![
                    Value::String(lua.create_string(state)?),
                    Value::Integer(status as _),
                ])),
            }
        })?,
    )?;
    b.set(
        "set_timeouts",
        lua.create_function(|lua, (c, s, r): (Option<f64>, Option<f64>, Option<f64>)| {
            let t = (
                seconds(c, "connect")?,
                seconds(s, "send")?,
                seconds(r, "read")?,
            );
            with_balancer(lua, |b| {
                b.timeouts = Some(t);
                Ok(())
            })
        })?,
    )?;
    b.set(
        "enable_keepalive",
        lua.create_function(|lua, (idle, max): (Option<f64>, Option<i64>)| {
            let idle = seconds(Some(idle.unwrap_or(60.0)), "idle")?.unwrap_or_default();
            let max = max.unwrap_or(100).max(1) as u64;
            with_balancer(lua, |b| {
                b.keepalive = Some((idle, max));
                Ok(())
            })
        })?,
    )?;
    let loaded: Table = lua.globals().get::<Table>("package")?.get("loaded")?;
    loaded.set("ngx.balancer", b)?;

    let openclaw = super::api::openclaw_table(lua)?;
    let up = lua.create_table()?;
    let groups: Arc<Vec<(String, Arc<Upstream>)>> = Arc::new(upstreams.to_vec());
    let find = |groups: &[(String, Arc<Upstream>)], name: &str| {
        groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| g.clone())
    };
    let g = groups.clone();
    up.set(
        "peers",
        lua.create_function(move |lua, name: String| {
            let Some(group) = find(&g, &name) else {
                return fail(lua, "upstream not found");
            };
            let list = lua.create_table()?;
            for (i, p) in group.peers().into_iter().enumerate() {
                let t = lua.create_table()?;
                t.set("name", p.name)?;
                t.set("server", p.server)?;
                t.set("weight", p.weight)?;
                t.set("backup", p.backup)?;
                t.set("down", p.down)?;
                t.set("fails", p.fails)?;
                t.set("conns", p.conns)?;
                t.set("max_fails", p.max_fails)?;
                t.set("fail_timeout", p.fail_timeout.as_secs_f64())?;
                t.set("unavailable", p.unavailable)?;
                t.set("healthy", p.healthy)?;
                list.raw_set(i + 1, t)?;
            }
            Ok(MultiValue::from_vec(vec![Value::Table(list)]))
        })?,
    )?;
    let g = groups.clone();
    up.set(
        "set_peer_down",
        lua.create_function(move |lua, (name, addr, down): (String, String, bool)| {
            let Some(group) = find(&g, &name) else {
                return fail(lua, "upstream not found");
            };
            if group.set_peer_down(&addr, down) {
                ok()
            } else {
                fail(lua, "peer not found")
            }
        })?,
    )?;
    let g = groups;
    up.set(
        "select",
        lua.create_function(move |lua, (name, key): (String, Option<mlua::LuaString>)| {
            let Some(group) = find(&g, &name) else {
                return fail(lua, "upstream not found");
            };
            let key = key.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
            let mut sel = Selection::new(&group, &key);
            match group.pick(&mut sel) {
                Some(p) => {
                    // Only a choice: the caller connects through ngx.balancer.
                    group.release(&p, Outcome::Ok, None);
                    Ok(MultiValue::from_vec(vec![Value::String(
                        lua.create_string(&p.name)?,
                    )]))
                }
                None => fail(lua, "no live upstreams"),
            }
        })?,
    )?;
    openclaw.set("upstream", up)?;
    Ok(())
}
