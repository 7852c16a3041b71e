//! VMs (one per worker thread and generation), compiled chunks, and running a handler.

use super::api;
use super::req::{ReqState, Scoped};
use crate::config::{Config, LuaChunk, LuaCode};
use crate::observe::Level;
use crate::pipeline::{
    special_response, Body, LocalFuture, Phase, RequestCtx, Response, ScriptEngine, ScriptOutcome,
};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use mlua::{Function, Lua};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where `;;` in `lua_package_path` points: the bundled modules under the prefix, then
/// LuaJIT's own defaults.
pub(super) const DEFAULT_PATH: &str = "./?.lua;/usr/local/share/luajit-2.1/?.lua;/usr/local/share/lua/5.1/?.lua;/usr/local/share/lua/5.1/?/init.lua";
pub(super) const DEFAULT_CPATH: &str = "./?.so;/usr/local/lib/lua/5.1/?.so";

/// Installs the whole Lua API into `lua` (`ngx`, `openclaw`, native and bundled modules),
/// as every VM of the runtime has it; `init_by_lua` is not run. The catalog of
/// `openclaw migrate` is built through this too, so it lists what requests really get.
pub(super) fn install_api(
    lua: &Lua,
    dicts: &[Arc<crate::shdict::ShDict>],
    upstreams: &[(String, Arc<crate::upstream::Upstream>)],
    cache_zones: &[Arc<crate::cache::Zone>],
    keys: Option<Arc<crate::keys::Store>>,
) -> mlua::Result<()> {
    api::install(lua)?;
    let ngx: mlua::Table = lua.globals().get("ngx")?;
    super::shared::install(lua, &ngx, dicts)?;
    super::balancer::install(lua, upstreams)?;
    super::ssl::install(lua)?;
    super::cache::install(lua, cache_zones)?;
    super::keys::install(lua, keys)?;
    lua.load(api::WRAP_NATIVE)
        .set_name("=openclaw.api")
        .exec()?;
    lua.load(include_str!("../../lua/openclaw/output.lua"))
        .set_name("=openclaw.output")
        .call::<()>(mlua::LightUserData(super::ffi::output_entry_point()))?;
    lua.load(include_str!("../../lua/openclaw/var.lua"))
        .set_name("=openclaw.var")
        .call::<()>(mlua::LightUserData(super::ffi::var_entry_point()))?;
    super::bundled::install(lua)
}

/// The engine of one generation. Shared by all workers; each worker thread builds its own
/// VM on first use.
pub struct LuaEngine {
    id: u64,
    package_path: String,
    package_cpath: String,
    init: Option<Arc<LuaChunk>>,
    /// `lua_ssl_*`: the client settings of cosockets' `sslhandshake`.
    lua_ssl: Option<Arc<crate::config::LuaSsl>>,
    init_worker: Option<Arc<LuaChunk>>,
    exit_worker: Option<Arc<LuaChunk>>,
    /// `lua_shared_dict` zones, shared by every VM of every worker.
    dicts: Vec<Arc<crate::shdict::ShDict>>,
    /// `upstream` blocks, for `openclaw.upstream.*`.
    upstreams: Vec<(String, Arc<crate::upstream::Upstream>)>,
    /// `proxy_cache_path` zones, for `openclaw.cache.*`.
    cache_zones: Vec<Arc<crate::cache::Zone>>,
    /// The API-key store, for `openclaw.keys.lookup`.
    keys: Option<Arc<crate::keys::Store>>,
    limits: Limits,
}

/// Per-VM limits from the configuration, kept in the VM's app data.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pending_timers: usize,
    pub regex_cache_max_entries: usize,
}

static ENGINE_IDS: AtomicU64 = AtomicU64::new(1);

struct Vm {
    lua: Lua,
    /// Set when a newer generation replaced this VM: timers then run once with
    /// `premature = true` and stop, and `ngx.worker.exiting()` is true.
    retired: Rc<std::cell::Cell<bool>>,
    /// Compiled handlers by chunk id (with `lua_code_cache on`).
    cache: RefCell<ahash::AHashMap<usize, Function>>,
    /// Finished coroutines, reset and reused for the next handler run.
    threads: RefCell<Vec<mlua::Thread>>,
}

/// `package.path` and `package.cpath` from `lua_package_path`/`lua_package_cpath`: `;;`
/// stands for `<prefix>/lua/?.lua;<prefix>/lua/?/init.lua` and LuaJIT's defaults, and
/// `$prefix`/`${prefix}` for the prefix, as in OpenResty.
pub fn search_paths(
    prefix: &std::path::Path,
    path: Option<&str>,
    cpath: Option<&str>,
) -> (String, String) {
    let prefix = prefix.display().to_string();
    let expand = |s: &str| s.replace("${prefix}", &prefix).replace("$prefix", &prefix);
    let lua_dir = format!("{prefix}/lua/?.lua;{prefix}/lua/?/init.lua");
    let path = match path {
        Some(p) => expand(p).replace(";;", &format!(";{lua_dir};{DEFAULT_PATH};")),
        None => format!("{lua_dir};{DEFAULT_PATH}"),
    };
    let cpath = match cpath {
        Some(p) => expand(p).replace(";;", &format!(";{DEFAULT_CPATH};")),
        None => DEFAULT_CPATH.to_string(),
    };
    (path, cpath)
}

/// A Lua state with LuaJIT's standard libraries as OpenResty has them: `debug` (handlers
/// use `debug.traceback` in `xpcall` and `debug.getinfo`) and `ffi` (lua-resty-* libraries
/// use it; OpenClaw's own shared-dict fast path does, see `ffi.rs`).
pub(super) fn new_lua() -> Lua {
    let libs = mlua::StdLib::ALL_SAFE | mlua::StdLib::DEBUG | mlua::StdLib::FFI;
    // SAFETY: `debug` and `ffi` let Lua code reach past mlua's checks (the registry, any
    // memory): scripts are trusted configuration code, as in OpenResty, which gives them
    // both. OpenClaw's own calls stay safe for well-behaved scripts: Rust data is reached
    // through checked userdata, and the FFI entry points only get addresses kept private
    // to `lua/openclaw/shdict.lua`.
    unsafe { Lua::unsafe_new_with(libs, mlua::LuaOptions::default()) }
}

thread_local! {
    /// This thread's VMs, newest last; requests in flight keep older ones alive.
    static VMS: RefCell<Vec<(u64, Rc<Vm>)>> = const { RefCell::new(Vec::new()) };
}

impl LuaEngine {
    /// An engine for `config`, or None when it has no Lua handlers. Builds one VM right
    /// away so that a broken package path fails the start or reload, not a request.
    pub fn for_config(config: &Config) -> crate::error::Result<Option<Arc<LuaEngine>>> {
        if !config.http.as_ref().is_some_and(|h| h.uses_lua) {
            return Ok(None);
        }
        Self::build(config)
    }

    /// The engine for `config` whether or not it has handlers (tools use it too).
    fn build(config: &Config) -> crate::error::Result<Option<Arc<LuaEngine>>> {
        let Some(http) = &config.http else {
            return Ok(None);
        };
        let (path, cpath) = search_paths(
            &config.prefix,
            http.lua_package_path.as_deref(),
            http.lua_package_cpath.as_deref(),
        );
        let engine = LuaEngine {
            id: ENGINE_IDS.fetch_add(1, Ordering::Relaxed),
            package_path: path,
            package_cpath: cpath,
            init: http.lua_init.clone(),
            init_worker: http.lua_init_worker.clone(),
            exit_worker: http.lua_exit_worker.clone(),
            dicts: http
                .shared_dicts
                .iter()
                .map(|(n, s)| crate::shdict::ShDict::zone(n, *s))
                .collect(),
            upstreams: http
                .upstreams
                .iter()
                .map(|(n, d)| (n.clone(), d.group.clone()))
                .collect(),
            cache_zones: http.cache_zones.values().cloned().collect(),
            lua_ssl: Some(http.lua_ssl.clone()),
            keys: http.keys.as_ref().map(|k| k.store.clone()),
            limits: Limits {
                max_pending_timers: http.lua_max_pending_timers,
                regex_cache_max_entries: http.lua_regex_cache_max_entries,
            },
        };
        // A VM built now runs init_by_lua once, so its errors fail `-t`, the start or the
        // reload, as in OpenResty.
        engine
            .new_vm()
            .map_err(|e| crate::error::Error::config(e.to_string()))?;
        Ok(Some(Arc::new(engine)))
    }

    /// The engine for the tools (`openclaw test`, `openclaw repl`): built whether or not
    /// the configuration has Lua handlers; None without an http block.
    pub fn for_tools(config: &Config) -> crate::error::Result<Option<Arc<LuaEngine>>> {
        Self::build(config)
    }

    /// A VM of the tools' own: the engine's package path, shared dicts, upstreams and
    /// caches, after `init_by_lua*` ran in it; globals left unguarded.
    pub(super) fn tool_lua(&self) -> Result<Lua, String> {
        self.new_vm().map(|vm| vm.lua)
    }

    /// A fresh VM with the `ngx` API, after `init_by_lua*` ran in it.
    fn new_vm(&self) -> Result<Vm, String> {
        let lua = new_lua();
        lua.set_app_data(self.limits);
        if let Some(ssl) = &self.lua_ssl {
            lua.set_app_data(ssl.clone());
        }
        let retired = Rc::new(std::cell::Cell::new(false));
        lua.set_app_data(Retired(retired.clone()));
        let setup = || -> mlua::Result<()> {
            let package: mlua::Table = lua.globals().get("package")?;
            package.set("path", self.package_path.as_str())?;
            package.set("cpath", self.package_cpath.as_str())?;
            install_api(
                &lua,
                &self.dicts,
                &self.upstreams,
                &self.cache_zones,
                self.keys.clone(),
            )
        };
        setup().map_err(|e| format!("failed to start Lua: {e}"))?;
        let vm = Vm {
            lua,
            retired,
            cache: RefCell::default(),
            threads: RefCell::default(),
        };
        if let Some(init) = &self.init {
            vm.run_bare(init, Phase::Init)
                .map_err(|msg| format!("init_by_lua error: {msg}"))?;
        }
        vm.lua
            .load(api::GUARD_GLOBALS)
            .set_name("=openclaw.api")
            .exec()
            .map_err(|e| format!("failed to start Lua: {e}"))?;
        Ok(vm)
    }

    fn vm(&self) -> mlua::Result<Rc<Vm>> {
        VMS.with(|v| {
            let mut vms = v.borrow_mut();
            if let Some((_, vm)) = vms.iter().find(|(id, _)| *id == self.id) {
                return Ok(vm.clone());
            }
            let vm = Rc::new(self.new_vm().map_err(mlua::Error::RuntimeError)?);
            // Engines are numbered in creation order: a newer one retires the older VMs
            // (their requests in flight keep them through their request slot); an older
            // one (a late request of a replaced generation) gets a VM of its own.
            if vms.iter().all(|(id, _)| *id < self.id) {
                for (_, old) in vms.drain(..) {
                    old.retired.set(true);
                }
                vms.push((self.id, vm.clone()));
            } else {
                vm.retired.set(true);
            }
            if let Some(iw) = &self.init_worker {
                if let Err(msg) = vm.run_bare(iw, Phase::InitWorker) {
                    crate::observe::log(
                        Level::Error,
                        &format!("init_worker_by_lua error: {msg}"),
                        None,
                    );
                }
            }
            Ok(vm)
        })
    }
}

/// While a rewrite, access or content handler runs, a client closing the connection does
/// not cancel the request: the handler runs on, or is told (`lua_check_client_abort`).
/// Restores the previous mode when the handler ends or is dropped.
struct AbortModeGuard {
    conn: Rc<crate::pipeline::ConnInfo>,
    prev: crate::pipeline::AbortMode,
}

impl AbortModeGuard {
    fn enter(ctx: &RequestCtx, phase: Phase) -> Option<AbortModeGuard> {
        use crate::pipeline::AbortMode;
        if !matches!(phase, Phase::Rewrite | Phase::Access | Phase::Content) {
            return None;
        }
        let mode = if ctx.conf.lua_check_client_abort {
            AbortMode::Notify
        } else {
            AbortMode::Ignore
        };
        let prev = ctx.conn.abort_mode.replace(mode);
        Some(AbortModeGuard {
            conn: ctx.conn.clone(),
            prev,
        })
    }
}

impl Drop for AbortModeGuard {
    fn drop(&mut self) {
        self.conn.abort_mode.set(self.prev);
    }
}

/// At most this many idle coroutines are kept per VM.
const THREAD_POOL: usize = 256;

impl Vm {
    /// A coroutine for `func`: a finished one from the pool (reset), else a new one.
    fn thread(&self, func: Function) -> mlua::Result<mlua::Thread> {
        if let Some(t) = self.threads.borrow_mut().pop() {
            if t.reset(func.clone()).is_ok() {
                return Ok(t);
            }
        }
        self.lua.create_thread(func)
    }

    /// Gives a coroutine back once it finished normally.
    fn recycle(&self, t: mlua::Thread) {
        if t.status() == mlua::thread::ThreadStatus::Finished {
            let mut pool = self.threads.borrow_mut();
            if pool.len() < THREAD_POOL {
                pool.push(t);
            }
        }
    }

    /// Runs a chunk outside any request (init, init_worker).
    fn run_bare(&self, chunk: &LuaChunk, phase: Phase) -> Result<(), String> {
        let f = match &chunk.code {
            LuaCode::Inline(src) => self
                .lua
                .load(src.as_str())
                .set_name(format!("={}", chunk.name))
                .into_function(),
            LuaCode::File(path) => {
                let p = path.raw.clone();
                let src = std::fs::read(&p)
                    .map_err(|e| format!("cannot open {p}: {}", crate::error::strerror(&e)))?;
                self.lua.load(src).set_name(format!("@{p}")).into_function()
            }
        }
        .map_err(|e| lua_message(&e))?;
        let guard = super::req::BarePhaseGuard::set(phase);
        let r = f.call::<()>(());
        drop(guard);
        r.map_err(|e| lua_message(&e))
    }

    /// The compiled function for a chunk (from cache when `lua_code_cache` is on).
    fn function(&self, chunk: &LuaChunk, ctx: &RequestCtx) -> Result<Function, (u16, String)> {
        self.compile(chunk, ctx.conf.lua_code_cache, |path| path.eval(ctx))
    }

    /// The compiled function for a chunk, a `*_by_lua_file` path evaluated by `file`.
    fn compile(
        &self,
        chunk: &LuaChunk,
        cache: bool,
        file: impl FnOnce(&crate::vars::Complex) -> String,
    ) -> Result<Function, (u16, String)> {
        if cache {
            if let Some(f) = self.cache.borrow().get(&chunk.id) {
                return Ok(f.clone());
            }
        }
        let f = match &chunk.code {
            LuaCode::Inline(src) => self
                .lua
                .load(src.as_str())
                .set_name(format!("={}", chunk.name))
                .into_function()
                .map_err(|e| {
                    (
                        500,
                        format!("failed to load inlined Lua code: {}", lua_message(&e)),
                    )
                })?,
            LuaCode::File(path) => {
                let p = file(path);
                let src = std::fs::read(&p).map_err(|e| {
                    // OpenResty answers a missing handler file with 404.
                    let code = if e.kind() == std::io::ErrorKind::NotFound {
                        404
                    } else {
                        500
                    };
                    (
                        code,
                        format!(
                            "failed to load external Lua file \"{p}\": cannot open {p}: {}",
                            crate::error::strerror(&e)
                        ),
                    )
                })?;
                self.lua
                    .load(src)
                    .set_name(format!("@{p}"))
                    .into_function()
                    .map_err(|e| {
                        (
                            500,
                            format!(
                                "failed to load external Lua file \"{p}\": {}",
                                lua_message(&e)
                            ),
                        )
                    })?
            }
        };
        if cache {
            self.cache.borrow_mut().insert(chunk.id, f.clone());
        }
        Ok(f)
    }
}

/// The retired flag of a VM, reachable from its Lua state.
pub struct Retired(pub Rc<std::cell::Cell<bool>>);

/// What a request keeps between its Lua phases: its VM (so a reload cannot take it away
/// mid-request) and `ngx.ctx`.
struct LuaSlot {
    vm: Rc<Vm>,
    ctx_table: Option<mlua::RegistryKey>,
}

fn slot(ctx: &mut RequestCtx) -> Option<&mut LuaSlot> {
    ctx.script_slot.as_mut()?.downcast_mut::<LuaSlot>()
}

/// `ngx.ctx`'s registry key kept in the request between phases.
fn take_ctx_table(ctx: &mut RequestCtx) -> Option<mlua::RegistryKey> {
    slot(ctx)?.ctx_table.take()
}

pub(super) fn put_ctx_table(ctx: &mut RequestCtx, key: mlua::RegistryKey) {
    if let Some(s) = slot(ctx) {
        s.ctx_table = Some(key);
    }
}

/// Gives a subrequest `ngx.ctx` = the table under `key` (`ngx.location.capture`'s `ctx`
/// option), in the parent's VM.
pub(super) fn set_sub_ctx_table(
    parent: &mut RequestCtx,
    sub: &mut RequestCtx,
    key: mlua::RegistryKey,
) {
    if let Some(vm) = slot(parent).map(|s| s.vm.clone()) {
        sub.script_slot = Some(Box::new(LuaSlot {
            vm,
            ctx_table: Some(key),
        }));
    }
}

impl LuaEngine {
    /// The VM this request uses: the one it started with, else this thread's current one.
    fn request_vm(&self, ctx: &mut RequestCtx) -> mlua::Result<Rc<Vm>> {
        if let Some(s) = slot(ctx) {
            return Ok(s.vm.clone());
        }
        let vm = self.vm()?;
        ctx.script_slot = Some(Box::new(LuaSlot {
            vm: vm.clone(),
            ctx_table: None,
        }));
        Ok(vm)
    }
}

/// The message of a Lua error without mlua's decorations.
pub fn lua_message(e: &mlua::Error) -> String {
    match e {
        // A non-string error value (error({...})) has no message, as in OpenResty.
        mlua::Error::RuntimeError(m) if m.starts_with("table: 0x") => "unknown reason".into(),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        // An error raised by an API function: prefix the calling Lua position, as
        // luaL_error does in OpenResty.
        mlua::Error::CallbackError { cause, traceback } => {
            let msg = lua_message(cause);
            let at = traceback
                .lines()
                .map(str::trim)
                .find(|l| {
                    !l.is_empty() && !l.starts_with("[C]") && !l.starts_with("stack traceback")
                })
                .and_then(|l| l.split(": in ").next());
            match at {
                Some(at) if !msg.starts_with(at) => format!("{at}: {msg}"),
                _ => msg,
            }
        }
        mlua::Error::WithContext { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

impl ScriptEngine for LuaEngine {
    fn run<'a>(
        &'a self,
        phase: Phase,
        chunk: &'a Arc<LuaChunk>,
        ctx: &'a mut RequestCtx,
    ) -> LocalFuture<'a, ScriptOutcome> {
        Box::pin(async move {
            let vm = match self.request_vm(ctx) {
                Ok(vm) => vm,
                Err(e) => {
                    ctx.log(Level::Error, &format!("failed to create the Lua VM: {e}"));
                    return ScriptOutcome::Respond(special_response(ctx, 500));
                }
            };
            let func = match vm.function(chunk, ctx) {
                Ok(f) => f,
                Err((code, msg)) => {
                    ctx.log(Level::Error, &msg);
                    return ScriptOutcome::Respond(special_response(ctx, code));
                }
            };
            let slot = take_ctx_table(ctx);
            let early = ctx.early_headers.take().unwrap_or_default();
            // Boxed: a streaming content handler hands both to the response body.
            let mut state = Box::new(ReqState {
                headers: early,
                ..ReqState::new(phase, ctx as *mut RequestCtx, slot)
            });
            let thread = match vm.thread(func) {
                Ok(t) => t,
                Err(e) => {
                    ctx.log(Level::Error, &format!("failed to start a Lua thread: {e}"));
                    return ScriptOutcome::Respond(special_response(ctx, 500));
                }
            };
            let fut = match thread.clone().into_async::<()>(()) {
                Ok(f) => f,
                Err(e) => {
                    ctx.log(Level::Error, &format!("failed to start a Lua thread: {e}"));
                    return ScriptOutcome::Respond(special_response(ctx, 500));
                }
            };
            let mut fut = Box::pin(fut);
            let abort_mode = AbortModeGuard::enter(ctx, phase);
            let result = Scoped {
                state: &mut state,
                fut: fut.as_mut(),
                done: None,
            }
            .await;
            drop(abort_mode);
            if result.is_none() && state.flush && state.exit.is_none() && state.exec.is_none() {
                // ngx.flush: the head goes now, the rest of the handler runs as the body.
                // SAFETY: `Scoped` is finished; the context outlives the response body.
                let ctx = unsafe { &mut *state.ctx };
                let headers = std::mem::take(&mut state.headers);
                let mut r = respond(ctx, state.status, Vec::new(), headers);
                let first = std::mem::take(&mut state.out);
                state.flush = false;
                r.body = Body::Stream(Box::pin(super::stream::LuaStream::new(state, fut, first)));
                r.keep_location = true;
                return ScriptOutcome::Respond(r);
            }
            // The finished coroutine goes back to the pool; no await follows, so nothing
            // else can pick it up while `fut` still refers to it.
            if let Some(Ok(())) = &result {
                vm.recycle(thread);
            }
            // SAFETY: `Scoped` is finished; nothing else refers to the context any more.
            let ctx = unsafe { &mut *state.ctx };
            // ngx.ctx lives for the whole request, across phases.
            if let Some(key) = state.ctx_table.take() {
                put_ctx_table(ctx, key);
            }
            if let Some(Err(e)) = result {
                let msg = lua_message(&e);
                if phase == Phase::Log {
                    // The response is gone; OpenResty's wording for the log phase.
                    ctx.log(Level::Error, &format!("failed to run log_by_lua*: {msg}"));
                    return ScriptOutcome::Next;
                }
                ctx.log(
                    Level::Error,
                    &format!("lua entry thread aborted: runtime error: {msg}"),
                );
                return ScriptOutcome::Respond(special_response(ctx, 500));
            }
            outcome(ctx, phase, *state)
        })
    }

    fn run_sync(
        &self,
        phase: Phase,
        chunk: &Arc<LuaChunk>,
        ctx: &mut RequestCtx,
        resp: Option<&mut Response>,
    ) {
        self.run_sync_inner(phase, chunk, ctx, resp)
    }

    fn run_set(
        &self,
        chunk: &Arc<LuaChunk>,
        ctx: &mut RequestCtx,
        args: Vec<String>,
    ) -> Option<String> {
        let (_, r) = self.call_sync::<mlua::Value>(Phase::Set, chunk, ctx, |st| st.args = args)?;
        match r {
            Ok(mlua::Value::String(s)) => Some(s.to_string_lossy().to_string()),
            Ok(mlua::Value::Integer(i)) => Some(api::lua_number(i as f64)),
            Ok(mlua::Value::Number(n)) => Some(api::lua_number(n)),
            Ok(mlua::Value::Boolean(b)) => Some(b.to_string()),
            Ok(_) => Some(String::new()),
            Err(e) => {
                ctx.log(
                    Level::Error,
                    &format!("failed to run set_by_lua*: {}", lua_message(&e)),
                );
                None
            }
        }
    }

    fn run_balancer(
        &self,
        chunk: &Arc<LuaChunk>,
        ctx: &mut RequestCtx,
        bstate: &mut crate::pipeline::BalancerState,
    ) -> bool {
        let taken = std::mem::take(bstate);
        let Some((mut state, r)) =
            self.call_sync::<()>(Phase::Balancer, chunk, ctx, |st| st.balancer = Some(taken))
        else {
            return false;
        };
        if let Some(b) = state.balancer.take() {
            *bstate = b;
        }
        match r {
            Ok(()) => true,
            Err(e) => {
                ctx.log(
                    Level::Error,
                    &format!("failed to run balancer_by_lua*: {}", lua_message(&e)),
                );
                false
            }
        }
    }

    fn run_body_filter(&self, chunk: &Arc<LuaChunk>, ctx: &mut RequestCtx, body: Bytes) -> Bytes {
        let copy = body.to_vec();
        let Some((state, r)) = self.call_sync::<()>(Phase::BodyFilter, chunk, ctx, |st| {
            st.sent = true;
            st.chunk = Some((copy, true));
        }) else {
            return body;
        };
        if let Err(e) = r {
            ctx.log(
                Level::Error,
                &format!("failed to run body_filter_by_lua*: {}", lua_message(&e)),
            );
            return body;
        }
        state.chunk.map(|(b, _)| Bytes::from(b)).unwrap_or_default()
    }

    fn run_ssl_cert<'a>(
        &'a self,
        chunk: &'a Arc<LuaChunk>,
        req: &'a mut crate::tls::CertRequest,
    ) -> LocalFuture<'a, bool> {
        Box::pin(async move {
            let log = |msg: String| crate::observe::log(Level::Error, &msg, None);
            let vm = match self.vm() {
                Ok(vm) => vm,
                Err(e) => {
                    log(format!("failed to create the Lua VM: {e}"));
                    return false;
                }
            };
            // As in lua-nginx-module, the handler's code is always cached, and a file path
            // is taken as written (there is no request to evaluate variables against).
            let thread = match vm
                .compile(chunk, true, |path| path.raw.clone())
                .map_err(|(_, msg)| msg)
                .and_then(|f| vm.thread(f).map_err(|e| e.to_string()))
            {
                Ok(t) => t,
                Err(msg) => {
                    log(msg);
                    return false;
                }
            };
            let ok = super::ssl::run(thread.clone(), req).await;
            // Its future is gone: a finished coroutine can serve the next handler.
            vm.recycle(thread);
            ok
        })
    }

    fn exit_worker(&self) {
        let Some(chunk) = &self.exit_worker else {
            return;
        };
        // Only a VM this worker already has: stopping builds nothing new.
        let vm = VMS.with(|v| {
            v.borrow()
                .iter()
                .find(|(id, _)| *id == self.id)
                .map(|(_, vm)| vm.clone())
        });
        if let Some(vm) = vm {
            if let Err(msg) = vm.run_bare(chunk, Phase::ExitWorker) {
                crate::observe::log(
                    Level::Error,
                    &format!("exit_worker_by_lua error: {msg}"),
                    None,
                );
            }
        }
    }

    fn warm(&self) {
        if let Err(e) = self.vm() {
            crate::observe::log(
                Level::Error,
                &format!("failed to create the Lua VM: {e}"),
                None,
            );
        }
    }
}

impl LuaEngine {
    /// Runs a handler that cannot yield over a fresh state that `prepare` fills; returns
    /// the state after the call (with `ngx.ctx` handed back to the request) and the
    /// call's result, or None when the chunk could not be loaded (already logged).
    fn call_sync<R: mlua::FromLuaMulti>(
        &self,
        phase: Phase,
        chunk: &LuaChunk,
        ctx: &mut RequestCtx,
        prepare: impl FnOnce(&mut ReqState),
    ) -> Option<(ReqState, mlua::Result<R>)> {
        let vm = match self.request_vm(ctx) {
            Ok(vm) => vm,
            Err(e) => {
                ctx.log(Level::Error, &format!("failed to create the Lua VM: {e}"));
                return None;
            }
        };
        let func = match vm.function(chunk, ctx) {
            Ok(f) => f,
            Err((_, msg)) => {
                ctx.log(Level::Error, &msg);
                return None;
            }
        };
        let slot = take_ctx_table(ctx);
        let mut state = ReqState::new(phase, ctx as *mut RequestCtx, slot);
        prepare(&mut state);
        let ptr: *mut ReqState = &mut state;
        let guard = super::req::CurrentGuard::set(ptr);
        let r = func.call::<R>(());
        drop(guard);
        if let Some(key) = state.ctx_table.take() {
            put_ctx_table(ctx, key);
        }
        Some((state, r))
    }

    fn run_sync_inner(
        &self,
        phase: Phase,
        chunk: &Arc<LuaChunk>,
        ctx: &mut RequestCtx,
        mut resp: Option<&mut Response>,
    ) {
        let vm = match self.request_vm(ctx) {
            Ok(vm) => vm,
            Err(e) => {
                ctx.log(Level::Error, &format!("failed to create the Lua VM: {e}"));
                return;
            }
        };
        let func = match vm.function(chunk, ctx) {
            Ok(f) => f,
            Err((_, msg)) => {
                ctx.log(Level::Error, &msg);
                return;
            }
        };
        let slot = take_ctx_table(ctx);
        let mut state = ReqState {
            status: resp.as_ref().map(|r| r.status),
            headers: resp
                .as_mut()
                .map(|r| std::mem::take(&mut r.headers))
                .unwrap_or_default(),
            sent: phase == Phase::Log,
            ..ReqState::new(phase, ctx as *mut RequestCtx, slot)
        };
        let ptr: *mut ReqState = &mut state;
        let guard = super::req::CurrentGuard::set(ptr);
        let r = func.call::<()>(());
        drop(guard);
        // SAFETY: the call is over; nothing else refers to the context.
        let ctx = unsafe { &mut *state.ctx };
        if let Some(key) = state.ctx_table.take() {
            put_ctx_table(ctx, key);
        }
        if let Some(out) = resp {
            out.headers = state.headers;
            if let Some(s) = state.status {
                out.status = s;
            }
            // OpenResty aborts the request when header_filter_by_lua fails: the client
            // sees the connection close.
            if r.is_err() {
                out.drop_connection = true;
            }
        }
        if let Err(e) = r {
            ctx.log(
                Level::Error,
                &format!(
                    "failed to run {}_by_lua*: {}",
                    phase.name(),
                    lua_message(&e)
                ),
            );
        }
    }
}

/// Turns how the handler ended into the pipeline's next step.
fn outcome(ctx: &mut RequestCtx, phase: Phase, st: ReqState) -> ScriptOutcome {
    if let Some(target) = st.exec {
        return ScriptOutcome::Exec(target);
    }
    let mut r = match st.exit {
        Some(-1) => {
            // ngx.ERROR: abort, closing the connection without an answer.
            let mut r = Response::new(500);
            r.drop_connection = true;
            r
        }
        // Once output started, the status and headers were sent: the code only ends the
        // request (OpenResty logs an attempt to change the status).
        Some(code) if st.sent => {
            let status = st.status.unwrap_or(200);
            if code >= 200 && code as u16 != status {
                ctx.log(
                    Level::Error,
                    &format!(
                        "attempt to set status {code} via ngx.exit after sending out the response status {status}"
                    ),
                );
            }
            respond(ctx, Some(status), st.out, st.headers)
        }
        Some(code) if code >= 300 => {
            let mut r = special_response(ctx, code as u16);
            merge_headers(&mut r, st.headers);
            r
        }
        Some(code) if code >= 200 => respond(ctx, Some(code as u16), st.out, st.headers),
        // ngx.OK, ngx.DONE, ngx.AGAIN, ngx.DECLINED and falling off the end.
        _ if phase == Phase::Content || st.sent || st.status.is_some() => {
            respond(ctx, st.status, st.out, st.headers)
        }
        _ => {
            // Headers set before the content handler stay for the response (OpenResty's
            // headers_out), whoever produces it.
            if !st.headers.is_empty() {
                ctx.early_headers = Some(st.headers);
            }
            return ScriptOutcome::Next;
        }
    };
    // Lua sets Location as given: nginx's absolute_redirect does not rewrite it.
    r.keep_location = true;
    ScriptOutcome::Respond(r)
}

fn merge_headers(r: &mut Response, headers: crate::pipeline::HeaderList) {
    for (k, v) in headers {
        r.headers.append(k, v);
    }
}

fn respond(
    ctx: &RequestCtx,
    status: Option<u16>,
    out: Vec<u8>,
    headers: crate::pipeline::HeaderList,
) -> Response {
    let mut r = Response::new(status.unwrap_or(200));
    r.headers = headers;
    if !r.headers.contains_key(CONTENT_TYPE) {
        r.headers
            .insert(CONTENT_TYPE, ctx.conf.default_type_value.clone());
    }
    if ctx.method != http::Method::HEAD {
        r.body = Body::Full(Bytes::from(out));
    } else {
        r.unknown_length = true;
    }
    r
}
