//! `ngx.thread.spawn`, `wait`, `kill`: light threads sharing the request. A spawned thread
//! runs at once until it yields, then alongside the entry thread (see `req::Scoped`); the
//! request ends when all of them have.

use super::api::{check_phase, nil_err, rt, LResult, OUTPUT_PHASES, YIELD_PHASES};
use super::req::{with_req, with_state, LightThread};
use mlua::{Function, Lua, MultiValue, Table, UserData, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll};

type Slot = Rc<RefCell<Option<mlua::Result<MultiValue>>>>;

pub struct ThreadHandle {
    id: u64,
    slot: Slot,
    done: Cell<bool>,
}

impl UserData for ThreadHandle {}

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

/// `true, results...` or `false, message` (a plain string, as OpenResty gives).
fn outcome(lua: &Lua, r: mlua::Result<MultiValue>) -> LResult<MultiValue> {
    Ok(match r {
        Ok(vals) => {
            let mut v = vec![Value::Boolean(true)];
            v.extend(vals);
            MultiValue::from_iter(v)
        }
        Err(e) => MultiValue::from_iter([
            Value::Boolean(false),
            Value::String(lua.create_string(super::vm::lua_message(&e))?),
        ]),
    })
}

pub fn install(lua: &Lua, ngx: &Table) -> LResult<()> {
    let t = lua.create_table()?;
    t.set(
        "spawn",
        lua.create_function(|lua, (f, args): (Function, MultiValue)| {
            with_state(|st| check_phase(st, YIELD_PHASES))?;
            let fut = lua.create_thread(f)?.into_async::<MultiValue>(args)?;
            let slot: Slot = Rc::new(RefCell::new(None));
            let id = NEXT_ID.with(|n| {
                let v = n.get();
                n.set(v + 1);
                v
            });
            let mut lt = LightThread {
                id,
                fut: Box::pin(fut),
                slot: slot.clone(),
            };
            // Run until its first yield, as OpenResty does.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            if !lt.poll_once(&mut cx) {
                with_state(|st| {
                    st.threads.push(lt);
                    Ok(())
                })?;
            }
            Ok(ThreadHandle {
                id,
                slot,
                done: Cell::new(false),
            })
        })?,
    )?;
    t.set(
        "wait",
        lua.create_async_function(|lua, handles: MultiValue| async move {
            with_state(|st| check_phase(st, YIELD_PHASES))?;
            let mut hs = vec![];
            for (i, h) in handles.into_iter().enumerate() {
                match h {
                    Value::UserData(ud) if ud.is::<ThreadHandle>() => hs.push(ud),
                    _ => {
                        return Err(rt(format!(
                            "bad argument #{} to 'wait' (ngx.thread expected)",
                            i + 1
                        )))
                    }
                }
            }
            if hs.is_empty() {
                return Err(rt("at least one coroutine should be specified"));
            }
            std::future::poll_fn(|_cx| {
                let mut live = false;
                for ud in &hs {
                    let Ok(h) = ud.borrow::<ThreadHandle>() else {
                        continue;
                    };
                    if h.done.get() {
                        continue;
                    }
                    if let Some(r) = h.slot.borrow_mut().take() {
                        h.done.set(true);
                        return Poll::Ready(outcome(&lua, r));
                    }
                    live = true;
                }
                if !live {
                    return Poll::Ready(Err(rt("already waited or killed")));
                }
                // Woken by req::Scoped when any light thread finishes.
                Poll::Pending
            })
            .await
        })?,
    )?;
    t.set(
        "kill",
        lua.create_function(|lua, h: mlua::AnyUserData| {
            let h = h.borrow::<ThreadHandle>()?;
            let id = h.id;
            let removed = with_state(|st| {
                let before = st.threads.len();
                st.threads.retain(|t| t.id != id);
                Ok(st.threads.len() < before)
            })?;
            if removed {
                h.done.set(true);
                Ok(MultiValue::from_iter([Value::Integer(1)]))
            } else {
                Ok(MultiValue::from_iter([
                    Value::Nil,
                    Value::String(lua.create_string("already waited or killed")?),
                ]))
            }
        })?,
    )?;
    ngx.set("thread", t)?;
    ngx.set(
        "on_abort",
        lua.create_function(|lua, f: Value| {
            // lua-nginx-module's order: duplicate, then the directive, then the argument.
            let state = with_req(|st, ctx| {
                check_phase(st, OUTPUT_PHASES)?;
                Ok(if st.on_abort.is_some() || st.abort_seen {
                    Err("duplicate call")
                } else if !ctx.conf.lua_check_client_abort {
                    Err("lua_check_client_abort is off")
                } else {
                    Ok(())
                })
            })?;
            if let Err(msg) = state {
                return nil_err(lua, msg);
            }
            let Value::Function(f) = f else {
                return Err(rt("bad argument #1 to '?' (Lua function expected)"));
            };
            // Made now (as OpenResty does), started when the client closes.
            let co = lua.create_thread(f)?;
            with_state(|st| {
                st.on_abort = Some(co);
                Ok(())
            })?;
            Ok(MultiValue::from_iter([Value::Integer(1)]))
        })?,
    )?;
    Ok(())
}
