//! The Lua runtime: LuaJIT through mlua, one VM per worker thread and configuration
//! generation, one coroutine per handler run. This is the only module that imports mlua.
//!
//! A handler runs as an mlua async thread; Rust async primitives (`ngx.sleep`, and later
//! cosockets) yield it. While the coroutine is being resumed, a thread-local points at the
//! request it serves ([`req::CURRENT`]), which is how the `ngx.*` functions find it.

mod api;
mod balancer;
mod bundled;
mod cache;
mod capture;
mod catalog;
mod cjson;
mod errlog;
mod ffi;
mod keys;
mod ngx_req;
mod ngx_util;
mod re;
mod repl;
mod req;
mod semaphore;
mod shared;
mod socket;
mod sockstream;
mod spec;
mod ssl;
mod stream;
mod thread;
mod timer;
mod tools;
mod vm;

pub use catalog::{ApiCatalog, ApiStatus, ModuleKind, Resolved};
pub use repl::run as repl;
pub use spec::run_specs;
pub use tools::{Exchange, Host as ToolHost, Requests, Session, ToolRequest};
pub use vm::{search_paths, LuaEngine};
