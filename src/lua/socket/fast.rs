//! Cosocket calls that complete without waiting skip mlua: its async machinery costs a
//! userdata and a boxed future per call even when nothing waits (about 4,000
//! instructions), and even a plain method call costs 1,000-2,000 in argument conversion
//! and stack round trips; a Redis GET makes six calls. `ngx.socket.tcp()` returns a table,
//! as OpenResty's does, holding the userdata and the socket's id in this worker's
//! registry. Its `connect` (from the pool), `send` (of a string), `receive` (a line or a
//! count), `settimeout` and `setkeepalive` first call the C functions in `lua::ffi` (through
//! LuaJIT's FFI) with that id; those do the work when it needs no waiting and say "again"
//! otherwise, and only then does the userdata's method run, which also words every error.
//! A `receive` that only waits for data registers the task's waker (`req::with_waker`) with
//! the socket and a timer for its deadline, and the Lua side yields mlua's pending marker,
//! then calls again when woken.
//!
//! The registry maps ids to the sockets' state for as long as their userdata lives; an id
//! a script made up finds nothing (or another of its own sockets), never freed memory.

use super::super::api::{check_phase, LResult, COSOCKET_PHASES};
use super::super::req::{with_state, with_waker};
use super::{
    flatten, literal_ip, pool_key, ready_span, take_pooled, Conn, Inner, Refusal, TcpSock, Want,
};
use mlua::{Function, LightUserData, Lua, Value};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

/// The live sockets of this worker by id, and the ids free for reuse.
#[derive(Default)]
struct Registry {
    slots: Vec<Option<Rc<RefCell<Inner>>>>,
    free: Vec<u32>,
}

thread_local! {
    static SOCKETS: RefCell<Registry> = RefCell::default();
}

/// Enters a new socket's state; the id is its slot.
pub(super) fn register(inner: &Rc<RefCell<Inner>>) -> u32 {
    SOCKETS.with(|r| {
        let mut r = r.borrow_mut();
        match r.free.pop() {
            Some(id) => {
                r.slots[id as usize] = Some(inner.clone());
                id
            }
            None => {
                r.slots.push(Some(inner.clone()));
                (r.slots.len() - 1) as u32
            }
        }
    })
}

/// A new socket's slot, with the request's `lua_socket_*` defaults.
pub(super) fn register_new() -> u32 {
    register(&super::new_inner())
}

/// The methods' userdata for slot `id` (the slot stays the anchor's); None if not live.
pub(super) fn attach(id: f64) -> Option<TcpSock> {
    shared(id).map(|inner| TcpSock(inner, id as u32, false))
}

/// Forgets a socket whose anchor (or owning userdata) is gone.
pub(super) fn release(id: u32) {
    // (At thread exit the registry may be gone already.)
    let _ = SOCKETS.try_with(|r| {
        let old = {
            let mut r = r.borrow_mut();
            let old = r.slots.get_mut(id as usize).and_then(Option::take);
            if old.is_some() {
                r.free.push(id);
            }
            old
        };
        // Dropped after the borrow ends: a socket's state owns no other socket.
        drop(old);
    });
}

/// How many sockets of this worker are live (tests).
#[cfg(test)]
pub(super) fn live_count() -> usize {
    SOCKETS.with(|r| r.borrow().slots.iter().filter(|s| s.is_some()).count())
}

/// The state of socket `id`, if it is live and this code runs where cosockets may.
fn live(id: f64) -> Option<Rc<RefCell<Inner>>> {
    if with_state(|st| check_phase(st, COSOCKET_PHASES)).is_err() {
        return None;
    }
    shared(id)
}

/// The state of socket `id` (a number from Lua: anything but a live slot finds nothing).
fn shared(id: f64) -> Option<Rc<RefCell<Inner>>> {
    if id.fract() != 0.0 || !(0.0..u32::MAX as f64).contains(&id) {
        return None;
    }
    SOCKETS.with(|r| r.borrow().slots.get(id as usize).cloned().flatten())
}

/// `connect(ip, port [, {pool = name}])` answered from the pool; false: the userdata's
/// `connect` must run (a new connection, a name to resolve, a unix socket, odd arguments).
pub fn connect_pooled(id: f64, host: &[u8], port: f64, pool: Option<&[u8]>) -> bool {
    let Some(sock) = live(id) else {
        return false;
    };
    if port.fract() != 0.0 || !(0.0..65536.0).contains(&port) {
        return false;
    }
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    if literal_ip(host).is_none() {
        return false;
    }
    let key = match pool {
        Some(p) => match std::str::from_utf8(p) {
            Ok(p) => p.to_string(),
            Err(_) => return false,
        },
        None => pool_key(host, port as u16),
    };
    match take_pooled(&key) {
        Some(p) => {
            sock.borrow_mut().adopt(p, key);
            true
        }
        None => false,
    }
}

/// `send(data)` of a string the kernel takes now: the byte count. A partial write leaves
/// the rest in `pending_send` for the userdata's `send`, which finishes it and returns the
/// whole length; None: that method must run.
pub fn send_now(id: f64, data: &[u8]) -> Option<usize> {
    let sock = live(id)?;
    let n = send_plain(&mut sock.borrow_mut(), data);
    n
}

/// How `receive_now` ended.
pub enum Received {
    /// The answer is in `out`.
    Done,
    /// Nothing to answer yet: the task is registered to wake when the socket is readable
    /// or the read times out; the Lua side yields and calls again.
    Wait,
    /// The userdata's `receive` must run (end of stream, an error, a timeout, a closed
    /// socket, TLS, or no task to wake).
    Slow,
}

/// `receive()`/`receive("*l")` (`count` None) or `receive(count)` answered from the
/// buffer or after reads that do not wait; the line comes without its end. When the
/// data is not there yet, registers for it instead of handing over to the userdata's
/// async method (which costs a userdata and a boxed future per wait).
/// `resumed`: this call repeats one that said `Wait` (else a stale deadline is dropped).
pub fn receive_now(id: f64, count: Option<f64>, resumed: bool, out: &mut Vec<u8>) -> Received {
    let Some(sock) = live(id) else {
        return Received::Slow;
    };
    let want = match count {
        None => Want::Line,
        Some(n) if n >= 0.0 => Want::Bytes(n as usize),
        Some(_) => return Received::Slow,
    };
    let mut g = sock.borrow_mut();
    let g = &mut *g;
    if !resumed {
        g.read_wait = None;
    }
    let Some(Conn::Plain(stream)) = &g.stream else {
        return Received::Slow;
    };
    // A few rounds: readiness can come between a read that would block and registering.
    let mut span = ready_span(&g.buf, &want);
    for _ in 0..4 {
        if span.is_some() {
            break;
        }
        g.buf.reserve(16 * 1024);
        // (A short read forgets the readiness, as nginx does: the next wait is for epoll.)
        match crate::http1::try_recv_drained(stream, &mut g.buf) {
            Ok(n) if n > 0 => {
                span = ready_span(&g.buf, &want);
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => return Received::Slow,
        }
        // Register for the data and the deadline with the task's waker; none (a coroutine
        // not resumed by `Scoped`): the userdata's method waits instead.
        let timeout = g.read_timeout;
        let wait = &mut g.read_wait;
        let waited = with_waker(|w| {
            let mut cx = std::task::Context::from_waker(w);
            match stream.poll_read_ready(&mut cx) {
                Poll::Ready(Ok(())) => return None,
                Poll::Ready(Err(_)) => return Some(Received::Slow),
                Poll::Pending => {}
            }
            let timer = wait.get_or_insert_with(|| {
                Box::pin(tokio::time::sleep_until(
                    tokio::time::Instant::now() + timeout,
                ))
            });
            // Timed out: the userdata's method words it (the timer stays for it).
            Some(match timer.as_mut().poll(&mut cx) {
                Poll::Ready(()) => Received::Slow,
                Poll::Pending => Received::Wait,
            })
        });
        match waited {
            // Readable meanwhile: read again.
            Some(None) => {}
            Some(Some(r)) => return r,
            None => return Received::Slow,
        }
    }
    let Some((len, used)) = span else {
        return Received::Slow;
    };
    // Dropped: its entry would wake the task when the time came.
    g.read_wait = None;
    out.clear();
    out.extend_from_slice(&g.buf[..len]);
    g.buf.drain(..used);
    Received::Done
}

/// `settimeout(ms)` (None: nil); false if the socket is not found.
pub fn set_timeout(id: f64, ms: Option<f64>) -> bool {
    // No phase check: settimeout works wherever the object exists.
    match shared(id) {
        Some(s) => {
            s.borrow_mut().set_timeout(ms);
            true
        }
        None => false,
    }
}

/// `setkeepalive([timeout [, size]])`: None if the userdata's method must run (the
/// socket not found, a size that is not a whole number), else its answer.
pub fn keepalive(id: f64, timeout: Option<f64>, size: Option<f64>) -> Option<Result<(), Refusal>> {
    let size = match size {
        None => None,
        Some(n) if n.fract() == 0.0 && (0.0..1e15).contains(&n) => Some(n as usize),
        Some(_) => return None,
    };
    let sock = shared(id)?;
    let r = sock.borrow_mut().keepalive(timeout, size);
    Some(r)
}

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

/// `send` of a table (flattened here; a string goes through `send_now`) on a plain TCP
/// connection whose kernel buffer takes the data now. Anything unusual (a closed socket,
/// TLS, an error, a phase without cosockets) goes to the async method, which words it as
/// OpenResty does.
pub(super) fn try_send(this: &TcpSock, data: &Value) -> LResult<Value> {
    if with_state(|st| check_phase(st, COSOCKET_PHASES)).is_err() {
        return again();
    }
    let mut g = this.0.borrow_mut();
    if g.pending_send.is_some() || !matches!(g.stream, Some(Conn::Plain(_))) {
        return again();
    }
    let mut flat = Vec::new();
    flatten(data, &mut flat)?;
    match send_plain(&mut g, &flat) {
        Some(n) => Ok(Value::Integer(n as i64)),
        None => again(),
    }
}

/// Writes `bytes` on a plain connection as far as the kernel takes them now (see
/// `send_now`).
fn send_plain(g: &mut Inner, bytes: &[u8]) -> Option<usize> {
    if g.pending_send.is_some() {
        return None;
    }
    let Some(Conn::Plain(stream)) = &g.stream else {
        return None;
    };
    let mut off = 0;
    while off < bytes.len() {
        match crate::http1::try_send(stream, &bytes[off..]) {
            Ok(n) if n > 0 => off += n,
            _ => break,
        }
    }
    if off == bytes.len() {
        return Some(bytes.len());
    }
    if off > 0 {
        g.pending_send = Some((bytes[off..].to_vec(), bytes.len()));
    }
    None
}

/// The table-object methods over the userdata (see the module comment).
const WRAPPER: &str = include_str!("../../../lua/openclaw/socket.lua");

/// `ngx.socket.tcp`: the table object over an anchor and its slot id; `attach` makes the
/// methods' userdata for a slot.
pub(super) fn wrap(lua: &Lua, attach: Function) -> LResult<Function> {
    let fps = super::super::ffi::socket_entry_points();
    let fps = lua.create_sequence_from(fps.map(LightUserData))?;
    // SAFETY: the three follow the C function protocol and touch only their arguments.
    let (new, id, gc) = unsafe {
        (
            lua.create_c_function(super::anchor::tcp_new)?,
            lua.create_c_function(super::anchor::anchor_id)?,
            lua.create_c_function(super::anchor::anchor_gc)?,
        )
    };
    lua.load(WRAPPER).set_name("=ngx.socket.tcp").call((
        attach,
        again_value(),
        fps,
        Lua::poll_pending(),
        new,
        id,
        gc,
    ))
}
