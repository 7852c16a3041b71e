//! Serving: listen sockets, worker threads (one current-thread tokio runtime each), HTTP/1.x
//! connections by our own server (`h1`), HTTP/2 through hyper, reload by generation,
//! graceful and fast stop.

mod body;
mod conn;
mod h1;
mod inproc;
mod io;
mod listen;
mod phases;
mod reuse;
mod tls;
mod worker;

pub use inproc::Harness;
pub use listen::Listeners;
pub use phases::describe as describe_phases;
pub use worker::{Command, Workers};

use crate::config::Config;
use crate::pipeline::Generation;
use arc_swap::ArcSwap;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The current generation, read by every request at its start.
pub type Current = Arc<ArcSwap<Generation>>;

/// Moves on each time a worker's copy of its generation may be out of date: a `Current`
/// made or stored into.
static STORES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// A worker's copy of its current generation: which `Current`, at which count of
    /// `STORES`. Only worker threads keep one (`keep_latest`), and drop it when they end.
    static LATEST: RefCell<Option<(usize, u64, Arc<Generation>)>> = const { RefCell::new(None) };
    static KEEPS_LATEST: Cell<bool> = const { Cell::new(false) };
}

/// A new `Current` serving `gen`.
pub fn new_current(gen: Generation) -> Current {
    let c = Arc::new(ArcSwap::from_pointee(gen));
    STORES.fetch_add(1, Ordering::Release);
    c
}

/// Makes `gen` the generation later requests get.
pub fn publish(current: &Current, gen: Arc<Generation>) {
    current.store(gen);
    STORES.fetch_add(1, Ordering::Release);
}

/// The generation a request starts on. On a worker thread it comes from the worker's copy
/// while nothing was stored since (one Arc clone, where `load_full` adds two atomic
/// updates of arc_swap's debt slot on every request); a request may start on the
/// previous generation for the moment a reload takes to be seen, as one that began a
/// little earlier would.
pub fn latest(current: &Current) -> Arc<Generation> {
    if !KEEPS_LATEST.get() {
        return current.load_full();
    }
    let key = Arc::as_ptr(current) as usize;
    let seen = STORES.load(Ordering::Acquire);
    LATEST.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((k, s, g)) = &*c {
            if *k == key && *s == seen {
                return g.clone();
            }
        }
        let g = current.load_full();
        *c = Some((key, seen, g.clone()));
        g
    })
}

/// Whether this thread keeps a copy of its generation (worker threads, from their start
/// until `keep_latest(false)` drops it, inside their runtime).
pub(crate) fn keep_latest(on: bool) {
    KEEPS_LATEST.set(on);
    if !on {
        let old = LATEST.with(|c| c.borrow_mut().take());
        drop(old);
    }
}

/// Builds a generation: opens its logs and starts its script engine if it needs one.
pub fn generation(id: u64, config: Arc<Config>) -> crate::error::Result<Generation> {
    let engine = crate::lua::LuaEngine::for_config(&config)?;
    generation_with(id, config, engine)
}

/// Builds a generation around an engine built by the caller (the tools share its shared
/// dicts, upstreams and caches with their own VM).
pub fn generation_with(
    id: u64,
    config: Arc<Config>,
    engine: Option<Arc<crate::lua::LuaEngine>>,
) -> crate::error::Result<Generation> {
    let engine = engine.map(|e| e as Arc<dyn crate::pipeline::ScriptEngine>);
    crate::observe::configure_error_ring(
        config.http.as_ref().and_then(|h| h.lua_capture_error_log),
    );
    let mut gen = Generation::new(id, config, engine)?;
    gen.tls = tls::acceptors(&gen.config)?;
    if let Some(http) = &gen.config.http {
        // Health checks and `resolve` lines hold the groups weakly: they stop when this
        // generation is dropped.
        crate::upstream::start(http.upstreams.values().map(|d| d.group.clone()).collect());
    }
    Ok(gen)
}

/// Builds the first generation.
pub fn first_generation(config: Arc<Config>) -> crate::error::Result<Current> {
    let g = generation(1, config)?;
    Ok(new_current(g))
}
