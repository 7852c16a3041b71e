//! `ngx.timer.at`, `ngx.timer.every`, `running_count`, `pending_count`: callbacks run as
//! coroutines on the worker's event loop, with no request (phase `timer`).

use super::req::{ReqState, Scoped, BARE_PHASE};
use super::vm::lua_message;
use crate::observe::Level;
use crate::pipeline::Phase;
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::cell::Cell;
use std::time::Duration;

/// `lua_max_pending_timers`' default.
const MAX_PENDING: usize = 1024;

thread_local! {
    static PENDING: Cell<usize> = const { Cell::new(0) };
    static RUNNING: Cell<usize> = const { Cell::new(0) };
}

fn bump(c: &'static std::thread::LocalKey<Cell<usize>>, up: bool) {
    c.with(|v| {
        v.set(if up {
            v.get() + 1
        } else {
            v.get().saturating_sub(1)
        })
    });
}

pub fn install(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let timer = lua.create_table()?;
    for every in [false, true] {
        let name = if every { "every" } else { "at" };
        timer.set(
            name,
            lua.create_function(move |lua, args: MultiValue| schedule(lua, args, every))?,
        )?;
    }
    timer.set(
        "running_count",
        lua.create_function(|_, ()| Ok(RUNNING.with(|c| c.get())))?,
    )?;
    timer.set(
        "pending_count",
        lua.create_function(|_, ()| Ok(PENDING.with(|c| c.get())))?,
    )?;
    ngx.set("timer", timer)?;
    Ok(())
}

fn schedule(lua: &Lua, args: MultiValue, every: bool) -> mlua::Result<MultiValue> {
    let fname = if every { "every" } else { "at" };
    let _ = fname;
    let mut it = args.into_iter();
    let delay = match it.next() {
        Some(Value::Integer(i)) => i as f64,
        Some(Value::Number(n)) => n,
        other => {
            return Err(mlua::Error::RuntimeError(format!(
                "bad argument #1 to '{fname}' (number expected, got {})",
                other.map(|v| v.type_name()).unwrap_or("no value")
            )))
        }
    };
    // OpenResty runs a negative delay at once; `every` refuses zero.
    let delay = if delay.is_nan() { 0.0 } else { delay.max(0.0) };
    if every && delay == 0.0 {
        return Err(mlua::Error::RuntimeError("delay cannot be zero".into()));
    }
    let func = match it.next() {
        Some(Value::Function(f)) => f,
        _ => {
            return Err(mlua::Error::RuntimeError(
                "bad argument #2 to '?' (Lua function expected)".into(),
            ))
        }
    };
    // No event loop runs init_by_lua (OpenResty forbids timers there too).
    if BARE_PHASE.with(|b| b.get()) == Some(Phase::Init) {
        return Err(mlua::Error::RuntimeError(
            "API disabled in the context of init_by_lua*".into(),
        ));
    }
    let max = lua
        .app_data_ref::<super::vm::Limits>()
        .map(|l| l.max_pending_timers)
        .unwrap_or(MAX_PENDING);
    if PENDING.with(|c| c.get()) >= max {
        return Ok(MultiValue::from_iter([
            Value::Nil,
            Value::String(lua.create_string("too many pending timers")?),
        ]));
    }
    let extra: Vec<Value> = it.collect();
    let lua = lua.clone();
    let delay = Duration::try_from_secs_f64(delay)
        .map_err(|_| mlua::Error::RuntimeError("bad argument #1 to '?' (bad delay)".into()))?;
    bump(&PENDING, true);
    tokio::task::spawn_local(run(lua, delay, func, extra, every));
    Ok(MultiValue::from_iter([Value::Integer(1)]))
}

async fn run(lua: Lua, delay: Duration, func: Function, extra: Vec<Value>, every: bool) {
    loop {
        tokio::time::sleep(delay).await;
        bump(&PENDING, false);
        bump(&RUNNING, true);
        // A replaced generation: run once more with premature = true, then stop.
        let premature = lua
            .app_data_ref::<super::vm::Retired>()
            .is_some_and(|r| r.0.get());
        let mut args = vec![Value::Boolean(premature)];
        args.extend(extra.iter().cloned());
        let fut = lua
            .create_thread(func.clone())
            .and_then(|t| t.into_async::<()>(MultiValue::from_iter(args)));
        match fut {
            Ok(fut) => {
                let mut state = ReqState::new(Phase::Timer, std::ptr::null_mut(), None);
                let mut fut = std::pin::pin!(fut);
                let r = Scoped {
                    state: &mut state,
                    fut: fut.as_mut(),
                    done: None,
                }
                .await;
                if let Some(Err(e)) = r {
                    crate::observe::log(
                        Level::Error,
                        &format!(
                            "lua entry thread aborted: runtime error: {}, context: ngx.timer",
                            lua_message(&e)
                        ),
                        None,
                    );
                }
            }
            Err(e) => {
                crate::observe::log(Level::Error, &format!("failed to run a timer: {e}"), None)
            }
        }
        bump(&RUNNING, false);
        if !every || premature {
            return;
        }
        bump(&PENDING, true);
    }
}
