//! C-ABI fast paths that OpenClaw's own Lua calls through LuaJIT's FFI, as lua-resty-core
//! does for OpenResty: the shared-dict `get`, `set` (and `add`/`replace`/`safe_*`), `incr`
//! and `delete` (`lua/openclaw/shdict.lua`), `ngx.say`/`ngx.print` of one string
//! (`lua/openclaw/output.lua`), reads of `ngx.var` (`lua/openclaw/var.lua`) and the
//! cosocket calls that need no waiting (`lua/openclaw/socket.lua`). FFI calls get
//! JIT-compiled into the handler's
//! trace; an mlua method call costs a Lua stack round trip, argument conversion and an
//! error trampoline each time. The Lua side checks the arguments and sends anything
//! unusual (other key types, bad flags, lists) to the userdata methods in `shared.rs`, so
//! behaviour and error words stay in one place.
//!
//! This is the only module where Lua hands Rust raw pointers. The contract of every
//! function here: `dict` is the `ShDict` behind a `DictHandle` the calling VM keeps alive
//! (the Lua side never lets scripts choose it), `key`/`str` point at `len` readable bytes
//! for the duration of the call (Lua strings), `out` points at a writable value struct.

use super::shared::ttl_of;
use crate::shdict::{DictError, Mode, ShDict, Value};
use std::cell::RefCell;
use std::ffi::c_void;

/// `openclaw_shdict_val` on the Lua side; field order and types must match the cdef in
/// `lua/openclaw/shdict.lua`.
#[repr(C)]
pub struct FfiVal {
    /// 0 none, 1 boolean (`num` 0/1), 2 number, 3 string (`str`, `len`), 4 list.
    kind: i32,
    flags: u32,
    num: f64,
    str: *const u8,
    len: usize,
    forcible: i32,
}

thread_local! {
    /// Where `get` copies a string value for Lua to make its string from; valid until the
    /// next call on this thread (the Lua side copies it at once).
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Error codes the Lua side maps to OpenResty's words.
fn code(e: DictError) -> i32 {
    match e {
        DictError::Exists => 1,
        DictError::NotFound => 2,
        DictError::NoMemory => 3,
        DictError::NotANumber => 4,
        DictError::NotAList => 5,
    }
}

/// SAFETY (for the helpers below): see the module contract.
unsafe fn args<'a>(dict: *const c_void, key: *const u8, klen: usize) -> (&'a ShDict, &'a [u8]) {
    (
        &*(dict as *const ShDict),
        std::slice::from_raw_parts(key, klen),
    )
}

fn ttl(t: f64) -> Option<std::time::Duration> {
    ttl_of(Some(t))
}

/// `get`: fills `out` (kind 0 when missing); always returns 0.
///
/// # Safety
/// The module contract.
pub unsafe extern "C" fn oc_shdict_get(
    dict: *const c_void,
    key: *const u8,
    klen: usize,
    out: *mut FfiVal,
) -> i32 {
    let (d, key) = args(dict, key, klen);
    let out = &mut *out;
    out.kind = 0;
    out.flags = 0;
    d.with_live(key, |v, flags| {
        out.flags = flags;
        match v {
            Value::Bool(b) => {
                out.kind = 1;
                out.num = f64::from(u8::from(*b));
            }
            Value::Number(n) => {
                out.kind = 2;
                out.num = *n;
            }
            Value::Str(s) => {
                out.kind = 3;
                BUF.with(|b| {
                    let mut b = b.borrow_mut();
                    b.clear();
                    b.extend_from_slice(s);
                    out.str = b.as_ptr();
                    out.len = b.len();
                });
            }
            Value::List(_) => out.kind = 4,
        }
    });
    0
}

/// `set`/`add`/`replace` (`mode` 0/1/2; `safe` for the `safe_` forms); value kind as in
/// `FfiVal` (0 deletes); `exptime` <= 0 means none. Returns 0 or an error code;
/// `*forcible` says whether live entries were evicted.
///
/// # Safety
/// The module contract; `str` is read only for kind 3.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn oc_shdict_store(
    dict: *const c_void,
    key: *const u8,
    klen: usize,
    kind: i32,
    num: f64,
    str: *const u8,
    slen: usize,
    exptime: f64,
    flags: u32,
    mode: i32,
    safe: i32,
    forcible: *mut i32,
) -> i32 {
    let (d, key) = args(dict, key, klen);
    let value = match kind {
        0 => None,
        1 => Some(Value::Bool(num != 0.0)),
        2 => Some(Value::Number(num)),
        _ => Some(Value::Str(std::slice::from_raw_parts(str, slen).to_vec())),
    };
    let mode = match mode {
        1 => Mode::Add,
        2 => Mode::Replace,
        _ => Mode::Set,
    };
    *forcible = 0;
    match d.store(key, value, ttl(exptime), flags, mode, safe != 0) {
        Ok(s) => {
            *forcible = i32::from(s.forcible);
            0
        }
        Err(e) => code(e),
    }
}

/// `incr(key, by, init?, init_ttl)`: the new value in `out.num`, `out.forcible`.
///
/// # Safety
/// The module contract.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn oc_shdict_incr(
    dict: *const c_void,
    key: *const u8,
    klen: usize,
    by: f64,
    has_init: i32,
    init: f64,
    init_ttl: f64,
    out: *mut FfiVal,
) -> i32 {
    let (d, key) = args(dict, key, klen);
    let out = &mut *out;
    let init = (has_init != 0).then_some(init);
    match d.incr(key, by, init, ttl(init_ttl)) {
        Ok((v, s)) => {
            out.num = v;
            out.forcible = i32::from(s.forcible);
            0
        }
        Err(e) => code(e),
    }
}

/// `ngx.say`/`ngx.print` of one string: appends it (and a newline with `newline`) to the
/// running handler's output. Returns 1, changing nothing, when `ReqState::may_output`
/// refuses: the Lua side then calls the full function, which raises or answers `nil, err`.
///
/// # Safety
/// `s` points at `len` readable bytes (a Lua string); called from Lua code, so only while
/// a coroutine is being resumed (see `req::with_req`).
pub unsafe extern "C" fn oc_output(s: *const u8, len: usize, newline: i32) -> i32 {
    let p = super::req::CURRENT.with(|c| c.get());
    if p.is_null() {
        return 1;
    }
    // SAFETY: as in `req::with_req`: CURRENT is set only while `Scoped::poll` resumes the
    // coroutine this call comes from, which holds the state.
    let st = &mut *p;
    if !st.may_output() {
        return 1;
    }
    st.out.extend_from_slice(std::slice::from_raw_parts(s, len));
    st.end_output(newline != 0);
    0
}

/// `ngx.var.NAME` (`lua/openclaw/var.lua`): 0 with `*out`/`*out_len` set to the value
/// (valid until the next call on this thread; the Lua side copies it at once), 1 when
/// the variable is unset (nil), 2 when the full `__index` must answer (no request, a
/// phase without `ngx.var`, a name that is not UTF-8).
///
/// # Safety
/// `name` points at `len` readable bytes (a Lua string), `out` and `out_len` at writable
/// slots; called from Lua code, so only while a coroutine is being resumed.
pub unsafe extern "C" fn oc_var_get(
    name: *const u8,
    len: usize,
    out: *mut *const u8,
    out_len: *mut usize,
) -> i32 {
    let Ok(name) = std::str::from_utf8(std::slice::from_raw_parts(name, len)) else {
        return 2;
    };
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        match super::ngx_req::read_var_fast(name, &mut b) {
            Err(()) => 2,
            Ok(false) => 1,
            Ok(true) => {
                *out = b.as_ptr();
                *out_len = b.len();
                0
            }
        }
    })
}

/// Optional numbers from Lua: `has` 0 for nil.
fn opt(has: i32, v: f64) -> Option<f64> {
    (has != 0).then_some(v)
}

/// Cosocket `connect` from the pool (`socket::fast::connect_pooled`): 1 done, 0 the
/// userdata's method must run. `pool` may be null (no `pool` option).
///
/// # Safety
/// `host` points at `hlen` readable bytes, `pool` (unless null) at `plen` (Lua strings).
pub unsafe extern "C" fn oc_sock_connect(
    id: f64,
    host: *const u8,
    hlen: usize,
    port: f64,
    pool: *const u8,
    plen: usize,
) -> i32 {
    let host = std::slice::from_raw_parts(host, hlen);
    let pool = (!pool.is_null()).then(|| std::slice::from_raw_parts(pool, plen));
    super::socket::fast::connect_pooled(id, host, port, pool) as i32
}

/// Cosocket `send` of a string (`socket::fast::send_now`): the byte count, or -1 when the
/// userdata's method must run.
///
/// # Safety
/// `data` points at `len` readable bytes (a Lua string).
pub unsafe extern "C" fn oc_sock_send(id: f64, data: *const u8, len: usize) -> f64 {
    match super::socket::fast::send_now(id, std::slice::from_raw_parts(data, len)) {
        Some(n) => n as f64,
        None => -1.0,
    }
}

/// Cosocket `receive` of a line (`mode` 0) or `count` bytes (1), plus 2 when the call
/// repeats one that answered 2: 0 with `*out`/`*out_len` set (valid until the next call on
/// this thread), 1 when the userdata's method must run, 2 when the caller must yield
/// mlua's pending marker and call again once resumed.
///
/// # Safety
/// `out` and `out_len` point at writable slots.
pub unsafe extern "C" fn oc_sock_receive(
    id: f64,
    mode: i32,
    count: f64,
    out: *mut *const u8,
    out_len: *mut usize,
) -> i32 {
    use super::socket::fast::{receive_now, Received};
    let count = (mode & 1 == 1).then_some(count);
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        match receive_now(id, count, mode & 2 != 0, &mut b) {
            Received::Done => {
                *out = b.as_ptr();
                *out_len = b.len();
                0
            }
            Received::Slow => 1,
            Received::Wait => 2,
        }
    })
}

/// Cosocket `settimeout` (`has` 0: nil): 1 done, 0 the userdata's method must run.
pub extern "C" fn oc_sock_settimeout(id: f64, has: i32, ms: f64) -> i32 {
    super::socket::fast::set_timeout(id, opt(has, ms)) as i32
}

/// Cosocket `setkeepalive`: 1 done, 2 "closed", 3 "unread data in buffer" (the codes
/// `lua/openclaw/socket.lua` words), 0 the userdata's method must run.
pub extern "C" fn oc_sock_keepalive(id: f64, has_t: i32, t: f64, has_s: i32, s: f64) -> i32 {
    use super::socket::Refusal;
    match super::socket::fast::keepalive(id, opt(has_t, t), opt(has_s, s)) {
        None => 0,
        Some(Ok(())) => 1,
        Some(Err(Refusal::Closed)) => 2,
        Some(Err(Refusal::UnreadData)) => 3,
    }
}

/// The cosocket functions' addresses, in the order `lua/openclaw/socket.lua` takes them.
pub fn socket_entry_points() -> [*mut c_void; 5] {
    [
        oc_sock_connect as *mut c_void,
        oc_sock_send as *mut c_void,
        oc_sock_receive as *mut c_void,
        oc_sock_settimeout as *mut c_void,
        oc_sock_keepalive as *mut c_void,
    ]
}

/// The address of `oc_var_get`.
pub fn var_entry_point() -> *mut c_void {
    oc_var_get as *mut c_void
}

/// The address of `oc_output`.
pub fn output_entry_point() -> *mut c_void {
    oc_output as *mut c_void
}

/// The shared-dict functions' addresses, in the order `lua/openclaw/shdict.lua` takes them.
pub fn shdict_entry_points() -> [*mut c_void; 3] {
    [
        oc_shdict_get as *mut c_void,
        oc_shdict_store as *mut c_void,
        oc_shdict_incr as *mut c_void,
    ]
}
