//! `ngx.semaphore` (`require "ngx.semaphore"`): per-worker counting semaphores that yield
//! the waiting coroutine, with lua-resty-core's API (`new`, `post`, `wait`, `count`).

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Default)]
struct Inner {
    /// Resources available (negative: that many waiters).
    count: i64,
    waiters: VecDeque<oneshot::Sender<()>>,
}

#[derive(Clone)]
pub struct Semaphore(Rc<RefCell<Inner>>);

impl Semaphore {
    fn post(&self, n: i64) {
        let mut g = self.0.borrow_mut();
        for _ in 0..n {
            // Hand the resource to a live waiter, else keep it.
            loop {
                match g.waiters.pop_front() {
                    Some(tx) => {
                        if tx.send(()).is_ok() {
                            break;
                        }
                    }
                    None => {
                        g.count += 1;
                        break;
                    }
                }
            }
        }
    }
}

impl UserData for Semaphore {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("post", |_, this, n: Option<i64>| {
            this.post(n.unwrap_or(1).max(0));
            Ok(true)
        });
        m.add_method("count", |_, this, ()| {
            let g = this.0.borrow();
            Ok(g.count - g.waiters.iter().filter(|w| !w.is_closed()).count() as i64)
        });
        m.add_async_method("wait", |lua, this, timeout: Option<f64>| async move {
            let rx = {
                let mut g = this.0.borrow_mut();
                if g.count > 0 {
                    g.count -= 1;
                    return Ok(MultiValue::from_iter([Value::Boolean(true), Value::Nil]));
                }
                let t = timeout.unwrap_or(0.0);
                if t <= 0.0 {
                    return Ok(MultiValue::from_iter([
                        Value::Nil,
                        Value::String(lua.create_string("timeout")?),
                    ]));
                }
                let (tx, rx) = oneshot::channel();
                g.waiters.push_back(tx);
                (rx, t)
            };
            let (rx, t) = rx;
            let limit = Duration::try_from_secs_f64(t).unwrap_or(Duration::from_secs(3600));
            // lua-resty-core: `true, nil`; after waiting in vain `false, "timeout"`
            // (an immediate refusal with timeout 0 is `nil, "timeout"`).
            match tokio::time::timeout(limit, rx).await {
                Ok(Ok(())) => Ok(MultiValue::from_iter([Value::Boolean(true), Value::Nil])),
                _ => Ok(MultiValue::from_iter([
                    Value::Boolean(false),
                    Value::String(lua.create_string("timeout")?),
                ])),
            }
        });
    }
}

/// Registers `ngx.semaphore` in `package.preload`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set(
        "ngx.semaphore",
        lua.create_function(|lua, _: MultiValue| {
            let m = lua.create_table()?;
            m.set("version", "0.1.28")?;
            m.set(
                "new",
                lua.create_function(|_, n: Option<i64>| {
                    let n = n.unwrap_or(0);
                    if n < 0 {
                        return Err(mlua::Error::RuntimeError(
                            "resources count must be a non-negative number".into(),
                        ));
                    }
                    Ok(Semaphore(Rc::new(RefCell::new(Inner {
                        count: n,
                        waiters: VecDeque::new(),
                    }))))
                })?,
            )?;
            Ok(m)
        })?,
    )?;
    Ok(())
}
