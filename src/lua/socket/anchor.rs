//! The userdata that ties a `ngx.socket.tcp()` object's registry slot to the object's life,
//! made with the Lua C API: an 8-byte block (the slot's id and a mark) whose finalizer frees
//! the slot. mlua's userdata cost about 2,000 instructions to make and 1,400 to finalize
//! (type registration checks, a boxed value, its destructor); a socket answered by the
//! fast paths never needs one. The mlua userdata with the methods (`TcpSock`) is made
//! from the slot only when a method must take the slow path (`attach`).
//!
//! The Lua side (`lua/openclaw/socket.lua`) passes the anchors' metatable, which hides
//! itself (`__metatable = false`), so scripts cannot reach the finalizer.

use mlua::ffi;
use std::ffi::c_int;

/// What marks a block as an anchor (against a foreign userdata handed to `anchor_id`).
const MARK: u32 = 0x6f63_736b;

#[repr(C)]
struct Anchor {
    id: u32,
    mark: u32,
}

/// `tcp_new(mt)`: a new anchor with metatable `mt` and a new socket slot, and the slot's
/// id (the anchor and the number).
///
/// # Safety
/// Called by Lua as a C function with the anchors' metatable as argument 1.
pub unsafe extern "C-unwind" fn tcp_new(l: *mut ffi::lua_State) -> c_int {
    // Allocation may raise a Lua error: nothing of ours is live yet.
    let p = ffi::lua_newuserdata(l, std::mem::size_of::<Anchor>()) as *mut Anchor;
    // Unclaimed until the slot exists: a finalizer run meanwhile frees nothing.
    p.write(Anchor {
        id: u32::MAX,
        mark: 0,
    });
    ffi::lua_pushvalue(l, 1);
    ffi::lua_setmetatable(l, -2);
    // No Lua call below: a panic must not unwind through LuaJIT's frames.
    let Ok(id) = std::panic::catch_unwind(super::fast::register_new) else {
        ffi::lua_pushnil(l);
        return 2;
    };
    p.write(Anchor { id, mark: MARK });
    ffi::lua_pushnumber(l, id as f64);
    2
}

/// The anchor at `idx`, if it is one (a userdata of our size, mark and metatable `mt_idx`).
unsafe fn anchor_at(l: *mut ffi::lua_State, idx: c_int, mt_idx: c_int) -> Option<u32> {
    let p = ffi::lua_touserdata(l, idx) as *const Anchor;
    if p.is_null() || ffi::lua_objlen(l, idx) != std::mem::size_of::<Anchor>() {
        return None;
    }
    if ffi::lua_getmetatable(l, idx) == 0 {
        return None;
    }
    let same = ffi::lua_rawequal(l, -1, mt_idx) != 0;
    ffi::lua_settop(l, -2);
    let a = &*p;
    (same && a.mark == MARK).then_some(a.id)
}

/// `anchor_id(anchor, mt)`: the slot id of an anchor, or nil for anything else.
///
/// # Safety
/// Called by Lua as a C function.
pub unsafe extern "C-unwind" fn anchor_id(l: *mut ffi::lua_State) -> c_int {
    match anchor_at(l, 1, 2) {
        Some(id) => ffi::lua_pushnumber(l, id as f64),
        None => ffi::lua_pushnil(l),
    }
    1
}

/// The anchors' `__gc`: frees the slot (the socket's state goes once no `TcpSock` made
/// from it holds it either).
///
/// # Safety
/// Called by Lua as a C function (as a finalizer, with the anchor as argument 1).
pub unsafe extern "C-unwind" fn anchor_gc(l: *mut ffi::lua_State) -> c_int {
    let p = ffi::lua_touserdata(l, 1) as *mut Anchor;
    if !p.is_null() && ffi::lua_objlen(l, 1) == std::mem::size_of::<Anchor>() {
        let a = &mut *p;
        if a.mark == MARK {
            a.mark = 0;
            let id = a.id;
            let _ = std::panic::catch_unwind(|| super::fast::release(id));
        }
    }
    0
}
