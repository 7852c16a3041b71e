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
use std::sync::Arc;

/// The current generation, read by every request at its start.
pub type Current = Arc<ArcSwap<Generation>>;

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
    Ok(Arc::new(ArcSwap::from_pointee(g)))
}
